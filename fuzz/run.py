"""Run one fuzz target under atheris (coverage-guided, libFuzzer), from its corpus, for a bounded time.

    python fuzz/run.py TARGET [--seconds 600] [--corpus fuzz/corpus/TARGET]
    python fuzz/run.py --list

New inputs that reach new code go to a scratch directory, not into the repository's corpus; a
finding is written to ``fuzz/findings/`` (crash-*, timeout-*) and the run exits non-zero. The last
lines printed are libFuzzer's final statistics: ``stat::number_of_executed_units`` is the number of
inputs tried.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?")
    parser.add_argument("--seconds", type=int, default=600, help="How long to fuzz (default 600).")
    parser.add_argument("--corpus", type=Path, default=None, help="Seed corpus (default fuzz/corpus/TARGET).")
    parser.add_argument("--max-len", type=int, default=4096, help="Longest input tried, in bytes.")
    parser.add_argument("--list", action="store_true", help="List the targets and exit.")
    args = parser.parse_args(argv)

    import atheris

    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["safeguard"]):
        pass
    from targets import TARGETS

    if args.list or not args.target:
        print("\n".join(f"{name}: {(fn.__doc__ or '').strip()}" for name, fn in TARGETS.items()))
        return 0
    if args.target not in TARGETS:
        parser.error(f"unknown target {args.target!r}: one of {', '.join(TARGETS)}")
    target = TARGETS[args.target]
    corpus = args.corpus or HERE / "corpus" / args.target
    findings = HERE / "findings"
    findings.mkdir(exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=f"fuzz-{args.target}-")
    libfuzzer = [
        sys.argv[0],
        scratch,
        str(corpus),
        f"-max_total_time={args.seconds}",
        f"-max_len={args.max_len}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={findings}/{args.target}-",
    ]

    def checked(data: bytes) -> None:
        try:
            target(data)
        except BaseException:
            # libFuzzer also writes its crash-* file; this copy is there even when the process dies first
            name = findings / f"{args.target}-finding-{hashlib.sha1(data).hexdigest()}"
            name.write_bytes(data)
            raise

    atheris.Setup(libfuzzer, checked)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
