"""Throughput and peak memory of the duplicate classifier over a long stream (1M posts by default).

Real posts (Reddit and Stack Exchange comments from ../shared/eval) are cycled with fresh ids and
authors; every post after the first pass through the corpus gets 1 to 3 random small edits, and one
post in twenty is a near-copy of a post shortly before it, so the stream has campaigns to find and few
exact repeats. The window fills after ``--window`` posts; from then on every post also evicts one,
and the RSS after each tenth of the stream shows it levelling off. "before" is the process's RSS
with the corpus loaded, before any post is classified.
Each size runs in a fresh process, so its peak RSS is its own: with the same window,
peak RSS at 100k and 1M posts should be about the same (memory bounded by the window, not the stream).

    python benchmarks/duplicate_stream.py --posts 100000 1000000 --window 100000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from duplicate_eval import CORPORA, near_copy

from safeguard.classifiers.duplicate import DuplicateClassifier
from safeguard.datasets import read_eval
from safeguard.types import Author, Post


def load_corpus() -> list[str]:
    return [r["text"] for name in CORPORA for r in read_eval(name)]


def stream(n: int, corpus: list[str], seed: int = 5) -> Iterator[Post]:
    """``n`` posts: the corpus cycled, edited after the first pass, with planted near-copies."""
    rng = random.Random(seed)
    recent: list[str] = []
    for i in range(n):
        if recent and rng.random() < 0.05:
            text, _ = near_copy(rng.choice(recent[-500:]), rng)
        else:
            text = corpus[i % len(corpus)]
            if i >= len(corpus):
                text, _ = near_copy(text, rng)
        recent.append(text)
        if len(recent) > 1000:
            del recent[:500]
        yield Post(id=f"s{i}", text=text, author=Author(id=f"u{rng.randrange(50000)}"))


def run_one(n: int, window: int, batch: int) -> dict[str, float]:
    corpus = load_corpus()
    classifier = DuplicateClassifier(window=window)
    classifier.load()
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    busy = 0.0
    flagged = 0
    chunk: list[Post] = []
    start = time.perf_counter()
    checkpoints: list[int] = []
    every = max(1, n // 10)
    for i, post in enumerate(stream(n, corpus), 1):
        if i % every == 0:
            checkpoints.append(round(_current_rss_mb()))
        chunk.append(post)
        if len(chunk) == batch:
            t = time.perf_counter()
            flagged += sum(bool(s["of"]) for s in classifier.classify(chunk))
            busy += time.perf_counter() - t
            chunk = []
    if chunk:
        t = time.perf_counter()
        flagged += sum(bool(s["of"]) for s in classifier.classify(chunk))
        busy += time.perf_counter() - t
    total = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "posts": n,
        "window": window,
        "classify_seconds": round(busy, 1),
        "posts_per_second": round(n / busy),
        "wall_seconds_with_stream_generation": round(total, 1),
        "peak_rss_mb": round(peak_mb),
        "rss_before_mb": round(baseline_mb),
        "flagged": flagged,
        "rss_every_tenth_mb": checkpoints,
    }


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux
        return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--window", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.posts[0], args.window, args.batch)))
        return 0
    print(
        f"{'posts':>9} {'window':>7} {'posts/s':>8} {'classify s':>10} {'peak RSS MB':>11} {'before':>7} {'flagged':>8}"
    )
    for n in args.posts:
        cmd = [sys.executable, __file__, "--one", "--posts", str(n), "--window", str(args.window)]
        cmd += ["--batch", str(args.batch)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(
            f"{r['posts']:>9,} {r['window']:>7,} {r['posts_per_second']:>8,} {r['classify_seconds']:>10} "
            f"{r['peak_rss_mb']:>11} {r['rss_before_mb']:>7} {r['flagged']:>8,}"
        )
        print(f"{'':>9} RSS (MB) after each tenth of the stream: {r['rss_every_tenth_mb']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
