"""What the policy tools consume: posts, and records that could not become posts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from rich.table import Table

from safeguard.types import Action

__all__ = ["ACTIONS", "KEPT_ERRORS", "RecordError", "UnusableRecord", "action_matrix", "batched"]

#: The actions in order of severity.
ACTIONS: tuple[Action, ...] = (Action.ALLOW, Action.HOLD, Action.REMOVE)

#: Error records kept (the first ones) for reporting; all of them are counted.
KEPT_ERRORS = 100

T = TypeVar("T")


@dataclass(frozen=True)
class UnusableRecord:
    """An input record that could not be used: its 1-based ``line``, the ``id`` it carries, and why."""

    line: int | None
    id: str | None
    error: str

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "id": self.id, "error": self.error}


#: The former name of :class:`UnusableRecord` (it is a record, not an exception); kept for existing imports.
RecordError = UnusableRecord


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


def action_matrix(title: str, corner: str, counts: Mapping[Action, Mapping[Action, int]]) -> Table:
    """An action-by-action count table (rows and columns in severity order) with a total per row."""
    table = Table(title=title, title_justify="left")
    table.add_column(corner, style="bold")
    for column in ACTIONS:
        table.add_column(column.value, justify="right")
    table.add_column("total", justify="right")
    for row_action in ACTIONS:
        row = counts[row_action]
        table.add_row(row_action.value, *(f"{row[c]:,}" for c in ACTIONS), f"{sum(row.values()):,}")
    return table
