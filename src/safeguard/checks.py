"""Checks of numeric options (classifier options, model metadata, command settings), with one wording
for every option: ``window must be a positive integer, got 0``.

Booleans are refused where a number is expected (``True`` is an ``int`` to Python, never a count
here), as are NaN and the infinities. Each check returns the value, converted (a float for
:func:`number`), or raises :class:`ValueError`; the loaders turn that into a problem on the option's line.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["integer", "number", "probability"]


def integer(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int from ``low`` to ``high`` (no upper bound when None)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        if high is not None:
            wanted = f"an integer between {low} and {high}"
        else:
            wanted = "a positive integer" if low == 1 else f"an integer of at least {low}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return value


def number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
) -> float:
    """``value`` as a finite float in the range from ``low`` to ``high`` (either side open when None;
    ``low`` itself excluded with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be {_range(low, high, low_open)}, got {value!r}")
    below = low is not None and (value <= low if low_open else value < low)
    if below or (high is not None and value > high):
        raise ValueError(f"{name} must be {_range(low, high, low_open)}, got {value!r}")
    return float(value)


def probability(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1]."""
    return number(name, value, 0.0, 1.0)


def _range(low: float | None, high: float | None, low_open: bool) -> str:
    if low == 0 and low_open and high is None:
        return "a positive number"
    if low is None and high is None:
        return "a finite number"
    if high is None:
        return f"a number {'above' if low_open else 'of at least'} {low:g}"
    if low is None:
        return f"a number of at most {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"
