"""Print the real comments sampled for the feedback kind model's training labels (tools/data/feedback_train_real.jsonl).

The sampling rule, deterministic and free of any random state:

1. From ``hickey_reddit_counterspeech.jsonl`` and ``toxic_spans_civil_comments.jsonl`` in ``shared/train``
   (beside the evaluation sets' folder, as ``safeguard`` finds it; or ``--train-dir``), keep the
   rows whose ``text`` is 15 to 1,500 characters long (both ends included, counted in Unicode code points as Python's
   ``len`` counts them).
2. Order each file's kept rows by ``sha256(("kind-train-v1:" + id).encode()).hexdigest()`` (ascending hex string).
3. Take the first 1,580 Hickey rows (380 in a first round, then 400, 400 and 400 in four rounds) and the first 220
   Civil Comments rows in that order.

Each sampled row is printed as one JSON object per line with its id, source, its parent comment (``context``, Hickey
rows that have one) and, unless ``--ids-only``, its text, so an annotator can label it. The texts are not copied
anywhere: the labels file joins them by id.

    python tools/sample_kind_training_posts.py
    python tools/sample_kind_training_posts.py --ids-only
    python tools/sample_kind_training_posts.py --start 50 --count 50 --source hickey_reddit_counterspeech.jsonl
    python tools/sample_kind_training_posts.py --train-dir /path/to/shared/train
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from safeguard.classifiers.toxicity.harmdata import train_dir

ROOT = Path(__file__).resolve().parents[1]
SALT = "kind-train-v1:"
MIN_CHARS = 15
MAX_CHARS = 1500
SOURCES: dict[str, int] = {
    "hickey_reddit_counterspeech.jsonl": 1580,
    "toxic_spans_civil_comments.jsonl": 220,
}


def default_train_dir() -> Path:
    """Where the project looks for ``shared/train`` (see :mod:`safeguard.datasets`), or where it would be."""
    return train_dir() or ROOT.parent / "shared" / "train"


def sort_key(row_id: str) -> str:
    """The ordering key of a row: the hex sha256 of the salted id."""
    return hashlib.sha256((SALT + row_id).encode()).hexdigest()


def context_of(row: dict[str, Any]) -> str:
    """The parent comment of a Hickey row, or an empty string."""
    meta = row.get("meta") or {}
    context = meta.get("context")
    return context if isinstance(context, str) else ""


def sample(path: Path, count: int) -> list[dict[str, Any]]:
    """The first ``count`` rows of ``path`` with a text of 15 to 1,500 characters, in salted-hash order."""
    kept: list[tuple[str, dict[str, Any]]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            text = row.get("text") or ""
            if MIN_CHARS <= len(text) <= MAX_CHARS:
                kept.append((sort_key(row["id"]), row))
    kept.sort(key=lambda pair: pair[0])
    return [row for _, row in kept[:count]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--train-dir", type=Path, default=None, help="folder holding the source files")
    parser.add_argument("--source", choices=sorted(SOURCES), default=None, help="print only this source file's rows")
    parser.add_argument("--start", type=int, default=0, help="skip this many sampled rows of each source")
    parser.add_argument("--count", type=int, default=None, help="print at most this many rows of each source")
    parser.add_argument("--ids-only", action="store_true", help="print ids and sources without the texts")
    args = parser.parse_args(argv)
    train_dir: Path = args.train_dir or default_train_dir()
    for source, total in SOURCES.items():
        if args.source and source != args.source:
            continue
        path = train_dir / source
        if not path.exists():
            print(f"missing {path}", file=sys.stderr)
            return 1
        rows = sample(path, total)[args.start :]
        if args.count is not None:
            rows = rows[: args.count]
        for row in rows:
            out: dict[str, Any] = {"id": row["id"], "source": source}
            if not args.ids_only:
                context = context_of(row)
                if context:
                    out["context"] = context
                out["text"] = row["text"]
            print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
