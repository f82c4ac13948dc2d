"""The stateful signals of a whole stream computed by grouping, not by one pass in order.

``duplicate`` and ``spam``'s author counts depend on every earlier post, so a run split over many
machines cannot give each shard its own window. Here the same signals come from operations that
partition: group by a key, work on each group alone, join back. Each function names the part of
the one-pass algorithm (:class:`~safeguard.classifiers.duplicate.window.Window`,
:meth:`~safeguard.classifiers.spam.SpamClassifier.advance`) it reproduces, and
``tests/unit/test_grouped_state.py`` compares the two on generated streams.

Duplicate window, for the posts its classifier advanced (numbered ``seq`` 0, 1, ... in input order):

1. :func:`window_fronts`: the oldest ``seq`` still in the window when post ``i`` is compared
   (``before``) and once it is added (``after``). Eviction is first-in first-out, by count and by
   ``window_seconds``, so this is one scan over the timestamps alone.
2. :func:`nearest_in_bucket`, per band key: a post's candidates in a bucket are the bucket's last
   ``max_candidates`` posts still in its window, verified with the same ``ratio``. The nearest
   earlier near-copy over all buckets is the best of each bucket's best (:func:`best_of`), ties going
   to the later post, as in the window.
3. :func:`cluster_roots`: a post joins the cluster of its nearest copy, so clusters are the trees of
   "nearest earlier copy" links and each is named by its first post.
4. :func:`cluster_counts`, per cluster: the posts of the cluster in the window when each post is
   added, and their distinct authors.

Author counts (:func:`author_counts`), per author: the one-pass list of that author's recent
timestamps, kept in input order. The one-pass classifier also forgets authors across the stream (those
whose newest post left the window, and beyond ``max_authors``); neither changes a count while
``created_at`` never goes backwards along the input and at most ``max_authors`` authors post within
one window, and that is when the two agree.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from rapidfuzz.fuzz import ratio

__all__ = [
    "Member",
    "author_counts",
    "best_of",
    "cluster_counts",
    "cluster_roots",
    "duplicate_signals",
    "nearest_in_bucket",
    "window_fronts",
]

#: One post in a bucket: (seq, comparable text, timestamp or nan, window front when it is compared).
Member = tuple[int, str, float, int]


def window_fronts(times: Sequence[float], capacity: int, horizon: float | None) -> tuple[list[int], list[int]]:
    """For each advanced post ``i`` (``times[i]`` its timestamp, nan when unknown): the first ``seq``
    in the window when it is compared, and when it has been added. The window drops its oldest posts
    while the newest post is more than ``horizon`` seconds younger (stopping at a post with no time),
    and its oldest when it holds ``capacity`` posts and another comes."""
    before = [0] * len(times)
    after = [0] * len(times)
    front = 0
    for i, t in enumerate(times):
        if horizon is not None and not math.isnan(t):
            while front < i and t - times[front] > horizon:
                front += 1
        before[i] = front
        front = max(front, i + 1 - capacity)
        after[i] = front
    return before, after


def nearest_in_bucket(
    members: Sequence[Member], *, threshold: float, max_candidates: int, horizon: float | None
) -> Iterator[tuple[int, int, float]]:
    """``(seq, nearest seq, ratio)`` for each member of one bucket with a near-copy among the bucket's
    earlier members: those still in its window, the last ``max_candidates`` of them.

    ``members`` are sorted by ``seq``, one per post (a post's band keys are distinct)."""
    seqs = [m[0] for m in members]
    cutoff = threshold * 100.0
    for p, (seq, text, ts, front) in enumerate(members):
        lo = max(bisect.bisect_left(seqs, front, 0, p), p - max_candidates)
        n = len(text)
        best, best_score = -1, 0.0
        for cand, other, cand_ts, _ in members[lo:p]:
            m = len(other)
            if 200.0 * min(n, m) / (n + m) < cutoff:
                continue
            if horizon is not None and ts - cand_ts > horizon:
                continue
            score = ratio(text, other, score_cutoff=cutoff)
            if score and (score > best_score or (score == best_score and cand > best)):
                best, best_score = cand, score
        if best >= 0:
            yield seq, best, best_score


def best_of(found: Iterable[tuple[int, int, float]]) -> dict[int, tuple[int, float]]:
    """The nearest copy of each post over all its buckets: the highest ratio, then the later post."""
    best: dict[int, tuple[int, float]] = {}
    for seq, cand, score in found:
        held = best.get(seq)
        if held is None or score > held[1] or (score == held[1] and cand > held[0]):
            best[seq] = (cand, score)
    return best


def cluster_roots(count: int, nearest: dict[int, tuple[int, float]]) -> list[int]:
    """The cluster of each of ``count`` posts: that of its nearest earlier copy, else its own ``seq``."""
    roots = list(range(count))
    for seq in sorted(nearest):  # a post's nearest copy comes before it, so its root is already known
        roots[seq] = roots[nearest[seq][0]]
    return roots


def cluster_counts(members: Sequence[tuple[int, str | None, int]]) -> Iterator[tuple[int, int, int]]:
    """``(seq, cluster size, distinct authors)`` for each post of one cluster: ``members`` are its
    ``(seq, author, window front once added)`` sorted by ``seq``."""
    held: Counter[str | None] = Counter()
    lo = 0
    for p, (seq, author, front) in enumerate(members):
        held[author] += 1
        while members[lo][0] < front:
            gone = members[lo][1]
            held[gone] -= 1
            if not held[gone]:
                del held[gone]
            lo += 1
        yield seq, p + 1 - lo, sum(1 for a in held if a is not None)


def author_counts(times: Sequence[float], window: float) -> list[int]:
    """One author's ``author_recent_posts``: ``times`` are the timestamps of that author's posts in
    input order; each count is of the posts within ``window`` seconds up to that one, as the one-pass
    list of the author's recent times holds them."""
    recent: list[float] = []
    out = []
    for ts in times:
        bisect.insort(recent, ts)
        del recent[: bisect.bisect_left(recent, ts - window)]
        out.append(bisect.bisect_right(recent, ts) - bisect.bisect_left(recent, ts - window))
    return out


def duplicate_signals(
    ids: Sequence[str],
    authors: Sequence[str | None],
    times: Sequence[float],
    prepared: Sequence[tuple[str | None, list[int] | None]],
    config: Any,
) -> list[dict[str, Any]]:
    """The ``duplicate`` signals of posts its classifier advances in this order, by the grouped steps
    in one process: the plan a distributed run follows, each step here a loop over groups.

    ``prepared`` is what :meth:`DuplicateClassifier.prepare` gave each post; ``config`` the classifier."""
    n = len(ids)
    before, after = window_fronts(times, config.window, config.window_seconds)
    buckets: dict[int, list[Member]] = {}
    for seq, (text, keys) in enumerate(prepared):
        if text is not None and keys is not None:
            for key in dict.fromkeys(keys):
                buckets.setdefault(key, []).append((seq, text, times[seq], before[seq]))
    found = (
        hit
        for members in buckets.values()
        for hit in nearest_in_bucket(
            members,
            threshold=config.threshold,
            max_candidates=config.max_candidates,
            horizon=config.window_seconds,
        )
    )
    nearest = best_of(found)
    roots = cluster_roots(n, nearest)
    clusters: dict[int, list[tuple[int, str | None, int]]] = {}
    for seq in range(n):
        clusters.setdefault(roots[seq], []).append((seq, authors[seq], after[seq]))
    counts: dict[int, tuple[int, int]] = {}
    for members in clusters.values():
        for seq, size, distinct in cluster_counts(members):
            counts[seq] = (size, distinct)
    return [signals(seq, ids, authors, nearest, counts) for seq in range(n)]


def signals(
    seq: int,
    ids: Sequence[str],
    authors: Sequence[str | None],
    nearest: dict[int, tuple[int, float]],
    counts: dict[int, tuple[int, int]],
) -> dict[str, Any]:
    """The signals mapping of post ``seq``, shaped as the window gives it."""
    size, distinct = counts[seq]
    hit = nearest.get(seq)
    if hit is None:
        return {
            "similarity": 0.0,
            "of": "",
            "of_author": "",
            "same_author": False,
            "cluster_size": size,
            "authors": distinct,
        }
    cand, score = hit
    author, of_author = authors[seq], authors[cand]
    return {
        "similarity": round(score / 100.0, 4),
        "of": ids[cand] or "",
        "of_author": of_author or "",
        "same_author": author is not None and author == of_author,
        "cluster_size": size,
        "authors": distinct,
    }
