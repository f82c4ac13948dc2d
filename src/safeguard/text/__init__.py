"""Text normalisation shared by every lexical check: pure functions, no classifier.

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

Modules: :mod:`~safeguard.text.tables` (one table per concept: invisible characters, look-alike letters,
leetspeak ...; every pattern and byte map is derived from them), :mod:`~safeguard.text.links` (where
links and e-mail addresses are, for every classifier), :mod:`~safeguard.text.bidi`,
:mod:`~safeguard.text.steps` (the steps one text at a time), :mod:`~safeguard.text.batch` (a batch
at a time), :mod:`~safeguard.text.reference` (the same rules without a shortcut, which the tests
compare both with) and :mod:`~safeguard.text.surface` (the caps ratio).
"""

from __future__ import annotations

from safeguard.text.batch import normalize_many
from safeguard.text.bidi import resolve_bidi
from safeguard.text.steps import CACHE, leet_chunk_quick, normalize, normalize_with_flags
from safeguard.text.surface import caps_ratio, non_ascii_chars

__all__ = [
    "caps_ratio",
    "clear_caches",
    "non_ascii_chars",
    "normalize",
    "normalize_many",
    "normalize_with_flags",
    "resolve_bidi",
]


def clear_caches() -> None:
    """Forget every cached normalisation and caps ratio (benchmarks start cold with it)."""
    caps_ratio.cache_clear()
    leet_chunk_quick.cache_clear()
    CACHE.clear()
