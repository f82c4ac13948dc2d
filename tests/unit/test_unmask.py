"""Masked words the harm models read as the word they hide."""

from __future__ import annotations

import random
import re

import pytest
from _bounded import finishes

from safeguard.classifiers.toxicity.heads import normalized_texts
from safeguard.classifiers.toxicity.unmask import MaskedWords, _fits, unmask


@pytest.mark.parametrize(
    ("masked", "expected"),
    [
        ("f*ck you", "fuck you"),
        ("f**k", "fuck"),
        ("what the f***", "what the fuck"),
        ("sh*t", "shit"),
        ("sh** happens", "shit happens"),
        ("a**hole", "asshole"),
        ("a*hole", "asshole"),
        ("b***h", "bitch"),
        ("you m*ron", "you moron"),
        ("you are an id**t", "you are an idiot"),
        ("F*ck", "Fuck"),
    ],
)
def test_masked_words_are_read(masked: str, expected: str) -> None:
    assert unmask(masked) == expected


@pytest.mark.parametrize(
    "text",
    [
        *("5*3 = 15", "**bold** text", "rated 4* and 5*", "a * b", "x*y", "a*s", "*i", "**ranged"),
        *("path*", "self*", "***a**", "file_*.txt"),
    ],
)
def test_other_asterisks_stay(text: str) -> None:
    assert unmask(text) == text


def test_the_harm_models_read_unmasked_text() -> None:
    assert normalized_texts(["You M*RON"]) == normalized_texts(["You MORON"])


def test_first_listed_word_wins() -> None:
    words = MaskedWords(["duck", "dock", "deck"])
    assert words.unmask("d*ck") == "duck"
    assert MaskedWords(["deck", "duck"]).unmask("d*ck") == "deck"


@pytest.mark.parametrize(
    "text",
    [
        "a" + "*" * 5000 + "1",
        "a*" * 100_000,
        "ab*c " * 50_000,
        "f" + "*" * 39 + "k",
        ("*" * 30 + "a") * 2000,
    ],
)
def test_time_grows_linearly(text: str) -> None:
    assert isinstance(finishes(lambda: unmask(text), 5.0), str)


def _reference_fits(masked: str, word: str, *, flexible: bool) -> bool:
    """A regular expression per masked word: each ``*`` one letter, or each run of them one or more."""
    pattern = "".join(
        ("[a-z]+" if flexible else "[a-z]" * len(part)) if part.startswith("*") else re.escape(part)
        for part in re.split(r"(\*+)", masked)
        if part
    )
    return re.fullmatch(pattern, word) is not None


def test_fits_matches_the_reference_on_generated_words() -> None:
    rng = random.Random(7)
    checked = 0
    for _ in range(20_000):
        word = "".join(rng.choice("abc") for _ in range(rng.randint(1, 8)))
        masked = "".join("*" if rng.random() < 0.35 else c for c in word)
        if rng.random() < 0.3:  # also masks that do not come from this word
            masked = "".join(rng.choice("abc*") for _ in range(rng.randint(1, 8)))
        if "*" not in masked:
            continue
        for flexible in (False, True):
            assert _fits(masked, word, flexible=flexible) == _reference_fits(masked, word, flexible=flexible), (
                masked,
                word,
                flexible,
            )
            checked += 1
    assert checked > 20_000
