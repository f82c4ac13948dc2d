"""Measuring one subject: posts/s batched, single-post latency percentiles, peak memory and scaling.

:func:`measure_subject` runs in the process that measures the subject (a fresh child per subject in a
normal run, so one subject's memory never counts towards another's peak):

1. ``setup`` (timed as ``setup_s``, never counted in throughput);
2. a warm-up batch on posts from the end of the corpus, not the measured ones;
3. posts/s over the first ``posts`` posts in batches of the subject's size;
4. latency of ``single(post)`` over a sample of posts, one at a time: p50, p95, p99;
5. posts/s by post length (characters) and by corpus size (1k, 10k, 100k), each size left out when
   its estimated time runs over the budget (a quadratic subject grows as the square of the size).

Every measurement starts cold: the subject is reset (stateful windows emptied, memoised
normalisation cleared) before each.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from safeguard.bench.subjects import Context, Prepared, Subject
from safeguard.types import Post

__all__ = ["LENGTH_BUCKETS", "Settings", "measure_subject", "peak_rss_mb", "percentile"]

#: Post-length buckets in characters: [low, high).
LENGTH_BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 100), (100, 500), (500, 2000), (2000, None))


@dataclass(frozen=True)
class Settings:
    """How much to measure. :meth:`quick` is the preset behind ``--quick``."""

    posts: int = 10_000
    latency_posts: int = 1000
    heavy_posts: int = 256
    heavy_latency_posts: int = 30
    bucket_posts: int = 500
    heavy_bucket_posts: int = 32
    sizes: tuple[int, ...] = (1000, 10_000, 100_000)
    size_budget_s: float = 90.0
    warmup_posts: int = 256
    heavy_warmup_posts: int = 8
    timeout_s: float = 1200.0
    quick_preset: bool = False

    @classmethod
    def quick(cls) -> Settings:
        """Fewer posts, no 100k size, BERT-base on 64 posts: a full run in a few minutes on 2 cores."""
        return cls(
            posts=2000,
            latency_posts=200,
            heavy_posts=64,
            heavy_latency_posts=10,
            bucket_posts=200,
            heavy_bucket_posts=8,
            sizes=(1000, 10_000),
            size_budget_s=20.0,
            warmup_posts=128,
            heavy_warmup_posts=4,
            timeout_s=300.0,
            quick_preset=True,
        )

    def with_posts(self, n: int) -> Settings:
        """These settings with ``n`` posts per subject; scaling sizes above ``n`` are left out, ``n`` added."""
        if n < 1:
            raise ValueError(f"--posts must be at least 1, got {n}")
        sizes = tuple(sorted({s for s in self.sizes if s < n} | {n}))
        return replace(
            self,
            posts=n,
            latency_posts=min(self.latency_posts, n),
            heavy_posts=min(self.heavy_posts, n),
            bucket_posts=min(self.bucket_posts, n),
            sizes=sizes,
        )

    def corpus_size(self) -> int:
        """Posts the corpus must hold for every measurement (the warm-up reads from its end)."""
        return max(self.posts, *self.sizes) + self.warmup_posts


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, interpolating linearly between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float | None:
    """Resident memory of this process now, in MiB (Linux), else None."""
    try:
        with open(f"/proc/{os.getpid()}/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def _timed_batches(prepared: Prepared, posts: Sequence[Post]) -> float:
    """Seconds spent in ``batch`` over ``posts`` in the subject's batches (``prepare`` untimed)."""
    size = prepared.batch_size or len(posts)
    chunks = [prepared.prepare(list(posts[i : i + size])) for i in range(0, len(posts), size)]
    if prepared.reset is not None:
        prepared.reset()
    elapsed = 0.0
    for chunk in chunks:
        start = time.perf_counter()
        prepared.batch(chunk)
        elapsed += time.perf_counter() - start
    return elapsed


def _rate(n: int, seconds: float) -> float | None:
    """Posts per second, or None when the clock did not move (too few posts to time)."""
    return round(n / seconds, 1) if seconds > 0 else None


