"""Moderators' verdicts as training rows, split deterministically into fit and held-out parts.

Each reviewed post is one row: its text, ``True`` when moderators removed it, and the SHA-256 of its
text as its key. The split is fixed by that key (the same post always falls on the same side), so a
model fitted on one part is compared with the shipped one on posts it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from safeguard.review.store import ReviewStore

__all__ = ["HELDOUT", "ReviewRows", "heldout_mask", "review_rows"]

#: Share of reviewed posts held out of fitting.
HELDOUT = 0.3


@dataclass
class ReviewRows:
    """Texts, labels (removed) and keys (text SHA-256) of reviewed posts; ``skipped`` posts had no text."""

    texts: list[str] = field(default_factory=list)
    labels: list[bool] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    skipped: int = 0


def review_rows(store: ReviewStore) -> ReviewRows:
    """Every reviewed post with kept text, once (its latest verdict)."""
    latest: dict[str, tuple[str, bool, str]] = {}
    rows = ReviewRows()
    for r in store.reviewed():
        if not r.post.text_kept:
            rows.skipped += 1
            continue
        latest[r.post.post_id] = (r.post.text, r.outcome == "remove", r.post.text_sha256)
    for text, label, key in latest.values():
        rows.texts.append(text)
        rows.labels.append(label)
        rows.keys.append(key)
    return rows


def heldout_mask(keys: list[str], share: float = HELDOUT) -> list[bool]:
    """Whether each key is held out: a fixed function of the key, ``share`` of keys on average (the split
    the toxicity head adaptation makes of the same keys)."""
    from safeguard.classifiers.toxicity.harmdata import hash_split

    return [hash_split(k, dev=0.0, test=share) == "test" for k in keys]
