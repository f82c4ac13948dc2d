"""HTML to plain text for moderation, with quotes and code blocks kept apart.

:func:`html_to_text` renders the HTML bodies of forum exports (Stack Exchange ``Body``, Discourse
``cooked``) as the text a rule reads:

* entities are decoded (``&amp;`` -> ``&``); whitespace runs become one space, and lines are stripped;
* block elements (``p``, ``div``, headings, ``li``, ``tr``, ``br``, ``hr`` ...) become line breaks;
  a list item starts with ``- ``;
* ``<a href="URL">text</a>`` becomes ``text (URL)`` (just ``text`` when it already is the URL), so
  URL and domain rules still see every link;
* ``<blockquote>`` content (and a Discourse ``<aside class="quote">``) becomes lines starting with
  ``> ``, one ``> `` per level (at most :data:`MAX_QUOTE_DEPTH`), which harm signals read as quoted,
  not as the author's own words;
* ``<pre>`` blocks, and ``<code>`` spanning lines, become fenced blocks (a line with three
  backticks before and after) with their text as written; a one-line ``<code>`` stays inline in
  backticks;
* ``<img>`` becomes its ``alt`` text; ``<script>``, ``<style>``, ``<template>``, comments and
  declarations are dropped.

The quotes (each outermost quote, its nested quotes still ``> ``-prefixed) and the code blocks are
also returned on their own, for an importer to put in ``meta.quotes`` and ``meta.code``.

Malformed HTML never raises and takes linear time: before :class:`html.parser.HTMLParser` sees the
input, a ``<`` that does not open a complete, well-formed tag (one ``<...>`` with balanced quotes,
no ``<`` inside) is kept as text, and comments are removed in one pass; unclosed elements end with
the input, and stray end tags are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["MAX_QUOTE_DEPTH", "HtmlText", "html_to_text"]

#: Quote levels shown as ``> `` prefixes; deeper quotes are still quoted, with this many.
MAX_QUOTE_DEPTH = 8

_BLOCKS = frozenset(
    {
        *("address", "article", "aside", "blockquote", "body", "br", "dd", "details", "div", "dl", "dt"),
        *("fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header"),
        *("hr", "html", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td"),
        *("th", "thead", "tfoot", "tr", "ul"),
    }
)
_SKIPPED = frozenset({"script", "style", "template", "head", "title", "noscript"})
_WS = re.compile(r"\s+")
_TAG = re.compile(
    r"""</?[A-Za-z][^\s/>"'=]*"""
    r"""(?:\s+[^\s/>"'=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*\s*/?>"""
)
_CANDIDATE = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class HtmlText:
    """The text of an HTML body, and its quotes and code blocks on their own."""

    text: str
    quotes: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)


def html_to_text(html: str) -> HtmlText:
    """Render ``html`` as text (see the module docstring for the rules); never raises."""
    if "<" not in html and "&" not in html:
        return HtmlText(_WS.sub(" ", html).strip())
    parser = _Renderer()
    parser.feed(_sanitize(html))
    parser.close()
    return parser.result()


def _sanitize(html: str) -> str:
    """``html`` with comments and declarations removed and every ``<`` that does not open a
    well-formed tag escaped, so that the parser never scans far ahead for the end of a construct."""
    out: list[str] = []
    pos = 0
    n = len(html)
    comments_closed = True  # False once a comment without an end is met: none later has one either
    while pos < n:
        lt = html.find("<", pos)
        if lt < 0:
            out.append(html[pos:])
            break
        out.append(html[pos:lt])
        if html.startswith("<!--", lt):
            end = html.find("-->", lt + 4) if comments_closed else -1
            if end < 0:
                comments_closed = False
                out.append("&lt;")
                pos = lt + 1
            else:
                pos = end + 3
            continue
        m = _CANDIDATE.match(html, lt)
        if m is None:
            out.append("&lt;")
            pos = lt + 1
            continue
        tag = m.group()
        if tag.startswith(("<!", "<?")):
            pos = m.end()  # a declaration or processing instruction
        elif _TAG.fullmatch(tag):
            out.append(tag)
            pos = m.end()
        else:
            out.append("&lt;")
            pos = lt + 1
    return "".join(out)


