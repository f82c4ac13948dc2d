"""Throughput and peak memory of ``safeguard moderate`` over a large dump, as a user runs it.

Builds a dump of N real forum posts (Reddit and Stack Exchange comments from ../shared/eval, cycled
with fresh ids when N exceeds them; the shipped example dump when ../shared is absent), then runs the
CLI in a subprocess for each size and ruleset and reports posts/s and the child's peak RSS. Peak RSS
that stays flat as N grows shows memory is bounded by the batch, not the dump. With ``--workers 1 2``
each run is repeated with ``--workers 2`` and its decisions are compared with the one-process run's
(``same``: every record equal but ``elapsed_ms``); peak RSS is then that of the largest process.
With ``--ray N`` each run is repeated with ``--engine ray --workers N`` (Ray started on this machine,
its start included in the time) and compared the same way; its peak RSS is the CLI's alone (Ray's
workers are not its children). ``--plant K`` gives every post a time, one minute apart, and plants K
copy-paste campaigns (20 edited copies each, spread over the dump) for the duplicate window to find.
``speedup`` is the first configuration's seconds over this one's, in the same round (``--rounds R``
repeats every configuration R times, interleaved, on a machine whose speed drifts); ``CPU s`` is the
user and system time of the CLI and its worker processes (one process may use more than one core: the
model tier's ONNX Runtime threads).

    python benchmarks/moderate_dump.py --posts 10000 100000 [--workers 1 2] [--ray 2] [--plant 200] [--rounds R]
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

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ["reddit_comp551_comments.jsonl", "stackexchange_posts_comments.jsonl"]
RULESETS = {
    "lists-only": ROOT / "benchmarks" / "rules" / "lists_only.yaml",
    "community": ROOT / "rules" / "community.yaml",
}


def texts() -> list[str]:
    """Real forum comments from ../shared/eval, or the shipped example dump when they are absent."""
    from safeguard.datasets import eval_path

    found = [p for p in (eval_path(name) for name in CORPORA) if p is not None]
    out: list[str] = []
    for path in found or [ROOT / "examples" / "community_dump.jsonl"]:
        with path.open(encoding="utf-8") as fh:
            out.extend(json.loads(line)["text"] for line in fh if line.strip())
    return out


def build_dump(path: Path, n: int, corpus: list[str], plant: int = 0) -> None:
    import random

    rng = random.Random(n)
    planted: dict[int, str] = {}
    for k in range(plant):
        pitch = f"Campaign {k}: message me on whatsapp for the {rng.choice(corpus)[:80]} deal, only today for members"
        for _ in range(20):
            copy = list(pitch)
            copy[rng.randrange(len(copy))] = rng.choice("abcdefghij")
            planted[rng.randrange(n)] = "".join(copy)
    with path.open("w", encoding="utf-8") as fh:
        for i, text in zip(range(n), itertools.cycle(corpus)):
            author = {"id": f"u{i % 5000}", "trust_level": i % 5, "role": "member"}
            record = {"id": f"b{i}", "text": planted.get(i, text), "author": author}
            if plant:
                record["created_at"] = 1_790_000_000 + 60 * i
            fh.write(json.dumps(record) + "\n")


def run(
    dump: Path, rules: Path, out: Path, workers: int = 1, engine: str = "local", one_cpu: bool = False
) -> tuple[float, float, float]:
    """Seconds, peak RSS (MB) and CPU seconds (user + system of the CLI and its worker processes) of one run;
    ``one_cpu`` runs it on the first CPU this process may use (as on a one-core machine)."""
    cmd = [sys.executable, "-m", "safeguard", "moderate", str(dump), "-r", str(rules), "-o", str(out), "--no-progress"]
    cmd += ["--workers", str(workers), "--engine", engine]
    # A fresh wrapper process per run, so its children's peak RSS is this run's alone.
    wrapper = [sys.executable, "-c", _WRAPPER, "1" if one_cpu else "0", *cmd]
    start = time.perf_counter()
    proc = subprocess.run(wrapper, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"moderate failed ({proc.returncode}):\n{proc.stderr}")
    peak_kb, cpu = proc.stdout.strip().splitlines()[-1].split()
    return seconds, int(peak_kb) / 1024.0, float(cpu)


_WRAPPER = """
import os, resource, subprocess, sys
if sys.argv[1] == "1":
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
sys.exit(code)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rules", choices=sorted(RULESETS), nargs="+", default=sorted(RULESETS))
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="worker counts to run (first: baseline)")
    parser.add_argument(
        "--one-cpu",
        action="store_true",
        help="first run --workers 1 on one CPU (the baseline of what every core adds)",
    )
    parser.add_argument("--ray", type=int, default=0, help="also run --engine ray with this many actors")
    parser.add_argument("--plant", type=int, default=0, help="copy-paste campaigns to plant (and time every post)")
    parser.add_argument("--rounds", type=int, default=1, help="run each configuration this many times, interleaved")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    corpus = texts()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(args.posts):
            dump = Path(tmp) / f"dump_{n}.jsonl"
            build_dump(dump, n, corpus, args.plant)
            runs = [("local", w, False) for w in args.workers] + ([("ray", args.ray, False)] if args.ray else [])
            runs = [("local", 1, True), *runs] if args.one_cpu else runs
            for name in args.rules:
                baseline = None
                for round_ in range(1, args.rounds + 1):
                    first = None
                    for engine, workers, one_cpu in runs:
                        out = Path(tmp) / f"out_{engine}_{workers}_{one_cpu}.jsonl"
                        seconds, peak, cpu = run(dump, RULESETS[name], out, workers, engine, one_cpu)
                        decided = _records(out)
                        baseline = decided if baseline is None else baseline
                        first = seconds if first is None else first
                        results.append(
                            {
                                "rules": name,
                                "posts": n,
                                "round": round_,
                                "engine": engine,
                                "workers": f"{workers} (1 CPU)" if one_cpu else workers,
                                "seconds": round(seconds, 2),
                                "posts_per_s": round(n / seconds),
                                "speedup": round(first / seconds, 2),
                                "cpu_seconds": round(cpu, 1),
                                "peak_rss_mb": round(peak, 1),
                                "same": decided == baseline,
                            }
                        )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{'rules':<12} {'posts':>8} {'round':>5} {'engine':>6} {'workers':>10} {'seconds':>8} {'posts/s':>9} "
        f"{'speedup':>7} {'CPU s':>7} {'peak RSS MB':>12} {'same':>5}"
    )
    for r in results:
        print(
            f"{r['rules']:<12} {r['posts']:>8} {r['round']:>5} {r['engine']:>6} {r['workers']:>10} {r['seconds']:>8} "
            f"{r['posts_per_s']:>9} {r['speedup']:>7} {r['cpu_seconds']:>7} {r['peak_rss_mb']:>12} "
            f"{'yes' if r['same'] else 'NO':>5}"
        )


def _records(path: Path) -> str:
    """The decisions of a run without their timings, as one digest."""
    import hashlib

    digest = hashlib.sha256()
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            row.pop("elapsed_ms", None)
            digest.update(json.dumps(row, sort_keys=True).encode())
    return digest.hexdigest()


if __name__ == "__main__":
    main()
