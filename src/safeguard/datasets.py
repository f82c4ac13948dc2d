"""Locate and read the labelled evaluation sets (JSON Lines) used by benchmarks and training scripts.

The sets are not shipped with safeguard. They are looked up, in order, in:

1. the directory named by the ``SAFEGUARD_EVAL_DIR`` environment variable;
2. ``../shared/eval`` beside the working directory or any of its parents;
3. ``../shared/eval`` beside the source checkout safeguard was imported from.

Each file holds one JSON object per line with at least ``id``, ``text`` and ``label``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["EVAL_DIR_ENV", "eval_dir", "eval_path", "read_eval"]

EVAL_DIR_ENV = "SAFEGUARD_EVAL_DIR"


def _candidates() -> Iterator[Path]:
    env = os.environ.get(EVAL_DIR_ENV)
    if env:
        yield Path(env)
    cwd = Path.cwd().resolve()
    for base in (cwd, *cwd.parents):
        yield base.parent / "shared" / "eval"
    here = Path(__file__).resolve()
    for base in here.parents:
        yield base.parent / "shared" / "eval"


def eval_dir() -> Path | None:
    """The evaluation-set directory, or None when none is found."""
    for candidate in _candidates():
        if candidate.is_dir():
            return candidate
    return None


def eval_path(name: str) -> Path | None:
    """Path of the evaluation file ``name`` (``"youtube_spam_collection.jsonl"``), or None when absent."""
    directory = eval_dir()
    if directory is None:
        return None
    path = directory / name
    return path if path.is_file() else None


def read_eval(name: str, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Yield the records of the evaluation file ``name``; FileNotFoundError when it is absent."""
    path = eval_path(name)
    if path is None:
        raise FileNotFoundError(
            f"evaluation set {name!r} not found; set {EVAL_DIR_ENV} or place ../shared/eval beside the checkout"
        )
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if limit is not None and i >= limit:
                break
            if line.strip():
                yield json.loads(line)
