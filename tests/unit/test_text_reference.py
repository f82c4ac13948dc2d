"""The fast normalisation (per text and a batch at a time) against the plain reference, on generated text.

The texts are built from the characters each table names and the fragments each step looks for, so every
shortcut in :mod:`safeguard.text.steps` and :mod:`safeguard.text.batch` meets the inputs it skips work on.
Nothing here reads ``../shared``: these tests always run.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from safeguard.text import clear_caches, normalize_many, normalize_with_flags, tables
from safeguard.text.reference import reference_normalize
from safeguard.text.steps import normalize_uncached

_FRAGMENTS = [
    "you", "idiot", "1d10t", "sh1t", "$h!t", "b|tch", "@ss", "4ss", "f|ck", "m$", "US$", "$25.99", "$n$", "$a + b$",
    "2nd", "mp3", "1080p", "3pm", "4k", "ps5", "A1B2-3344", "#ff00aa", "r/name", "0x1f", "m4a1", "boomkin4lyfe",
    "!!1!1", "stuuupid", "u.s.a", "i.d.i.o.t", "s t u p i d", "s-t-u-p-i-d", "s_t_u", "x*y*z", "a.b.cwww.q.io",
    "www.x.com", "WWW.", "http://a.b/C1", "ftp://h/1d10t", "me@mail.com", "name@1.0.0", "(http://x.io/a",
    "](https://y.z/)", "<www.q.org>", "(me@x.io)", "Scunthorpe", "Привет", "мир", "Ελλάδα", "日本", "👍", "💩💩💩",
    "didn´t", "don’t", "ｆｕｌｌ", "𝐛𝐨𝐥𝐝", "Ⓐ", "ﬁ", "e\u0301", "\u202etoidi", "\u202dx\u202c", "\u2067ab\u2069",
    "\u2028", "\x1c", "\x0b", "\t", "\n", "\r\n", "  ", " ", " ", " ", "|", "$", "@", "!", ".", "-", "_", "*", "'",
]  # fmt: skip
_TABLE_CHARS = sorted(
    set(tables.INVISIBLE_CHARS[:40])
    | tables.BIDI_CONTROLS
    | set(map(chr, list(tables.COMBINING_TABLE)[:60]))
    | tables.CONFUSABLE_SET
    | set(sorted(tables.GENUINE_SCRIPT_SET)[:40])
    | tables.APOSTROPHES
    | set(tables.LEET_MAP)
    | set(tables.LEET_SYMBOLS)
    | set(tables.SPACED_SEPARATORS)
    | set("aeiostxyzAEIOSTXYZ26\x7f")
)
_PIECES = st.sampled_from(_FRAGMENTS) | st.sampled_from(_TABLE_CHARS) | st.text(max_size=3)
TEXTS = st.lists(_PIECES, max_size=14).map("".join)


@settings(max_examples=1500, deadline=None)
@given(TEXTS)
@example("Y0u 1d10t, s t u p i d")
@example("see http://x.com/A1 and 1d10t (me@mail.com) sh1t")
@example("\u202etoidi na era uoy")
@example("y\u043eu \u0456d\u0456\u043et, \u041f\u0440\u0438\u0432\u0435\u0442")
def test_the_per_text_steps_give_what_the_reference_gives(text: str) -> None:
    expected = reference_normalize(text)
    assert normalize_uncached(text) == expected
    clear_caches()
    assert normalize_with_flags(text) == expected
    assert normalize_with_flags(text) == expected  # and again from the cache


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, min_size=16, max_size=48))
def test_a_batch_gives_every_text_what_the_reference_gives(texts: list[str]) -> None:
    """Batches of 16 or more take the array checks; smaller ones the per-text steps."""
    clear_caches()
    assert normalize_many(texts) == [reference_normalize(t) for t in texts]
    assert normalize_many(texts[:5]) == [reference_normalize(t) for t in texts[:5]]
