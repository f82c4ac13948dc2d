"""Measure every subject, save the results under benchmarks/results/, and regenerate the table of docs/benchmarks.md.

The same harness as ``safeguard bench`` (``safeguard.bench``), in one step from the repository root::

    python benchmarks/run.py            # full run: benchmarks/results/latest.json
    python benchmarks/run.py --quick    # within 10 minutes on 2 cores: benchmarks/results/quick.json

Extra arguments after ``--`` go to ``safeguard bench`` (``-- --only pipeline --only text``); a partial
run is written to benchmarks/results/partial.json and leaves the page alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
#: The page whose bench markers hold the table (``safeguard bench --markdown ... --readme PAGE``).
PAGE = "docs/benchmarks.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the --quick preset")
    parser.add_argument("rest", nargs="*", help="more safeguard bench arguments, after --")
    args = parser.parse_args()
    partial = bool(args.rest)
    output = RESULTS / ("partial.json" if partial else "quick.json" if args.quick else "latest.json")
    bench = [sys.executable, "-m", "safeguard", "bench", "--output", str(output), *(["--quick"] if args.quick else [])]
    code = subprocess.run([*bench, *args.rest], cwd=ROOT).returncode
    if code != 0 or partial:
        return code
    page = [sys.executable, "-m", "safeguard", "bench", "--markdown", str(output.relative_to(ROOT)), "--readme", PAGE]
    return subprocess.run(page, cwd=ROOT).returncode


if __name__ == "__main__":
    raise SystemExit(main())
