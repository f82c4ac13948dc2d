"""The character tables normalisation reads, one per concept; every pattern, set, translation table and byte
map of :mod:`safeguard.text` is derived from these.

Invisible characters, bidirectional controls, combining marks, letters that look Latin, leetspeak,
the separators of spaced-out letters, units that make a word a quantity and typographic apostrophes.
"""

from __future__ import annotations

import re

__all__ = [
    "APOSTROPHES",
    "APOSTROPHE_TABLE",
    "ASCII_OTHER_SPACE",
    "BIDI_CONTROLS",
    "BIDI_ISOLATES",
    "BIDI_OPENERS",
    "BIDI_TABLE",
    "COMBINING_CLASS",
    "COMBINING_RANGES",
    "COMBINING_SET",
    "COMBINING_TABLE",
    "CONFUSABLE_PAIRS",
    "CONFUSABLE_SET",
    "CONFUSABLE_TABLE",
    "GENUINE_SCRIPT_SET",
    "GLUE",
    "INVISIBLE_CHARS",
    "INVISIBLE_CLASS",
    "INVISIBLE_SET",
    "INVISIBLE_TABLE",
    "LEET_DIGITS",
    "LEET_MAP",
    "LEET_SHAPE",
    "LEET_SYMBOLS",
    "PARAGRAPH_ENDS",
    "PDF",
    "PDI",
    "RLO",
    "SPACED_SEPARATORS",
    "UNITS",
]

#: Characters that render as nothing: removed before any check reads the text.
INVISIBLE_CHARS: str = "".join(
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
INVISIBLE_TABLE: dict[int, None] = dict.fromkeys(map(ord, INVISIBLE_CHARS))
INVISIBLE_CLASS = "[" + re.escape(INVISIBLE_CHARS) + "]"
INVISIBLE_SET = frozenset(INVISIBLE_CHARS)
#: Bidirectional formatting characters that open a run: overrides (LRO, RLO), embeddings (LRE, RLE) and
#: isolates (LRI, RLI, FSI); PDF closes the first three kinds, PDI an isolate.
RLO = "\u202e"
BIDI_OPENERS = frozenset("\u202a\u202b\u202d\u202e\u2066\u2067\u2068")
BIDI_ISOLATES = frozenset("\u2066\u2067\u2068")
PDF, PDI = "\u202c", "\u2069"
BIDI_CONTROLS = BIDI_OPENERS | {PDF, PDI}
BIDI_TABLE: dict[int, None] = dict.fromkeys(map(ord, BIDI_CONTROLS))
#: A paragraph end closes every open bidirectional run.
PARAGRAPH_ENDS = frozenset("\n\r\u2029\x1c\x1d\x1e\x85")


# Combining diacritical marks (generic blocks used by Latin, Greek and Cyrillic). Marks of other
# scripts (Devanagari vowel signs, Arabic harakat ...) are letters' own parts and are kept.
COMBINING_RANGES = [(0x0300, 0x0370), (0x1AB0, 0x1B00), (0x1DC0, 0x1E00), (0x20D0, 0x2100), (0xFE20, 0xFE30)]
COMBINING_TABLE: dict[int, None] = {cp: None for lo, hi in COMBINING_RANGES for cp in range(lo, hi)}
COMBINING_CLASS = "[" + "".join(f"\\u{lo:04x}-\\u{hi - 1:04x}" for lo, hi in COMBINING_RANGES) + "]"
COMBINING_SET = frozenset(map(chr, COMBINING_TABLE))

#: Letters that look like a Latin letter, both cases. Curated, not exhaustive: the ones seen in evasion.
CONFUSABLE_PAIRS: dict[str, str] = {
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
CONFUSABLE_TABLE: dict[int, str] = {ord(k): v for k, v in CONFUSABLE_PAIRS.items()}
CONFUSABLE_SET = frozenset(CONFUSABLE_PAIRS)


def _genuine_script_letters() -> str:
    return "".join(
        chr(cp)
        for cp in (*range(0x0370, 0x0400), *range(0x0400, 0x0530))
        if chr(cp).isalpha() and chr(cp) not in CONFUSABLE_PAIRS
    )


#: Greek and Cyrillic letters that look like no Latin letter: a text holding one is really written in that script.
GENUINE_SCRIPT_SET = frozenset(_genuine_script_letters())

#: Leetspeak, the one table every leet pattern, set and byte map here derives from: the digits read as
#: letters inside words ("1d10t"), and the symbols that may stand for letters ("@ss", "$h1t", "sh!t", "f|ck").
LEET_MAP: dict[str, str] = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g"}
LEET_DIGITS = "".join(LEET_MAP)
LEET_SYMBOLS = "@$!|"

#: Characters that glue spaced-out letters together besides the space ("i.d.i.o.t", "s-t-u-p-i-d"); a run
#: joined to a word by one of them ("x.a.b.c") is part of something else.
GLUE = "._*-"
#: What separates spaced-out letters: 3+ single letters (or leet digits) separated by the same one of these.
SPACED_SEPARATORS = " " + GLUE

#: Units after a number: "3pm", "16gb" and "1080p" are quantities, not leetspeak.
UNITS = (
    "am|pm|gb|mb|tb|kb|gbs|mbps|gbps|kg|g|lb|lbs|oz|cm|mm|m|km|ml|l|k|x|th|st|nd|rd|s|d|p|hz|khz|mhz|ghz|"
    "w|kw|v|mah|fps|h|hr|hrs|min|mins|sec|secs|day|days|wk|wks|yr|yrs|ft|in|pc|pcs|gen|mp|ms|px|dpi"
)

#: Typographic apostrophes and the spacing acute accent (which NFKC would turn into a space and a
#: combining mark) become an ASCII apostrophe, so "didn´t" and "don’t" match "don't".
APOSTROPHES = frozenset("´‘’‛ʼ′")
APOSTROPHE_TABLE: dict[int, str] = dict.fromkeys(map(ord, APOSTROPHES), "'")

#: The shape of ASCII text the leetspeak step reads: letters are "a", digits and leet symbols "1",
#: whitespace " " and anything else ".". Leetspeak needs "a1" or "1a".
LEET_SHAPE = bytes(
    ord("a")
    if chr(c).isascii() and chr(c).isalpha()
    else ord("1")
    if (chr(c).isdecimal() and c < 128) or chr(c) in LEET_SYMBOLS
    else ord(" ")
    if chr(c).isspace() and c < 128
    else ord(".")
    for c in range(256)
)
#: ASCII whitespace that ``str.split()`` splits on, apart from the space itself.
ASCII_OTHER_SPACE = bytes(c for c in range(1, 128) if chr(c).isspace() and c != 32)
