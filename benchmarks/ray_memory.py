"""Memory of the driver of a Ray run over many epochs: it should level off, not grow with the posts.

Builds the dump of ``moderate_dump.py`` (real forum posts, every post timed, planted campaigns), runs
:func:`safeguard.shards.ray_engine.decide` in this process with small epochs, and prints this
process's resident memory (VmRSS), what Arrow's memory pool holds, and the posts decided as each epoch
starts, then at the end. Ray's own processes (actors, the object store) are not counted: the actors of
each epoch's pools end with it. ``--trim`` returns freed heap first (glibc ``malloc_trim``), so what
remains is held; ``--trace N`` also prints Python's traced allocations and the N lines that grew most;
``--arenas`` prints what Python's small-object allocator holds (``sys._debugmallocstats``): its arenas
now and at most so far (1 MiB each), the bytes in live blocks, and the empty pools kept inside arenas
that some live block holds.

    python benchmarks/ray_memory.py [--posts 200000] [--epoch-mb 16] [--actors 2] [--rules FILE] [--trim] [--trace N]
                                    [--arenas]

``--rules benchmarks/rules/stateful_only.yaml`` keeps the two stateful classifiers of the shipped
policy and drops the harm models, so a million posts take minutes rather than an hour.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from moderate_dump import build_dump, texts  # noqa: E402
from soak import status_mib  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--epoch-mb", type=float, default=16.0)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--plant", type=int, default=200)
    parser.add_argument("--rules", type=Path, default=ROOT / "rules" / "community.yaml")
    parser.add_argument(
        "--trim",
        action="store_true",
        help="return freed heap to the system (glibc malloc_trim) before each reading, to tell memory held "
        "from memory freed but kept by the allocator",
    )
    parser.add_argument(
        "--trace",
        type=int,
        default=0,
        metavar="N",
        help="trace Python allocations and print, at each epoch from the fourth, the N source lines whose "
        "memory grew most since the third",
    )
    parser.add_argument("--arenas", action="store_true", help="print the small-object allocator's arenas at each epoch")
    args = parser.parse_args(argv)
    import ctypes
    import os
    import tracemalloc

    import pyarrow

    if args.trace:
        tracemalloc.start()
    baseline: list[tracemalloc.Snapshot] = []

    trim = ctypes.CDLL("libc.so.6").malloc_trim if args.trim else None

    from safeguard.rules.loader import load_ruleset
    from safeguard.shards import ray_engine

    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "dump.jsonl"
        build_dump(dump, args.posts, texts(), args.plant)
        print(f"{args.posts:,} posts, {dump.stat().st_size / 1e6:.0f} MB, epochs of {args.epoch_mb} MB, {args.rules}")
        ruleset = load_ruleset(args.rules)
        done = 0
        started = time.perf_counter()

        def stage(name: str) -> None:
            if name == "reading and preparing":
                if trim is not None:
                    trim(0)
                parts = status_mib(os.getpid())
                pool = pyarrow.default_memory_pool()
                print(
                    f"epoch starts at {done:>9,} posts  driver RSS {parts['VmRSS']:7.1f} MiB "
                    f"(private {parts.get('RssAnon', 0):.1f}, shared memory {parts.get('RssShmem', 0):.1f}) "
                    f"(Arrow {pool.backend_name} pool: {pool.bytes_allocated() / 2**20:.1f} MiB allocated, "
                    f"peak {pool.max_memory() / 2**20:.1f})",
                    flush=True,
                )
                if args.arenas:
                    stats = allocator_stats()
                    print(
                        f"    pymalloc arenas now {stats['arenas allocated current']:,} (at most so far "
                        f"{stats['arenas highwater mark']:,}), live blocks "
                        f"{stats['bytes in allocated blocks'] / 2**20:.1f} MiB, empty pools kept "
                        f"{stats['unused pools'] * 16384 / 2**20:.1f} MiB",
                        flush=True,
                    )
                if args.trace:
                    traced = tracemalloc.get_traced_memory()[0] / 2**20
                    print(f"    Python allocations traced: {traced:7.1f} MiB", flush=True)
                    snapshot = tracemalloc.take_snapshot()
                    if len(baseline) < 3:
                        baseline.append(snapshot)
                    else:
                        for diff in snapshot.compare_to(baseline[-1], "lineno")[: args.trace]:
                            print(f"    {diff.size_diff / 2**20:+8.2f} MiB {diff.traceback}", flush=True)

        for _ in ray_engine.decide(
            ruleset,
            [str(dump)],
            ["jsonl"],
            actors=args.actors,
            epoch_bytes=int(args.epoch_mb * 1024 * 1024),
            on_stage=stage,
        ):
            done += 1
        seconds = time.perf_counter() - started
        rss = status_mib(os.getpid())["VmRSS"]
        print(f"end at {done:>9,} posts  driver RSS {rss:7.1f} MiB  ({done / seconds:.0f} posts/s)")
    return 0


def allocator_stats() -> dict[str, int]:
    """The totals of ``sys._debugmallocstats()`` (which writes to the C stderr) by name."""
    import os
    import re
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile("w+") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        fh.seek(0)
        text = fh.read()
    stats = {m[1].strip(): int(m[2].replace(",", "")) for m in re.finditer(r"^# ([^=]+?)\s+=\s+([\d,]+)$", text, re.M)}
    pools = re.search(r"^([\d,]+) unused pools", text, re.M)
    stats["unused pools"] = int(pools[1].replace(",", "")) if pools else 0
    return stats


if __name__ == "__main__":
    raise SystemExit(main())
