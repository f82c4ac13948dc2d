"""Machine instructions per post of the default toxicity backend, this checkout against another revision.

    python benchmarks/toxicity_instructions.py --base 4ce0807 [--posts 30000]

Wall-clock figures on shared machines drift by 10% from one minute to the next, which hides changes of a
few percent. Instruction counts do not drift: each tree (this checkout's ``src`` and ``--base``'s, taken
with ``git archive``) runs under ``valgrind --tool=callgrind`` (Debian's ``valgrind``) twice with a fixed hash
seed, once loading the model and warming it up on 3,000 posts and once doing the same and then scoring
``--posts`` real forum posts (the three measured sets of ``benchmarks/toxicity_default.py``, in batches of
1,000, normalisation caches emptied first); the difference, over the posts, is the instructions per post.
The four runs go two at a time. Instructions are not time (a cache miss costs more than an addition), so
confirm a change that moves memory traffic with ``benchmarks/toxicity_vs_revision.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from compare_decisions import _base_tree  # noqa: E402

_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[2])
from toxicity_default import disjoint_sets
from safeguard.classifiers.text import clear_caches
from safeguard.classifiers.toxicity.default import DefaultModel

posts = int(sys.argv[1])
warm, *sets = disjoint_sets(10000, 4)
model = DefaultModel()
for i in range(0, 3000, 1000):
    model.score([p.text for p in warm[i : i + 1000]])
clear_caches()
texts = [p.text for s in sets for p in s][:posts]
for i in range(0, len(texts), 1000):
    model.score(texts[i : i + 1000])
"""


def instructions(src: Path, posts: int, out: Path) -> int:
    """Instructions callgrind counted for the child scoring ``posts`` posts with the tree ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0", "HF_HUB_OFFLINE": "1"}
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", _CHILD]
    done = subprocess.run(
        [*command, str(posts), str(ROOT / "benchmarks")], env=env, capture_output=True, text=True, check=True
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision to compare with")
    parser.add_argument("--posts", type=int, default=30000, help="posts scored (at most 30,000)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found (apt-get install valgrind)")
    posts = max(1, min(args.posts, 30000))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trees = {args.base: _base_tree(args.base, work / "base"), "this checkout": ROOT / "src"}
        jobs = [(name, n) for name in trees for n in (0, posts)]

        def run(job: tuple[str, int]) -> int:
            name, n = job
            return instructions(trees[name], n, work / f"callgrind.{'base' if name == args.base else 'here'}.{n}")

        with ThreadPoolExecutor(max_workers=2) as pool:
            counts = dict(zip(jobs, pool.map(run, jobs), strict=True))
    per_post = {name: (counts[(name, posts)] - counts[(name, 0)]) / posts for name in trees}
    print(f"instructions per post, {posts:,} real forum posts in batches of 1,000 (callgrind, hash seed 0)")
    for name, value in per_post.items():
        print(f"  {name}: {value:,.0f}")
    print(f"  {args.base} / this checkout: {per_post[args.base] / per_post['this checkout']:.3f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
