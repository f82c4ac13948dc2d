"""Quotes and code blocks of Markdown source (Reddit bodies, Discourse ``raw``), for ``meta``.

The text itself is left as written: Markdown quotes already are ``>``-prefixed lines, which harm
signals read as quoted. :func:`markdown_parts` only collects them, one pass over the lines.
"""

from __future__ import annotations

__all__ = ["markdown_parts", "store_parts"]


def markdown_parts(text: str) -> tuple[list[str], list[str]]:
    """``(quotes, code)`` of Markdown ``text``: each run of ``>`` lines (one ``>`` level removed),
    and each fenced (three backticks or tildes) block, outside fenced blocks."""
    quotes: list[str] = []
    code: list[str] = []
    quote: list[str] = []
    block: list[str] | None = None
    fence = ""
    for line in text.split("\n"):
        stripped = line.strip()
        if block is not None:
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                if any(s.strip() for s in block):
                    code.append("\n".join(block))
                block = None
            else:
                block.append(line.rstrip())
            continue
        if stripped.startswith(("```", "~~~")):
            if quote:
                quotes.append("\n".join(quote))
                quote = []
            fence = stripped[:3]
            block = []
            continue
        if stripped.startswith(">"):
            quote.append(stripped[1:].removeprefix(" "))
            continue
        if quote:
            quotes.append("\n".join(quote))
            quote = []
    if quote:
        quotes.append("\n".join(quote))
    if block is not None and any(s.strip() for s in block):
        code.append("\n".join(block))
    return [q for q in quotes if q.strip()], code


def store_parts(meta: dict[str, object], quotes: list[str], code: list[str]) -> None:
    """Put the quotes and code blocks a body holds into a post's ``meta`` (``quotes``, ``code``), when it has any."""
    if quotes:
        meta["quotes"] = quotes
    if code:
        meta["code"] = code
