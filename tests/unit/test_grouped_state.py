"""The grouped plan of the stateful signals (safeguard.shards.grouped) against the one-pass classifiers.

Streams are generated (no data needed): copy-paste campaigns with small edits spread over the stream,
short posts, unknown authors and times, windows small enough that posts leave them by count and by
age, and few enough candidates per bucket that a flood of copies is cut off.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from safeguard.classifiers.duplicate import DuplicateClassifier
from safeguard.classifiers.spam import SpamClassifier
from safeguard.shards import grouped
from safeguard.types import Author, Post

WORDS = [
    "order",
    "delivery",
    "refund",
    "store",
    "staff",
    "kettle",
    "blender",
    "warranty",
    "price",
    "stock",
    "late",
    "broken",
    "cheap",
    "great",
    "terrible",
    "manager",
    "receipt",
    "return",
    "app",
    "website",
    "coupon",
    "parcel",
    "courier",
    "box",
    "screen",
    "battery",
    "charger",
]
CAMPAIGNS = [
    "Get your free gift card now at the link below, only today, limited offers for members",
    "I was charged twice for the same order and nobody at the help desk answers my emails at all",
    "Best prices on sneakers and bags, message me on whatsapp for the catalogue and discount codes",
]


def _stream(seed: int, n: int, *, monotonic: bool) -> list[Post]:
    rng = random.Random(seed)
    authors = [f"u{i}" for i in range(12)]
    posts = []
    clock = 1_700_000_000.0
    for i in range(n):
        roll = rng.random()
        if roll < 0.35:
            base = list(rng.choice(CAMPAIGNS))
            for _ in range(rng.randrange(4)):  # a few typos
                base[rng.randrange(len(base))] = rng.choice("abcdefghijklmnopqrstuvwxyz ")
            text = "".join(base)
        elif roll < 0.45:
            text = rng.choice(["thanks!", "+1", "same here", "ok"])
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 16)))
        clock += rng.expovariate(1 / 30)
        when: float | None = clock if monotonic else clock + rng.uniform(-400, 400)
        if rng.random() < 0.08:
            when = None
        author = rng.choice(authors) if rng.random() > 0.1 else None
        posts.append(
            Post(
                id=f"p{i}",
                text=text,
                author=Author(id=author),
                created_at=datetime.fromtimestamp(when, UTC) if when is not None else None,
            )
        )
    return posts


def _ts(post: Post) -> float:
    return post.created_at.timestamp() if post.created_at is not None else math.nan


@pytest.mark.parametrize(
    ("seed", "monotonic", "options", "epoch"),
    [
        (1, True, {"window": 40, "window_seconds": 900, "max_candidates": 3}, 600),
        (2, False, {"window": 25, "window_seconds": 300, "max_candidates": 2}, 97),
        (3, False, {"window": 1000, "max_candidates": 32}, 250),
        (4, True, {"window": 7, "max_candidates": 1, "threshold": 0.9}, 1),
        (5, False, {"window": 60, "window_seconds": 60, "max_candidates": 5, "min_chars": 10}, 33),
    ],
)
def test_duplicate_signals_grouped_equal_the_window(seed: int, monotonic: bool, options: dict, epoch: int) -> None:
    posts = _stream(seed, 600, monotonic=monotonic)
    one_pass = DuplicateClassifier(**options)
    expected = []
    for start in range(0, len(posts), 64):  # batches, as a run gives them
        expected.extend(one_pass.classify(posts[start : start + 64]))

    classifier = DuplicateClassifier(**options)
    config = classifier.options
    by_groups = grouped.DuplicateByGroups(config)
    got = []
    for start in range(0, len(posts), epoch):  # epochs carry the window from one to the next
        part = posts[start : start + epoch]
        got.extend(
            by_groups.advance(
                [p.id for p in part], [p.author.id for p in part], [_ts(p) for p in part], classifier.prepare(part)
            )
        )
        assert len(by_groups.window) <= config.window
    assert got == expected
    # the streams are built to exercise the parts that could go wrong
    assert sum(1 for s in expected if s["of"]) > 50
    assert max(s["cluster_size"] for s in expected) > 3
    assert any(s["authors"] > 1 for s in expected)


def test_window_fronts_follow_count_and_age() -> None:
    before, after = grouped.window_fronts([0.0, 10.0, math.nan, 30.0, 31.0, 100.0], capacity=3, horizon=20.0)
    # post 3 (t=30) drops post 0 by age and keeps post 1 (exactly 20 s older); post 4 (t=31) drops
    # post 1; post 5 (t=100) stops at post 2, which has no time, and only the count moves past it
    assert before == [0, 0, 0, 1, 2, 2]
    assert after == [0, 0, 0, 1, 2, 3]


def test_cluster_counts_leave_with_the_window() -> None:
    members = [(0, "a", 0), (3, "b", 0), (5, "a", 2), (9, None, 4)]
    assert list(grouped.cluster_counts(members)) == [(0, 1, 1), (3, 2, 2), (5, 2, 2), (9, 2, 1)]


@pytest.mark.parametrize(("seed", "epoch"), [(11, 800), (12, 50), (13, 1)])
def test_author_counts_grouped_equal_the_classifier(seed: int, epoch: int) -> None:
    posts = _stream(seed, 800, monotonic=True)
    one_pass = SpamClassifier(author_window_seconds=240)
    expected = [s["author_recent_posts"] for s in one_pass.classify(posts)]

    by_groups = grouped.AuthorsByGroups(240.0)
    got = [0] * len(posts)
    for start in range(0, len(posts), epoch):
        rows = [
            i
            for i in range(start, min(start + epoch, len(posts)))
            if posts[i].author.id is not None and posts[i].created_at is not None
        ]
        counts = by_groups.advance(rows, [posts[i].author.id or "" for i in rows], [_ts(posts[i]) for i in rows])
        for i in rows:
            got[i] = counts[i]
    assert got == expected
    assert max(expected) > 3
    assert len(by_groups.recent) < 12  # authors whose posts left the window are forgotten
