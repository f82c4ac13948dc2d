"""The one CEL lexer: what finds the paths an expression reads (:mod:`.expressions`), what sends
``matches`` calls to RE2 (:mod:`.regex`) and what compiles the fast path (:mod:`.fastpath`) all
read CEL through :func:`tokens`.

It follows the CEL grammar for the tokens they care about (string and bytes literals with their
raw and triple-quoted forms, numbers, identifiers, operators) and passes anything else through as
``other``: the expressions it sees were already accepted by CEL's own parser, so the lexer only has
to agree with CEL on where each token starts and ends.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["Token", "tokens"]

_TOKEN = re.compile(
    r"""
    (?P<ws>[\t\n\f\r ]+)
  | (?P<string>
        [bB]?[rR](?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'[^'\n\r]*'|"[^"\n\r]*")
      | [bB]?(?:'''(?:\\[\s\S]|[^\\])*?'''
        | \"\"\"(?:\\[\s\S]|[^\\])*?\"\"\"
        | '(?:\\.|[^'\\\n\r])*'
        | "(?:\\.|[^"\\\n\r])*")
    )
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|\d*\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\|\||&&|==|!=|<=|>=|[<>!+\-*/%?:()\[\]{},.])
  | (?P<other>[\s\S])
    """,
    re.VERBOSE,
)


class Token(NamedTuple):
    """One token: its kind (``string``, ``number``, ``ident``, ``op`` or ``other``), its text and its
    0-based offset in the source. String tokens include bytes literals (``b"..."``)."""

    kind: str
    text: str
    offset: int

    def is_op(self, text: str) -> bool:
        """Whether this is the operator or punctuation ``text`` (``"."``, ``"("``, ``"&&"`` ...)."""
        return self.kind == "op" and self.text == text


def tokens(source: str) -> list[Token]:
    """The tokens of ``source``, whitespace left out."""
    return [Token(m.lastgroup or "other", m.group(), m.start()) for m in _TOKEN.finditer(source) if m.lastgroup != "ws"]
