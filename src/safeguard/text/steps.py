"""The steps of normalisation, one text at a time (see :mod:`safeguard.text` for what each step does).

These are the steps as they run: each carries shortcuts that leave its result unchanged (quick checks
before a pattern, ASCII twins of Unicode patterns, ``str.replace`` in place of ``str.translate`` for a
few characters, a cache of decoded chunks). :mod:`safeguard.text.reference` is the same rules without
any shortcut, and the tests compare the two.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from safeguard.text.bidi import resolve_bidi
from safeguard.text.links import chunk_end, has_marker, protected_spans
from safeguard.text.surface import non_ascii_chars
from safeguard.text.tables import (
    APOSTROPHE_TABLE,
    APOSTROPHES,
    ASCII_OTHER_SPACE,
    BIDI_CONTROLS,
    BIDI_TABLE,
    COMBINING_CLASS,
    COMBINING_SET,
    COMBINING_TABLE,
    CONFUSABLE_PAIRS,
    CONFUSABLE_SET,
    CONFUSABLE_TABLE,
    GENUINE_SCRIPT_SET,
    GLUE,
    INVISIBLE_CLASS,
    INVISIBLE_SET,
    INVISIBLE_TABLE,
    LEET_DIGITS,
    LEET_MAP,
    LEET_SHAPE,
    LEET_SYMBOLS,
    SPACED_SEPARATORS,
    UNITS,
)

__all__ = [
    "CACHE",
    "CACHE_SIZE",
    "DECORATED_LETTER_RE",
    "INVISIBLE_IN_WORD_RE",
    "LATIN_LETTER_RE",
    "REPEAT_ASCII_RE",
    "REPEAT_RE",
    "SPACED_HINT_ASCII_RE",
    "SPACED_RE",
    "WORD_RE",
    "collapse_spaced",
    "decode_leet",
    "leet_chunk",
    "leet_chunk_quick",
    "leet_chunks",
    "leet_chunks_ascii",
    "letter_repeats",
    "lexical",
    "lexical_unspaced",
    "map_confusables",
    "normalize",
    "normalize_rest",
    "normalize_uncached",
    "normalize_with_flags",
    "outside_spans",
    "unicode_steps",
]

# --- patterns, derived from the tables --------------------------------------------------------

#: An invisible character inside a word: the mark of an evasion rather than a stray BOM or emoji ZWJ.
INVISIBLE_IN_WORD_RE = re.compile(r"[^\W_]" + INVISIBLE_CLASS + r"+[^\W_]")
#: A combining mark NFKC left on a letter: decoration ("ı̇", Zalgo), not part of a kaomoji.
DECORATED_LETTER_RE = re.compile(r"[^\W\d_]" + COMBINING_CLASS)
#: A word (letters and digits): where look-alike letters are mapped when the text also holds real Greek or Cyrillic.
WORD_RE = re.compile(r"[^\W_]+")
#: A Latin letter: a word that holds one beside look-alike letters mixes scripts, the mark of a disguise.
LATIN_LETTER_RE = re.compile(r"[A-Za-z]")
_MEMBER = rf"(?:[^\W\d_]|[{LEET_DIGITS}])"
#: One separator of spaced-out letters, captured: the run must use the same one throughout.
_SEPARATOR = "([" + re.escape(SPACED_SEPARATORS) + "])"
SPACED_HINT_RE = re.compile(_SEPARATOR + r"[^\W_]\1[^\W_](?![^\W_])")
SPACED_RE = re.compile(rf"(?<![\w']){_MEMBER}{_SEPARATOR}(?:{_MEMBER}\1)+{_MEMBER}(?![\w'])")
# The same two on casefolded ASCII text, where a word character is one of a-z, 0-9 and "_": plain character
# sets, which the regex engine tests about twice as fast as the Unicode classes.
_ASCII_MEMBER = f"[a-z{LEET_DIGITS}]"
SPACED_HINT_ASCII_RE = re.compile(_SEPARATOR + r"[a-z0-9]\1[a-z0-9](?![a-z0-9])")
_SPACED_ASCII_RE = re.compile(
    rf"(?<![a-z0-9_']){_ASCII_MEMBER}{_SEPARATOR}{_ASCII_MEMBER}\1(?:{_ASCII_MEMBER}\1)*{_ASCII_MEMBER}(?![a-z0-9_'])"
)
_LETTER_RE = re.compile(r"[^\W\d_]")

_LEET_DIGITS_AND_DOLLAR = frozenset(LEET_DIGITS + "$")
#: Runs of digits and leet symbols; only those touching a letter are looked at.
_LEET_RUN_RE = re.compile(rf"[\d{re.escape(LEET_SYMBOLS)}]+")
#: Chunks that are codes or numbers: a run of 3+ digits, or a digit that has no letter reading.
_CODE_CHUNK_RE = re.compile(r"\d{3,}|[26]")
#: Hex colours ("#ff00aa") are not leetspeak.
_HEX_COLOUR_RE = re.compile(r"#[0-9a-f]{3,8}\b")
_LEET_WORD_PIPE_RE = re.compile(rf"(?:[^\W_]|[{re.escape(LEET_SYMBOLS)}])+")
_LEET_WORD_RE = re.compile(rf"(?:[^\W_]|[{re.escape(LEET_SYMBOLS.replace('|', ''))}])+")  # "|" only where allowed
#: Longer words are glued text or identifiers, not disguised words.
_MAX_LEET_WORD = 20
#: Words left alone: 2+ leading digits (2024, 1080p), a number with a unit (3pm, 16gb), one digit and
#: one or two letters (4k, 3d), versus-scores (1v1, 1vs1), letters then a number (ps5, win10, i7s,
#: reddit50k) and hex numbers.
_NUMBERISH_RE = re.compile(
    rf"\d{{2,}}\S*|\d+(?:{UNITS})|\d[^\W\d_]{{1,2}}|\d+[^\W\d_]{{1,3}}\d+[skx]?|[^\W\d_]+\d+[skx]?|0x[0-9a-f]+"
)
#: The "!!1!1" of mock excitement at the end of a word.
_EXCITED_TAIL_RE = re.compile(r"![!1]*1[!1]*$")
_DIGIT_GROUP_RE = re.compile(r"\d+")
_COMPOUND_DIGIT_RE = re.compile(r"[^\W\d_]{3,}\d[^\W\d_]{3,}")

_REPEAT_HINT_RE = re.compile(r"(.)\1\1")
REPEAT_RE = re.compile(r"([^\W\d_])\1{2,}")
REPEAT_ASCII_RE = re.compile(r"([a-z])\1{2,}")  # the same on casefolded ASCII text, faster


# --- steps --------------------------------------------------------------------------------------


class _Deleted(dict[str, str]):
    """Every character maps to the empty string."""

    def __missing__(self, key: str) -> str:
        return ""


_DELETED = _Deleted()
_APOSTROPHE_PAIRS: dict[str, str] = dict.fromkeys(APOSTROPHES, "'")


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


def map_confusables(text: str, chars: frozenset[str] | set[str]) -> str:
    """Map look-alike letters (``chars``: the set of the text's characters)."""
    if chars.isdisjoint(CONFUSABLE_SET):
        return text
    if chars.isdisjoint(GENUINE_SCRIPT_SET):
        # No real Greek or Cyrillic in the text: every look-alike is a disguise.
        return _replace_chars(text, chars & CONFUSABLE_SET, CONFUSABLE_PAIRS, CONFUSABLE_TABLE)

    def word(m: re.Match[str]) -> str:
        w = m.group()
        if LATIN_LETTER_RE.search(w):  # mixed-script word
            return w.translate(CONFUSABLE_TABLE)
        return w

    return WORD_RE.sub(word, text)


def collapse_spaced(match: re.Match[str], hits: list[bool]) -> str:
    run = match.group()
    text = match.string
    start, end = match.span()
    # A run glued to a word by punctuation ("x.a.b.c", "a b 1.0") is part of something else.
    if (start >= 2 and text[start - 1] in GLUE and text[start - 2].isalnum()) or (
        end + 1 < len(text) and text[end] in GLUE and text[end + 1].isalnum()
    ):
        return run
    members = run[::2]
    if len(_LETTER_RE.findall(members)) < 2:
        return run
    # "u.s.a" and "a.k.a" are abbreviations, not disguises: join them but do not flag them.
    if not (match.group(1) == "." and len(members) == 3):
        hits.append(True)
    return members


def _is_leet_neighbour(c: str) -> bool:
    return c.isalpha() or c in LEET_MAP


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
        elif c in LEET_MAP:
            rep = LEET_MAP[c]
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


def leet_chunk(chunk: str, allow_pipe: bool) -> str:
    """The whitespace-delimited ``chunk`` with its leetspeak decoded (``allow_pipe``: "|" may read as "i").
    The chunk was disguised exactly when the result differs from it."""
    # Numbers and codes, hex colours and paths ("r/name", "k/d", "twitch.tv/name") are not leetspeak.
    if not _LETTER_RE.search(chunk) or "/" in chunk or _CODE_CHUNK_RE.search(chunk) or _HEX_COLOUR_RE.search(chunk):
        return chunk
    words = _LEET_WORD_PIPE_RE if allow_pipe else _LEET_WORD_RE
    return words.sub(lambda m: _leet_word(m.group(), allow_pipe, []), chunk)


#: ASCII chunks without a leet digit, "$" or "@", and without "!" or "|" between two letters, read the same.
_LEET_CHANGERS = frozenset(LEET_DIGITS + "$@")
_INNER_BANG_RE = re.compile(r"[a-z][!|][a-z]")


@functools.lru_cache(maxsize=16384)
def leet_chunk_quick(chunk: str, allow_pipe: bool) -> str:
    """:func:`leet_chunk`, cached (chunks such as "2nd", "mp3" and "1080p" recur across posts), and returning
    at once an ASCII chunk holding no character :func:`_leet_word` could change ("thanks!", "x-ray")."""
    if chunk.isascii() and _LEET_CHANGERS.isdisjoint(chunk) and not _INNER_BANG_RE.search(chunk):
        return chunk
    return leet_chunk(chunk, allow_pipe)


def leet_chunks(segment: str) -> Iterator[tuple[int, int]]:
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
        scanned = chunk_end(segment, e)
        yield cs, scanned


def leet_chunks_ascii(shape: bytes) -> Iterator[tuple[int, int]]:
    """:func:`leet_chunks` of ASCII text from its :data:`LEET_SHAPE`: the chunks where a letter ("a")
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


def decode_leet(
    segment: str,
    chunks: Iterable[tuple[int, int]],
    hits: list[bool],
    decode: Callable[[str, bool], str] = leet_chunk_quick,
) -> str:
    """Leetspeak decoded (by ``decode``, a :func:`leet_chunk`) in the ``chunks`` (spans) of ``segment``, apart
    from chunks that touch inline LaTeX."""
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
        decoded = decode(chunk, allow_pipe)
        if decoded != chunk:
            hits.append(True)
            pieces.append(segment[last:cs])
            pieces.append(decoded)
            last = ce
    if not pieces:
        return segment
    pieces.append(segment[last:])
    return "".join(pieces)


def lexical(segment: str, hits: list[bool]) -> str:
    """Spaced letters, leetspeak and repeats, on a segment that holds no URL or e-mail address."""
    if segment.isascii():
        # A byte-level shape finds the chunks leetspeak may hide in without scanning for them.
        if SPACED_HINT_ASCII_RE.search(segment):
            segment = _SPACED_ASCII_RE.sub(lambda m: collapse_spaced(m, hits), segment)
        return lexical_unspaced(segment, hits)
    if SPACED_HINT_RE.search(segment):
        segment = SPACED_RE.sub(lambda m: collapse_spaced(m, hits), segment)
    segment = decode_leet(segment, leet_chunks(segment), hits)
    if letter_repeats(segment):
        segment = REPEAT_RE.sub(r"\1", segment)
    return segment


def letter_repeats(segment: str) -> bool:
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
        if len(raw.translate(None, ASCII_OTHER_SPACE)) == len(raw):
            return text
    return " ".join(text.split())


def normalize_uncached(text: str) -> tuple[str, bool]:
    """:func:`normalize_with_flags` without the cache."""
    if text.isascii():
        return normalize_rest(text, False)
    return normalize_rest(*unicode_steps(text))


def unicode_steps(text: str) -> tuple[str, bool]:
    """Steps 1 to 3 (see :mod:`safeguard.text`) of non-ASCII text, and whether they undid a disguise."""
    disguised = False
    # One set of the text's non-ASCII characters answers "does it hold any X?" for every table below (each
    # holds only non-ASCII characters).
    chars = non_ascii_chars(text)
    if not chars.isdisjoint(APOSTROPHES):
        text = _replace_chars(text, chars & APOSTROPHES, _APOSTROPHE_PAIRS, APOSTROPHE_TABLE)
    # The check is much faster than the normalisation, and most text is already in NFKC.
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
        chars = non_ascii_chars(text)
    if not chars.isdisjoint(BIDI_CONTROLS):
        resolved = resolve_bidi(text)
        disguised = resolved != text.translate(BIDI_TABLE)  # an override reordered letters
        text = resolved
        chars = non_ascii_chars(text)
    if not chars.isdisjoint(INVISIBLE_SET):
        disguised = disguised or INVISIBLE_IN_WORD_RE.search(text) is not None
        text = _replace_chars(text, chars & INVISIBLE_SET, _DELETED, INVISIBLE_TABLE)
        chars = non_ascii_chars(text)
    if text.isascii():
        return text, disguised
    if not chars.isdisjoint(COMBINING_SET):  # marks NFKC could not compose
        disguised = disguised or DECORATED_LETTER_RE.search(text) is not None
        text = _replace_chars(text, chars & COMBINING_SET, _DELETED, COMBINING_TABLE)
        chars = non_ascii_chars(text)
    # Strip accents of precomposed letters ("é" -> "e"); not a disguise.
    if not (unicodedata.is_normalized("NFKD", text) and unicodedata.is_normalized("NFC", text)):
        stripped = unicodedata.normalize("NFKD", text)
        stripped = _replace_chars(stripped, non_ascii_chars(stripped) & COMBINING_SET, _DELETED, COMBINING_TABLE)
        text = unicodedata.normalize("NFC", stripped)
        chars = non_ascii_chars(text)
    mapped = map_confusables(text, chars)
    if mapped != text:
        disguised = True
        text = mapped
    return text, disguised


def normalize_rest(text: str, disguised: bool) -> tuple[str, bool]:
    """Steps 4 to 8 of text that went through the Unicode steps (``disguised``: what they found)."""
    hits: list[bool] = [True] if disguised else []
    text = text.casefold()
    spans = protected_spans(text) if has_marker(text) else []
    text = outside_spans(text, spans, lexical, hits) if spans else lexical(text, hits)
    return _squeeze(text), bool(hits)


def outside_spans(
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
    found = CACHE.get(text)
    if found is None:
        found = normalize_uncached(text)
        if len(CACHE) >= CACHE_SIZE:
            CACHE.clear()
        CACHE[text] = found
    return found


#: Normalised texts shared by :func:`normalize_with_flags` and :func:`normalize_many` (emptied when full).
CACHE: dict[str, tuple[str, bool]] = {}
CACHE_SIZE = 8192


def lexical_unspaced(segment: str, hits: list[bool], *, leet: bool = True, repeats: bool = True) -> str:
    """:func:`lexical` of a segment of ASCII text known to hold no spaced-out letters. ``leet=False`` says
    that no letter touches a leet character in it, ``repeats=False`` that no letter comes three times in a row
    (the checks are skipped; decoded leetspeak is still checked for repeats)."""
    if leet:
        shape = segment.encode("ascii").translate(LEET_SHAPE)
        if b"a1" in shape or b"1a" in shape:
            decoded = decode_leet(segment, leet_chunks_ascii(shape), hits)
            if decoded is not segment:
                segment, repeats = decoded, True
    if repeats and letter_repeats(segment):
        segment = REPEAT_ASCII_RE.sub(r"\1", segment)
    return segment


def normalize(text: str) -> str:
    """The normalised form of ``text`` that every lexical check matches against.

    ``normalize("Y0u 1d10t")`` is ``"you idiot"``; ``normalize("s t u p i d")`` is ``"stupid"``;
    ``normalize("Scunthorpe")`` is ``"scunthorpe"``. Deterministic and cached.
    """
    return normalize_with_flags(text)[0]
