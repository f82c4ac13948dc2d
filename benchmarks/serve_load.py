"""Load on ``safeguard serve`` over loopback: fixed request rates, latency percentiles, errors, RSS.

For each ruleset and worker count it starts ``python -m safeguard serve`` on a free 127.0.0.1 port, waits
for ``/readyz``, warms up, then for each rate sends single posts of real text (Reddit comments from
../shared/eval/reddit_comp551_comments.jsonl, else the example dump) to ``POST /v1/moderate`` on an
open-loop schedule: request i starts at i/rate seconds whatever happened to the earlier ones, and its
latency counts from that scheduled time (a slow server is not hidden by a client that waits). Bounded:
``rate x duration`` requests per step, each with a 10 s timeout. Reports p50/p95/p99 latency, errors,
the achieved rate (answers with 200 per second) and the server's resident memory (all its processes).

    python benchmarks/serve_load.py [--rates 25,50,100] [--duration 20] [--workers 1,2]
        [--rules benchmarks/rules/lists_only.yaml rules/community.yaml] [--fast-tier] [--rss-every S]
        [--batch N] [--out FILE]

``--rss-every`` samples the service's memory during each step (a long ``--duration`` shows whether it
stays flat; ``--rules fast-tier`` measures the fast-tier copy of the shipped policy alone); ``--batch N``
also sends N posts in batches of 256 and compares the posts/s with ``safeguard moderate`` over the same
posts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def corpus(limit: int = 5000) -> list[str]:
    from safeguard.datasets import eval_path

    path = eval_path("reddit_comp551_comments.jsonl") or ROOT / "examples" / "community_dump.jsonl"
    out: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                text = json.loads(line).get("text")
                if isinstance(text, str) and text.strip():
                    out.append(text)
            if len(out) >= limit:
                break
    return out


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, MiB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total / 1024


def start(rules: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}
    env.pop("SAFEGUARD_API_KEYS", None)
    cmd = [sys.executable, "-m", "safeguard", "serve", "--rules", str(rules), "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--workers", str(workers)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited {proc.returncode}")
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise SystemExit("serve never became ready")


async def sample_rss(pid: int, every: float, out: list[tuple[float, float]]) -> None:
    """Append ``(seconds since start, RSS MiB)`` of the service every ``every`` seconds until cancelled."""
    t0 = time.perf_counter()
    while True:
        out.append((time.perf_counter() - t0, rss_mib(pid)))
        await asyncio.sleep(every)


async def step(
    base: str, texts: list[str], rate: float, duration: float, rss: tuple[int, float] | None = None
) -> dict[str, Any]:
    n = int(rate * duration)
    latencies: list[float] = []
    errors = 0
    samples: list[tuple[float, float]] = []
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:
        sampler = asyncio.create_task(sample_rss(rss[0], rss[1], samples)) if rss else None

        async def one(i: int, at: float) -> None:
            nonlocal errors
            try:
                r = await client.post("/v1/moderate", json={"id": f"q{i}", "text": texts[i % len(texts)]})
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - at)
            else:
                errors += 1

        # Each request is started at its time by one launcher, rather than all created up front: tens of
        # thousands of waiting tasks would make the client, not the server, late.
        tasks = []
        t0 = time.perf_counter() + 0.2
        for i in range(n):
            at = t0 + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, at)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        if sampler is not None:
            sampler.cancel()
    latencies.sort()

    def pct(q: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {
        "sent": n,
        "ok": len(latencies),
        "errors": errors,
        "achieved": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "rss": samples,
    }


async def batches(base: str, texts: list[str], size: int, concurrency: int) -> float:
    """Posts/s of ``texts`` sent as batches of ``size`` to ``POST /v1/moderate``, ``concurrency`` at a time."""
    chunks = [
        [{"id": f"b{i + k}", "text": t} for k, t in enumerate(texts[i : i + size])] for i in range(0, len(texts), size)
    ]
    queue = iter(chunks)
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:

        async def worker() -> None:
            for chunk in queue:
                r = await client.post("/v1/moderate", json={"posts": chunk})
                r.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(texts) / (time.perf_counter() - t0)


def cli_rate(rules: Path, texts: list[str]) -> float:
    """Posts/s of ``safeguard moderate`` over the same texts, process start excluded (a warm-up run of
    ten posts is timed and subtracted)."""
    from moderate_dump import run

    folder = Path(tempfile.mkdtemp(prefix="serve-load-cli-"))

    def seconds(items: list[str]) -> float:
        dump = folder / "dump.jsonl"
        dump.write_text("".join(json.dumps({"id": f"c{i}", "text": t}) + "\n" for i, t in enumerate(items)))
        return run(dump, rules, folder / "out.jsonl")[0]

    start_cost = seconds(texts[:10])
    return len(texts) / max(1e-9, seconds(texts) - start_cost)


def fast_tier_policy() -> Path:
    """rules/community.yaml with the toxicity classifier on its fast tier, in a scratch directory
    (its lists are read from rules/lists with allow_outside)."""
    text = (ROOT / "rules" / "community.yaml").read_text(encoding="utf-8")
    shipped = "  toxicity: {backend: default}"
    if shipped not in text:
        raise SystemExit("rules/community.yaml no longer says 'toxicity: {backend: default}': update --fast-tier")
    text = text.replace(shipped, "  toxicity: {backend: fast}")
    text = re.sub(r"(?m)^(  \w+: )lists/", lambda m: f"{m.group(1)}{ROOT / 'rules' / 'lists'}/", text)
    folder = Path(tempfile.mkdtemp(prefix="serve-load-"))
    path = folder / "community_fast.yaml"
    path.write_text("allow_outside: true\n" + text, encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="25,50,100")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument(
        "--rules",
        nargs="+",
        type=Path,
        default=[ROOT / "benchmarks/rules/lists_only.yaml", ROOT / "rules/community.yaml"],
    )
    parser.add_argument(
        "--fast-tier",
        action="store_true",
        help="Also measure the shipped policy with its toxicity classifier on the fast tier alone "
        "(no transformer tier): a copy of rules/community.yaml with 'backend: fast'.",
    )
    parser.add_argument(
        "--rss-every", type=float, default=None, help="Sample the service's RSS this often (seconds) in each step."
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="Also send this many posts in batches of 256 (two requests at a time) and compare the posts/s "
        "with `safeguard moderate` over the same posts.",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    # "fast-tier" in --rules names the same copy, so it can be measured alone (a long memory run).
    args.rules = [fast_tier_policy() if str(r) == "fast-tier" else r for r in args.rules]
    if args.fast_tier:
        args.rules.append(fast_tier_policy())
    rates = [float(r) for r in args.rates.split(",")]
    texts = corpus()
    lines = [
        f"safeguard serve load: {len(texts)} texts, open-loop single posts to POST /v1/moderate over loopback, "
        f"{args.duration:g}s per rate",
        f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}, "
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        "",
        f"{'rules':<16} {'workers':>7} {'rate/s':>7} {'sent':>6} {'errors':>6} {'achieved/s':>10} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'RSS MiB':>8}",
    ]
    print("\n".join(lines), flush=True)
    for rules in args.rules:
        for workers in (int(w) for w in args.workers.split(",")):
            proc, base = start(rules, workers)
            try:
                asyncio.run(step(base, texts, 20, 1.0))  # warm-up
                for rate in rates:
                    rss = (proc.pid, args.rss_every) if args.rss_every else None
                    r = asyncio.run(step(base, texts, rate, args.duration, rss))
                    row = (
                        f"{rules.stem:<16} {workers:>7} {rate:>7g} {r['sent']:>6.0f} {r['errors']:>6.0f} "
                        f"{r['achieved']:>10.1f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} "
                        f"{rss_mib(proc.pid):>8.0f}"
                    )
                    lines.append(row)
                    print(row, flush=True)
                    if r["rss"]:
                        series = " ".join(f"{t:.0f}s:{m:.0f}" for t, m in r["rss"])
                        lines.append(f"  RSS MiB over the step: {series}")
                        print(lines[-1], flush=True)
                if args.batch:
                    served = asyncio.run(batches(base, (texts * (args.batch // len(texts) + 1))[: args.batch], 256, 2))
                    cli = cli_rate(rules, (texts * (args.batch // len(texts) + 1))[: args.batch])
                    lines.append(
                        f"  batches of 256: {served:.0f} posts/s served, {cli:.0f} posts/s by `safeguard moderate` "
                        f"(process start excluded): {served / cli:.2f}x"
                    )
                    print(lines[-1], flush=True)
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(60)
                if code != 0:
                    lines.append(f"  (serve exited {code})")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
