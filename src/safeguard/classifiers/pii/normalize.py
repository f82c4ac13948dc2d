"""PII-specific normalisation that keeps a map back to the original text.

People hide contact details from filters: ``jane(at)gmail(dot)com``, ``jane at gmail dot com``,
``4 1 1 1 1 1 1 1 ...`` (spaced digits), zero-width characters inside a number, full-width digits.
:func:`normalize_pii` undoes those and returns the cleaned text with, for every character of it,
the original character range it came from, so a span found on the cleaned text maps back to the
exact characters the member typed (:meth:`NormalizedText.original_span`).

Unlike :func:`safeguard.text.normalize`, case, letters and digits are kept as written:
recognizers read the text much as it was posted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from safeguard.text.tables import INVISIBLE_CHARS

__all__ = ["NormalizedText", "normalize_pii"]

_INVISIBLE_SET = frozenset(INVISIBLE_CHARS)
_INVISIBLE_CLASS = "[" + re.escape(INVISIBLE_CHARS) + "]"

_AT_BRACKETED = r"\s*[\(\[\{<]\s*(?:at|@)\s*[\)\]\}>]\s*"
_DOT_BRACKETED = r"\s*[\(\[\{<]\s*(?:dot|\.)\s*[\)\]\}>]\s*"
_LOCAL = r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"

# "name (at) host (dot) com", "name [at] host.com", "name at host dot com": the at-sign and every
# dot of the domain, disguised or not. A plain " at " only counts when some dot is disguised too,
# so "look at example.com" stays prose.
_DISGUISED_EMAIL = re.compile(
    rf"(?P<local>{_LOCAL})(?P<at>{_AT_BRACKETED}|\s+at\s+|@)(?P<domain>{_LABEL}(?:(?:{_DOT_BRACKETED}|\s+dot\s+|\.){_LABEL})+)",
    re.IGNORECASE,
)
_DOMAIN_DOT = re.compile(rf"{_DOT_BRACKETED}|\s+dot\s+", re.IGNORECASE)
_AT_DISGUISE = re.compile(_AT_BRACKETED, re.IGNORECASE)

# Seven or more single digits separated by single spaces: "4 1 1 1 1 1 1 ...".
_SPACED_DIGITS = re.compile(r"(?<![\w])\d(?: \d){6,}(?![\w])")

# Anything that may need work; text without a hit is returned as it is (the common case). Two
# patterns: the invisible-character class is slow to search case-insensitively.
_TRIGGER_CHARS = re.compile(_INVISIBLE_CLASS + r"|[\uff10-\uff19\uff20\uff0e]")
_TRIGGER_DIGITS = re.compile(r"\d \d \d")
_TRIGGER_WORDS = re.compile(r"[\(\[\{<]\s*(?:at|dot)\s*[\)\]\}>]|\bdot\b", re.IGNORECASE)


@dataclass(frozen=True)
class NormalizedText:
    """Cleaned text and, per character of it, the original ``[start, end)`` it stands for.

    ``starts`` and ``ends`` are None when the text needed no change (offsets are the same).
    """

    original: str
    text: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The original ``[start, end)`` of the cleaned ``text[start:end]`` (``start < end``)."""
        if self.starts is None or self.ends is None:
            return start, end
        return self.starts[start], self.ends[end - 1]


def normalize_pii(text: str) -> NormalizedText:
    """Undo disguises of e-mail addresses and numbers, keeping offsets into ``text``.

    1. zero-width and other invisible characters are removed; full-width digits, ``＠`` and ``．``
       become ASCII;
    2. disguised e-mail addresses (``(at)``, ``[at]``, `` at `` with a disguised dot, ``(dot)``,
       `` dot ``) are rewritten as ``name@host.com``;
    3. seven or more single digits separated by single spaces are joined.
    """
    if not (
        _TRIGGER_WORDS.search(text)
        or _TRIGGER_DIGITS.search(text)
        or (not text.isascii() and _TRIGGER_CHARS.search(text))
    ):
        return NormalizedText(text, text)
    # Step 1: character by character (one output character per kept input character).
    chars: list[str] = []
    starts: list[int] = []
    for i, ch in enumerate(text):
        if ch in _INVISIBLE_SET:
            continue
        code = ord(ch)
        if 0xFF10 <= code <= 0xFF19 or code in (0xFF20, 0xFF0E):
            ch = chr(code - 0xFEE0)
        chars.append(ch)
        starts.append(i)
    step1 = "".join(chars)
    ends1 = [s + 1 for s in starts]

    # Steps 2 and 3: replacements of whole matched ranges of step1.
    edits: list[tuple[int, int, str]] = []
    for m in _DISGUISED_EMAIL.finditer(step1):
        at = m.group("at")
        domain = m.group("domain")
        at_disguised = at != "@"
        dot_disguised = _DOMAIN_DOT.search(domain) is not None
        if not (dot_disguised or (at_disguised and _AT_DISGUISE.fullmatch(at))):
            continue
        edits.append((m.start("at"), m.end("at"), "@"))
        base = m.start("domain")
        for d in _DOMAIN_DOT.finditer(domain):
            edits.append((base + d.start(), base + d.end(), "."))
    for m in _SPACED_DIGITS.finditer(step1):
        for j in range(m.start() + 1, m.end(), 2):
            edits.append((j, j + 1, ""))
    if not edits:
        if len(step1) == len(text):
            return NormalizedText(text, text)
        return NormalizedText(text, step1, tuple(starts), tuple(ends1))
    edits.sort()
    out: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    pos = 0
    for start, end, replacement in edits:
        if start < pos:  # overlapping edit: keep the first
            continue
        out.append(step1[pos:start])
        out_starts.extend(starts[pos:start])
        out_ends.extend(ends1[pos:start])
        if replacement:
            out.append(replacement)
            # The replacement stands for the whole replaced range of the original.
            for _ in replacement:
                out_starts.append(starts[start])
                out_ends.append(ends1[end - 1])
        pos = end
    out.append(step1[pos:])
    out_starts.extend(starts[pos:])
    out_ends.extend(ends1[pos:])
    return NormalizedText(text, "".join(out), tuple(out_starts), tuple(out_ends))
