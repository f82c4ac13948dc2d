"""A classifier's options as one frozen dataclass: each field's type, default, check and meaning in one place.

A classifier names its options class (``options_type``); the class is a keyword-only frozen dataclass
derived from :class:`Options` whose fields are made with :func:`option`::

    @dataclass(frozen=True, kw_only=True)
    class DuplicateOptions(Options):
        threshold: float = option(0.8, Number(0.0, 1.0, low_open=True), "similarity that makes a copy")
        window: int = option(100_000, Integer(), "posts remembered")

Building one checks every field (:mod:`safeguard.checks`: one wording for every option) and then the
rules between fields (:meth:`Options.validate`); a bad value raises :class:`ValueError` naming the option,
which the ruleset loader reports on the option's line. The loader learns which options a classifier
takes, and suggests the nearest name for a misspelt one, from the fields (:func:`option_names`).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from safeguard import checks

__all__ = [
    "Integer",
    "Number",
    "OptionalCheck",
    "Options",
    "Probability",
    "file_path",
    "option",
    "option_names",
    "parse_options",
]

#: A check: the option's name and raw value in, the value to keep out (or ValueError).
Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Integer:
    """An int from ``low`` to ``high`` (no upper bound when None): :func:`safeguard.checks.integer`."""

    low: int = 1
    high: int | None = None

    def __call__(self, name: str, value: Any) -> int:
        return checks.integer(name, value, self.low, self.high)


@dataclass(frozen=True)
class Number:
    """A finite float in a range: :func:`safeguard.checks.number`."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def __call__(self, name: str, value: Any) -> float:
        return checks.number(name, value, self.low, self.high, low_open=self.low_open)


@dataclass(frozen=True)
class Probability:
    """A float in [0, 1]: :func:`safeguard.checks.probability`."""

    def __call__(self, name: str, value: Any) -> float:
        return checks.probability(name, value)


@dataclass(frozen=True)
class OptionalCheck:
    """None, or a value that passes ``check``."""

    check: Check

    def __call__(self, name: str, value: Any) -> Any:
        return None if value is None else self.check(name, value)


def file_path(name: str, value: Any) -> str | os.PathLike[str]:
    """A file path as written (a string or a path); where it resolves is the classifier's business."""
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name} must be a file path, got {value!r}")
    return value


def option(default: Any, check: Check | None = None, doc: str = "") -> Any:
    """A field of an :class:`Options` dataclass: its default, the check its value must pass, and what it means.
    A mutable default (a dict, list or set) is copied for each instance."""
    metadata = {"check": check, "doc": doc}
    if isinstance(default, (dict, list, set)):
        return dataclasses.field(default_factory=lambda: copy.copy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True, kw_only=True)
class Options:
    """Base of every classifier's options: each field is checked when the options are built."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check = f.metadata.get("check")
            if check is not None:
                object.__setattr__(self, f.name, check(f.name, getattr(self, f.name)))
        self.validate()

    def validate(self) -> None:
        """Rules between options (``bands`` divides ``num_perm`` ...): raise ValueError. None by default."""


_O = TypeVar("_O", bound=Options)


def option_names(options_type: type[Options]) -> list[str]:
    """The options ``options_type`` takes, in the order they are declared."""
    return [f.name for f in dataclasses.fields(options_type)]


def parse_options(options_type: type[_O], values: Mapping[str, Any], kind: str) -> _O:
    """``options_type`` built from ``values``; a name it does not take raises ValueError naming the classifier
    ``kind`` and the allowed names."""
    allowed = option_names(options_type)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) for classifier {kind!r}: {', '.join(unknown)} (allowed: {', '.join(allowed) or 'none'})"
        )
    return options_type(**values)
