"""Sentiment polarity: VADER (a lexicon and rules, tuned on social media text), with shopping words added.

VADER's cost grows with the square of a text's length (each sentiment word re-reads the words around it
in lower case), and its compound score saturates at -1 or 1 on long texts. Long posts are therefore read
in chunks of at most :data:`CHUNK` characters, cut at sentence ends, and the chunks' compound scores are
averaged by length; only the first :data:`MAX_CHARS` characters are read at all, so one huge post costs
no more than a long one.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

from safeguard.errors import ConfigError
from safeguard.files import UnsafeFileError, read_bounded_text

__all__ = ["CHUNK", "MAX_CHARS", "Polarity", "retail_lexicon"]

#: Longest text scored in one VADER call.
CHUNK = 1000
#: Characters of a post read for sentiment.
MAX_CHARS = 20_000
_LEXICON_BYTES = 1024 * 1024
#: Where a chunk may end: after a sentence's punctuation or a line break.
_BREAK = re.compile(r"[.!?\n]\s")


def retail_lexicon() -> dict[str, float]:
    """The shipped words VADER lacks (``data/retail_sentiment.txt``): word to valence on VADER's scale."""
    path = Path(str(resources.files("safeguard.classifiers.feedback") / "data" / "retail_sentiment.txt"))
    try:
        text = read_bounded_text(path, _LEXICON_BYTES, what="sentiment lexicon")
    except (UnsafeFileError, OSError) as exc:
        raise ConfigError(f"cannot read the shipped sentiment lexicon {path}: {exc}") from exc
    words: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        word, _, value = line.partition("\t")
        try:
            words[word.strip().lower()] = float(value)
        except ValueError:
            raise ConfigError(f"{path}:{number}: expected a word, a tab and a number") from None
    return words


def chunks(text: str) -> list[str]:
    """``text`` (its first :data:`MAX_CHARS` characters) cut into pieces of at most :data:`CHUNK` characters,
    at the last sentence end inside each piece when there is one."""
    text = text[:MAX_CHARS]
    out: list[str] = []
    start = 0
    while len(text) - start > CHUNK:
        window = text[start : start + CHUNK]
        ends = [m.end() for m in _BREAK.finditer(window)]
        cut = ends[-1] if ends and ends[-1] > CHUNK // 4 else CHUNK
        out.append(window[:cut])
        start += cut
    out.append(text[start:])
    return out


class Polarity:
    """VADER's compound polarity, -1 to 1, with :func:`retail_lexicon` added to its lexicon."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader: Any = SentimentIntensityAnalyzer()
        self._vader.lexicon.update(retail_lexicon())

    def __call__(self, text: str) -> float:
        if len(text) <= CHUNK:
            return float(self._vader.polarity_scores(text)["compound"])
        pieces = [p for p in chunks(text) if p.strip()]
        total = sum(len(p) for p in pieces)
        if not total:
            return 0.0
        return sum(float(self._vader.polarity_scores(p)["compound"]) * len(p) for p in pieces) / total
