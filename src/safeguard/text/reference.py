"""Normalisation as plainly as it can be written: the reference the fast paths are compared with.

:func:`reference_normalize` applies the steps of :mod:`safeguard.text` one after the other, each over the
whole text with the Unicode patterns and ``str.translate``: no quick check before a step, no ASCII twin
of a pattern, no byte shapes, no batch, no cache. It shares with :mod:`safeguard.text.steps` only the
rules themselves (the tables, where links are, how a run of spaced letters or a chunk of leetspeak
reads, how bidirectional overrides reorder), so a shortcut there that changes a result shows up as a
difference from this one. Much slower; for tests and for checking a change by hand.
"""

from __future__ import annotations

import unicodedata

from safeguard.text.bidi import resolve_bidi
from safeguard.text.links import protected_spans
from safeguard.text.steps import (
    DECORATED_LETTER_RE,
    INVISIBLE_IN_WORD_RE,
    LATIN_LETTER_RE,
    REPEAT_RE,
    SPACED_RE,
    WORD_RE,
    collapse_spaced,
    decode_leet,
    leet_chunk,
    leet_chunks,
    outside_spans,
)
from safeguard.text.tables import (
    APOSTROPHE_TABLE,
    BIDI_TABLE,
    COMBINING_TABLE,
    CONFUSABLE_TABLE,
    GENUINE_SCRIPT_SET,
    INVISIBLE_TABLE,
)

__all__ = ["reference_normalize"]


def reference_normalize(text: str) -> tuple[str, bool]:
    """The normalised text and whether it was disguised: what :func:`safeguard.text.normalize_with_flags`
    returns, worked out step by step."""
    disguised = False
    # 1. apostrophes, NFKC, bidirectional overrides
    text = unicodedata.normalize("NFKC", text.translate(APOSTROPHE_TABLE))
    resolved = resolve_bidi(text)
    disguised |= resolved != text.translate(BIDI_TABLE)
    text = resolved
    # 2. invisible characters, decorating marks, accents
    disguised |= INVISIBLE_IN_WORD_RE.search(text) is not None
    text = text.translate(INVISIBLE_TABLE)
    disguised |= DECORATED_LETTER_RE.search(text) is not None
    text = text.translate(COMBINING_TABLE)
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFKD", text).translate(COMBINING_TABLE))
    # 3. look-alike letters: everywhere when no letter is genuinely Greek or Cyrillic, else in mixed words
    if GENUINE_SCRIPT_SET.isdisjoint(text):
        mapped = text.translate(CONFUSABLE_TABLE)
    else:
        mapped = WORD_RE.sub(
            lambda m: m.group().translate(CONFUSABLE_TABLE) if LATIN_LETTER_RE.search(m.group()) else m.group(), text
        )
    disguised |= mapped != text
    # 4. casefold; 5-7 outside links and addresses; 8. whitespace
    hits = [True] if disguised else []
    text = mapped.casefold()
    text = outside_spans(text, protected_spans(text), _lexical, hits)
    return " ".join(text.split()), bool(hits)


def _lexical(segment: str, hits: list[bool]) -> str:
    """Steps 5 to 7 of a segment that holds no link or address: spaced letters, leetspeak, repeats."""
    segment = SPACED_RE.sub(lambda m: collapse_spaced(m, hits), segment)
    segment = decode_leet(segment, leet_chunks(segment), hits, decode=leet_chunk)
    return REPEAT_RE.sub(r"\1", segment)
