"""safeguard's exceptions: one tree, rooted at :class:`SafeguardError`.

::

    SafeguardError
    ├── ConfigError              a ruleset, test file or classifier configuration is invalid;
    │                            carries every Problem found (file, line, column, message)
    ├── InputError               one input record cannot become a post (no text, bad field ...)
    ├── ReviewError              the review store refused or failed an operation (unknown item,
    │                            item claimed by someone else, bad database URL ...); ``code`` says which
    └── ClassifierError          a classifier failed to load or to classify
        ├── MissingDependencyError   an optional dependency is not installed; names the extra
        └── ModelLoadError           a model file is missing, corrupt, unsafe or incompatible

Catch ``SafeguardError`` to handle everything safeguard raises on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DISTRIBUTION",
    "ClassifierError",
    "ConfigError",
    "InputError",
    "MissingDependencyError",
    "ModelLoadError",
    "Problem",
    "ReviewError",
    "SafeguardError",
    "install_hint",
]


class SafeguardError(Exception):
    """Base of every exception safeguard raises on purpose."""


#: Most characters of a source line shown under a problem (with the indent and "...", it fits 80 columns).
SNIPPET_WIDTH = 70


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration file, located as precisely as known.

    ``line`` and ``column`` are 1-based; ``0`` means unknown. ``snippet`` is the offending source line
    and ``caret`` the column under it, for display.
    """

    file: str
    line: int
    column: int
    message: str
    snippet: str = ""

    def location(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"
        return self.file

    def render(self) -> str:
        """``file:line:col: message``, then the source line and a caret under the column.

        A source line longer than :data:`SNIPPET_WIDTH` is cut to a window around the column.
        """
        out = f"{self.location()}: {self.message}"
        if self.snippet:
            snippet, column = self.snippet, self.column
            if len(snippet) > SNIPPET_WIDTH:
                start = max(0, min(column - 1 - SNIPPET_WIDTH // 2, len(snippet) - SNIPPET_WIDTH))
                head = "..." if start else ""
                tail = "..." if start + SNIPPET_WIDTH < len(snippet) else ""
                snippet = head + snippet[start : start + SNIPPET_WIDTH] + tail
                column = column - start + len(head) if column else 0
            out += f"\n    {snippet}"
            if column:
                out += "\n    " + " " * (column - 1) + "^"
        return out

    def __str__(self) -> str:
        return f"{self.location()}: {self.message}"


class ConfigError(SafeguardError):
    """A configuration (ruleset, rule test file, classifier options) is invalid.

    ``problems`` lists everything found in one pass, each with file, line and column.
    """

    def __init__(self, problems: Iterable[Problem] | str, file: str = "<config>") -> None:
        if isinstance(problems, str):
            problems = [Problem(file, 0, 0, problems)]
        self.problems: list[Problem] = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class InputError(SafeguardError, ValueError):
    """An input record cannot be turned into a post."""

    def __init__(self, message: str, *, line: int | None = None, post_id: str | None = None) -> None:
        self.message = message
        self.line = line
        self.post_id = post_id
        where = f"line {line}: " if line is not None else ""
        super().__init__(where + message)


class ReviewError(SafeguardError):
    """The review store refused or failed an operation.

    ``code`` is one of ``"not_found"`` (unknown item, post, appeal or user), ``"conflict"`` (the item
    is claimed by someone else or already decided, the user exists), ``"invalid"`` (a bad argument,
    action, role or database URL), ``"forbidden"`` (a disabled user, a role that may not do this) and
    ``"unavailable"`` (the database cannot be reached or a driver is missing), so a web page can map
    it to a status.
    """

    CODES = ("not_found", "conflict", "invalid", "forbidden", "unavailable")

    def __init__(self, message: str, *, code: str = "invalid") -> None:
        if code not in self.CODES:
            raise ValueError(f"unknown ReviewError code {code!r}")
        self.code = code
        self.message = message
        super().__init__(message)


class ClassifierError(SafeguardError):
    """A classifier failed to load or to classify."""

    def __init__(self, classifier: str, message: str) -> None:
        self.classifier = classifier
        super().__init__(f"{classifier}: {message}")


#: The name safeguard is installed by; the import name is ``safeguard``.
DISTRIBUTION = "safeguard-moderation"


def install_hint(extra: str) -> str:
    """The command that installs one of the package's extras, for messages."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


class MissingDependencyError(ClassifierError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, classifier: str, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            classifier,
            f"needs the {package!r} package: {install_hint(extra)}",
        )


class ModelLoadError(ClassifierError):
    """A model file is missing, corrupt, unsafe to load or incompatible."""
