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

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from safeguard import checks
from safeguard.classifiers.base import Classifier, Cost
from safeguard.errors import MissingDependencyError
from safeguard.files import config_path
from safeguard.types import Post

__all__ = ["DuplicateClassifier"]


class DuplicateClassifier(Classifier):
    """Near-copies of earlier posts in a sliding window: MinHash LSH candidates, rapidfuzz verification.

    Options (all optional):

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

    def __init__(
        self,
        *,
        name: str | None = None,
        threshold: float = 0.8,
        window: int = 100_000,
        window_seconds: float | None = None,
        min_chars: int = 30,
        max_chars: int = 2000,
        shingle: int = 5,
        num_perm: int = 64,
        bands: int = 16,
        seed: int = 1,
        max_candidates: int = 32,
        state: str | Path | None = None,
        base_dir: str | Path | None = None,
    ) -> None:
        super().__init__(name=name)
        self.threshold = checks.number("threshold", threshold, 0.0, 1.0, low_open=True)
        self.window = checks.integer("window", window, 1)
        self.window_seconds = (
            None if window_seconds is None else checks.number("window_seconds", window_seconds, 0.0, low_open=True)
        )
        self.min_chars = checks.integer("min_chars", min_chars, 1)
        self.max_chars = checks.integer("max_chars", max_chars, 1)
        if self.max_chars < self.min_chars:
            raise ValueError(f"max_chars ({max_chars}) must be at least min_chars ({min_chars})")
        self.shingle = checks.integer("shingle", shingle, 1, 32)
        self.num_perm = checks.integer("num_perm", num_perm, 1, 1024)
        self.bands = checks.integer("bands", bands, 1, self.num_perm)
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({num_perm}) must be a multiple of bands ({bands})")
        self.seed = checks.integer("seed", seed, 0, 2**32 - 1)
        self.max_candidates = checks.integer("max_candidates", max_candidates, 1)
        if state is not None and not isinstance(state, (str, Path)):
            raise ValueError(f"state must be a file path, got {state!r}")
        self.state = config_path(state, "state", base_dir) if state is not None else None
        self._window: Any = None

    def hashing_config(self) -> dict[str, int]:
        """The options that determine signatures and band keys: a saved window needs the same ones."""
        return {
            "shingle": self.shingle,
            "num_perm": self.num_perm,
            "bands": self.bands,
            "seed": self.seed,
            "max_chars": self.max_chars,
        }

    def describe_config(self) -> dict[str, Any]:
        """Every option, for benchmarks (``benchmarks/duplicate_eval.py`` prints it)."""
        return {
            "threshold": self.threshold,
            "window": self.window,
            "window_seconds": self.window_seconds,
            "min_chars": self.min_chars,
            "max_candidates": self.max_candidates,
            **self.hashing_config(),
            "state": str(self.state) if self.state else None,
        }

    def _load(self) -> None:
        try:
            import numpy  # noqa: F401
            import rapidfuzz  # noqa: F401
        except ImportError as exc:  # pragma: no cover - both are core dependencies
            raise MissingDependencyError(self.name, exc.name or "rapidfuzz", "duplicate") from exc
        from safeguard.classifiers.duplicate.window import Window

        self._window = Window(self)
        if self.state is not None and self.state.exists():
            from safeguard.classifiers.duplicate.state import load_state

            load_state(self._window, self.state, self)

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """Signals for each post, comparing it with the window and then adding it (in order)."""
        return self.advance(posts, self.prepare(posts))

    def prepare(self, posts: Sequence[Post]) -> list[Any]:
        """Each post's comparable text and band keys (``(None, None)`` when too short to compare)."""
        from safeguard.classifiers.duplicate.window import prepare

        self.load()
        return prepare(posts, self._window.hasher, self.min_chars, self.max_chars)

    def advance(self, posts: Sequence[Post], prepared: Sequence[Any]) -> list[dict[str, Any]]:
        """Compare each prepared post with the window, then add it, in order."""
        self.load()
        return list(self._window.process(posts, prepared))

    def close(self) -> None:
        """Save the window to ``state`` (when configured and loaded)."""
        if self.state is not None and self._window is not None:
            from safeguard.classifiers.duplicate.state import save_state

            save_state(self._window, self.state, self)

    @property
    def size(self) -> int:
        """Posts in the window now (0 before load)."""
        return 0 if self._window is None else int(self._window.count)
