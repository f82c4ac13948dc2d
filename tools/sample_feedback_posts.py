"""Print the real posts sampled for the feedback evaluation set (tests/fixtures/feedback/labels.jsonl).

The sampling rule, deterministic and free of any random state, applied to each source file in ``../shared/eval``
(beside the checkout, or ``$SAFEGUARD_EVAL_DIR``) separately:

1. Keep the rows that pass the source's row filter (``ROW_FILTERS``; a source without one keeps every row) and whose
   ``text`` is 20 to 1,500 characters long (both ends included, counted in Unicode code points as Python's ``len``
   counts them). ``reddit_comp551_comments.jsonl`` and ``stackexchange_posts_comments.jsonl`` have no row filter
   (Stack Exchange posts of every ``meta.kind``, question, answer and comment, are kept);
   ``uci_review_sentences.jsonl`` keeps only the Amazon product-review sentences (``meta.site == "amazon"``), not
   the IMDB and Yelp ones.
2. Order the kept rows by ``sha256(("feedback-v1:" + id).encode()).hexdigest()`` (ascending hex string).
3. Take the first ``PER_SOURCE[source]`` rows in that order: 70 Reddit comments, 70 Stack Exchange posts and
   comments, 150 Amazon review sentences.

Each sampled post is printed as one JSON object per line with its id, source, split, ``reply`` (Reddit
comments: true; Stack Exchange: true for answers and comments; review sentences: false) and, unless
``--ids-only``, its text and meta, so an annotator can label it. The split is ``dev`` when
``int(sha256(("feedback-v1:" + id).encode()).hexdigest(), 16) % 2 == 0``, else ``test``. The texts are not copied
anywhere: the labels file joins them by source and id.

    python tools/sample_feedback_posts.py
    python tools/sample_feedback_posts.py --ids-only
    python tools/sample_feedback_posts.py --source uci_review_sentences.jsonl
    python tools/sample_feedback_posts.py --eval-dir /path/to/shared/eval --per-source 70

``--per-source N`` overrides the table and takes N rows from every source; ``--source`` (repeatable) restricts the
output to the named source files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safeguard.datasets import eval_dir

ROOT = Path(__file__).resolve().parents[1]
SALT = "feedback-v1:"
MIN_CHARS = 20
MAX_CHARS = 1500

RowFilter = Callable[[dict[str, Any]], bool]

#: Source file name -> number of rows taken from it, in output order.
PER_SOURCE: dict[str, int] = {
    "reddit_comp551_comments.jsonl": 70,
    "stackexchange_posts_comments.jsonl": 70,
    "uci_review_sentences.jsonl": 150,
}
SOURCES = tuple(PER_SOURCE)


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    meta = row.get("meta")
    return meta if isinstance(meta, dict) else {}


def is_amazon(row: dict[str, Any]) -> bool:
    """Amazon product-review sentences only (not the IMDB and Yelp rows of the same file)."""
    return _meta(row).get("site") == "amazon"


#: Source file name -> predicate a row must pass to be eligible; sources not listed keep every row.
ROW_FILTERS: dict[str, RowFilter] = {
    "uci_review_sentences.jsonl": is_amazon,
}


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
    """Reddit comments are replies; on Stack Exchange answers and comments are, questions are not.

    Review sentences (and any other source) are not replies.
    """
    if source.startswith("reddit"):
        return True
    if source.startswith("stackexchange"):
        return _meta(row).get("kind") in ("answer", "comment")
    return False


def sample(path: Path, per_source: int | None = None, row_filter: RowFilter | None = None) -> list[dict[str, Any]]:
    """The first ``per_source`` eligible rows of ``path`` of 20 to 1,500 characters, in salted-hash order.

    ``per_source`` defaults to the table entry for the file's name; ``row_filter`` to the source's filter in
    ``ROW_FILTERS`` (none: every row is eligible).
    """
    if per_source is None:
        per_source = PER_SOURCE[path.name]
    if row_filter is None:
        row_filter = ROW_FILTERS.get(path.name)
    kept: list[tuple[str, dict[str, Any]]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            if row_filter is not None and not row_filter(row):
                continue
            text = row.get("text") or ""
            if MIN_CHARS <= len(text) <= MAX_CHARS:
                kept.append((sort_key(row["id"]), row))
    kept.sort(key=lambda pair: pair[0])
    return [row for _, row in kept[:per_source]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=None, help="folder holding the source files")
    parser.add_argument(
        "--per-source",
        type=int,
        default=None,
        help="take this many posts from every source file instead of the per-source table (70, 70, 150)",
    )
    parser.add_argument(
        "--source",
        action="append",
        choices=SOURCES,
        default=None,
        help="only this source file (repeatable; default: all)",
    )
    parser.add_argument("--ids-only", action="store_true", help="print ids, sources and splits without the texts")
    args = parser.parse_args(argv)
    eval_dir: Path = args.eval_dir or default_eval_dir()
    sources = [source for source in SOURCES if args.source is None or source in args.source]
    for source in sources:
        path = eval_dir / source
        if not path.exists():
            print(f"missing {path}", file=sys.stderr)
            return 1
        count = PER_SOURCE[source] if args.per_source is None else args.per_source
        for row in sample(path, count, ROW_FILTERS.get(source)):
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
