"""Normalisation a batch at a time: the per-text steps' results, with array checks over the whole batch.

Most posts are ASCII and need only casefolding and whitespace squeezing; byte classes over the joined
batch find the few that hold leetspeak, letter repeats, spaced-out letters or links, and only those
take the per-text steps. The byte classes are derived from :mod:`safeguard.text.tables` and
:mod:`safeguard.text.links`, and the tests compare every result with :func:`normalize_with_flags`'s
and with :mod:`safeguard.text.reference`'s.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from safeguard.text.links import MARKERS, protected_spans
from safeguard.text.steps import (
    CACHE,
    CACHE_SIZE,
    REPEAT_ASCII_RE,
    SPACED_HINT_ASCII_RE,
    decode_leet,
    leet_chunks_ascii,
    letter_repeats,
    lexical_unspaced,
    normalize_rest,
    outside_spans,
    unicode_steps,
)
from safeguard.text.tables import ASCII_OTHER_SPACE, LEET_SHAPE, LEET_SYMBOLS, SPACED_SEPARATORS

__all__ = ["normalize_many"]

# Bit flags of each byte's classes, read from one table look-up per byte of the batch.
_DIGIT, _LETTER, _SEPARATOR, _LEET, _SPACE = 1, 2, 4, 8, 16


def _byte_classes() -> npt.NDArray[np.uint8]:
    classes = np.zeros(256, dtype=np.uint8)
    for c in range(128):
        char = chr(c)
        classes[c] |= _DIGIT if char.isdigit() else 0
        classes[c] |= _LETTER if "a" <= char <= "z" else 0  # the batch is lowercased first
        classes[c] |= _SEPARATOR if char in SPACED_SEPARATORS else 0
        classes[c] |= _LEET if char.isdigit() or char in LEET_SYMBOLS else 0
        classes[c] |= _SPACE if c == 32 or c in ASCII_OTHER_SPACE else 0  # what str.split() splits on
    return classes


_BYTE_CLASSES = _byte_classes()


def _starts_with(a: npt.NDArray[np.uint8], n: int, word: str) -> npt.NDArray[np.bool_]:
    """Where in the first ``n`` bytes of ``a`` the ASCII ``word`` starts (``a`` is padded past ``n``)."""
    found = np.ones(n, dtype=np.bool_)
    for k, byte in enumerate(word.encode("ascii")):
        found &= a[k : n + k] == byte
    return found


def normalize_many(texts: Sequence[str]) -> list[tuple[str, bool]]:
    """:func:`normalize_with_flags` of each text, in order: the same results, batch at a time.

    ASCII text is casefolded, squeezed and checked for leetspeak, repeated letters and spaced-out letters
    with array operations over the whole batch; only what those checks find goes through the per-text
    steps, and the rest of the texts (non-ASCII, spaced-out letters) through all of them. Results are cached
    with those of :func:`normalize_with_flags`.
    """
    out: list[tuple[str, bool] | None] = list(map(CACHE.get, texts))
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
        text, disguised = unicode_steps(text)
        if text.isascii():
            ascii_texts.append((i, text, disguised))
            continue
        held = _symbols(text)
        if held is None:
            out[i] = normalize_rest(text, disguised)
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
            out[i] = normalize_rest(text, disguised)
        else:
            out[i] = (result[0], result[1] or disguised)
    if len(CACHE) + len(todo) > CACHE_SIZE:
        CACHE.clear()
    for i in todo[-CACHE_SIZE:]:
        CACHE[texts[i]] = out[i]  # type: ignore[assignment]
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


def _spaced_segment(text: str, spans: list[tuple[int, int]]) -> bool:
    """Whether a segment of ``text`` (casefolded ASCII) outside the protected ``spans`` holds a spaced-out-letters
    hint."""
    last = 0
    for s, e in spans:
        if SPACED_HINT_ASCII_RE.search(text, last, s):
            return True
        last = e
    return SPACED_HINT_ASCII_RE.search(text, last) is not None


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
    classes = _BYTE_CLASSES[a]
    digit = (classes & _DIGIT) != 0
    letter = (classes & _LETTER) != 0
    alnum = letter | digit
    x0, x1, x2 = a[:n], a[1 : n + 1], a[2 : n + 2]
    markers = np.zeros(n, dtype=np.bool_)
    for marker in MARKERS:
        markers |= _starts_with(a, n, marker)
    # The spaced-out-letters hint: a separator, a letter or digit, the same separator, a letter or digit, and
    # then no letter or digit (SPACED_HINT_ASCII_RE).
    separator = (classes[:n] & _SEPARATOR) != 0
    other = separator & alnum[1 : n + 1] & (x2 == x0) & alnum[3 : n + 3] & ~alnum[4 : n + 4]
    leet = (classes & _LEET) != 0
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
    space = (classes[:n] & _SPACE) != 0
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
            spans = protected_spans(text)
            if spans:
                # Segments between URLs and e-mail addresses are read on their own. When every span starts a
                # chunk, the whole text's spaced-letters check holds for each segment; a span inside a chunk
                # ("(https://...") cuts it, and the cut segments are checked on their own.
                if any(s and text[s - 1] != " " for s, _ in spans) and _spaced_segment(text, spans):
                    out.append(None)
                    continue
                # The batch checks hold for every segment: a segment's neighbouring characters are the text's.
                step = functools.partial(lexical_unspaced, leet=k in with_leet, repeats=k in with_repeats)
                out.append((outside_spans(text, spans, step, hits), bool(hits)))
                continue
        repeated = k in with_repeats
        if k in with_leet:
            decoded = decode_leet(text, leet_chunks_ascii(text.encode("ascii").translate(LEET_SHAPE)), hits)
            if decoded is not text:
                text = decoded
                repeated = letter_repeats(text)
        if repeated:
            text = REPEAT_ASCII_RE.sub(r"\1", text)
        out.append((text, bool(hits)))
    return out
