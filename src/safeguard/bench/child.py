"""Measure one subject in this process and write its result as JSON: ``python -m safeguard.bench.child``.

The runner starts one child per subject so each subject's peak memory is its own::

    python -m safeguard.bench.child --subject pii --corpus posts.jsonl --workdir DIR --settings '{...}' --output r.json

The result is written even when the subject is skipped or fails (``status`` says which); the exit
status is 0 whenever a result was written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from safeguard.bench.corpus import read_posts
from safeguard.bench.measure import Settings
from safeguard.bench.runner import run_subject


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, measure the subject, write the result; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m safeguard.bench.child", description=__doc__)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--settings", required=True, help="Settings as a JSON object")
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args(argv)
    data = json.loads(args.settings)
    data["sizes"] = tuple(data["sizes"])
    settings = Settings(**data)
    posts = list(read_posts(args.corpus))
    result = run_subject(args.subject, posts, settings, args.workdir)
    args.output.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
