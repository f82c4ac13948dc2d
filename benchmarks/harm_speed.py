"""Speed of the harm tiers on real forum text, beside alt-profanity-check in the same run.

    python benchmarks/harm_speed.py [--posts 10000] [--model-posts 1000] [--rounds 3]

Posts: Reddit comments and Stack Exchange posts from ../shared/eval, shuffled with a fixed seed (the
shipped example dump when ../shared is absent). Prints posts/s of

* the fast tier (``backend: fast``) in batches of 1,000, after a warm-up batch;
* the model tier (``backend: model``, int8 MiniLM) on ``--model-posts`` posts in batches of 256;
* the shipped cascade (``backend: default``) in batches of 1,000, with the share it escalated;
* alt-profanity-check's ``predict_prob`` on the same batches (when installed), and each ratio to it.

Run it under ``taskset -c 0`` for one-core figures. Each figure is the best of ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from safeguard.datasets import eval_path, read_eval

ROOT = Path(__file__).resolve().parents[1]


def forum_texts(n: int) -> list[str]:
    texts: list[str] = []
    for name in ("reddit_comp551_comments.jsonl", "stackexchange_posts_comments.jsonl"):
        if eval_path(name) is not None:
            texts += [r["text"] for r in read_eval(name, limit=n)]
    if not texts:
        dump = ROOT / "examples" / "community_dump.jsonl"
        texts = [json.loads(line)["text"] for line in dump.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(551).shuffle(texts)
    return (texts * (n // max(len(texts), 1) + 1))[:n]


def rate(run: Callable[[Sequence[str]], object], texts: Sequence[str], batch: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            run(texts[i : i + batch])
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10000)
    parser.add_argument("--model-posts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from safeguard.classifiers.toxicity import make_backend

    texts = forum_texts(args.posts + 1000)
    warm, texts = texts[:1000], texts[1000:]
    mean_chars = sum(map(len, texts)) / len(texts)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{len(texts)} forum posts, {mean_chars:.0f} characters on average, {cpus} CPU(s) available")
    results: dict[str, float] = {}
    peer = None
    try:
        from profanity_check import predict_prob

        predict_prob(warm)
        peer = rate(predict_prob, texts, 1000, args.rounds)
        results["alt-profanity-check"] = peer
    except ImportError:
        print("alt-profanity-check not installed: no peer ratio")
    fast = make_backend({"backend": "fast"})
    fast.load()
    fast.predict(warm)
    results["fast"] = rate(fast.predict, texts, 1000, args.rounds)
    model = make_backend({"backend": "model"})
    model.load()
    model.predict(warm[:256])
    results["model"] = rate(model.predict, texts[: args.model_posts], 256, 1)
    cascade = make_backend({"backend": "default"})
    cascade.load()
    cascade.predict(warm)
    cascade.stats.update(posts=0, escalated=0)  # type: ignore[attr-defined]
    results["default"] = rate(cascade.predict, texts, 1000, 1)
    share = cascade.escalated_share  # type: ignore[attr-defined]
    for name, value in results.items():
        ratio = f"  ({value / peer:.2f}x alt-profanity-check)" if peer and name != "alt-profanity-check" else ""
        print(f"{name:22s} {value:10,.0f} posts/s{ratio}")
    print(f"default cascade escalated {share:.1%} of the posts to the model tier")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
