"""Text normalisation shared by every lexical check, and the ``text`` classifier.

:func:`normalize` undoes the usual ways people disguise words so that a word list written in plain
lowercase still matches: ``"1d10t"``, ``"id\\u200biot"`` (a zero-width space), ``"іdіоt"`` (Cyrillic
look-alikes), ``"s t u p i d"``, ``"i.d.i.o.t"`` and ``"stuuuupid"`` all become ``"idiot"`` or
``"stupid"``. It never deletes letters (apart from collapsing runs of three or more identical
letters), so ``"Scunthorpe"``, ``"cockpit"`` and ``"Assassin's Creed"`` stay whole words. Numbers,
prices, sizes, times, product codes, e-mail addresses and URLs are left alone apart from case.

Steps, in order:

1. NFKC (full-width and mathematical letters become plain ones); typographic apostrophes become ``'``;
   text under a right-to-left override is put in the order it displays in (:func:`resolve_bidi`);
2. invisible characters are removed (zero-width spaces and joiners, soft hyphens, BOM, bidi controls,
   variation selectors, tag characters), and so are combining marks that decorate a letter without
   composing with it (``"ı̇"``, Zalgo text); accents are stripped (``"é"`` becomes ``"e"``);
3. Cyrillic, Greek and other letters that look Latin are mapped to the Latin letter, in words that
   mix scripts, or everywhere when the text has no genuinely Cyrillic or Greek letter (so real
   Russian or Greek text is not turned into gibberish);
4. casefold;
5. (outside URLs and e-mail addresses) runs of three or more single letters separated by one space,
   dot, dash, underscore or asterisk are joined (``"s t u p i d"``, ``"i.d.i.o.t"``);
6. leetspeak inside words that contain a letter (``0 1 3 4 5 7 8 9 @ $ ! |``), except in words that
   look like numbers, units, times or codes (``"2024"``, ``"$25.99"``, ``"3pm"``, ``"4k"``,
   ``"ps5"``, ``"A1B2-3344"``), and in chunks that touch inline LaTeX (``"$n$"``, ``"$a + b$"``);
7. runs of three or more identical letters become one (``"stuuuupid"``);
8. whitespace runs become one space; leading and trailing whitespace is dropped.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard.classifiers import lang
from safeguard.classifiers.base import Classifier, Cost
from safeguard.types import Post

__all__ = [
    "TextClassifier",
    "caps_ratio",
    "clear_caches",
    "non_ascii_chars",
    "normalize",
    "normalize_many",
    "normalize_with_flags",
    "resolve_bidi",
]

# --- tables -------------------------------------------------------------------------------------

_INVISIBLE_CHARS: str = "".join(
    [
        "\u00ad",  # soft hyphen
        "\u034f",  # combining grapheme joiner
        "\u061c",  # Arabic letter mark
        "\u115f\u1160\u3164\uffa0",  # Hangul fillers (render blank)
        "\u180e",  # Mongolian vowel separator
        *map(chr, range(0x200B, 0x2010)),  # zero-width space, ZWNJ, ZWJ, LRM, RLM
        *map(chr, range(0x202A, 0x202F)),  # bidi embeddings and overrides
        *map(chr, range(0x2060, 0x2065)),  # word joiner, invisible operators
        *map(chr, range(0x2066, 0x206A)),  # bidi isolates
        *map(chr, range(0xFE00, 0xFE10)),  # variation selectors
        "\ufeff",  # BOM / zero-width no-break space
        *map(chr, range(0xE0000, 0xE0080)),  # tag characters
    ]
)
_INVISIBLE_TABLE: dict[int, None] = dict.fromkeys(map(ord, _INVISIBLE_CHARS))
_INVISIBLE_CLASS = "[" + re.escape(_INVISIBLE_CHARS) + "]"
_INVISIBLE_SET = frozenset(_INVISIBLE_CHARS)
#: Bidirectional formatting characters that open a run: overrides (LRO, RLO), embeddings (LRE, RLE) and
#: isolates (LRI, RLI, FSI); PDF closes the first three kinds, PDI an isolate.
_RLO = "\u202e"
_BIDI_OPENERS = frozenset("\u202a\u202b\u202d\u202e\u2066\u2067\u2068")
_BIDI_ISOLATES = frozenset("\u2066\u2067\u2068")
_PDF, _PDI = "\u202c", "\u2069"
_BIDI_CONTROLS = _BIDI_OPENERS | {_PDF, _PDI}
_BIDI_TABLE: dict[int, None] = dict.fromkeys(map(ord, _BIDI_CONTROLS))
#: A paragraph end closes every open bidirectional run.
_PARAGRAPH_ENDS = frozenset("\n\r\u2029\x1c\x1d\x1e\x85")


def resolve_bidi(text: str) -> str:
    """``text`` in the order a reader sees it: what a right-to-left override (U+202E) reverses is reversed,
    and every bidirectional control character is dropped.

    ``"\u202etoidi na era uoy"`` displays as "you are an idiot", so that is what the rules must read.
    Embeddings, isolates and marks do not reorder letters of one direction, so they are only dropped.
    Runs nest: a run closes at its PDF (or PDI for an isolate, which also closes the runs opened inside
    it), and at the end of the paragraph. Text in right-to-left scripts is stored in reading order and
    is left as it is.
    """
    # Each open run: (opener, pieces). A closed run becomes one piece of its parent, so an override
    # reverses the order of its pieces and keeps the inside of a nested run as the nested run decided.
    stack: list[tuple[str, list[str]]] = [("", [])]

    def close() -> None:
        opener, pieces = stack.pop()
        stack[-1][1].append("".join(reversed(pieces)) if opener == _RLO else "".join(pieces))

    for c in text:
        if c in _BIDI_OPENERS:
            stack.append((c, []))
        elif c == _PDF:
            if len(stack) > 1 and stack[-1][0] not in _BIDI_ISOLATES:
                close()
        elif c == _PDI:
            if any(opener in _BIDI_ISOLATES for opener, _ in stack[1:]):
                while stack[-1][0] not in _BIDI_ISOLATES:
                    close()
                close()
        elif c in _PARAGRAPH_ENDS:
            while len(stack) > 1:
                close()
            stack[0][1].append(c)
        else:
            stack[-1][1].append(c)
    while len(stack) > 1:
        close()
    return "".join(stack[0][1])


#: An invisible character inside a word: the mark of an evasion rather than a stray BOM or emoji ZWJ.
_INVISIBLE_IN_WORD_RE = re.compile(r"[^\W_]" + _INVISIBLE_CLASS + r"+[^\W_]")


# Combining diacritical marks (generic blocks used by Latin, Greek and Cyrillic). Marks of other
# scripts (Devanagari vowel signs, Arabic harakat ...) are letters' own parts and are kept.
_COMBINING_RANGES = [(0x0300, 0x0370), (0x1AB0, 0x1B00), (0x1DC0, 0x1E00), (0x20D0, 0x2100), (0xFE20, 0xFE30)]
_COMBINING_TABLE: dict[int, None] = {cp: None for lo, hi in _COMBINING_RANGES for cp in range(lo, hi)}
_COMBINING_CLASS = "[" + "".join(f"\\u{lo:04x}-\\u{hi - 1:04x}" for lo, hi in _COMBINING_RANGES) + "]"
_COMBINING_SET = frozenset(map(chr, _COMBINING_TABLE))
#: A combining mark NFKC left on a letter: decoration ("ı̇", Zalgo), not part of a kaomoji.
_DECORATED_LETTER_RE = re.compile(r"[^\W\d_]" + _COMBINING_CLASS)

#: Letters that look like a Latin letter, both cases. Curated, not exhaustive: the ones seen in evasion.
_CONFUSABLE_PAIRS: dict[str, str] = {
    # Cyrillic, lowercase
    "а": "a", "в": "b", "г": "r", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o",
    "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ь": "b", "і": "i", "ј": "j", "ѕ": "s",
    "ѵ": "v", "ғ": "f", "қ": "k", "ү": "y", "һ": "h", "ӏ": "l", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    # Cyrillic, uppercase
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Ү": "Y", "Һ": "H", "Ӏ": "I", "Ԁ": "D", "Ԛ": "Q",
    "Ԝ": "W", "Ԍ": "G",
    # Greek, lowercase
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j",
    # Greek, uppercase
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C",
    # Latin and Armenian look-alikes
    "ı": "i", "ɩ": "i", "ɡ": "g", "ɑ": "a", "ǀ": "l", "İ": "I", "օ": "o", "ս": "u", "հ": "h", "ո": "n",
}  # fmt: skip
# Accented look-alikes ("ё", "ї") need no entry: accents are stripped before the mapping.
_CONFUSABLE_TABLE: dict[int, str] = {ord(k): v for k, v in _CONFUSABLE_PAIRS.items()}
_CONFUSABLE_SET = frozenset(_CONFUSABLE_PAIRS)
_WORD_RE = re.compile(r"[^\W_]+")
_ASCII_LETTER_RE = re.compile(r"[A-Za-z]")


def _genuine_script_class() -> str:
    return "".join(
        chr(cp)
        for cp in (*range(0x0370, 0x0400), *range(0x0400, 0x0530))
        if chr(cp).isalpha() and chr(cp) not in _CONFUSABLE_PAIRS
    )


#: Greek and Cyrillic letters that look like no Latin letter: a text holding one is really written in that script.
_GENUINE_SCRIPT_SET = frozenset(_genuine_script_class())

#: Leetspeak, the one table every leet pattern, set and byte map here derives from: the digits read as
#: letters inside words ("1d10t"), and the symbols that may stand for letters ("@ss", "$h1t", "sh!t", "f|ck").
_LEET_MAP: dict[str, str] = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g"}
_LEET_DIGITS = "".join(_LEET_MAP)
_LEET_SYMBOLS = "@$!|"

# Spaced-out letters: 3+ single letters (or leet digits) separated by the same one-character separator.
_GLUE = "._*-"
_MEMBER = rf"(?:[^\W\d_]|[{_LEET_DIGITS}])"
_SPACED_HINT_RE = re.compile(r"([ ._*\-])[^\W_]\1[^\W_](?![^\W_])")
_SPACED_RE = re.compile(rf"(?<![\w']){_MEMBER}([ ._*\-])(?:{_MEMBER}\1)+{_MEMBER}(?![\w'])")
# The same two on casefolded ASCII text, where a word character is one of a-z, 0-9 and "_": plain character
# sets, which the regex engine tests about twice as fast as the Unicode classes.
_ASCII_MEMBER = f"[a-z{_LEET_DIGITS}]"
_SPACED_HINT_ASCII_RE = re.compile(r"([ ._*\-])[a-z0-9]\1[a-z0-9](?![a-z0-9])")
_SPACED_ASCII_RE = re.compile(
    rf"(?<![a-z0-9_']){_ASCII_MEMBER}([ ._*\-]){_ASCII_MEMBER}\1(?:{_ASCII_MEMBER}\1)*{_ASCII_MEMBER}(?![a-z0-9_'])"
)
_LETTER_RE = re.compile(r"[^\W\d_]")

_LEET_DIGITS_AND_DOLLAR = frozenset(_LEET_DIGITS + "$")
#: Runs of digits and leet symbols; only those touching a letter are looked at.
_LEET_RUN_RE = re.compile(rf"[\d{re.escape(_LEET_SYMBOLS)}]+")
_NONSPACE_RE = re.compile(r"\S*")
#: Chunks that are codes or numbers: a run of 3+ digits, or a digit that has no letter reading.
_CODE_CHUNK_RE = re.compile(r"\d{3,}|[26]")
#: Hex colours ("#ff00aa") are not leetspeak.
_HEX_COLOUR_RE = re.compile(r"#[0-9a-f]{3,8}\b")
_LEET_WORD_PIPE_RE = re.compile(rf"(?:[^\W_]|[{re.escape(_LEET_SYMBOLS)}])+")
_LEET_WORD_RE = re.compile(rf"(?:[^\W_]|[{re.escape(_LEET_SYMBOLS.replace('|', ''))}])+")  # "|" only where allowed
#: Longer words are glued text or identifiers, not disguised words.
_MAX_LEET_WORD = 20
_UNITS = (
    "am|pm|gb|mb|tb|kb|gbs|mbps|gbps|kg|g|lb|lbs|oz|cm|mm|m|km|ml|l|k|x|th|st|nd|rd|s|d|p|hz|khz|mhz|ghz|"
    "w|kw|v|mah|fps|h|hr|hrs|min|mins|sec|secs|day|days|wk|wks|yr|yrs|ft|in|pc|pcs|gen|mp|ms|px|dpi"
)
#: Words left alone: 2+ leading digits (2024, 1080p), a number with a unit (3pm, 16gb), one digit and
#: one or two letters (4k, 3d), versus-scores (1v1, 1vs1), letters then a number (ps5, win10, i7s,
#: reddit50k) and hex numbers.
_NUMBERISH_RE = re.compile(
    rf"\d{{2,}}\S*|\d+(?:{_UNITS})|\d[^\W\d_]{{1,2}}|\d+[^\W\d_]{{1,3}}\d+[skx]?|[^\W\d_]+\d+[skx]?|0x[0-9a-f]+"
)
#: The "!!1!1" of mock excitement at the end of a word.
_EXCITED_TAIL_RE = re.compile(r"![!1]*1[!1]*$")
_DIGIT_GROUP_RE = re.compile(r"\d+")
_COMPOUND_DIGIT_RE = re.compile(r"[^\W\d_]{3,}\d[^\W\d_]{3,}")

_REPEAT_HINT_RE = re.compile(r"(.)\1\1")
_REPEAT_RE = re.compile(r"([^\W\d_])\1{2,}")
_REPEAT_ASCII_RE = re.compile(r"([a-z])\1{2,}")  # the same on casefolded ASCII text, faster

_PROTECTED_MARKER_RE = re.compile(r"://|www\.|@")
#: What normalisation leaves as written: anything@anything.anything, broader than an address the spam
#: features count as a contact (``name@1.0.0`` in a log is protected from leetspeak, not a contact).
_EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")

#: Typographic apostrophes and the spacing acute accent (which NFKC would turn into a space and a
#: combining mark) become an ASCII apostrophe, so "didn´t" and "don’t" match "don't".
_APOSTROPHE_TABLE: dict[int, str] = {ord(c): "'" for c in "´‘’‛ʼ′"}
_APOSTROPHES = frozenset("´‘’‛ʼ′")

#: The shape of ASCII text :func:`_lexical` reads: letters are "a", digits and leet symbols "1",
#: whitespace " " and anything else ".". Leetspeak needs "a1" or "1a".
_LEET_SHAPE = bytes(
    ord("a")
    if chr(c).isascii() and chr(c).isalpha()
    else ord("1")
    if chr(c) in "0123456789" + _LEET_SYMBOLS
    else ord(" ")
    if chr(c).isspace() and c < 128
    else ord(".")
    for c in range(256)
)
#: ASCII whitespace that ``str.split()`` splits on, apart from the space itself.
_ASCII_OTHER_SPACE = bytes(c for c in range(1, 128) if chr(c).isspace() and c != 32)


_ASCII_RUN_RE = re.compile(r"[\x00-\x7f]+")


def non_ascii_chars(text: str) -> set[str]:
    """The set of the non-ASCII characters of ``text`` (much faster than ``set(text)`` on mostly ASCII text)."""
    return set(_ASCII_RUN_RE.sub("", text))


# --- steps --------------------------------------------------------------------------------------


class _Deleted(dict[str, str]):
    """Every character maps to the empty string."""

    def __missing__(self, key: str) -> str:
        return ""


_DELETED = _Deleted()
_APOSTROPHE_PAIRS: dict[str, str] = dict.fromkeys(_APOSTROPHES, "'")


def _replace_chars(
    text: str, present: set[str] | frozenset[str], pairs: Mapping[str, str], table: Mapping[int, Any]
) -> str:
    """``text.translate(table)``, where ``present`` holds the characters of ``text`` the table maps and
    ``pairs`` maps them as characters: a few ``str.replace`` calls are much faster than translating."""
    if len(present) > 8:
        return text.translate(table)
    for c in present:
        text = text.replace(c, pairs[c])
    return text


def _map_confusables(text: str, chars: frozenset[str] | set[str]) -> str:
    """Map look-alike letters (``chars``: the set of the text's characters)."""
    if chars.isdisjoint(_CONFUSABLE_SET):
        return text
    if chars.isdisjoint(_GENUINE_SCRIPT_SET):
        # No real Greek or Cyrillic in the text: every look-alike is a disguise.
        return _replace_chars(text, chars & _CONFUSABLE_SET, _CONFUSABLE_PAIRS, _CONFUSABLE_TABLE)

    def word(m: re.Match[str]) -> str:
        w = m.group()
        if _ASCII_LETTER_RE.search(w):  # mixed-script word
            return w.translate(_CONFUSABLE_TABLE)
        return w

    return _WORD_RE.sub(word, text)


def _collapse_spaced(match: re.Match[str], hits: list[bool]) -> str:
    run = match.group()
    text = match.string
    start, end = match.span()
    # A run glued to a word by punctuation ("x.a.b.c", "a b 1.0") is part of something else.
    if (start >= 2 and text[start - 1] in _GLUE and text[start - 2].isalnum()) or (
        end + 1 < len(text) and text[end] in _GLUE and text[end + 1].isalnum()
    ):
        return run
    members = run[::2]
    if len(_LETTER_RE.findall(members)) < 2:
        return run
    # "u.s.a" and "a.k.a" are abbreviations, not disguises: join them but do not flag them.
    if not (match.group(1) == "." and len(members) == 3):
        hits.append(True)
    return members


def _chunk_end(text: str, pos: int) -> int:
    """Index of the whitespace (or end of text) that ends the chunk ``pos`` is in."""
    m = _NONSPACE_RE.match(text, pos)
    return m.end() if m else pos


def _is_leet_neighbour(c: str) -> bool:
    return c.isalpha() or c in _LEET_MAP


def _leet_word(w: str, allow_pipe: bool, hits: list[bool]) -> str:
    n = len(w)
    if n < 2 or (w[0] == "$" and w[1].isdigit()):  # "$25": a price
        return w
    ass = w[0] in "4@" and w[1:3] in ("ss", "$$", "55")
    core = w[1:] if w[0] == "@" else w  # "@reddit50k": a mention of a name with a number
    if not _LETTER_RE.search(w) or (not ass and _NUMBERISH_RE.fullmatch(core)):
        return w
    tail = ""
    excited = _EXCITED_TAIL_RE.search(w)
    if excited:
        w, tail = w[: excited.start()], excited.group()
        n = len(w)
    if n < 2 or n > _MAX_LEET_WORD:
        return w + tail
    if w[-1].isdigit() and len(_DIGIT_GROUP_RE.findall(w)) >= 2:  # m4a1, s7e1: a code
        return w + tail
    if _COMPOUND_DIGIT_RE.fullmatch(w):  # "panda4progress", "boomkin4lyfe": a digit as a word
        return w + tail
    rest = w[1:]
    # A leading "@" or digit alone is a mention or a number ("@john", "4chan", "9ers"); it reads as a
    # letter only in "@ss", "4ss" or when the word holds more leetspeak ("1d10t", "5h1t").
    lead_ok = ass or (w[0] != "@" and not _LEET_DIGITS_AND_DOLLAR.isdisjoint(rest))
    out: list[str] = []
    changed = False
    for i, c in enumerate(w):
        rep = c
        if i == 0 and c != "$" and not lead_ok:
            pass
        elif c in _LEET_MAP:
            rep = _LEET_MAP[c]
        elif c == "$":
            if i < n - 1 or w[i - 1] in "$s":  # "m$" (Microsoft) and "US$" are not "ms", "uss"
                rep = "s"
        elif c == "!" or (c == "|" and allow_pipe):
            if 0 < i < n - 1 and _is_leet_neighbour(w[i - 1]) and _is_leet_neighbour(w[i + 1]):
                rep = "i"
        elif c == "@" and (i == 0 or (i < n - 1 and w[i - 1].isalpha() and _is_leet_neighbour(w[i + 1]))):
            rep = "a"
        if rep != c:
            changed = True
        out.append(rep)
    if not changed:
        return w + tail
    hits.append(True)
    return "".join(out) + tail


#: ASCII chunks without a leet digit, "$" or "@", and without "!" or "|" between two letters, read the same.
_LEET_CHANGERS = frozenset(_LEET_DIGITS + "$@")
_INNER_BANG_RE = re.compile(r"[a-z][!|][a-z]")


def _leet_chunk(chunk: str, allow_pipe: bool, hits: list[bool]) -> str:
    if chunk.isascii() and _LEET_CHANGERS.isdisjoint(chunk) and not _INNER_BANG_RE.search(chunk):
        return chunk  # "thanks!", "x-ray": no character that _leet_word could change
    # Numbers and codes, hex colours and paths ("r/name", "k/d", "twitch.tv/name") are not leetspeak.
    if not _LETTER_RE.search(chunk) or "/" in chunk or _CODE_CHUNK_RE.search(chunk) or _HEX_COLOUR_RE.search(chunk):
        return chunk
    words = _LEET_WORD_PIPE_RE if allow_pipe else _LEET_WORD_RE
    return words.sub(lambda m: _leet_word(m.group(), allow_pipe, hits), chunk)


@functools.lru_cache(maxsize=16384)
def _leet_chunk_cached(chunk: str, allow_pipe: bool) -> str:
    """:func:`_leet_chunk`, cached: chunks such as "2nd", "mp3" and "1080p" recur across posts. A chunk
    was disguised exactly when its decoding differs from it."""
    return _leet_chunk(chunk, allow_pipe, [])


def _leet_chunks(segment: str) -> Iterator[tuple[int, int]]:
    """Spans of the whitespace-delimited chunks where a digit or leet symbol touches a letter."""
    scanned = 0
    n = len(segment)
    for m in _LEET_RUN_RE.finditer(segment):
        s, e = m.span()
        if s < scanned:
            continue
        if not ((s and segment[s - 1].isalpha()) or (e < n and segment[e].isalpha())):
            continue
        cs = s
        while cs and not segment[cs - 1].isspace():
            cs -= 1
        scanned = _chunk_end(segment, e)
        yield cs, scanned


def _leet_chunks_ascii(shape: bytes) -> Iterator[tuple[int, int]]:
    """:func:`_leet_chunks` of ASCII text from its :data:`_LEET_SHAPE`: the chunks where a letter ("a")
    touches a digit or leet symbol ("1"); whitespace reads " "."""
    # Each search resumes only when the chunk just read passed its last find (a text may hold many "a1"s
    # and no "1a": searching both from every chunk would read such a text once per chunk).
    i = shape.find(b"a1")
    j = shape.find(b"1a")
    while i >= 0 or j >= 0:
        k = i if j < 0 or 0 <= i < j else j
        end = shape.find(b" ", k)
        if end < 0:
            end = len(shape)
        yield shape.rfind(b" ", 0, k) + 1, end
        if 0 <= i < end:
            i = shape.find(b"a1", end)
        if 0 <= j < end:
            j = shape.find(b"1a", end)


#: Inline LaTeX ("$n$", "$x_1$", "$a + b$"): a "$" before a character that is neither space nor "$", up to the
#: next "$" after one that is not a space. Prices ("$5 and $10") have a space before the second "$".
_MATH_RE = re.compile(r"\$[^\s$](?:[^$]*[^\s$])?\$")


def _math_spans(segment: str) -> list[tuple[int, int]]:
    """Spans of inline LaTeX in ``segment``: its "$" signs are delimiters, not leetspeak for "s"."""
    if segment.count("$") < 2:
        return []
    return [m.span() for m in _MATH_RE.finditer(segment)]


def _decode_leet(segment: str, chunks: Iterable[tuple[int, int]], hits: list[bool]) -> str:
    """Leetspeak decoded in the ``chunks`` (spans) of ``segment``, apart from chunks that touch inline LaTeX."""
    pieces: list[str] = []
    last = 0
    # "|" reads as "i" in "b|tch", not in markdown tables ("video|comment", "|a|b|").
    allow_pipe = segment.count("|") == 1
    math = _math_spans(segment)
    m = 0  # chunks and spans both come in order: the first span that ends after the chunk starts
    for cs, ce in chunks:
        if math:
            while m < len(math) and math[m][1] <= cs:
                m += 1
            if m < len(math) and math[m][0] < ce:
                continue
        chunk = segment[cs:ce]
        decoded = _leet_chunk_cached(chunk, allow_pipe)
        if decoded != chunk:
            hits.append(True)
            pieces.append(segment[last:cs])
            pieces.append(decoded)
            last = ce
    if not pieces:
        return segment
    pieces.append(segment[last:])
    return "".join(pieces)


def _lexical(segment: str, hits: list[bool]) -> str:
    """Spaced letters, leetspeak and repeats, on a segment that holds no URL or e-mail address."""
    if segment.isascii():
        # A byte-level shape finds the chunks leetspeak may hide in without scanning for them.
        if _SPACED_HINT_ASCII_RE.search(segment):
            segment = _SPACED_ASCII_RE.sub(lambda m: _collapse_spaced(m, hits), segment)
        return _lexical_unspaced(segment, hits)
    if _SPACED_HINT_RE.search(segment):
        segment = _SPACED_RE.sub(lambda m: _collapse_spaced(m, hits), segment)
    segment = _decode_leet(segment, _leet_chunks(segment), hits)
    if _letter_repeats(segment):
        segment = _REPEAT_RE.sub(r"\1", segment)
    return segment


def _letter_repeats(segment: str) -> bool:
    r"""Whether a letter (``[^\W\d_]``) appears three times in a row. The hint finds every run of three
    identical characters; "...", "---" and runs of spaces are not letters and need no collapsing."""
    for m in _REPEAT_HINT_RE.finditer(segment):
        c = m.group(1)
        if c.isalnum() and not c.isdecimal() and c != "_":
            return True
    return False


def _squeeze(text: str) -> str:
    """Whitespace runs become one space; leading and trailing whitespace is dropped."""
    if text.isascii() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        raw = text.encode("ascii")
        if len(raw.translate(None, _ASCII_OTHER_SPACE)) == len(raw):
            return text
    return " ".join(text.split())


def _protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of URLs (from the scheme or "www." to the end of the chunk) and e-mail addresses."""
    spans: list[tuple[int, int]] = []
    done = 0
    for m in _PROTECTED_MARKER_RE.finditer(text):
        if m.start() < done:
            continue
        cs = m.start()
        while cs and not text[cs - 1].isspace():
            cs -= 1
        ce = _chunk_end(text, m.end())
        chunk = text[cs:ce]
        done = ce
        i = chunk.find("://")
        if i >= 0:
            while i and chunk[i - 1] in _SCHEME_CHARS:
                i -= 1
            spans.append((cs + i, ce))
            continue
        i = chunk.find("www.")
        if i >= 0:
            spans.append((cs + i, ce))
            continue
        for email in _EMAIL_RE.finditer(chunk):
            spans.append((cs + email.start(), cs + email.end()))
    return spans


def _normalize(text: str) -> tuple[str, bool]:
    if text.isascii():
        return _normalize_rest(text, False)
    return _normalize_rest(*_unicode_steps(text))


def _unicode_steps(text: str) -> tuple[str, bool]:
    """Steps 1 to 3 (see the module docstring) of non-ASCII text, and whether they undid a disguise."""
    disguised = False
    # One set of the text's non-ASCII characters answers "does it hold any X?" for every table below (each
    # holds only non-ASCII characters).
    chars = non_ascii_chars(text)
    if not chars.isdisjoint(_APOSTROPHES):
        text = _replace_chars(text, chars & _APOSTROPHES, _APOSTROPHE_PAIRS, _APOSTROPHE_TABLE)
    # The check is much faster than the normalisation, and most text is already in NFKC.
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
        chars = non_ascii_chars(text)
    if not chars.isdisjoint(_BIDI_CONTROLS):
        resolved = resolve_bidi(text)
        disguised = resolved != text.translate(_BIDI_TABLE)  # an override reordered letters
        text = resolved
        chars = non_ascii_chars(text)
    if not chars.isdisjoint(_INVISIBLE_SET):
        disguised = disguised or _INVISIBLE_IN_WORD_RE.search(text) is not None
        text = _replace_chars(text, chars & _INVISIBLE_SET, _DELETED, _INVISIBLE_TABLE)
        chars = non_ascii_chars(text)
    if text.isascii():
        return text, disguised
    if not chars.isdisjoint(_COMBINING_SET):  # marks NFKC could not compose
        disguised = disguised or _DECORATED_LETTER_RE.search(text) is not None
        text = _replace_chars(text, chars & _COMBINING_SET, _DELETED, _COMBINING_TABLE)
        chars = non_ascii_chars(text)
    # Strip accents of precomposed letters ("é" -> "e"); not a disguise.
    if not (unicodedata.is_normalized("NFKD", text) and unicodedata.is_normalized("NFC", text)):
        stripped = unicodedata.normalize("NFKD", text)
        stripped = _replace_chars(stripped, non_ascii_chars(stripped) & _COMBINING_SET, _DELETED, _COMBINING_TABLE)
        text = unicodedata.normalize("NFC", stripped)
        chars = non_ascii_chars(text)
    mapped = _map_confusables(text, chars)
    if mapped != text:
        disguised = True
        text = mapped
    return text, disguised


def _normalize_rest(text: str, disguised: bool) -> tuple[str, bool]:
    """Steps 4 to 8 of text that went through the Unicode steps (``disguised``: what they found)."""
    hits: list[bool] = [True] if disguised else []
    text = text.casefold()
    spans = _protected_spans(text) if ("://" in text or "www." in text or "@" in text) else []
    text = _outside_spans(text, spans, _lexical, hits) if spans else _lexical(text, hits)
    return _squeeze(text), bool(hits)


def _outside_spans(
    text: str, spans: list[tuple[int, int]], step: Callable[[str, list[bool]], str], hits: list[bool]
) -> str:
    """``text`` with ``step`` applied to each segment between the protected ``spans``, which stay as they are."""
    pieces: list[str] = []
    last = 0
    for s, e in spans:
        pieces.append(step(text[last:s], hits))
        pieces.append(text[s:e])
        last = e
    pieces.append(step(text[last:], hits))
    return "".join(pieces)


def normalize_with_flags(text: str) -> tuple[str, bool]:
    """Normalise ``text`` (see :func:`normalize`) and say whether it was disguised.

    The flag is ``True`` when normalisation did more than NFKC, casefolding, accent stripping,
    whitespace and repeated-letter collapsing: an invisible character inside a word was removed,
    decorating combining marks were dropped, look-alike letters were mapped, leetspeak was decoded
    or spaced-out letters were joined. Cached with :func:`normalize_many`'s results (8,192 texts, one
    cache): several classifiers normalise the same post in one batch.
    """
    found = _BATCHED.get(text)
    if found is None:
        found = _normalize(text)
        if len(_BATCHED) >= _BATCHED_SIZE:
            _BATCHED.clear()
        _BATCHED[text] = found
    return found


#: Normalised texts shared by :func:`normalize_with_flags` and :func:`normalize_many` (emptied when full).
_BATCHED: dict[str, tuple[str, bool]] = {}
_BATCHED_SIZE = 8192


def normalize_many(texts: Sequence[str]) -> list[tuple[str, bool]]:
    """:func:`normalize_with_flags` of each text, in order: the same results, batch at a time.

    ASCII text is casefolded, squeezed and checked for leetspeak, repeated letters and spaced-out letters
    with array operations over the whole batch; only what those checks find goes through the per-text
    steps, and the rest of the texts (non-ASCII, spaced-out letters) through all of them. Results are cached
    with those of :func:`normalize_with_flags`.
    """
    out: list[tuple[str, bool] | None] = list(map(_BATCHED.get, texts))
    if None not in out:
        return out  # type: ignore[return-value]
    todo = [i for i, found in enumerate(out) if found is None]
    # Non-ASCII text that the Unicode steps turn into ASCII joins the batch with what they found, and so
    # does text whose other characters are all symbols: each reads as the placeholder, then comes back.
    ascii_texts: list[tuple[int, str, bool]] = []
    symbols: dict[int, tuple[str, list[str]]] = {}
    for i in todo:
        text = texts[i]
        if text.isascii():
            ascii_texts.append((i, text, False))
            continue
        text, disguised = _unicode_steps(text)
        if text.isascii():
            ascii_texts.append((i, text, disguised))
            continue
        held = _symbols(text)
        if held is None:
            out[i] = _normalize_rest(text, disguised)
        else:
            symbols[i] = (text, held)
            ascii_texts.append((i, _NON_ASCII_RE.sub(_PLACEHOLDER, text), disguised))
    results = _normalize_plain_batch([t for _, t, _ in ascii_texts]) if len(ascii_texts) >= 16 else None
    for k, (i, text, disguised) in enumerate(ascii_texts):
        result = results[k] if results is not None else None
        if i in symbols:  # the placeholders go back, or the text itself takes the per-text steps
            text, held = symbols[i]
            restored = _restore_symbols(result[0], held) if result is not None else None
            result = None if restored is None or result is None else (restored, result[1])
        if result is None:
            out[i] = _normalize_rest(text, disguised)
        else:
            out[i] = (result[0], result[1] or disguised)
    if len(_BATCHED) + len(todo) > _BATCHED_SIZE:
        _BATCHED.clear()
    for i in todo[-_BATCHED_SIZE:]:
        _BATCHED[texts[i]] = out[i]  # type: ignore[assignment]
    return out  # type: ignore[return-value]


#: What a non-ASCII symbol reads as in the batch: an ASCII character no step treats as anything but "other"
#: (not a letter, digit, space, separator, leet symbol or part of a URL), as every such symbol is.
_PLACEHOLDER = "\x7f"
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


def _symbols(text: str) -> list[str] | None:
    """The non-ASCII characters of ``text`` in order, when every one is a symbol that casefolding keeps
    (no letter, digit or space) and ``text`` holds no placeholder; else None."""
    if _PLACEHOLDER in text:
        return None
    held: list[str] = _NON_ASCII_RE.findall(text)
    for c in set(held):
        if c.isalnum() or c.isspace() or c.casefold() != c:
            return None
    return held


def _restore_symbols(text: str, held: list[str]) -> str | None:
    """``text`` with its placeholders back as the ``held`` symbols, or None when their count differs."""
    pieces = text.split(_PLACEHOLDER)
    if len(pieces) != len(held) + 1:
        return None
    return "".join(itertools.chain.from_iterable(zip(pieces[:-1], held, strict=True))) + pieces[-1]


def clear_caches() -> None:
    """Forget every cached normalisation and caps ratio (benchmarks start cold with it)."""
    caps_ratio.cache_clear()
    _BATCHED.clear()


def _spaced_segment(text: str, spans: list[tuple[int, int]]) -> bool:
    """Whether a segment of ``text`` (casefolded ASCII) outside the protected ``spans`` holds a spaced-out-letters
    hint."""
    last = 0
    for s, e in spans:
        if _SPACED_HINT_ASCII_RE.search(text, last, s):
            return True
        last = e
    return _SPACED_HINT_ASCII_RE.search(text, last) is not None


def _lexical_unspaced(segment: str, hits: list[bool], *, leet: bool = True, repeats: bool = True) -> str:
    """:func:`_lexical` of a segment of ASCII text known to hold no spaced-out letters. ``leet=False`` says
    that no letter touches a leet character in it, ``repeats=False`` that no letter comes three times in a row
    (the checks are skipped; decoded leetspeak is still checked for repeats)."""
    if leet:
        shape = segment.encode("ascii").translate(_LEET_SHAPE)
        if b"a1" in shape or b"1a" in shape:
            decoded = _decode_leet(segment, _leet_chunks_ascii(shape), hits)
            if decoded is not segment:
                segment, repeats = decoded, True
    if repeats and _letter_repeats(segment):
        segment = _REPEAT_ASCII_RE.sub(r"\1", segment)
    return segment


def _normalize_plain_batch(texts: list[str]) -> list[tuple[str, bool] | None]:
    """Normalisation of ASCII ``texts`` where the batch checks allow it, else None (per-text steps).

    Texts are joined by newlines, which every check reads like the end of a text. A text goes to the
    per-text steps when it holds a spaced-out-letters hint, or a URL or e-mail address that starts
    inside a chunk of text (its segments are read on their own). The others are casefolded and squeezed
    here; leetspeak is decoded and repeated letters collapsed, in the per-text order, only in the texts
    where the batch checks find a letter beside a leet character or a letter three times in a row, and
    only outside URLs and e-mail addresses.
    """
    joined = "\n".join(texts).encode("ascii").lower()
    a = np.frombuffer(joined + b"\n\n\n\n", dtype=np.uint8)
    n = len(joined)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    ends = starts + lengths
    # Byte classes by comparison (much faster than table look-ups).
    digit = (a >= 48) & (a <= 57)
    letter = (a >= 97) & (a <= 122)
    alnum = letter | digit
    x0, x1, x2, x3 = a[:n], a[1 : n + 1], a[2 : n + 2], a[3 : n + 3]
    markers = (x0 == 64) | ((x0 == 58) & (x1 == 47) & (x2 == 47))  # "@", "://"
    markers |= (x0 == 119) & (x1 == 119) & (x2 == 119) & (x3 == 46)  # "www."
    # The spaced-out-letters hint: ([ ._*-])[^\W_]\1[^\W_](?![^\W_])
    separator = (x0 == 32) | (x0 == 46) | (x0 == 95) | (x0 == 42) | (x0 == 45)
    other = separator & alnum[1 : n + 1] & (x2 == x0) & alnum[3 : n + 3] & ~alnum[4 : n + 4]
    leet = digit | (a == 64) | (a == 36) | (a == 33) | (a == 124)  # 0-9 @ $ ! |
    leetspeak = (letter[:n] & leet[1 : n + 1]) | (leet[:n] & letter[1 : n + 1])
    repeats = letter[:n] & (x0 == x1) & (x0 == x2)

    def texts_with(mask: npt.NDArray[np.bool_]) -> set[int]:
        """Indices of the texts holding a True of ``mask``."""
        if not mask.any():
            return set()
        return set((np.searchsorted(starts, np.flatnonzero(mask), side="right") - 1).tolist())

    to_steps = texts_with(other)
    with_markers = texts_with(markers)
    with_leet = texts_with(leetspeak)
    with_repeats = texts_with(repeats)
    # Whitespace runs become one space: keep a whitespace byte only after a non-whitespace one (the
    # separators are whitespace, so leading whitespace goes); a kept trailing space is stripped below.
    space = (x0 == 32) | ((x0 >= 9) & (x0 <= 13)) | ((x0 >= 28) & (x0 <= 31))  # what str.split() splits on
    keep = ~space
    keep[1:] |= ~space[:-1]
    if n:
        keep[0] = not space[0]
    squeezed = np.where(space, np.uint8(32), x0)[keep].tobytes().decode("ascii")
    # Kept bytes per text and per separator; reduceat gives an empty text the byte at its start, so zero those.
    bounds = np.empty(2 * len(texts) - 1, dtype=np.int64)
    bounds[0::2] = starts
    bounds[1::2] = ends[:-1]
    counts = np.add.reduceat(np.append(keep, False), bounds, dtype=np.int64)
    counts[0::2][lengths == 0] = 0
    edges = np.concatenate([[0], np.cumsum(counts)])
    lo = edges[0::2].tolist()
    hi = edges[1::2].tolist()
    out: list[tuple[str, bool] | None] = []
    for k in range(len(texts)):
        if k in to_steps:
            out.append(None)
            continue
        text = squeezed[lo[k] : hi[k]]
        if text[-1:] == " ":
            text = text[:-1]
        hits: list[bool] = []
        if k in with_markers:
            if k not in with_leet and k not in with_repeats and "www." not in text:
                # Nothing for the segments' checks to change: no letter beside a leet character or three times
                # in a row anywhere, and no spaced-out letters at a segment's end (only a "www." span can start
                # right after a letter or digit; the others start after a character that is neither).
                out.append((text, False))
                continue
            spans = _protected_spans(text)
            if spans:
                # Segments between URLs and e-mail addresses are read on their own. When every span starts a
                # chunk, the whole text's spaced-letters check holds for each segment; a span inside a chunk
                # ("(https://...") cuts it, and the cut segments are checked on their own.
                if any(s and text[s - 1] != " " for s, _ in spans) and _spaced_segment(text, spans):
                    out.append(None)
                    continue
                # The batch checks hold for every segment: a segment's neighbouring characters are the text's.
                step = functools.partial(_lexical_unspaced, leet=k in with_leet, repeats=k in with_repeats)
                out.append((_outside_spans(text, spans, step, hits), bool(hits)))
                continue
        repeated = k in with_repeats
        if k in with_leet:
            decoded = _decode_leet(text, _leet_chunks_ascii(text.encode("ascii").translate(_LEET_SHAPE)), hits)
            if decoded is not text:
                text = decoded
                repeated = _letter_repeats(text)
        if repeated:
            text = _REPEAT_ASCII_RE.sub(r"\1", text)
        out.append((text, bool(hits)))
    return out


def normalize(text: str) -> str:
    """The normalised form of ``text`` that every lexical check matches against.

    ``normalize("Y0u 1d10t")`` is ``"you idiot"``; ``normalize("s t u p i d")`` is ``"stupid"``;
    ``normalize("Scunthorpe")`` is ``"scunthorpe"``. Deterministic and cached.
    """
    return normalize_with_flags(text)[0]


_DELETE_UPPER_ASCII: dict[int, None] = dict.fromkeys(range(ord("A"), ord("Z") + 1))
_DELETE_LOWER_ASCII: dict[int, None] = dict.fromkeys(range(ord("a"), ord("z") + 1))


@functools.lru_cache(maxsize=8192)
def caps_ratio(text: str) -> float:
    """Uppercase letters over letters in ``text``; ``0.0`` when it has no letter.

    Cached like :func:`normalize`: the text and spam classifiers both read it for the same post.
    """
    if text.isascii():
        n = len(text)
        upper = n - len(text.translate(_DELETE_UPPER_ASCII))
        letters = upper + n - len(text.translate(_DELETE_LOWER_ASCII))
    else:
        upper = letters = 0
        for c in text:
            if c.isalpha():
                letters += 1
                if c.isupper():
                    upper += 1
    return upper / letters if letters else 0.0


class TextClassifier(Classifier):
    """Normalised text and surface features of a post's text; no options.

    Outputs: ``normalized`` (:func:`normalize` of the text), ``length`` (characters of the original
    text), ``caps_ratio`` (uppercase letters over letters of the original text, ``0.0`` without
    letters), ``obfuscated`` (the text disguised words: see :func:`normalize_with_flags`), ``lang``
    (the ISO 639-1 code of the text's language, ``"und"`` when it is too short to tell) and
    ``lang_score`` (the identifier's confidence, ``0.0`` for ``"und"``): see :mod:`safeguard.classifiers.lang`.
    Classifiers compute every output, so ``lang`` is worked out for every post, a whole batch at a time.
    """

    kind = "text"
    cost = Cost.CHEAP
    outputs: Mapping[str, type] = MappingProxyType(
        {
            "normalized": str,
            "length": int,
            "caps_ratio": float,
            "obfuscated": bool,
            "lang": str,
            "lang_score": float,
        }
    )

    def __init__(self, *, name: str | None = None, **params: Any) -> None:
        super().__init__(name=name, **params)

    def _load(self) -> None:
        lang.load()

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """One ``{normalized, length, caps_ratio, obfuscated, lang, lang_score}`` mapping per post, in order."""
        texts = [p.text for p in posts]
        normal = normalize_many(texts)
        # The language is read from the normalised text, so look-alike letters from another script
        # ("you іdіоt" in Cyrillic) do not make an English post look Russian.
        languages = lang.detect_languages([n for n, _ in normal])
        out: list[dict[str, Any]] = []
        for text, (normalized, obfuscated), (code, score) in zip(texts, normal, languages, strict=True):
            out.append(
                {
                    "normalized": normalized,
                    "length": len(text),
                    "caps_ratio": caps_ratio(text),
                    "obfuscated": obfuscated,
                    "lang": code,
                    "lang_score": score,
                }
            )
        return out
