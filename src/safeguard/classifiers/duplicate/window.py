"""The sliding window behind :class:`DuplicateClassifier`: a ring of recent posts and its LSH index.

Every post takes the next sequence number and a ring slot (``seq % capacity``). Posts long enough
to compare are indexed under their band keys; a bucket holds one sequence number, or a list of
them in arrival order. When a post leaves the window (the ring is full, or it is older than
``window_seconds``) its keys leave their buckets and it leaves its cluster, so memory is bounded
by the window whatever the length of the stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
from rapidfuzz.fuzz import ratio

from safeguard.classifiers.duplicate.minhash import MinHasher
from safeguard.classifiers.duplicate.options import DuplicateOptions
from safeguard.text import normalize
from safeguard.text.links import URL_RE
from safeguard.types import Post

__all__ = ["Entry", "Prepared", "Window", "comparable_text", "prepare"]


def comparable_text(text: str, max_chars: int) -> str:
    """What posts are compared by: the shared normalisation, each URL as ``"<url>"``, at most ``max_chars``.

    URLs are masked so a campaign that swaps its link is still one campaign, and two short comments
    that share a long link are not near-copies because of the link alone.
    """
    return URL_RE.sub("<url>", normalize(text))[:max_chars]


#: What a post is compared by: its comparable text and band keys, or (None, None) when it is too short.
Prepared = tuple["str | None", "list[int] | None"]


def prepare(posts: Sequence[Post], hasher: MinHasher, min_chars: int, max_chars: int) -> list[Prepared]:
    """The comparable text and band keys of each post: the part of the work that needs no window."""
    texts = [comparable_text(p.text, max_chars) for p in posts]
    eligible = [i for i, t in enumerate(texts) if len(t) >= min_chars]
    out: list[Prepared] = [(None, None)] * len(posts)
    if eligible:
        rows = hasher.band_keys(hasher.signatures([texts[i] for i in eligible])).tolist()
        for i, keys in zip(eligible, rows, strict=True):
            out[i] = (texts[i], keys)
    return out


class Entry(NamedTuple):
    """One post in the window, as saved and restored."""

    id: str
    author: str | None
    #: The normalised text, None when the post is not indexed.
    text: str | None
    #: Seconds since the epoch, nan when the post has no time.
    time: float
    keys: list[int] | None
    #: The sequence number of the first post of its cluster.
    root: int


class Window:
    """Recent posts, their LSH buckets and their clusters."""

    def __init__(self, config: DuplicateOptions) -> None:
        self.config = config
        self.hasher = MinHasher(shingle=config.shingle, num_perm=config.num_perm, bands=config.bands, seed=config.seed)
        cap = config.window
        self.capacity = cap
        self.ids: list[str | None] = [None] * cap
        self.authors: list[str | None] = [None] * cap
        self.texts: list[str | None] = [None] * cap
        self.keys = np.zeros((cap, config.bands), dtype=np.uint64)
        self.indexed = np.zeros(cap, dtype=np.bool_)
        self.times = np.full(cap, math.nan, dtype=np.float64)
        self.roots = np.zeros(cap, dtype=np.int64)
        self.seq = 0
        self.count = 0
        self.buckets: dict[int, int | list[int]] = {}
        #: cluster root -> [posts in the window, {author id: posts}]
        self.clusters: dict[int, tuple[list[int], dict[str | None, int]]] = {}

    # -- the stream -------------------------------------------------------------------------------

    def process(self, posts: Sequence[Post], prepared: Sequence[Prepared]) -> Iterator[dict[str, Any]]:
        """Signals of each post against the window, adding each post after it is compared; ``prepared``
        is what :func:`prepare` made of the posts."""
        for post, (text, keys) in zip(posts, prepared, strict=True):
            ts = post.created_at.timestamp() if post.created_at is not None else math.nan
            yield self._step(post, text, ts, keys)

    def _step(self, post: Post, text: str | None, ts: float, keys: list[int] | None) -> dict[str, Any]:
        cfg = self.config
        horizon = cfg.window_seconds
        if horizon is not None and not math.isnan(ts):
            while self.count and ts - self.times[(self.seq - self.count) % self.capacity] > horizon:
                self._evict()
        author = post.author.id
        best = -1
        best_score = 0.0
        if text is not None and keys is not None:
            best, best_score = self._nearest(text, ts, keys)
        seq = self.seq
        if best >= 0:
            slot = best % self.capacity
            root = int(self.roots[slot])
            of = self.ids[slot] or ""
            of_author = self.authors[slot]
        else:
            root, of, of_author = seq, "", None
        if self.count >= self.capacity:
            self._evict()
        self._insert(post.id, author, text, ts, keys, root)
        size, by_author = self.clusters[root]
        return {
            "similarity": round(best_score / 100.0, 4) if best >= 0 else 0.0,
            "of": of,
            "of_author": of_author or "",
            "same_author": best >= 0 and author is not None and author == of_author,
            "cluster_size": size[0],
            # distinct known authors: the unknown author (None) is one key of by_author at most
            "authors": len(by_author) - (None in by_author),
        }

    def _nearest(self, text: str, ts: float, keys: list[int]) -> tuple[int, float]:
        cfg = self.config
        limit = cfg.max_candidates
        candidates: set[int] = set()
        get = self.buckets.get
        for key in keys:
            found = get(key)
            if found is None:
                continue
            if isinstance(found, int):
                candidates.add(found)
            else:
                candidates.update(found[-limit:])
        if not candidates:
            return -1, 0.0
        cutoff = cfg.threshold * 100.0
        horizon = cfg.window_seconds
        n = len(text)
        best, best_score = -1, 0.0
        for cand in candidates:
            slot = cand % self.capacity
            other = self.texts[slot]
            if other is None:
                continue
            m = len(other)
            if 200.0 * min(n, m) / (n + m) < cutoff:
                continue
            if horizon is not None and ts - self.times[slot] > horizon:
                continue
            score = ratio(text, other, score_cutoff=cutoff)
            if score and (score > best_score or (score == best_score and cand > best)):
                best, best_score = cand, score
        return best, best_score

    # -- the index ----------------------------------------------------------------------------------

    def _insert(
        self, post_id: str, author: str | None, text: str | None, ts: float, keys: list[int] | None, root: int
    ) -> None:
        seq = self.seq
        slot = seq % self.capacity
        self.ids[slot] = post_id
        self.authors[slot] = author
        self.texts[slot] = text
        self.times[slot] = ts
        self.roots[slot] = root
        self.indexed[slot] = keys is not None
        if keys is not None:
            self.keys[slot] = keys
            buckets = self.buckets
            for key in keys:
                found = buckets.get(key)
                if found is None:
                    buckets[key] = seq
                elif isinstance(found, int):
                    buckets[key] = [found, seq]
                else:
                    found.append(seq)
        cluster = self.clusters.get(root)
        if cluster is None:
            cluster = self.clusters[root] = ([0], {})
        cluster[0][0] += 1
        cluster[1][author] = cluster[1].get(author, 0) + 1
        self.seq = seq + 1
        self.count += 1

    def _evict(self) -> None:
        old = self.seq - self.count
        slot = old % self.capacity
        if self.indexed[slot]:
            buckets = self.buckets
            for key in self.keys[slot].tolist():
                found = buckets[key]
                if isinstance(found, int):
                    del buckets[key]
                else:
                    if found[0] == old:
                        del found[0]
                    else:
                        found.remove(old)
                    if len(found) == 1:
                        buckets[key] = found[0]
        root = int(self.roots[slot])
        size, by_author = self.clusters[root]
        size[0] -= 1
        author = self.authors[slot]
        left = by_author[author] - 1
        if left:
            by_author[author] = left
        else:
            del by_author[author]
        if not size[0]:
            del self.clusters[root]
        self.ids[slot] = self.authors[slot] = self.texts[slot] = None
        self.indexed[slot] = False
        self.count -= 1

    # -- save and restore -----------------------------------------------------------------------------

    def entries(self) -> Iterator[Entry]:
        """Posts in the window, oldest first."""
        for seq in range(self.seq - self.count, self.seq):
            slot = seq % self.capacity
            yield Entry(
                self.ids[slot] or "",
                self.authors[slot],
                self.texts[slot],
                float(self.times[slot]),
                self.keys[slot].tolist() if self.indexed[slot] else None,
                int(self.roots[slot]),
            )

    def restore(self, start_seq: int, entries: Sequence[Entry]) -> None:
        """Refill an empty window with saved entries (oldest first); keeps the newest that fit."""
        if self.count:
            raise RuntimeError("restore needs an empty window")
        self.seq = start_seq
        for post_id, author, text, ts, keys, root in entries:
            if self.count >= self.capacity:
                self._evict()
            self._insert(post_id, author, text, ts, keys, root)
