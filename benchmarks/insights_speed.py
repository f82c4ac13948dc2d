"""Posts per second of ``safeguard insights`` over real forum text, end to end through the CLI.

    python benchmarks/insights_speed.py [--posts 100000] [--workers 1 2] [--rules lists-only] [--kind-model encoder]

Posts: Reddit comments and Stack Exchange posts from ``../shared/eval`` (alternating until the smaller set
runs out), given made-up
threads (five posts each: an opener and four replies), authors and dates (twelve weeks), so every view
of the page has work to do. Each run writes the page and the JSON; the time includes reading the dump,
the feedback classifier, topics, threads and writing. ``--rules`` adds moderation in the same pass
(``lists-only``: the term-list ruleset of the benchmarks, ``none``: no moderation); the harm models'
model tier is measured on its own by ``benchmarks/harm_speed.py``. ``--kind-model encoder`` runs the feedback
classifier's encoder tier (``safeguard insights --kind-model encoder``) instead of the default.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safeguard.datasets import read_eval

ROOT = Path(__file__).resolve().parents[1]
RULES = {"none": None, "lists-only": ROOT / "benchmarks" / "rules" / "lists_only.yaml"}


def write_dump(path: Path, n: int) -> int:
    sources = [read_eval("reddit_comp551_comments.jsonl"), read_eval("stackexchange_posts_comments.jsonl")]
    start = dt.datetime(2026, 7, 6, tzinfo=dt.timezone.utc)
    made = 0
    with path.open("w", encoding="utf-8") as fh:
        while made < n and sources:
            # alternate between the sources; when one runs out, the other goes on alone
            rec = next(sources[made % len(sources)], None)
            if rec is None:
                sources.pop(made % len(sources))
                continue
            thread = made // 5
            created = start + dt.timedelta(seconds=(made * 7_257_600) // n)  # twelve weeks
            post = {
                "id": f"b{made}",
                "thread_id": f"t{thread}",
                "parent_id": None if made % 5 == 0 else f"b{made - 1}",
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "text": rec["text"],
                "author": {"id": f"u{(made * 7919) % 5000}", "role": "staff" if made % 97 == 0 else "member"},
            }
            fh.write(json.dumps(post) + "\n")
            made += 1
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rules", choices=sorted(RULES), nargs="+", default=["none", "lists-only"])
    parser.add_argument("--kind-model", default=None, help="insights' --kind-model (default: the CLI's default)")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "dump.jsonl"
        n = write_dump(dump, args.posts)
        chars = sum(len(json.loads(line)["text"]) for line in dump.open(encoding="utf-8")) / max(1, n)
        print(f"{n:,} real forum posts, {chars:.0f} characters on average, {os.cpu_count()} CPU(s)")
        print(f"{'moderation':<12} {'workers':>7} {'seconds':>8} {'posts/s':>8} {'topics':>6} {'unanswered':>10}")
        for rules in args.rules:
            for workers in args.workers:
                cmd = [sys.executable, "-m", "safeguard", "insights", str(dump), "-o", f"{tmp}/page.html"]
                cmd += ["--json", f"{tmp}/page.json", "--workers", str(workers), "--no-progress"]
                path = RULES[rules]
                cmd += ["--no-moderation"] if path is None else ["--rules", str(path)]
                cmd += ["--kind-model", args.kind_model] if args.kind_model else []
                started = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
                seconds = time.perf_counter() - started
                if done.returncode != 0:
                    raise SystemExit(done.stderr)
                data = json.loads(Path(f"{tmp}/page.json").read_text(encoding="utf-8"))
                print(
                    f"{rules:<12} {workers:>7} {seconds:>8.1f} {n / seconds:>8,.0f} {len(data['topics']['topics']):>6} "
                    f"{data['threads']['unanswered']['unanswered']:>10,}"
                )


if __name__ == "__main__":
    main()
