"""Throughput of spam featurisation and of the whole spam classifier over real forum posts.

Posts: Reddit and Stack Exchange comments from ../shared/eval (the shipped example dump when absent).
Reports posts/s for features alone (:func:`safeguard.classifiers.spam.features.extract`) and for the
classifier (features + model score + author window), on one core, best of ``--repeat`` runs.

    python benchmarks/spam_features.py --posts 20000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from safeguard.classifiers.spam import SpamClassifier
from safeguard.classifiers.spam.features import extract
from safeguard.datasets import eval_path, read_eval
from safeguard.types import Post

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ("reddit_comp551_comments.jsonl", "stackexchange_posts_comments.jsonl")


def corpus(n: int) -> tuple[str, list[str]]:
    names = [c for c in CORPORA if eval_path(c) is not None]
    if not names:
        path = ROOT / "examples" / "community_dump.jsonl"
        texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]
        return "examples/community_dump.jsonl", (texts * (n // len(texts) + 1))[:n]
    per = n // len(names)
    texts = [r["text"] for name in names for r in read_eval(name, limit=per)]
    return " + ".join(f"{name} (first {per})" for name in names), texts


def best(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source, texts = corpus(args.posts)
    chars = sum(map(len, texts)) / len(texts)
    posts = [Post(id=str(i), text=t) for i, t in enumerate(texts)]
    clf = SpamClassifier()
    clf.load()
    t_features = best(lambda: [extract(t) for t in texts], args.repeat)
    t_classifier = best(lambda: clf.classify(posts), args.repeat)
    print(f"{len(texts)} posts from {source}, mean {chars:.0f} characters")
    print(f"features alone:           {len(texts) / t_features:>9,.0f} posts/s")
    print(f"classifier (with score):  {len(texts) / t_classifier:>9,.0f} posts/s")


if __name__ == "__main__":
    main()
