"""Throughput of ``safeguard diff``, ``evaluate`` and ``report`` against ``moderate`` on the same dump, in one run.

Builds a dump of N real forum comments (Reddit and Stack Exchange from ../shared/eval, cycled with fresh
ids, a created_at spread over 30 days and a label; the shipped example dump when ../shared is absent),
then runs each command in a subprocess, as a user would:

* ``moderate`` with the shipped policy (the reference: one ruleset per post);
* ``diff`` of the shipped policy against a copy with its shadow rule enforced (two rulesets per post);
* ``evaluate`` of the shipped policy against the dump's labels (one ruleset per post, no output file);
* ``report`` of moderate's decisions joined with the dump (no moderation at all).

    python benchmarks/policy_tools.py --posts 10000
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from moderate_dump import texts  # the same corpus, from the script beside this one

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules" / "community.yaml"


def build_dump(path: Path, n: int, corpus: list[str]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i, text in zip(range(n), itertools.cycle(corpus)):
            record = {
                "id": f"b{i}",
                "text": text,
                "created_at": f"2026-09-{1 + i % 30:02d}T{i % 24:02d}:00:00Z",
                "author": {"id": f"u{i % 5000}", "trust_level": i % 5, "role": "member"},
                "label": "allow" if i % 10 else "hold",
            }
            fh.write(json.dumps(record) + "\n")


def changed_rules(path: Path) -> None:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for rule in data["rules"]:
        rule.pop("mode", None)
    data["lists"] = {k: str(RULES.parent / v) for k, v in data["lists"].items()}
    data["allow_outside"] = True  # the copy lives elsewhere and reads the shipped lists
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "safeguard", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{args[0]} failed ({proc.returncode}):\n{proc.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=10_000)
    args = parser.parse_args()
    n = args.posts
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        dump, new, decisions = t / "dump.jsonl", t / "new.yaml", t / "decisions.jsonl"
        build_dump(dump, n, texts())
        changed_rules(new)
        runs = {
            "moderate": ["moderate", str(dump), "-r", str(RULES), "-o", str(decisions), "--no-progress"],
            "diff": ["diff", str(RULES), str(new), str(dump), "--json", "--no-progress"],
            "evaluate": ["evaluate", str(dump), "-r", str(RULES), "--label-field", "label", "--json", "--no-progress"],
            "report": ["report", str(decisions), "-o", str(t / "report.html"), "--posts", str(dump)],
        }
        results = {name: timed(cmd) for name, cmd in runs.items()}
    base = results["moderate"]
    print(f"{n:,} posts")
    print(f"{'command':<10} {'seconds':>8} {'posts/s':>9} {'time vs moderate':>17}")
    for name, seconds in results.items():
        print(f"{name:<10} {seconds:>8.2f} {n / seconds:>9,.0f} {seconds / base:>16.2f}x")


if __name__ == "__main__":
    main()
