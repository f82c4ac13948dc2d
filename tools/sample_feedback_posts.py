"""Print the real forum posts sampled for the feedback evaluation set (tests/fixtures/feedback/labels.jsonl).

The sampling rule, deterministic and free of any random state:

1. From ``reddit_comp551_comments.jsonl`` and ``stackexchange_posts_comments.jsonl`` in ``../shared/eval``
   (beside the checkout, or ``$SAFEGUARD_EVAL_DIR``), keep the posts whose ``text`` is 20 to 1,500 characters long (both
   ends included, counted in Unicode code points as Python's ``len`` counts them). Stack Exchange posts of
   every ``meta.kind`` (question, answer, comment) are kept.
2. Order each file's kept posts by ``sha256(("feedback-v1:" + id).encode()).hexdigest()`` (ascending hex string).
3. Take the first 70 of each file in that order.

Each sampled post is printed as one JSON object per line with its id, source, split, ``reply`` (Reddit
comments: true; Stack Exchange: true for answers and comments) and, unless ``--ids-only``, its text and meta,
so an annotator can label it. The texts are not copied anywhere: the labels file joins them by id.

    python tools/sample_feedback_posts.py
    python tools/sample_feedback_posts.py --ids-only
    python tools/sample_feedback_posts.py --eval-dir /path/to/shared/eval --per-source 70
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from safeguard.datasets import eval_dir

ROOT = Path(__file__).resolve().parents[1]
SALT = "feedback-v1:"
SOURCES = ("reddit_comp551_comments.jsonl", "stackexchange_posts_comments.jsonl")
MIN_CHARS = 20
MAX_CHARS = 1500
PER_SOURCE = 70


def default_eval_dir() -> Path:
    """Where the project looks for ``shared/eval`` (see :mod:`safeguard.datasets`), or where it would be."""
    return eval_dir() or ROOT.parent / "shared" / "eval"


def sort_key(post_id: str) -> str:
    """The ordering key of a post: the hex sha256 of the salted id."""
    return hashlib.sha256((SALT + post_id).encode()).hexdigest()


def split_of(post_id: str) -> str:
    """``dev`` when the salted hash is even, else ``test``."""
    return "dev" if int(sort_key(post_id), 16) % 2 == 0 else "test"


def is_reply(source: str, row: dict[str, Any]) -> bool:
    """Reddit comments are replies; on Stack Exchange answers and comments are, questions are not."""
    if source.startswith("reddit"):
        return True
    kind = (row.get("meta") or {}).get("kind")
    return kind in ("answer", "comment")


def sample(path: Path, per_source: int = PER_SOURCE) -> list[dict[str, Any]]:
    """The first ``per_source`` posts of ``path`` of 20 to 1,500 characters, in salted-hash order."""
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
    return [row for _, row in kept[:per_source]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=None, help="folder holding the source files")
    parser.add_argument("--per-source", type=int, default=PER_SOURCE, help="posts taken from each source file")
    parser.add_argument("--ids-only", action="store_true", help="print ids, sources and splits without the texts")
    args = parser.parse_args(argv)
    eval_dir: Path = args.eval_dir or default_eval_dir()
    for source in SOURCES:
        path = eval_dir / source
        if not path.exists():
            print(f"missing {path}", file=sys.stderr)
            return 1
        for row in sample(path, args.per_source):
            out: dict[str, Any] = {
                "id": row["id"],
                "source": source,
                "split": split_of(row["id"]),
                "reply": is_reply(source, row),
            }
            if not args.ids_only:
                out["meta"] = row.get("meta")
                out["text"] = row["text"]
            print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
