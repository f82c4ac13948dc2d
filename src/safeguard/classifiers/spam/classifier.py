"""The ``spam`` classifier: explainable features, a spam score and per-author flood counts."""

from __future__ import annotations

import bisect
import math
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from safeguard.classifiers.base import Classifier, Cost
from safeguard.classifiers.spam.features import extract
from safeguard.classifiers.spam.model import DEFAULT_MODEL_PATH, SpamModel
from safeguard.files import config_path
from safeguard.options import Integer, Number, OptionalCheck, Options, file_path, option
from safeguard.types import Post

__all__ = ["SpamClassifier", "SpamOptions"]


@dataclass(frozen=True, kw_only=True)
class SpamOptions(Options):
    """Options of :class:`SpamClassifier`, all optional."""

    model: str | os.PathLike[str] | None = option(
        None, OptionalCheck(file_path), "a model file written by `safeguard train spam` (relative to the ruleset)"
    )
    author_window_seconds: float = option(
        3600.0, Number(0.0, low_open=True), "the sliding window of author_recent_posts, in seconds"
    )
    max_authors: int = option(100_000, Integer(), "authors remembered at most (the least recently active go first)")


class SpamClassifier(Classifier):
    """Spam features of each post, a spam ``score`` in [0, 1] and the author's recent post count.

    Options:

    * ``model``: a model file written by ``safeguard train spam`` (relative to the ruleset file);
      default: the embedded model trained on the public YouTube and SMS spam collections.
    * ``author_window_seconds`` (default 3600): the sliding window of ``author_recent_posts``.
    * ``max_authors`` (default 100000): authors remembered at most; the least recently active are
      forgotten first, so memory stays bounded on an endless stream.

    Outputs: ``score`` (float), ``links``, ``distinct_domains``, ``shorteners``, ``suspicious_tlds``,
    ``contact_handles``, ``money``, ``crypto_addresses``, ``calls_to_action``, ``off_platform_payment``,
    ``repeated_chars``, ``repeated_punctuation``, ``length`` (ints), ``caps_ratio`` (float),
    ``domains`` (registrable domains linked, in order), ``contact_types`` (``phone``, ``email``,
    ``whatsapp``, ``telegram``, ``messenger``) and ``author_recent_posts``: posts by the same author
    with ``created_at`` within the window ending at this post, this one included. A post without an
    author id or a timestamp gets 0 and is not counted. The title, when present, is read with the text.

    Stateful: the engine shows it every post, in input order, so the author counts see the stream.
    """

    kind = "spam"
    cost = Cost.CHEAP
    stateful = True
    outputs: Mapping[str, type] = MappingProxyType(
        {
            "score": float,
            "links": int,
            "domains": list,
            "distinct_domains": int,
            "shorteners": int,
            "suspicious_tlds": int,
            "contact_handles": int,
            "contact_types": list,
            "money": int,
            "crypto_addresses": int,
            "calls_to_action": int,
            "off_platform_payment": int,
            "repeated_chars": int,
            "repeated_punctuation": int,
            "caps_ratio": float,
            "length": int,
            "author_recent_posts": int,
        }
    )

    options_type = SpamOptions
    options: SpamOptions

    def __init__(self, *, name: str | None = None, base_dir: str | Path | None = None, **options: Any) -> None:
        super().__init__(name=name, **options)
        model = self.options.model
        path = config_path(model, "model", base_dir) if model is not None else DEFAULT_MODEL_PATH
        if model is not None and not path.is_file():
            raise ValueError(
                f"model file {str(path)!r} not found: train one with `safeguard train spam INPUT -o {model}`"
            )
        self.model_path = path
        self.model: SpamModel | None = None
        # author id -> sorted timestamps (seconds) within the window; most recently active last.
        self._recent: OrderedDict[str, list[float]] = OrderedDict()
        self._latest = -math.inf

    def _load(self) -> None:
        self.model = SpamModel.load(self.model_path)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["model"] = str(self.model_path)
        out["author_window_seconds"] = self.options.author_window_seconds
        return out

    def reset(self) -> None:
        """Forget every author's recent posts."""
        self._recent.clear()
        self._latest = -math.inf

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """One signals mapping per post, in order; updates the author windows."""
        return self.advance(posts, self.prepare(posts))

    def prepare(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """Every signal but ``author_recent_posts``: they depend on the post alone."""
        self.load()
        model = self.model
        assert model is not None
        out: list[dict[str, Any]] = []
        for post in posts:
            text = post.full_text
            f = extract(text)
            out.append(
                {
                    "score": model.score_features(text, f),
                    "links": f.links,
                    "domains": list(f.domains),
                    "distinct_domains": len(f.domains),
                    "shorteners": f.shorteners,
                    "suspicious_tlds": f.suspicious_tlds,
                    "contact_handles": f.contact_handles,
                    "contact_types": list(f.contact_types),
                    "money": f.money,
                    "crypto_addresses": f.crypto_addresses,
                    "calls_to_action": f.calls_to_action,
                    "off_platform_payment": f.off_platform_payment,
                    "repeated_chars": f.repeated_chars,
                    "repeated_punctuation": f.repeated_punctuation,
                    "caps_ratio": f.caps_ratio,
                    "length": f.length,
                }
            )
        return out

    def advance(self, posts: Sequence[Post], prepared: Sequence[Any]) -> list[dict[str, Any]]:
        """``prepared`` with each author's count in the window, counted in order."""
        return [
            {**signals, "author_recent_posts": self._count(post)} for post, signals in zip(posts, prepared, strict=True)
        ]

    def _count(self, post: Post) -> int:
        author = post.author.id
        if author is None or post.created_at is None:
            return 0
        ts = post.created_at.timestamp()  # naive datetimes are read as local time
        if ts > self._latest:
            self._latest = ts
            self._expire()
        times = self._recent.pop(author, None) or []
        bisect.insort(times, ts)
        start = bisect.bisect_left(times, ts - self.options.author_window_seconds)
        del times[:start]  # older than the window for this and any later post of the stream
        self._recent[author] = times
        if len(self._recent) > self.options.max_authors:
            self._recent.popitem(last=False)
        end = bisect.bisect_right(times, ts)
        return end - bisect.bisect_left(times, ts - self.options.author_window_seconds)

    def _expire(self) -> None:
        # Authors are kept in order of last activity: drop those whose newest post left the window.
        cutoff = self._latest - self.options.author_window_seconds
        while self._recent:
            author, times = next(iter(self._recent.items()))
            if times and times[-1] >= cutoff:
                break
            del self._recent[author]
