"""Throughput of the default toxicity backend in this checkout against another git revision's, in one run.

    python benchmarks/toxicity_vs_revision.py --base 79d40e3 [--posts 10000] [--batch 1000] [--rounds 3]

Each tree (this checkout's ``src`` and ``--base``'s, taken with ``git archive``) is measured in a fresh
process of its own, one after the other, on the same three disjoint cold sets of real forum posts (as in
``benchmarks/toxicity_default.py``: half Reddit comments, half Stack Exchange posts, a fourth set for
warm-up), through ``ToxicityClassifier().classify`` in batches: once with every post new to the caches and
once with each batch normalised beforehand (as the text classifier does in the pipeline). The two trees
take turns for ``--rounds`` rounds, so a drift in the machine's speed touches both; prints the median
posts/s per set for both trees and the median of the rounds' ratios. Both trees must have
``safeguard.classifiers.toxicity.ToxicityClassifier``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from compare_decisions import _base_tree  # noqa: E402

_CHILD = r"""
import json, sys, time
from safeguard.classifiers import text as text_module
from safeguard.classifiers.toxicity import ToxicityClassifier
from safeguard.types import Post

sets = [[Post(id=f"{k}-{i}", text=t) for i, t in enumerate(s)] for k, s in enumerate(json.load(open(sys.argv[1])))]
batch = int(sys.argv[2])
warm, *sets = sets


def clear():
    if hasattr(text_module, "clear_caches"):
        text_module.clear_caches()
    else:
        text_module.normalize_with_flags.cache_clear()


clf = ToxicityClassifier()
clf.load()
for i in range(0, len(warm), batch):  # the whole warm-up set: one-time costs fall outside the measured sets
    clf.classify(warm[i : i + batch])
out = {}
for normalised_first in (False, True):
    rates = []
    for posts in sets:
        clear()
        elapsed = 0.0
        for i in range(0, len(posts), batch):
            chunk = posts[i : i + batch]
            if normalised_first:
                for p in chunk:
                    text_module.normalize_with_flags(p.text)
            t0 = time.perf_counter()
            clf.classify(chunk)
            elapsed += time.perf_counter() - t0
        rates.append(len(posts) / elapsed)
    out["normalised beforehand" if normalised_first else "one process"] = rates
print(json.dumps(out))
"""


def measure(src: Path, sets: Path, batch: int) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(sets), str(batch)], env=env, check=True, capture_output=True, text=True
    )
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare with")
    parser.add_argument("--posts", type=int, default=10000, help="posts per set")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="turns each tree takes")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from toxicity_default import disjoint_sets

    sets = disjoint_sets(args.posts, 4)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "sets.json"
        data.write_text(json.dumps([[p.text for p in s] for s in sets]), encoding="utf-8")
        base_src = _base_tree(args.base, work / "base")
        rounds = [
            (measure(base_src, data, args.batch), measure(ROOT / "src", data, args.batch))
            for _ in range(max(1, args.rounds))
        ]
    chars = ", ".join(f"{sum(len(p.text) for p in s) / len(s):.0f}" for s in sets[1:])
    print(
        f"3 cold sets of {args.posts} posts (mean {chars} chars), batches of {args.batch}, "
        f"medians of {len(rounds)} rounds"
    )
    for name in rounds[0][1]:
        theirs = [statistics.median(base[name][k] for base, _ in rounds) for k in range(3)]
        ours = [statistics.median(here[name][k] for _, here in rounds) for k in range(3)]
        ratios = [statistics.median(here[name][k] / base[name][k] for base, here in rounds) for k in range(3)]
        print(f"  {name}: {args.base} {' / '.join(f'{r:,.0f}' for r in theirs)} posts/s")
        print(f"  {' ' * len(name)}  this checkout {' / '.join(f'{r:,.0f}' for r in ours)} posts/s")
        print(f"  {' ' * len(name)}  ratio {' / '.join(f'{r:.2f}' for r in ratios)}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
