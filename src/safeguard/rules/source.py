"""Safe YAML loading that remembers where every key and value came from.

Only plain data is built (mappings, sequences, strings, numbers, booleans, null), through PyYAML's
safe composer: no tags that construct objects. Duplicate keys are problems, not silent overwrites.

A hostile document is refused with a problem at its position, before it costs memory or overflows
the stack: nesting deeper than :data:`MAX_YAML_DEPTH`, aliases that expand to more than
:data:`MAX_ALIAS_NODES` nodes or :data:`MAX_ALIAS_CHARS` characters ("billion laughs"), and an alias
inside its own anchor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from safeguard.errors import ConfigError, Problem

__all__ = ["MAX_ALIAS_CHARS", "MAX_ALIAS_NODES", "MAX_YAML_DEPTH", "Located", "SourceFile", "load_yaml"]

#: Most mappings and sequences open at once, aliases expanded (a ruleset needs fewer than 10).
MAX_YAML_DEPTH = 64
#: Most nodes that aliases may add to a document once expanded.
MAX_ALIAS_NODES = 100_000
#: Most characters of scalars (keys and values) that aliases may add to a document once expanded.
MAX_ALIAS_CHARS = 4 * 1024 * 1024

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Located:
    """A 1-based line and column; ``style`` is the YAML scalar style (None plain, '"' or "'" quoted, '|' '>')."""

    line: int
    column: int
    style: str | None = None


@dataclass
class SourceFile:
    """A parsed YAML document and the positions of its keys and values, addressed by path."""

    file: str
    text: str
    data: Any = None
    values: dict[Path_, Located] = field(default_factory=dict)
    keys: dict[Path_, Located] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_text(self, line: int) -> str:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def locate(self, path: Path_, *, key: bool = False) -> Located:
        """The position of the value at ``path`` (or of its key), falling back to the nearest parent."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if key and probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Located(1, 1))

    def problem(self, path: Path_, message: str, *, key: bool = False, offset: int | None = None) -> Problem:
        """A problem at ``path``. ``offset`` is a 0-based column inside a single-line scalar value."""
        where = self.locate(path, key=key)
        line, column = where.line, where.column
        if offset is not None:
            if where.style in (None, '"', "'"):
                column += offset + (1 if where.style else 0)
            elif where.style in ("|", ">"):
                line += 1
                column = len(self.line_text(line)) - len(self.line_text(line).lstrip()) + 1 + offset
        return Problem(self.file, line, column, message, self.line_text(line).rstrip())


class _LimitError(yaml.MarkedYAMLError):
    """A document over one of the limits of this module."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe composer, counting depth and alias expansion as nodes are composed.

    Each composed node's expanded shape (nodes, scalar characters, nesting height) is recorded, so an
    alias costs what it would expand to, and the limits are checked before anything is expanded.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._shapes: dict[int, tuple[int, int, int]] = {}
        self._alias_nodes = 0
        self._alias_chars = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._count_alias(target, event.start_mark)
            return super().compose_node(parent, index)
        collection = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if collection:
            if self._depth >= MAX_YAML_DEPTH:
                raise _LimitError(
                    problem=f"YAML nests deeper than {MAX_YAML_DEPTH} levels", problem_mark=event.start_mark
                )
            self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            if collection:
                self._depth -= 1
        if node is not None:
            self._shapes[id(node)] = self._shape(node)
        return node

    def _shape(self, node: yaml.Node) -> tuple[int, int, int]:
        if isinstance(node, yaml.ScalarNode):
            return 1, len(node.value), 0
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        shapes = [self._shapes[id(c)] for c in children]
        nodes = 1 + sum(s[0] for s in shapes)
        chars = sum(s[1] for s in shapes)
        return nodes, chars, 1 + max((s[2] for s in shapes), default=0)

    def _count_alias(self, target: yaml.Node, mark: Any) -> None:
        shape = self._shapes.get(id(target))
        if shape is None:
            raise _LimitError(problem="YAML alias refers to its own anchor (a recursive alias)", problem_mark=mark)
        nodes, chars, height = shape
        self._alias_nodes += nodes
        self._alias_chars += chars
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise _LimitError(problem=f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes", problem_mark=mark)
        if self._alias_chars > MAX_ALIAS_CHARS:
            raise _LimitError(
                problem=f"YAML aliases expand to more than {MAX_ALIAS_CHARS:,} characters", problem_mark=mark
            )
        if self._depth + height > MAX_YAML_DEPTH:
            raise _LimitError(
                problem=f"YAML aliases expand to nesting deeper than {MAX_YAML_DEPTH} levels", problem_mark=mark
            )


def load_yaml(text: str, file: str) -> SourceFile:
    """Parse one YAML document. Syntax errors, duplicate keys and documents over the limits of this
    module (depth, alias expansion) are collected in ``problems``."""
    source = SourceFile(file=file, text=text)
    try:
        node = yaml.compose(text, Loader=_BoundedLoader)
    except _LimitError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else 0
        col = mark.column + 1 if mark else 0
        source.problems.append(Problem(file, line, col, str(exc.problem), source.line_text(line).rstrip()))
        return source
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        col = mark.column + 1 if mark else 0
        msg = f"invalid YAML: {exc.problem or exc.context}"
        source.problems.append(Problem(file, line, col, msg, source.line_text(line).rstrip()))
        return source
    except yaml.YAMLError as exc:  # pragma: no cover - other YAML errors carry no mark
        source.problems.append(Problem(file, 0, 0, f"invalid YAML: {exc}"))
        return source
    if node is None:
        source.data = None
        return source
    source.data = _build(node, (), source, yaml.SafeLoader(""))
    if source.problems:
        source.data = None
    return source


def _mark(node: yaml.Node) -> Located:
    style = getattr(node, "style", None)
    return Located(node.start_mark.line + 1, node.start_mark.column + 1, style)


_PLAIN_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("map", "seq", "str", "int", "float", "bool", "null", "timestamp", "merge")
}


def _build(node: yaml.Node, path: Path_, source: SourceFile, constructor: yaml.SafeLoader) -> Any:
    source.values[path] = _mark(node)
    if node.tag not in _PLAIN_TAGS:
        loc = _mark(node)
        source.problems.append(
            Problem(
                source.file,
                loc.line,
                loc.column,
                f"invalid YAML: tag {node.tag!r} is not allowed (only plain data)",
                source.line_text(loc.line).rstrip(),
            )
        )
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                loc = _mark(key_node)
                source.problems.append(Problem(source.file, loc.line, loc.column, "mapping keys must be plain strings"))
                continue
            key = key_node.value
            child = (*path, key)
            if key in out:
                loc = _mark(key_node)
                first = source.keys[child]
                source.problems.append(
                    Problem(
                        source.file,
                        loc.line,
                        loc.column,
                        f"duplicate key {key!r} (first defined on line {first.line})",
                        source.line_text(loc.line).rstrip(),
                    )
                )
                continue
            source.keys[child] = _mark(key_node)
            out[key] = _build(value_node, child, source, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), source, constructor) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    return _scalar(node, constructor)


def _scalar(node: yaml.ScalarNode, constructor: yaml.SafeLoader) -> Any:
    # Resolve the implicit type (int, float, bool, null, timestamp) the way safe_load does. A
    # constructor per document: it caches every node it constructs.
    try:
        value = constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError):
        return node.value  # "<<" as a value, a date like 2024-13-45: kept as the text they are
    if not isinstance(value, (str, int, float, bool, type(None))):
        return node.value  # timestamps and binary stay as their text
    return value


def raise_if_problems(problems: list[Problem]) -> None:
    if problems:
        raise ConfigError(problems)