def measure_subject(subject: Subject, corpus: Sequence[Post], settings: Settings, ctx: Context) -> dict[str, Any]:
    """Measure ``subject`` on ``corpus``; returns its result record (see :mod:`safeguard.bench.report`).

    Raises :class:`~safeguard.bench.subjects.Skipped` when the subject cannot run here, and whatever
    its setup or calls raise otherwise (the caller records it as an error).
    """
    baseline = current_rss_mb()
    started = time.perf_counter()
    prepared = subject.setup(ctx)
    setup_s = time.perf_counter() - started

    heavy = subject.heavy
    n = settings.heavy_posts if heavy else settings.posts
    cap = subject.posts_cap(settings.quick_preset)
    n = min(n, len(corpus), cap if cap is not None else n)
    main = list(corpus[:n])

    warm = settings.heavy_warmup_posts if heavy else settings.warmup_posts
    warm_posts = list(corpus[-min(warm, len(corpus)) :])
    _timed_batches(prepared, warm_posts[: prepared.batch_size or len(warm_posts)])

    seconds = _timed_batches(prepared, main)
    posts_per_s = _rate(n, seconds)

    if prepared.reset is not None:
        prepared.reset()
    latency_n = min(settings.heavy_latency_posts if heavy else settings.latency_posts, n)
    latencies: list[float] = []
    for post in main[:latency_n]:
        start = time.perf_counter()
        prepared.single(post)
        latencies.append((time.perf_counter() - start) * 1000)

    by_length = _by_length(prepared, corpus, settings.heavy_bucket_posts if heavy else settings.bucket_posts)
    by_size = [] if heavy else _by_size(prepared, corpus, settings, subject, n, seconds)

    return {
        "name": subject.name,
        "status": "ok",
        "measures": subject.measures,
        "peers": list(subject.peers),
        "posts": n,
        "batch_size": prepared.batch_size or n,
        "seconds": round(seconds, 3),
        "posts_per_s": posts_per_s,
        "p50_ms": round(percentile(latencies, 50), 3),
        "p95_ms": round(percentile(latencies, 95), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "latency_posts": latency_n,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "baseline_rss_mb": round(baseline, 1) if baseline is not None else None,
        "setup_s": round(setup_s, 3),
        "by_length": by_length,
        "by_corpus_size": by_size,
        "info": prepared.info,
    }


def _by_length(prepared: Prepared, corpus: Sequence[Post], per_bucket: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for low, high in LENGTH_BUCKETS:
        posts = [p for p in corpus if len(p.text) >= low and (high is None or len(p.text) < high)][:per_bucket]
        label = f"{low}-{high}" if high is not None else f"{low}+"
        if not posts:
            out.append({"chars": label, "posts": 0, "posts_per_s": None})
            continue
        seconds = _timed_batches(prepared, posts)
        mean = sum(len(p.text) for p in posts) / len(posts)
        rate = _rate(len(posts), seconds)
        out.append({"chars": label, "posts": len(posts), "mean_chars": round(mean), "posts_per_s": rate})
    return out


def _by_size(
    prepared: Prepared, corpus: Sequence[Post], settings: Settings, subject: Subject, n: int, seconds: float
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    last_n, last_s = n, seconds
    for size in settings.sizes:
        if size > len(corpus):
            out.append({"posts": size, "posts_per_s": None, "skipped": f"corpus has {len(corpus)} posts"})
            continue
        estimate = last_s * (size / last_n) ** subject.complexity
        if estimate > settings.size_budget_s:
            reason = f"estimated {estimate:.0f}s, over the {settings.size_budget_s:.0f}s budget"
            out.append({"posts": size, "posts_per_s": None, "skipped": reason})
            continue
        elapsed = _timed_batches(prepared, corpus[:size])
        out.append({"posts": size, "seconds": round(elapsed, 3), "posts_per_s": _rate(size, elapsed)})
        last_n, last_s = size, elapsed
    return out
