"""Throughput of the default (embedded, numpy-only) toxicity backend on real forum posts.

    PYTHONPATH=src python benchmarks/toxicity_default.py [--posts 10000] [--batch 1000]

Takes four disjoint sets of ``posts`` real forum posts (Reddit comments and Stack Exchange posts of
``../shared/eval``, half each). The first warms up every subject: all of it is scored, in batches, so
that one-time costs (the word scan's tables growing to a batch's size) fall outside the measured sets.
The other three are each scored once per subject through ``ToxicityClassifier().classify`` in batches of
``batch``, with the normalisation caches emptied before each set, so no measured post is found in a cache.
Subjects:
one process; the same with each batch normalised beforehand (as the text classifier does in the shipped
pipeline); ``workers: 2`` (this process and one helper); and, when alt-profanity-check is installed
(``pip install -e '.[bench]'``), its ``predict_prob`` on the same batches, with the ratios to it. Last, the
share of one process's time spent normalising.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from safeguard.classifiers.text import clear_caches, normalize_many
from safeguard.classifiers.toxicity import ToxicityClassifier
from safeguard.datasets import read_eval
from safeguard.types import Post


def forum_posts(n: int) -> list[str]:
    """The first ``n`` posts: half Reddit comments, half Stack Exchange posts."""
    half = n // 2
    texts = [r["text"] for r in read_eval("reddit_comp551_comments.jsonl", limit=half)]
    texts += [r["text"] for r in read_eval("stackexchange_posts_comments.jsonl", limit=n - half)]
    return texts


def disjoint_sets(n: int, count: int) -> list[list[Post]]:
    """``count`` disjoint sets of ``n`` posts, each half Reddit and half Stack Exchange."""
    half = n // 2
    reddit = [r["text"] for r in read_eval("reddit_comp551_comments.jsonl", limit=half * count)]
    stack = [r["text"] for r in read_eval("stackexchange_posts_comments.jsonl", limit=(n - half) * count)]
    if len(reddit) < half * count or len(stack) < (n - half) * count:
        raise SystemExit(f"../shared/eval holds too few posts for {count} sets of {n}")
    sets = []
    for k in range(count):
        texts = reddit[k * half : (k + 1) * half] + stack[k * (n - half) : (k + 1) * (n - half)]
        sets.append([Post(id=f"{k}-{i}", text=t) for i, t in enumerate(texts)])
    return sets


def rates(sets: list[list[Post]], run: Callable[[list[Post]], float]) -> list[float]:
    """Posts/s of ``run`` over each set (``run`` returns the seconds it measured)."""
    return [len(posts) / run(posts) for posts in sets]


def warm_up(clf: ToxicityClassifier, posts: list[Post], batch: int) -> None:
    """Score ``posts`` in batches (none of them is measured), then forget their normalisations."""
    for i in range(0, len(posts), batch):
        clf.classify(posts[i : i + batch])
    clear_caches()


def classify_timed(
    clf: ToxicityClassifier, batch: int, *, normalised_first: bool = False
) -> Callable[[list[Post]], float]:
    def run(posts: list[Post]) -> float:
        clear_caches()
        elapsed = 0.0
        for i in range(0, len(posts), batch):
            chunk = posts[i : i + batch]
            if normalised_first:
                normalize_many([p.text for p in chunk])
            t0 = time.perf_counter()
            clf.classify(chunk)
            elapsed += time.perf_counter() - t0
        return elapsed

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args(argv)
    warm, *sets = disjoint_sets(args.posts, 4)
    chars = ", ".join(f"{sum(len(p.text) for p in s) / len(s):.0f}" for s in sets)
    print(f"default backend: 3 sets of {args.posts} posts (mean {chars} chars), batches of {args.batch}")

    one = ToxicityClassifier()
    one.load()
    warm_up(one, warm, args.batch)
    results = {"one process": rates(sets, classify_timed(one, args.batch))}
    results["normalised beforehand"] = rates(sets, classify_timed(one, args.batch, normalised_first=True))
    two = ToxicityClassifier(workers=2)
    two.load()
    warm_up(two, warm, args.batch)
    results["workers: 2"] = rates(sets, classify_timed(two, args.batch))
    for name, found in results.items():
        print(f"  {name}: {' / '.join(f'{r:,.0f}' for r in found)} posts/s")

    try:
        from profanity_check import predict_prob
    except ImportError:
        print("  alt-profanity-check not installed: no peer figure (pip install -e '.[bench]')")
    else:

        def peer(posts: list[Post]) -> float:
            texts = [p.text for p in posts]
            t0 = time.perf_counter()
            for i in range(0, len(texts), args.batch):
                predict_prob(texts[i : i + args.batch])
            return time.perf_counter() - t0

        for i in range(0, len(warm), args.batch):
            predict_prob([p.text for p in warm[i : i + args.batch]])
        peer_rates = rates(sets, peer)
        print(
            "  peer, alt-profanity-check predict_prob (one linear model, no normalisation): "
            f"{' / '.join(f'{r:,.0f}' for r in peer_rates)} posts/s"
        )
        for name, found in results.items():
            ratios = [ours / theirs for ours, theirs in zip(found, peer_rates, strict=True)]
            print(f"    {name} / peer: {' / '.join(f'{r:.2f}' for r in ratios)}x")

    clear_caches()
    texts = [p.text for p in sets[0]]
    t0 = time.perf_counter()
    for i in range(0, len(texts), args.batch):
        normalize_many(texts[i : i + args.batch])
    t1 = time.perf_counter()
    for i in range(0, len(texts), args.batch):
        one.classify(sets[0][i : i + args.batch])
    t2 = time.perf_counter()
    print(f"  one process, first set: normalisation {100 * (t1 - t0) / (t2 - t0):.0f}% of the time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
