"""Helper processes that score part of a batch while the calling process scores the rest.

:class:`Helpers` starts ``count`` processes (``spawn``), each loading the model once and answering over
its own pipe. :meth:`Helpers.share` cuts a batch into contiguous slices, one per process, by characters
plus a fixed cost per post: the calling process scores the first slice while each helper scores one of
the others. The calling process's share follows the measured speeds (a helper may run slower than the
caller beside it), so both tend to finish together. The calling thread writes the pipes itself: a helper
starts at once, not when a feeder thread next gets the interpreter lock.

A helper that dies or fails makes :meth:`share` raise :class:`HelperError`; the caller then scores the
batch itself and starts new helpers.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["HelperError", "Helpers", "split_by_cost"]

FloatArray = npt.NDArray[np.float64]
Scores = dict[str, FloatArray]

#: A post's fixed cost, in characters, when a batch is cut.
POST_COST = 64
#: How far one batch's measured speeds move the calling process's share (the rest is the old share).
_SMOOTHING = 0.3
#: The calling process's share stays within these bounds of an even split's.
_SHARE_BOUNDS = (0.5, 1.5)


class HelperError(RuntimeError):
    """A helper process stopped or failed; the batch must be scored another way."""


def _serve(conn: Connection, build: Callable[[], Any]) -> None:  # pragma: no cover - runs in the helper
    model = build()
    conn.send(("ready", None, 0.0))
    while True:
        try:
            texts = conn.recv()
        except (EOFError, OSError):
            return
        start = time.perf_counter()
        try:
            scores = model.score(texts)
        except Exception as exc:  # reported to the caller, which scores the batch itself
            conn.send(("error", f"{type(exc).__name__}: {exc}", 0.0))
        else:
            conn.send(("ok", scores, time.perf_counter() - start))


def split_by_cost(lengths: Sequence[int], shares: Sequence[float]) -> list[tuple[int, int]]:
    """Contiguous (start, end) slices of texts of these ``lengths``, one per share (shares sum to 1),
    each cut at the text boundary nearest its share of the cost (characters plus :data:`POST_COST` a post).
    Slices may be empty."""
    cumulative = [0, *itertools.accumulate(n + POST_COST for n in lengths)]
    total = cumulative[-1]
    bounds = [0]
    done = 0.0
    for share in shares[:-1]:
        done += share
        target = total * done
        j = bisect.bisect_left(cumulative, target, bounds[-1])
        if j > bounds[-1] and j < len(cumulative) and target - cumulative[j - 1] < cumulative[j] - target:
            j -= 1
        bounds.append(min(j, len(lengths)))
    bounds.append(len(lengths))
    return list(itertools.pairwise(bounds))


class Helpers:
    """``count`` helper processes, each with the model ``build()`` makes (a picklable, module-level callable
    whose result has ``score(texts) -> dict[label, array]``)."""

    def __init__(self, count: int, build: Callable[[], Any]) -> None:
        ctx = get_context("spawn")
        self._lock = threading.Lock()
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        #: The calling process's share of each batch's cost.
        self.share_of_caller = 1.0 / (count + 1)
        try:
            for _ in range(count):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child, build), daemon=True, name="safeguard-toxicity")
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
            for conn in self._conns:  # every helper has its model before the first batch
                self._receive(conn)
        except BaseException:
            self.shutdown()
            raise

    @property
    def pids(self) -> list[int]:
        """Process ids of the helpers."""
        return [p.pid for p in self._procs if p.pid is not None]

    def _receive(self, conn: Connection) -> tuple[Any, float]:
        try:
            kind, value, seconds = conn.recv()
        except (EOFError, OSError) as exc:
            raise HelperError("a toxicity helper process stopped") from exc
        if kind == "error":
            raise HelperError(f"a toxicity helper process failed: {value}")
        return value, seconds

    def share(self, texts: Sequence[str], score: Callable[[Sequence[str]], Scores]) -> Scores | None:
        """Scores of ``texts``: the first slice scored by ``score`` here, the others by the helpers. None when
        another thread is using the helpers (the caller scores the batch itself). Raises :class:`HelperError`."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if not self._conns:
                raise HelperError("the toxicity helper processes were stopped")
            try:
                return self._share(texts, score)
            except BaseException:
                self.shutdown()  # a pipe may hold an answer nobody read: these helpers cannot be used again
                raise
        finally:
            self._lock.release()

    def _share(self, texts: Sequence[str], score: Callable[[Sequence[str]], Scores]) -> Scores:
        lengths = list(map(len, texts))
        mine = self.share_of_caller
        rest = (1.0 - mine) / len(self._conns)
        slices = split_by_cost(lengths, [mine, *([rest] * len(self._conns))])
        busy: list[tuple[Connection, int]] = []
        for conn, (start, end) in zip(self._conns, slices[1:], strict=True):
            if start < end:
                try:
                    conn.send(list(texts[start:end]))
                except (OSError, ValueError) as exc:
                    raise HelperError("a toxicity helper process stopped") from exc
                busy.append((conn, start))
        start, end = slices[0]
        began = time.perf_counter()
        parts = {start: score(texts[start:end])} if start < end else {}
        my_seconds = time.perf_counter() - began
        their_seconds = 0.0
        for conn, first in busy:
            parts[first], seconds = self._receive(conn)
            their_seconds = max(their_seconds, seconds)
        self._adapt(lengths, slices, my_seconds, their_seconds)
        ordered = [parts[k] for k in sorted(parts)]
        return {label: np.concatenate([part[label] for part in ordered]) for label in ordered[0]}

    def _adapt(
        self, lengths: Sequence[int], slices: Sequence[tuple[int, int]], my_seconds: float, their_seconds: float
    ) -> None:
        """Move the caller's share towards the one that would have made both sides finish together."""
        (a, b), (c, d) = slices[0], slices[1]
        mine = sum(lengths[a:b]) + POST_COST * (b - a)
        theirs = sum(lengths[c:d]) + POST_COST * (d - c)
        if min(mine, theirs, my_seconds, their_seconds) <= 0:
            return
        my_speed, their_speed = mine / my_seconds, theirs / their_seconds
        helpers = len(self._conns)
        balanced = my_speed / (my_speed + helpers * their_speed)
        even = 1.0 / (helpers + 1)
        low, high = (even * bound for bound in _SHARE_BOUNDS)
        target = min(max(balanced, low), high)
        self.share_of_caller = (1 - _SMOOTHING) * self.share_of_caller + _SMOOTHING * target

    def shutdown(self) -> None:
        """Stop the helpers; :meth:`share` raises :class:`HelperError` from then on."""
        for conn in self._conns:
            conn.close()
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
        self._conns, self._procs = [], []
