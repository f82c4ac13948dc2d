"""Soak: a million posts through ``safeguard moderate`` with the shipped policy; memory stays flat, nothing is lost.

A generator streams real forum text (Reddit and Stack Exchange comments from ../shared/eval, cycled
with fresh ids and authors; the example dump when ../shared is absent) into the CLI's stdin, with a
hostile record every ``--bad-every`` lines (invalid JSON, a lone surrogate, an absurd timestamp, an id
that is an object). The CLI writes decisions to stdout, which this script reads as they come: it checks
that record N carries line N, that the hostile lines are error records and the others decisions, and
samples the CLI's resident memory (VmRSS) as it goes. After the warm-up (the first ``--warmup`` share of
the posts) it fits a line to RSS against posts done and reports the slope in MiB per 100,000 posts.

With ``--workers N`` the CLI decides in N worker processes, and the RSS sampled is that of the CLI
and every process under it, summed.

    python benchmarks/soak.py [--posts 1000000] [--rules rules/community.yaml] [--workers N] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from moderate_dump import texts  # noqa: E402

#: Hostile records mixed into the stream; each must come back as an error record or a decision.
HOSTILE: tuple[tuple[str, bool], ...] = (
    ("not json at all", True),
    ('{"id": "s%d", "text": "lone \\udc00 surrogate"}', False),
    ('{"id": "t%d", "text": "x", "created_at": 1e20}', True),
    ('{"id": {"o": %d}, "text": "object id"}', True),
    ('{"id": "r%d", "text": "\\u202etoidi na era uoy"}', False),
)


def records(n: int, corpus: list[str], bad_every: int) -> Iterator[tuple[str, bool]]:
    """``(line, is_error)`` for n records."""
    hostile = itertools.cycle(HOSTILE)
    for i, text in zip(range(n), itertools.cycle(corpus)):
        if bad_every and i % bad_every == bad_every - 1:
            template, error = next(hostile)
            yield (template % i if "%d" in template else template), error
            continue
        author = {"id": f"u{i % 5000}", "trust_level": i % 5}
        yield json.dumps({"id": f"k{i}", "text": text, "author": author}), False


def status_mib(pid: int) -> dict[str, float]:
    """The sizes in ``/proc/PID/status`` in MiB (``VmRSS``; its parts ``RssAnon``, private memory,
    ``RssShmem``, pages of shared memory touched, ``RssFile``, mapped files); empty once ``pid`` is gone."""
    out: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if value.rstrip().endswith(" kB"):
                    out[key] = int(value.split()[0]) / 1024.0
    except OSError:
        return {}
    return out


def rss_mib(pid: int) -> float | None:
    return status_mib(pid).get("VmRSS")


def tree_rss_mib(pid: int) -> float | None:
    """RSS of ``pid`` and every process under it, summed (None once ``pid`` is gone)."""
    total = rss_mib(pid)
    if total is None:
        return None
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            children = [int(c) for c in fh.read().split()]
    except OSError:
        children = []
    return total + sum(tree_rss_mib(c) or 0.0 for c in children)


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MiB) against posts, per 100,000 posts."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return 100_000 * sxy / sxx if sxx else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--rules", type=Path, default=ROOT / "rules" / "community.yaml")
    parser.add_argument("--bad-every", type=int, default=1000, help="One hostile record in this many.")
    parser.add_argument("--warmup", type=float, default=0.1, help="Share of posts before RSS is fitted.")
    parser.add_argument("--sample-every", type=float, default=2.0, help="Seconds between RSS samples.")
    parser.add_argument("--workers", type=int, default=1, help="Worker processes of the CLI (--workers).")
    parser.add_argument("--json", type=Path, default=None, help="Also write the result as JSON.")
    args = parser.parse_args(argv)

    corpus = texts()
    expected_error = [error for _, error in records(args.posts, ["x"], args.bad_every)]
    cmd = [sys.executable, "-m", "safeguard", "moderate", "-", "-r", str(args.rules), "-o", "-", "--no-signals"]
    cmd += ["--no-progress", "--workers", str(args.workers)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    def feed() -> None:
        assert proc.stdin is not None
        try:
            with proc.stdin:
                for line, _ in records(args.posts, corpus, args.bad_every):
                    proc.stdin.write(line.encode("utf-8", "surrogatepass") + b"\n")
        except BrokenPipeError:  # the run was stopped early
            pass

    stderr: list[bytes] = []
    threading.Thread(target=feed, daemon=True).start()
    threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True).start()  # type: ignore[union-attr]

    samples: list[tuple[int, float]] = []
    done = 0
    mismatches = 0
    last_sample = 0.0
    stopped = False
    # SIGTERM (or Ctrl-C) ends the run early and still reports what was seen up to then.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        for raw in proc.stdout:
            row = json.loads(raw)
            done += 1
            if row.get("line") != done or ("error" in row) != expected_error[done - 1]:
                mismatches += 1
            now = time.perf_counter()
            if now - last_sample >= args.sample_every:
                rss = tree_rss_mib(proc.pid)
                if rss is not None:
                    samples.append((done, rss))
                    print(f"{done:>9,} posts  {rss:7.1f} MiB  {done / (now - started):7.0f} posts/s", flush=True)
                last_sample = now
    except KeyboardInterrupt:
        stopped = True
        proc.kill()
    rc = proc.wait()
    seconds = time.perf_counter() - started
    fitted = [(x, y) for x, y in samples if x >= args.warmup * (done if stopped else args.posts)]
    result = {
        "posts": args.posts,
        "stopped_early": stopped,
        "records_out": done,
        "lost": None if stopped else args.posts - done,
        "mismatched_records": mismatches,
        "exit_code": rc,
        "seconds": round(seconds, 1),
        "posts_per_second": round(done / seconds, 1),
        "rss_mib_after_warmup": [round(fitted[0][1], 1), round(fitted[-1][1], 1)] if fitted else None,
        "rss_mib_max": round(max(y for _, y in samples), 1) if samples else None,
        "rss_slope_mib_per_100k_posts": round(slope(fitted), 3),
        "rules": str(args.rules.relative_to(ROOT) if args.rules.is_relative_to(ROOT) else args.rules),
        "workers": args.workers,
    }
    print(json.dumps(result, indent=2))
    tail = b"".join(stderr).decode("utf-8", "replace").strip().splitlines()[-3:]
    print("\n".join(tail))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if done == args.posts and not mismatches and rc in (0, 3) else 1


if __name__ == "__main__":
    raise SystemExit(main())
