"""Throughput of the default (embedded, numpy-only) toxicity backend on real forum posts.

    PYTHONPATH=src python benchmarks/toxicity_default.py [--posts 10000] [--batch 1000]

Scores the first ``posts`` Reddit comments and Stack Exchange posts of ``../shared/eval`` (half each, all
distinct, so the normalisation cache does not help) through ``ToxicityClassifier().classify`` in batches
of ``batch``, after one warm-up batch, and prints posts/s (best of three runs): in one process, with each
post's normalisation cached (as in the shipped pipeline), with ``workers: 2``, and alt-profanity-check's
``predict_prob`` on the same batches when it is installed (``pip install -e '.[bench]'``), with the ratios;
then the share of time spent in normalisation, the linear model and the lexicons.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from safeguard.classifiers.text import clear_caches, normalize_with_flags
from safeguard.classifiers.toxicity import ToxicityClassifier
from safeguard.classifiers.toxicity.default import DefaultModel, lexical_features
from safeguard.datasets import read_eval
from safeguard.types import Post


def forum_posts(n: int) -> list[str]:
    half = n // 2
    texts = [r["text"] for r in read_eval("reddit_comp551_comments.jsonl", limit=half)]
    texts += [r["text"] for r in read_eval("stackexchange_posts_comments.jsonl", limit=n - half)]
    return texts


def timed_batches(clf: ToxicityClassifier, posts: list[Post], batch: int) -> None:
    clear_caches()
    for i in range(0, len(posts), batch):
        clf.classify(posts[i : i + batch])


def best_of_three(run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args(argv)
    texts = forum_posts(args.posts)
    posts = [Post(id=str(i), text=t) for i, t in enumerate(texts)]
    clf = ToxicityClassifier()
    clf.load()
    clf.classify(posts[: args.batch])  # warm-up
    best = float("inf")
    chunk_times: list[float] = []
    for _ in range(3):
        clear_caches()
        t0 = time.perf_counter()
        for i in range(0, len(posts), args.batch):
            clf.classify(posts[i : i + args.batch])
        best = min(best, time.perf_counter() - t0)
    chars = sum(len(t) for t in texts) / len(texts)
    print(
        f"default backend: {len(posts)} posts (mean {chars:.0f} chars), batches of {args.batch}: "
        f"{len(posts) / best:,.0f} posts/s"
    )

    # In the shipped pipeline the text classifier normalises each post first; the cache then serves it.
    best_cached = float("inf")
    for _ in range(3):
        for i in range(0, len(posts), args.batch):
            chunk = posts[i : i + args.batch]
            clear_caches()
            for p in chunk:
                normalize_with_flags(p.text)
            t0 = time.perf_counter()
            clf.classify(chunk)
            elapsed_chunk = time.perf_counter() - t0
            chunk_times.append(elapsed_chunk)
        best_cached = min(best_cached, sum(chunk_times))
        chunk_times.clear()
    print(
        f"  with each post's normalisation already cached (as in the shipped pipeline): "
        f"{len(posts) / best_cached:,.0f} posts/s"
    )

    results = {"one process": len(posts) / best, "normalisation cached": len(posts) / best_cached}
    two = ToxicityClassifier(workers=2)
    two.load()
    results["workers: 2"] = len(posts) / best_of_three(lambda: timed_batches(two, posts, args.batch))
    print(f"  workers: 2 (this process and one helper): {results['workers: 2']:,.0f} posts/s")
    try:
        from profanity_check import predict_prob
    except ImportError:
        print("  alt-profanity-check not installed: no peer figure (pip install -e '.[bench]')")
    else:
        peer = len(texts) / best_of_three(
            lambda: [predict_prob(texts[i : i + args.batch]) for i in range(0, len(texts), args.batch)]
        )
        print(f"  peer, alt-profanity-check predict_prob (one linear model, no normalisation): {peer:,.0f} posts/s")
        for name, value in results.items():
            print(f"    {name} / peer: {value / peer:.2f}x")

    model = DefaultModel()
    clear_caches()
    t0 = time.perf_counter()
    prepared = [model.prepare(t) for t in texts]
    t1 = time.perf_counter()
    model.linear.predict(prepared)
    t2 = time.perf_counter()
    for t in prepared:
        lexical_features(model.lexicon, model.negativity, t)
    t3 = time.perf_counter()
    total = t3 - t0
    print(
        f"  time: normalise + unmask {100 * (t1 - t0) / total:.0f}%, linear model {100 * (t2 - t1) / total:.0f}%, "
        f"lexicons {100 * (t3 - t2) / total:.0f}%"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