class _Renderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.inline: list[str] = []
        self.quotes: list[str] = []
        self.code: list[str] = []
        self.depth = 0  # quote levels open
        self.quote_stack: list[str] = []  # what opened each level: "blockquote" or "aside"
        self.aside_bare = False  # the innermost level is an aside.quote with no blockquote in it yet
        self.capture: list[str] | None = None  # lines of the outermost open quote
        self.skip = 0  # inside script/style...
        self.pre = 0
        self.pre_text: list[str] = []
        self.code_depth = 0  # inline <code> nesting (outside pre)
        self.code_text: list[str] = []
        self.href: str | None = None  # the open link's URL
        self.link_text: list[str] = []

    # --- output -----------------------------------------------------------------------------------

    def _line(self, text: str) -> None:
        level = min(self.depth, MAX_QUOTE_DEPTH)
        self.lines.append("> " * level + text if level else text)
        if self.capture is not None:
            self.capture.append("> " * (level - 1) + text)

    def _break(self) -> None:
        if self.inline:
            text = _WS.sub(" ", "".join(self.inline)).strip()
            self.inline.clear()
            if text:
                self._line(text)

    def _text(self, data: str) -> None:
        if self.href is not None:
            self.link_text.append(data)
        self.inline.append(data)

    def _fence(self, code: str) -> None:
        code = code.strip("\n")
        if not code.strip():
            return
        self._break()
        self.code.append(code)
        self._line("```")
        for line in code.split("\n"):
            self._line(line.rstrip())
        self._line("```")

    # --- parser events ----------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skip += 1
            return
        if self.skip:
            return
        if self.pre:
            if tag == "br":
                self.pre_text.append("\n")
            elif tag == "pre":
                self.pre += 1
            return
        if tag == "pre":
            self._close_code()
            self._break()
            self.pre = 1
            self.pre_text = []
            return
        if tag == "code":
            if not self.code_depth:
                self.code_text = []
            self.code_depth += 1
            return
        if self.code_depth:
            if tag == "br":
                self.code_text.append("\n")
            return
        if tag == "a":
            self._close_link()
            href = (dict(attrs).get("href") or "").strip()
            self.href = href
            self.link_text = []
            return
        if tag == "img":
            alt = _WS.sub(" ", dict(attrs).get("alt") or "").strip()
            if alt:
                self._text(f" {alt} ")
            return
        if tag in _BLOCKS:
            self._break()
        if tag == "blockquote":
            if self.aside_bare:
                self.aside_bare = False  # the aside's own quote: no extra level
                self.quote_stack.append("inner")
            else:
                self._open_quote("blockquote")
        elif tag == "aside" and "quote" in (dict(attrs).get("class") or "").split():
            self._open_quote("aside")
            self.aside_bare = True
        elif tag == "li":
            self.inline.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if self.pre:
            if tag == "pre":
                self.pre -= 1
                if not self.pre:
                    self._fence("".join(self.pre_text))
            return
        if tag == "code":
            if self.code_depth:
                self.code_depth -= 1
                if not self.code_depth:
                    self._end_code()
            return
        if self.code_depth:
            return
        if tag == "a":
            self._close_link()
            return
        if tag in _BLOCKS:
            self._break()
        if tag == "blockquote" and self.quote_stack and self.quote_stack[-1] in ("blockquote", "inner"):
            if self.quote_stack.pop() == "blockquote":
                self._close_quote()
        elif tag == "aside" and self.quote_stack and self.quote_stack[-1] == "aside":
            self.quote_stack.pop()
            self.aside_bare = False
            self._close_quote()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.pre_text.append(data)
        elif self.code_depth:
            self.code_text.append(data)
        else:
            self._text(data)

    # --- elements ---------------------------------------------------------------------------------

    def _open_quote(self, kind: str) -> None:
        self.quote_stack.append(kind)
        self.depth += 1
        if self.depth == 1:
            self.capture = []

    def _close_quote(self) -> None:
        self._break()
        self.depth -= 1
        if self.depth == 0 and self.capture is not None:
            if self.capture:
                self.quotes.append("\n".join(self.capture))
            self.capture = None

    def _end_code(self) -> None:
        code = "".join(self.code_text)
        self.code_text = []
        if "\n" in code.strip("\n"):
            self._fence(code)
        elif code.strip():
            self._text(f" `{_WS.sub(' ', code).strip()}` ")

    def _close_code(self) -> None:
        if self.code_depth:
            self.code_depth = 0
            self._end_code()

    def _close_link(self) -> None:
        href = self.href
        if href is None:
            return
        self.href = None
        text = _WS.sub(" ", "".join(self.link_text)).strip()
        self.link_text = []
        if href and not href.startswith(("#", "javascript:")) and _bare(href) != _bare(text):
            self.inline.append(f" ({href})")

    def result(self) -> HtmlText:
        """The rendering, once the input is fed and closed (open elements end here)."""
        if self.pre:
            self.pre = 0
            self._fence("".join(self.pre_text))
        self._close_code()
        self._close_link()
        self._break()
        while self.quote_stack:
            if self.quote_stack.pop() != "inner":
                self._close_quote()
        return HtmlText("\n".join(self.lines), self.quotes, self.code)


def _bare(url: str) -> str:
    """A URL without its scheme, ``www.`` and trailing slash, for telling whether link text is the URL."""
    url = url.strip().lower()
    for prefix in ("https://", "http://", "mailto:"):
        if url.startswith(prefix):
            url = url[len(prefix) :]
            break
    return url.removeprefix("www.").rstrip("/")
