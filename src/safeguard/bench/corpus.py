"""The posts ``safeguard bench`` runs on.

By default: real forum text, the Reddit and Stack Exchange comments of the evaluation sets
(``reddit_comp551_comments.jsonl`` and ``stackexchange_posts_comments.jsonl``, found through
:mod:`safeguard.datasets`), shuffled together with a fixed seed; when they are absent, the shipped
``examples/community_dump.jsonl``. ``--corpus FILE`` reads any dump safeguard reads (JSONL, CSV, TSV,
Parquet). A corpus smaller than the run needs is cycled with fresh post ids (and ``cycled`` says so).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from safeguard.types import Author, Post

__all__ = ["DEFAULT_SETS", "Corpus", "load_corpus", "read_posts", "write_posts"]

DEFAULT_SETS: tuple[str, ...] = ("reddit_comp551_comments.jsonl", "stackexchange_posts_comments.jsonl")
SEED = 551


@dataclass(frozen=True)
class Corpus:
    """Posts to benchmark on and where they came from."""

    posts: list[Post]
    source: str
    cycled: bool = False

    def describe(self) -> dict[str, object]:
        chars = [len(p.text) for p in self.posts]
        return {
            "source": self.source,
            "posts": len(self.posts),
            "mean_chars": round(sum(chars) / len(chars), 1) if chars else 0,
            "cycled": self.cycled,
        }


def load_corpus(n: int, path: str | Path | None = None) -> Corpus:
    """``n`` posts from ``path`` (any dump safeguard reads), or from the default sets.

    Raises :class:`~safeguard.errors.InputError` when ``path`` cannot be read, ValueError when it
    holds no usable post.
    """
    if n < 1:
        raise ValueError(f"the corpus needs at least 1 post, got {n}")
    if path is not None:
        posts = list(itertools.islice(read_posts(path), n))
        source = str(path)
    else:
        posts, source = _default_posts(n)
    if not posts:
        raise ValueError(f"no post with text in {source}")
    base = len(posts)
    cycled = base < n
    if cycled:
        posts = [
            replace(post, id=f"{post.id}~{i // base}") if i >= base else post
            for i, post in zip(range(n), itertools.cycle(posts))
        ]
    return Corpus(posts=posts, source=source, cycled=cycled)


def read_posts(path: str | Path) -> Iterator[Post]:
    """The valid posts of a dump, in order (records that are not posts are left out)."""
    from safeguard.io import readers

    for _, post, _ in readers.iter_posts(readers.read_records(path)):
        if post is not None and post.text:
            yield post


def write_posts(posts: Sequence[Post], path: Path) -> None:
    """Write posts as JSON Lines that :func:`read_posts` reads back (id, text, title, author)."""
    with path.open("w", encoding="utf-8") as fh:
        for p in posts:
            a = p.author
            author = {"id": a.id, "trust_level": a.trust_level, "role": a.role}
            record = {"id": p.id, "text": p.text, "title": p.title, "author": author}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _default_posts(n: int) -> tuple[list[Post], str]:
    from safeguard.datasets import eval_path

    paths = [p for p in (eval_path(name) for name in DEFAULT_SETS) if p is not None]
    if not paths:
        example = _example_dump()
        return list(itertools.islice(read_posts(example), n)), str(example)
    texts: list[tuple[str, str]] = []
    for path in paths:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                if record.get("text"):
                    texts.append((f"{path.stem}:{record['id']}", record["text"]))
    random.Random(SEED).shuffle(texts)
    posts = [
        # Authors as a forum has them, so trust-level rules see members of every level.
        Post(id=pid, text=text, author=Author(id=f"u{i % 5000}", trust_level=i % 5, role="member"))
        for i, (pid, text) in enumerate(texts[:n])
    ]
    return posts, " + ".join(p.name for p in paths) + f" (shuffled, seed {SEED})"


def _example_dump() -> Path:
    candidates = [Path.cwd() / "examples" / "community_dump.jsonl"]
    candidates += [base / "examples" / "community_dump.jsonl" for base in Path(__file__).resolve().parents]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "no benchmark corpus: the evaluation sets (../shared/eval) and examples/community_dump.jsonl are both "
        "absent; pass --corpus FILE"
    )
