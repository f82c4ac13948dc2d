"""How many CPUs this process may use: its affinity, or its share when it is one of several workers.

Model backends size their thread pools from :func:`available`; a worker process of a parallel run
(:mod:`safeguard.parallel`) calls :func:`share` first, so N workers on N CPUs run one thread each
instead of N threads each fighting over the same CPUs.
"""

from __future__ import annotations

import os

__all__ = ["available", "share"]

_share: int | None = None


def available() -> int:
    """CPUs this process may run on (at least 1), capped by its :func:`share` when one was set."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _share) if _share is not None else cpus)


def share(processes: int) -> None:
    """Declare this process one of ``processes`` sharing the machine's CPUs: :func:`available` then
    gives its part (at least 1)."""
    global _share
    _share = None
    _share = max(1, available() // max(1, processes))
