"""What a CEL expression reads: the dotted paths it selects, found by a small tokenizer.

``cel.compile(src).variables()`` names only the top-level identifiers (``toxicity``); the engine also
needs the fields (``toxicity.threat``) to check them against declared outputs and to report the
values that made a rule fire.
"""

from __future__ import annotations

from dataclasses import dataclass

from safeguard.rules.lexer import tokens

__all__ = ["Reference", "references"]

#: Macros that bind a variable: ``list.exists(x, x > 1)``.
_BINDING_MACROS = {"all", "exists", "exists_one", "map", "filter"}
_KEYWORDS = {"true", "false", "null", "in"}


@dataclass(frozen=True)
class Reference:
    """A dotted path read by an expression, and its 0-based offset in the source."""

    path: tuple[str, ...]
    offset: int

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


def references(source: str) -> list[Reference]:
    """The dotted paths an expression reads, excluding function and method names and bound variables."""
    toks = tokens(source)
    bound: set[str] = set()
    for i, (kind, value, _) in enumerate(toks):
        if (
            kind == "ident"
            and value in _BINDING_MACROS
            and i + 3 < len(toks)
            and toks[i + 1].is_op("(")
            and toks[i + 2].kind == "ident"
            and toks[i + 3].is_op(",")
        ):
            bound.add(toks[i + 2][1])
    out: list[Reference] = []
    i = 0
    while i < len(toks):
        kind, value, start = toks[i]
        preceded_by_dot = i > 0 and toks[i - 1].is_op(".")
        if kind != "ident" or preceded_by_dot or value in _KEYWORDS:
            i += 1
            continue
        path = [value]
        j = i + 1
        while j + 1 < len(toks) and toks[j].is_op(".") and toks[j + 1].kind == "ident":
            path.append(toks[j + 1][1])
            j += 2
        if j < len(toks) and toks[j].is_op("("):
            path.pop()  # a function or method call
        if path and path[0] not in bound:
            out.append(Reference(tuple(path), start))
        i = j
    return out
