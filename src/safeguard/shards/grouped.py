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
2. :func:`candidates_in_bucket`, per band key: a post's candidates in a bucket are the bucket's last
   ``max_candidates`` posts still in its window (and of a length that can reach the threshold). The
   nearest earlier near-copy is the candidate over all buckets with the best ``ratio``, ties going to
   the later post, as in the window (:func:`nearest`).
3. A post joins the cluster of its nearest copy, so clusters are the trees of "nearest earlier
   copy" links, each named by its first post.
4. :func:`cluster_counts`, per cluster: the posts of the cluster in the window when each post is
   added, and their distinct authors.

Author counts (:func:`author_counts`), per author: the one-pass list of that author's recent
timestamps, kept in input order.

:class:`DuplicateByGroups` and :class:`AuthorsByGroups` run these steps over a stream given in parts
(epochs), carrying only what the one-pass classifiers keep between posts (the posts still in the
window, each author's recent times), so memory is bounded by an epoch and the window. Every grouping
goes through a :data:`Grouper`: :func:`group_locally` here, Ray Data's ``groupby().map_groups()`` in
:mod:`safeguard.shards.ray_engine`. The one-pass classifier also forgets authors across the stream (those
whose newest post left the window, and beyond ``max_authors``); neither changes a count while
``created_at`` never goes backwards along the input and at most ``max_authors`` authors post within
one window, and that is when the two agree.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from rapidfuzz.fuzz import ratio

from safeguard.classifiers.duplicate.options import DuplicateOptions

__all__ = [
    "AuthorsByGroups",
    "Columns",
    "DuplicateByGroups",
    "Grouper",
    "Member",
    "author_counts",
    "candidates_in_bucket",
    "cluster_counts",
    "group_locally",
    "nearest",
    "window_fronts",
]

#: One post in a bucket: (seq, length of its comparable text, timestamp or nan, window front when it
#: is compared).
Member = tuple[int, int, float, int]


def window_fronts(
    times: Sequence[float], capacity: int, horizon: float | None, start: int = 0
) -> tuple[list[int], list[int]]:
    """For each advanced post ``i`` (``times[i]`` its timestamp, nan when unknown): the first ``seq``
    in the window when it is compared, and when it has been added. The window drops its oldest posts
    while the newest post is more than ``horizon`` seconds younger (stopping at a post with no time),
    and its oldest when it holds ``capacity`` posts and another comes. Posts before ``start`` are the
    window as it stands (index 0 its oldest): only the posts from ``start`` on are advanced."""
    before = [0] * len(times)
    after = [0] * len(times)
    front = 0
    for i in range(start, len(times)):
        t = times[i]
        if horizon is not None and not math.isnan(t):
            while front < i and t - times[front] > horizon:
                front += 1
        before[i] = front
        front = max(front, i + 1 - capacity)
        after[i] = front
    return before, after


def candidates_in_bucket(
    members: Sequence[Member], *, threshold: float, max_candidates: int, horizon: float | None, from_seq: int = 0
) -> Iterator[tuple[int, int]]:
    """``(seq, candidate seq)`` for each member of one bucket from ``from_seq`` on and each of the
    bucket's earlier members it is compared with: those still in its window, the last
    ``max_candidates`` of them, of a length that can reach ``threshold`` and within ``horizon``.

    ``members`` are sorted by ``seq``, one per post (a post's band keys are distinct)."""
    seqs = [m[0] for m in members]
    cutoff = threshold * 100.0
    for p, (seq, n, ts, front) in enumerate(members):
        if seq < from_seq:
            continue
        for cand, m, cand_ts, _ in members[max(bisect.bisect_left(seqs, front, 0, p), p - max_candidates) : p]:
            if 200.0 * min(n, m) / (n + m) < cutoff:
                continue
            if horizon is not None and ts - cand_ts > horizon:
                continue
            yield seq, cand


def nearest(
    pairs: Iterable[tuple[int, int]], text: Callable[[int], str], threshold: float
) -> dict[int, tuple[int, float]]:
    """The nearest copy of each post among its candidates (over all its buckets): the highest ratio
    of at least ``threshold``, then the later post, as the window verifies them."""
    cutoff = threshold * 100.0
    best: dict[int, tuple[int, float]] = {}
    for seq, cand in set(pairs):
        score = ratio(text(seq), text(cand), score_cutoff=cutoff)
        if not score:
            continue
        held = best.get(seq)
        if held is None or score > held[1] or (score == held[1] and cand > held[0]):
            best[seq] = (cand, score)
    return best


def cluster_counts(members: Sequence[tuple[int, str | None, int]]) -> Iterator[tuple[int, int, int]]:
    """``(seq, cluster size, distinct authors)`` for each post of one cluster: ``members`` are its
    ``(seq, author, window front once added)`` sorted by ``seq`` (posts already counted before may lead
    with any front; their counts are yielded too, for the caller to drop)."""
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


def author_counts(times: Sequence[float], window: float, recent: list[float] | None = None) -> list[int]:
    """One author's ``author_recent_posts``: ``times`` are the timestamps of that author's posts in
    input order; each count is of the posts within ``window`` seconds up to that one, as the one-pass
    list of the author's recent times holds them. ``recent`` is that list as it stands (updated)."""
    recent = [] if recent is None else recent
    out = []
    for ts in times:
        bisect.insort(recent, ts)
        del recent[: bisect.bisect_left(recent, ts - window)]
        out.append(bisect.bisect_right(recent, ts) - bisect.bisect_left(recent, ts - window))
    return out


#: Rows as named columns of equal length.
Columns = dict[str, list[Any]]
#: ``group(rows, key, fn)``: ``fn`` applied to the rows of each value of column ``key``, the results
#: concatenated (in any order).
Grouper = Callable[[Columns, str, Callable[[Columns], Columns]], Columns]


def group_locally(rows: Columns, key: str, fn: Callable[[Columns], Columns]) -> Columns:
    """The :data:`Grouper` of one process."""
    groups: dict[Any, list[int]] = {}
    for i, value in enumerate(rows[key]):
        groups.setdefault(value, []).append(i)
    out: Columns = {}
    for index in groups.values():
        for column, values in fn({c: [v[i] for i in index] for c, v in rows.items()}).items():
            out.setdefault(column, []).extend(values)
    return out


def bucket_pairs(
    rows: Columns, *, threshold: float, max_candidates: int, horizon: float | None, from_seq: int
) -> Columns:
    """One band-key bucket (columns seq, length, ts, front): :func:`candidates_in_bucket` as columns."""
    members = sorted(zip(rows["seq"], rows["length"], rows["ts"], rows["front"], strict=True))
    pairs = list(
        candidates_in_bucket(
            members, threshold=threshold, max_candidates=max_candidates, horizon=horizon, from_seq=from_seq
        )
    )
    return {"seq": [p[0] for p in pairs], "cand": [p[1] for p in pairs]}


def cluster_rows(rows: Columns, *, from_seq: int) -> Columns:
    """One cluster (columns seq, author, front): :func:`cluster_counts` of its posts from ``from_seq``."""
    members = sorted(zip(rows["seq"], rows["author"], rows["front"], strict=True))
    out = [c for c in cluster_counts(members) if c[0] >= from_seq]
    return {"seq": [c[0] for c in out], "size": [c[1] for c in out], "authors": [c[2] for c in out]}


def author_rows(rows: Columns, *, window: float) -> Columns:
    """One author (columns order, ts, and kept: True for the times the author's list held before):
    the counts of the other rows, and the list once they are added (as ``recent``, on the last row)."""
    ordered = sorted(zip(rows["kept"], rows["order"], rows["ts"], strict=True), key=lambda r: (not r[0], r[1]))
    recent = [ts for kept, _, ts in ordered if kept]
    new = [(at, ts) for kept, at, ts in ordered if not kept]
    counts = author_counts([ts for _, ts in new], window, recent)
    return {
        "order": [at for at, _ in new],
        "count": counts,
        "recent": [None] * (len(new) - 1) + [recent] if new else [],
    }


class DuplicateByGroups:
    """The ``duplicate`` window over a stream given in epochs, each advanced by grouping.

    Between epochs it keeps what the window holds: the posts still in it, with their text, band keys
    and cluster."""

    def __init__(self, config: DuplicateOptions) -> None:
        self.config = config
        self.next_seq = 0
        #: (seq, id, author, time, text, band keys, cluster root) of the posts in the window, oldest first
        self.window: list[tuple[int, str, str | None, float, str | None, list[int] | None, int]] = []

    def advance(
        self,
        ids: Sequence[str],
        authors: Sequence[str | None],
        times: Sequence[float],
        prepared: Sequence[tuple[str | None, list[int] | None]],
        group: Grouper = group_locally,
    ) -> list[dict[str, Any]]:
        """The signals of the next posts the classifier advances, in input order."""
        cfg = self.config
        held = self.window
        first = self.next_seq
        base = first - len(held)  # seq of combined index 0
        all_ids = [w[1] for w in held] + list(ids)
        all_authors = [w[2] for w in held] + list(authors)
        all_times = [w[3] for w in held] + list(times)
        all_prepared = [(w[4], w[5]) for w in held] + list(prepared)
        before, after = window_fronts(all_times, cfg.window, cfg.window_seconds, start=len(held))
        # Buckets carry lengths, not texts: candidates are verified here, a few per copy.
        bands: Columns = {"band": [], "seq": [], "length": [], "ts": [], "front": []}
        for j, (text, keys) in enumerate(all_prepared):
            if text is None or keys is None:
                continue
            for key in dict.fromkeys(keys):
                bands["band"].append(key - (1 << 64) if key >> 63 else key)  # signed: any grouper holds it
                bands["seq"].append(base + j)
                bands["length"].append(len(text))
                bands["ts"].append(all_times[j])
                bands["front"].append(base + before[j])
        options: dict[str, Any] = {
            "threshold": cfg.threshold,
            "max_candidates": cfg.max_candidates,
            "horizon": cfg.window_seconds,
            "from_seq": first,
        }
        # A band key only one post has gives no candidates: group only the shared ones.
        shared_keys = Counter(bands["band"])
        kept = [i for i, key in enumerate(bands["band"]) if shared_keys[key] > 1]
        del shared_keys
        bands = {column: [values[i] for i in kept] for column, values in bands.items()}
        found = group(bands, "band", functools.partial(bucket_pairs, **options))
        del bands, kept

        def text_of(seq: int) -> str:
            text = all_prepared[seq - base][0]
            assert text is not None
            return text

        nearest_of = nearest(zip(found.get("seq", []), found.get("cand", []), strict=True), text_of, cfg.threshold)
        roots = {w[0]: w[6] for w in held}
        for j in range(len(held), len(all_ids)):
            seq = base + j
            hit = nearest_of.get(seq)
            roots[seq] = roots[hit[0]] if hit is not None else seq
        sizes: dict[int, int] = {}
        for root in roots.values():
            sizes[root] = sizes.get(root, 0) + 1
        counts: dict[int, tuple[int, int]] = {}
        shared: Columns = {"root": [], "seq": [], "author": [], "front": []}
        for j in range(len(all_ids)):
            seq = base + j
            root = roots[seq]
            if sizes[root] == 1:
                counts[seq] = (1, int(all_authors[j] is not None))
                continue
            shared["root"].append(root)
            shared["seq"].append(seq)
            shared["author"].append(all_authors[j])
            shared["front"].append(base + after[j])
        if shared["seq"]:
            got = group(shared, "root", functools.partial(cluster_rows, from_seq=first))
            counts.update(zip(got["seq"], zip(got["size"], got["authors"], strict=True), strict=True))
        out = [
            signals(base + j, all_ids, all_authors, nearest_of, counts, base=base)
            for j in range(len(held), len(all_ids))
        ]
        if len(all_ids) > len(held):
            keep = after[-1]
            self.window = [
                (base + j, all_ids[j], all_authors[j], all_times[j], *all_prepared[j], roots[base + j])
                for j in range(keep, len(all_ids))
            ]
        self.next_seq = first + len(ids)
        return out


class AuthorsByGroups:
    """``spam``'s author counts over a stream given in epochs, grouped by author.

    Between epochs it keeps each author's recent times, and forgets an author once the newest post of
    the stream is more than the window younger than the author's newest."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.recent: dict[str, list[float]] = {}
        self.latest = -math.inf

    def advance(
        self, orders: Sequence[int], authors: Sequence[str], times: Sequence[float], group: Grouper = group_locally
    ) -> dict[int, int]:
        """The count of each post (by its place ``orders``) with an author and a time, in input order."""
        rows: Columns = {"author": [], "order": [], "ts": [], "kept": []}
        for author in dict.fromkeys(authors):
            for ts in self.recent.get(author, ()):
                rows["author"].append(author)
                rows["order"].append(-1)
                rows["ts"].append(ts)
                rows["kept"].append(True)
        rows["author"] += list(authors)
        rows["order"] += list(orders)
        rows["ts"] += list(times)
        rows["kept"] += [False] * len(orders)
        got = group(rows, "author", functools.partial(author_rows, window=self.window)) if orders else {}
        by_order = dict(zip(got.get("order", []), got.get("count", []), strict=True))
        last = {at: r for at, r in zip(got.get("order", []), got.get("recent", []), strict=True) if r is not None}
        author_of = dict(zip(orders, authors, strict=True))
        for at, recent in last.items():
            self.recent[author_of[at]] = list(recent)
        if times:
            self.latest = max(self.latest, *times)
        cutoff = self.latest - self.window
        self.recent = {a: t for a, t in self.recent.items() if t and t[-1] >= cutoff}
        return by_order


def signals(
    seq: int,
    ids: Sequence[str],
    authors: Sequence[str | None],
    nearest: dict[int, tuple[int, float]],
    counts: dict[int, tuple[int, int]],
    *,
    base: int = 0,
) -> dict[str, Any]:
    """The signals mapping of post ``seq``, shaped as the window gives it (``ids`` and ``authors``
    indexed by ``seq - base``)."""
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
    author, of_author = authors[seq - base], authors[cand - base]
    return {
        "similarity": round(score / 100.0, 4),
        "of": ids[cand - base] or "",
        "of_author": of_author or "",
        "same_author": author is not None and author == of_author,
        "cluster_size": size,
        "authors": distinct,
    }
