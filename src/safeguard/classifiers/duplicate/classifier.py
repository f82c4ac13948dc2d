"""Near-duplicates of earlier posts in a bounded streaming window (copy-paste campaigns, reposts).

Each post is compared with the posts before it in a window bounded by count (``window``) and,
for posts that have ``created_at``, by age (``window_seconds``). Candidates come from MinHash LSH
over character shingles of the shared normalised text (:func:`safeguard.text.normalize`);
each candidate is verified with rapidfuzz's ``ratio`` (normalised InDel similarity: 1.0 for equal
texts, ``2 * matches / (len(a) + len(b))`` otherwise) on the same normalised text. ``threshold``
is a floor on that ratio: a post is a near-copy of the most similar earlier post whose ratio is
at least ``threshold``.

Signals (``duplicate.<name>``):

* ``similarity``: ratio to the nearest earlier near-copy, in [0, 1]; 0.0 when there is none.
* ``of``: id of that post; ``""`` when there is none, so rules test ``duplicate.of != ""``.
* ``of_author``: its author id (``""`` when none or unknown); ``same_author``: both posts have the same
  known author.
* ``cluster_size``: posts in the window in this post's cluster, this one included (1 when alone).
  A post joins the cluster of its nearest earlier near-copy; a post with none starts a cluster.
* ``authors``: distinct known author ids among them.

Posts whose normalised text is shorter than ``min_chars`` are neither compared nor indexed
("thanks!", "+1"). Memory is bounded by ``window``: posts leaving it leave the index.
With ``state: PATH`` the window is restored from the file at load and written back by ``close()``
(an npz file holding plain arrays and a JSON header, loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from safeguard.classifiers.base import Classifier, Cost
from safeguard.classifiers.duplicate.options import DuplicateOptions
from safeguard.errors import MissingDependencyError
from safeguard.files import config_path
from safeguard.types import Post

__all__ = ["DuplicateClassifier"]


class DuplicateClassifier(Classifier):
    """Near-copies of earlier posts in a sliding window: MinHash LSH candidates, rapidfuzz verification.

    Options (all optional; :class:`~safeguard.classifiers.duplicate.options.DuplicateOptions`):

    * ``threshold`` (0.8): least rapidfuzz ``ratio`` (0..1) between normalised texts for a near-copy.
    * ``window`` (100000): posts kept; ``window_seconds`` (None): also drop posts older than this,
      by ``created_at`` (posts without one are windowed by count only).
    * ``min_chars`` (30): shorter normalised texts are ignored.
    * ``max_chars`` (2000): only this many leading characters of a normalised text are hashed and compared.
    * ``shingle`` (5), ``num_perm`` (64), ``bands`` (16): character shingle size, MinHash permutations
      and LSH bands (``num_perm`` must be a multiple of ``bands``); ``seed`` (1) fixes the hash functions.
    * ``max_candidates`` (32): most recent posts verified per LSH bucket, so a flood of copies stays cheap.
    * ``state``: npz file the window is restored from at load and saved to by ``close()``; a relative
      path resolves against the ruleset's directory.
    """

    kind = "duplicate"
    outputs: Mapping[str, type] = {
        "similarity": float,
        "of": str,
        "of_author": str,
        "same_author": bool,
        "cluster_size": int,
        "authors": int,
    }
    cost = Cost.CHEAP
    stateful = True

    options_type = DuplicateOptions
    options: DuplicateOptions

    def __init__(self, *, name: str | None = None, base_dir: str | Path | None = None, **options: Any) -> None:
        super().__init__(name=name, **options)
        state = self.options.state
        #: The ``state`` file, resolved against the ruleset's directory.
        self.state = config_path(state, "state", base_dir) if state is not None else None
        self._window: Any = None

    def describe_config(self) -> dict[str, Any]:
        """Every option, for benchmarks (``benchmarks/duplicate_eval.py`` prints it)."""
        return {**dataclasses.asdict(self.options), "state": str(self.state) if self.state else None}

    def _load(self) -> None:
        try:
            import numpy  # noqa: F401
            import rapidfuzz  # noqa: F401
        except ImportError as exc:  # pragma: no cover - both are core dependencies
            raise MissingDependencyError(self.name, exc.name or "rapidfuzz", "duplicate") from exc
        from safeguard.classifiers.duplicate.window import Window

        self._window = Window(self.options)
        if self.state is not None and self.state.exists():
            from safeguard.classifiers.duplicate.state import load_state

            load_state(self._window, self.state, self.options, self.name)

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """Signals for each post, comparing it with the window and then adding it (in order)."""
        return self.advance(posts, self.prepare(posts))

    def prepare(self, posts: Sequence[Post]) -> list[Any]:
        """Each post's comparable text and band keys (``(None, None)`` when too short to compare)."""
        from safeguard.classifiers.duplicate.window import prepare

        self.load()
        return prepare(posts, self._window.hasher, self.options.min_chars, self.options.max_chars)

    def advance(self, posts: Sequence[Post], prepared: Sequence[Any]) -> list[dict[str, Any]]:
        """Compare each prepared post with the window, then add it, in order."""
        self.load()
        return list(self._window.process(posts, prepared))

    def close(self) -> None:
        """Save the window to ``state`` (when configured and loaded)."""
        if self.state is not None and self._window is not None:
            from safeguard.classifiers.duplicate.state import save_state

            save_state(self._window, self.state, self.options)

    @property
    def size(self) -> int:
        """Posts in the window now (0 before load)."""
        return 0 if self._window is None else int(self._window.count)
