"""Normalisation (obfuscations undone, ordinary text left alone) and the ``text`` classifier."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguard.classifiers.text import TextClassifier
from safeguard.datasets import eval_path, read_eval
from safeguard.text import caps_ratio, non_ascii_chars, normalize, normalize_with_flags
from safeguard.types import Post

# (input, normalised form): each disguise must come back to the plain word, and be flagged.
OBFUSCATED = [
    ("1d10t", "idiot"),
    ("id\u200biot", "idiot"),  # zero-width space
    ("i\u200dd\u2060i\ufeffot", "idiot"),  # zero-width joiner, word joiner, BOM inside the word
    ("id\u00adiot", "idiot"),  # soft hyphen
    ("іdіоt", "idiot"),  # Cyrillic і, о
    ("ѕех", "sex"),  # all Cyrillic look-alikes
    ("ιdιοt", "idiot"),  # Greek iota, omicron
    ("ı\u0307diot", "idiot"),  # dotless i with a combining dot above
    ("s t u p i d", "stupid"),
    ("i.d.i.o.t", "idiot"),
    ("s-t-u-p-i-d", "stupid"),
    ("s_t_u_p_i_d", "stupid"),
    ("1.d.1.0.t", "idiot"),
    ("s t u p 1 d", "stupid"),
    ("$hit", "shit"),
    ("@ss", "ass"),
    ("a$$hole", "asshole"),
    ("sh!t", "shit"),
    ("b|tch", "bitch"),
    ("n00b", "noob"),
    ("h4x0r", "haxor"),
    ("f4g", "fag"),
    ("k1ll y0urs3lf", "kill yourself"),
    ("You are a 1D10T!!!", "you are a idiot!!!"),
    ("S.T.U.P.I.D.", "stupid."),
    ("what an i d i o t", "what an idiot"),
    ("let $x$ be a 1d10t", "let $x$ be a idiot"),  # inline LaTeX stays; the rest is read
    ("paid $5 and $10 for sh!t", "paid $5 and $10 for shit"),
]

# (input, normalised form) for disguises that are undone but are not flagged.
PLAIN_FIXES = [
    ("stuuuupid", "stupid"),
    ("StUpId", "stupid"),
    ("IDIOT", "idiot"),
    ("ｉｄｉｏｔ", "idiot"),  # full-width: NFKC
    ("𝐢𝐝𝐢𝐨𝐭", "idiot"),  # mathematical bold: NFKC
    ("café crème", "cafe creme"),
    ("καλό πρωί", "καλο πρωι"),
    ("  hello \n\t world  ", "hello world"),
    ("don’t", "don't"),
    ("didn´t", "didn't"),
    ("Sooooo gooood", "so god"),
]

# Text that must come out exactly as casefolded, whitespace-collapsed input, and not be flagged.
INTACT = [
    "Scunthorpe",
    "cockpit",
    "Assassin's Creed",
    "kill the power at the breaker",
    "The cocktail class in Penistone",
    "$25.99",
    "it costs $10 or 25$",
    "Let $n$ be an integer and $x_1$ a root of $a + b = c$",  # inline LaTeX: "$" is a delimiter, not "s"
    "the $$n$$ term",
    "2024",
    "Order A1B2-3344 arrived",
    "4111 1111 1111 1111",
    "Call 1-800-555-0199 before 3pm",
    "16gb RAM, 4k screen, 1080p, 120hz",
    "my ps5 and win10 pc with an i7",
    "it was 1v1 then 4v5",
    "the 1st, 2nd, 3rd and 4th",
    "I am a fan",
    "Plan B and C",
    "hello!!! how are you?!",
    "lol!1!1",
    "colour #ff00aa",
    "thanks @john",
    "me@example.com",
    "Write to Sales.Team+1@Shop-Example.co.uk today",
    "see https://www.example.com/aaa111/l33t?x=1 now",
    "www.cheap-deals.biz",
    "|name|size|\n|a|b|",
    "4chan and 9ers",
    "e.g. this",
    "version 1.0.3 on 10.0.0.1",
    "Привет, мир",
    "καλη μερα κοσμε",
]


@pytest.mark.parametrize(("text", "expected"), OBFUSCATED)
def test_obfuscations_normalise_to_plain_word_and_are_flagged(text: str, expected: str) -> None:
    assert normalize(text) == expected
    assert normalize_with_flags(text) == (expected, True)


@pytest.mark.parametrize(("text", "expected"), PLAIN_FIXES)
def test_non_disguise_changes_are_not_flagged(text: str, expected: str) -> None:
    assert normalize_with_flags(text) == (expected, False)


@pytest.mark.parametrize("text", INTACT)
def test_ordinary_text_stays_intact(text: str) -> None:
    assert normalize_with_flags(text) == (" ".join(text.casefold().split()), False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # URLs keep repeats and leetspeak; the text around them does not.
        ("c00l http://example.com/zzz111 c00l", "cool http://example.com/zzz111 cool"),
        ("[M U S T](https://imgur.com/AbC)", "[must](https://imgur.com/abc)"),
        ("mail 1d10t@example.com 1d10t", "mail 1d10t@example.com idiot"),
        # Spaced letters are not glued onto neighbouring words.
        ("a stupid b", "a stupid b"),
        ("x a 1.0", "x a 1.0"),
        ("that's a 1.0 k/d", "that's a 1.0 k/d"),
        # Abbreviations join but are not flagged as disguises.
        ("U.S.A.", "usa."),
    ],
)
def test_context_cases(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("\ufeffhello", False),  # a BOM at the start is not a disguise
        ("family 👨\u200d👩\u200d👧", False),  # emoji ZWJ sequence
        ("( ͡° ͜ʖ ͡°)", False),  # kaomoji combining marks on punctuation
        ("z\u0336a\u0336l\u0336g\u0336o", True),  # decoration on letters
        ("U.S.A.", False),
        ("a b c d", True),
    ],
)
def test_obfuscated_flag(text: str, flagged: bool) -> None:
    assert normalize_with_flags(text)[1] is flagged


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HELLO", 1.0),
        ("hello", 0.0),
        ("HeLLo", 0.6),
        ("1234 !!", 0.0),
        ("", 0.0),
        ("ÉCOLE école", 0.5),
        ("ABcd 12", 0.5),
    ],
)
def test_caps_ratio(text: str, expected: float) -> None:
    assert caps_ratio(text) == pytest.approx(expected)


def test_normalize_is_cached_once_for_both_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    from safeguard.text import normalize_many, steps

    text = "a text only this test normalises: 1d10t"
    first = normalize(text)
    calls = []
    monkeypatch.setattr(steps, "normalize_uncached", lambda t: calls.append(t) or ("not used", False))
    assert normalize(text) == first == "a text only this test normalises: idiot"
    assert normalize_many([text]) == [(first, True)]
    assert calls == []  # both answered from the one cache


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "YOU 1D10T",
            {
                "normalized": "you idiot",
                "length": 9,
                "caps_ratio": 1.0,
                "obfuscated": True,
                "lang": "und",
                "lang_score": 0.0,
            },
        ),
        (
            "Nice cockpit!",
            {
                "normalized": "nice cockpit!",
                "length": 13,
                "caps_ratio": 1 / 11,
                "obfuscated": False,
                "lang": "und",
                "lang_score": 0.0,
            },
        ),
        ("", {"normalized": "", "length": 0, "caps_ratio": 0.0, "obfuscated": False, "lang": "und", "lang_score": 0.0}),
        (
            "id\u200biot",
            {
                "normalized": "idiot",
                "length": 6,
                "caps_ratio": 0.0,
                "obfuscated": True,
                "lang": "und",
                "lang_score": 0.0,
            },
        ),
    ],
)
def test_text_classifier_outputs(text: str, expected: dict[str, object]) -> None:
    clf = TextClassifier()
    clf.load()
    [signals] = clf.classify([Post(id="p", text=text)])
    assert signals == pytest.approx(expected)
    assert set(signals) == set(clf.outputs)
    for key, typ in clf.outputs.items():
        assert type(signals[key]) is typ, key


def test_text_classifier_one_mapping_per_post_in_order() -> None:
    clf = TextClassifier(name="surface")
    texts = ["first 1d10t", "SECOND", "third s t u p i d", "first 1d10t"]
    out = clf.classify([Post(id=str(i), text=t) for i, t in enumerate(texts)])
    assert [s["normalized"] for s in out] == ["first idiot", "second", "third stupid", "first idiot"]
    assert [s["obfuscated"] for s in out] == [True, False, True, True]
    assert clf.name == "surface"
    assert clf.kind == "text"


def test_text_classifier_rejects_options() -> None:
    with pytest.raises(ValueError, match="unknown option"):
        TextClassifier(threshold=0.5)


def test_letter_repeat_check_equals_the_collapsing_pattern() -> None:
    """The cheap check in front of repeat collapsing says yes exactly when the pattern finds a letter run."""
    import random

    from safeguard.text.steps import REPEAT_RE, letter_repeats

    rng = random.Random(3)
    for _ in range(20000):
        text = "".join(rng.choice("aab. _1²٣éé") for _ in range(rng.randint(0, 10)))
        assert letter_repeats(text) == bool(REPEAT_RE.search(text)), text


@pytest.mark.parametrize("table", ["APOSTROPHE_TABLE", "INVISIBLE_TABLE", "COMBINING_TABLE", "CONFUSABLE_TABLE"])
def test_character_replacement_equals_translate(table: str) -> None:
    import random

    from safeguard.text import steps as module
    from safeguard.text import tables

    mapping = getattr(tables, table)
    pairs = {
        "APOSTROPHE_TABLE": module._APOSTROPHE_PAIRS,
        "CONFUSABLE_TABLE": tables.CONFUSABLE_PAIRS,
    }.get(table, module._DELETED)
    keys = [chr(k) for k in mapping]
    rng = random.Random(5)
    for size in (1, 3, 8, 9, 20):
        alphabet = rng.sample(keys, min(size, len(keys))) + list("ab ")
        text = "".join(rng.choice(alphabet) for _ in range(40))
        present = set(text) & set(keys)
        assert module._replace_chars(text, present, pairs, mapping) == text.translate(mapping)


def _fuzz_texts(seed: int, count: int) -> list[str]:
    import random

    rng = random.Random(seed)
    pieces = [
        "a", "i", "b", "s", "t", "u", "1", "0", "3", "@", "$", "!", "|", "*", ".", "-", "_", "'", " ", " ", " ", "  ",
        "\n", "\t", "\x0b", "\x1c", "you", "idiot", "1d10t", "sh1t", "www.x.com", "WWW.", "http://a.b/c",
        "me@mail.com", "2nd", "mp3", "aaa", "a4a", "aa4a", "stuuupid", "u.s.a", "i.d.i.o.t", "s t u p i d",
        "(a b c.", "Scunthorpe", "A1B2-3344", "$25.99", "#ff00aa", "r/name", "ÉÉ", "\u200b",
        "👍", "“", "”", "—", "…", "Ⓐ", "\u2028", "\x01", "日本", "s—t—u—p—i—d", "1d10t👍", "💩💩💩",
        "(http://x.io/a", "](https://y.z/)", "<www.q.org>", "(me@x.io)", "q.e.d", "a_b_c", "x*y*z", ":",
        "a.b.cwww.q.io",
    ]  # fmt: skip
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(count)]


def test_normalize_many_equals_normalising_each_text() -> None:
    """The batch path (array checks over the whole batch) gives every text the per-text result and flag."""
    from safeguard.text import clear_caches, normalize_many
    from safeguard.text.steps import normalize_uncached

    texts = ["", " ", "a\n\nb  c ", "see http://x.com/A1 and 1d10t", "(me@mail.com) sh1t", *_fuzz_texts(17, 20000)]
    clear_caches()
    batched = [r for i in range(0, len(texts), 500) for r in normalize_many(texts[i : i + 500])]
    assert batched == [normalize_uncached(t) for t in texts]
    # Cached results come back unchanged, and normalize_with_flags shares them.
    assert normalize_many(texts[-300:]) == batched[-300:]
    assert [normalize_with_flags(t) for t in texts[-300:]] == batched[-300:]


@pytest.mark.skipif(eval_path("reddit_comp551_comments.jsonl") is None, reason="needs ../shared/eval")
def test_normalize_many_equals_normalising_each_real_post() -> None:
    from safeguard.text import clear_caches, normalize_many
    from safeguard.text.reference import reference_normalize

    texts = [r["text"] for r in read_eval("reddit_comp551_comments.jsonl", limit=3000)]
    texts += [r["text"] for r in read_eval("stackexchange_posts_comments.jsonl", limit=3000)]
    clear_caches()
    batched = [r for i in range(0, len(texts), 1000) for r in normalize_many(texts[i : i + 1000])]
    assert batched == [reference_normalize(t) for t in texts]


def test_leet_chunks_without_changeable_characters_are_returned_as_they_are() -> None:
    """The quick return for chunks with no leet digit, "$", "@" or inner "!"/"|" gives what the full steps give."""
    import random

    from safeguard.text.steps import leet_chunk, leet_chunk_quick

    rng = random.Random(4)
    for _ in range(30000):
        chunk = "".join(rng.choice("ab!|.-*_@$1x") for _ in range(rng.randint(1, 8)))
        for allow_pipe in (False, True):
            assert leet_chunk_quick.__wrapped__(chunk, allow_pipe) == leet_chunk(chunk, allow_pipe), chunk


@pytest.mark.parametrize(
    "text",
    ["", "plain ascii", "caf\u00e9 \u201cquoted\u201d \U0001f600", "\u041f\u0440\u0438\u0432\u0435\u0442",
     "\x7f\x00a\u200bb", "\u00e9" * 50 + "x" * 50],
)  # fmt: skip
def test_non_ascii_chars_are_the_characters_above_ascii(text: str) -> None:
    assert non_ascii_chars(text) == {c for c in text if ord(c) > 127}


def test_ascii_spaced_letter_patterns_equal_the_unicode_ones_on_casefolded_ascii() -> None:
    import random

    from safeguard.text import steps as text

    rng = random.Random(11)
    alphabet = "abcxyzABZ0123456789 ._*-'_!@$\t"
    for _ in range(20000):
        sample = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16))).casefold()
        assert [m.span() for m in text.SPACED_HINT_ASCII_RE.finditer(sample)] == [
            m.span() for m in text.SPACED_HINT_RE.finditer(sample)
        ], sample
        assert [(m.span(), m.group(1)) for m in text._SPACED_ASCII_RE.finditer(sample)] == [
            (m.span(), m.group(1)) for m in text.SPACED_RE.finditer(sample)
        ], sample


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abzAZ013456789 ._*-'_!|@$\n")), max_size=40))
def test_the_ascii_patterns_read_casefolded_ascii_text_as_the_unicode_ones_do(raw: str) -> None:
    """The faster ASCII twins of the spaced-letters and repeat patterns agree with the Unicode ones on
    the only text they are used on: casefolded ASCII."""
    from safeguard.text import steps as module

    text = raw.casefold()
    for unicode_re, ascii_re in (
        (module.SPACED_RE, module._SPACED_ASCII_RE),
        (module.SPACED_HINT_RE, module.SPACED_HINT_ASCII_RE),
        (module.REPEAT_RE, module.REPEAT_ASCII_RE),
    ):
        assert [m.span() for m in unicode_re.finditer(text)] == [m.span() for m in ascii_re.finditer(text)], text
