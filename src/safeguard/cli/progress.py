"""How a command shows its progress through posts on stderr.

On a terminal: a bar with the posts done, their rate and the time taken, and, when the number of
records is known beforehand (:func:`~safeguard.io.readers.estimate_records`), the share done and
the time left. When stderr is not a terminal (a CI log, a file) and progress was not asked for or
turned off: one plain line every :data:`LINE_INTERVAL_S` seconds, so a long run shows it is alive
without filling the log with a redrawn bar. ``--no-progress``: nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from safeguard.cli.common import duration, err

__all__ = ["LINE_INTERVAL_S", "PostProgress", "expected_records"]

#: Seconds between two progress lines when stderr is not a terminal.
LINE_INTERVAL_S = 15.0


def expected_records(inputs: Iterable[str], formats: Iterable[str | None]) -> int | None:
    """About how many records the inputs hold, or None when any of them cannot tell."""
    from safeguard.io.readers import estimate_records

    total = 0
    for name, fmt in zip(inputs, formats, strict=True):
        n = estimate_records(name, fmt)
        if n is None:
            return None
        total += n
    return total


class PostProgress:
    """Progress of one pass over posts: ``with PostProgress("moderating", show=None) as p: p.update(n)``.

    ``show`` None means a bar on a terminal and periodic lines elsewhere; True a bar; False nothing.
    ``total`` (when known) adds the share done and the time left; ``start`` is where a resumed run
    begins, so the rate counts only this run's posts.
    """

    def __init__(
        self,
        verb: str,
        *,
        show: bool | None,
        total: int | None = None,
        start: int = 0,
        transient: bool = False,
        interval: float = LINE_INTERVAL_S,
    ) -> None:
        self.verb = verb
        self.total = total
        self.start = start
        self.done = start
        self.interval = interval
        self.lines = show is None and not err.is_terminal
        self._bar: Progress | None = None
        self._task: Any = None
        self._started = time.perf_counter()
        self._last_line = self._started
        if show if show is not None else err.is_terminal:
            known = total is not None
            columns = [
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn() if known else TextColumn("{task.completed:,}"),
                TextColumn("posts"),
                *([TaskProgressColumn()] if known else []),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                *([TimeRemainingColumn()] if known else []),
            ]
            self._bar = Progress(*columns, console=err, transient=transient)

    def __enter__(self) -> PostProgress:
        self._started = self._last_line = time.perf_counter()
        if self._bar is not None:
            self._bar.__enter__()
            self._task = self._bar.add_task(self.verb, total=self.total, completed=self.start, rate="")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, traceback)

    def describe(self, verb: str) -> None:
        """Name the stage the pass is in now (``starting Ray``, ``deciding``)."""
        self.verb = verb
        if self._bar is not None:
            self._bar.update(self._task, description=verb)

    def update(self, completed: int) -> None:
        """``completed`` posts (or records) are done."""
        self.done = completed
        now = time.perf_counter()
        rate = (completed - self.start) / max(now - self._started, 1e-9)
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, rate=f"{rate:,.0f}/s")
        elif self.lines and now - self._last_line >= self.interval:
            self._last_line = now
            err.print(self.line(completed, now - self._started, rate), markup=False, highlight=False)

    def line(self, completed: int, elapsed: float, rate: float) -> str:
        """The plain progress line: ``moderating: 12,000 of 40,000 posts (30%), 800/s, 15.0 s, about 35.0 s left``."""
        if self.total:
            share = min(completed / self.total, 1.0)
            left = max(self.total - completed, 0) / rate if rate > 0 else None
            count = f"{completed:,} of {self.total:,} posts ({100 * share:.0f}%)"
        else:
            left, count = None, f"{completed:,} posts"
        tail = f", about {duration(left)} left" if left is not None else ""
        return f"{self.verb}: {count}, {rate:,.0f}/s, {duration(elapsed)}{tail}"
