"""What the policy tools consume: posts, and records that could not become posts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["KEPT_ERRORS", "RecordError", "batched"]

#: Error records kept (the first ones) for reporting; all of them are counted.
KEPT_ERRORS = 100

T = TypeVar("T")


@dataclass(frozen=True)
class RecordError:
    """An input record that could not be used: its 1-based ``line``, the ``id`` it carries, and why."""

    line: int | None
    id: str | None
    error: str

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "id": self.id, "error": self.error}


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items, in order."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
