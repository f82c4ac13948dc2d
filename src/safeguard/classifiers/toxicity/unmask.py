"""Reading asterisk-masked words (``"f*ck"``, ``"m*ron"``, ``"a**hole"``) as the word they hide.

People mask the words they expect a filter to catch; a model that reads ``"f * ck"`` sees neither the
word nor anything like it. :func:`unmask` rewrites a masked word as the one vocabulary word it fits, so
the harm models read what the reader reads. The vocabulary is the harm cue words
(``data/harm_cues.txt``) and the profane words (``data/profanity.txt``): the words worth masking.

A masked word is a whole run of letters and asterisks holding both, four characters or more, that starts
with a letter (``"**note**"``, markdown emphasis, and ``"a*b"`` or ``"2*i"`` in a formula are left alone,
as are runs with digits or underscores). A ``*`` stands for one letter; when nothing fits that way, at
least two letters show and the word ends in a letter, each run of asterisks stands for one or more
letters (``"f**k"`` -> ``"fuck"``, ``"a*hole"`` -> ``"asshole"``, the shortest word that fits). Of
several fits of one length the first in the order profanity, then cues, alphabetical within each,
wins, so the result never depends on a hash seed. Every step is a scan of the text or of a candidate word, so time grows
linearly with the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from safeguard.classifiers.toxicity.datadir import DATA_DIR

__all__ = ["MaskedWords", "unmask", "word_list"]

#: Runs of word characters and asterisks: the candidates, found with one linear scan.
_RUN = re.compile(r"[\w*]+")
#: Longest run read as a masked word; longer runs (rules, separators, pasted hashes) are left alone.
MAX_MASKED = 40


def word_list(path: Path) -> list[str]:
    """The words of a shipped word file, in file order: one per line, lower-cased, ``#`` comments and
    blank lines skipped, anything after the word (profanity.txt's old weights) ignored."""
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip().lower()
        if line:
            out.append(line.split()[0])
    return out


class MaskedWords:
    """A vocabulary masked spellings are matched against (first listed wins among several fits)."""

    def __init__(self, words: Iterable[str]) -> None:
        seen: dict[str, int] = {}
        for word in words:
            seen.setdefault(word, len(seen))
        self.rank = seen
        self.by_length: dict[int, list[str]] = {}
        for word in seen:
            self.by_length.setdefault(len(word), []).append(word)

    def fit(self, masked: str) -> str | None:
        """The vocabulary word ``masked`` (letters and ``*``) stands for, or None."""
        letters = len(masked) - masked.count("*")
        # Masks keep the first letter ("f*ck", not "*i", a product in a formula), span four characters at
        # least ("a*b" is algebra) and show at least one letter per three hidden ("***a**" hides anything).
        if len(masked) < 4 or masked[0] == "*" or masked.count("*") > 3 * letters:
            return None
        longest = max(masked.split("*"), key=len)
        exact = self._best(w for w in self.by_length.get(len(masked), ()) if _fits(masked, w, flexible=False))
        # Stretching a run of asterisks needs letters on both sides: "path*" or "self*" is a word and a
        # footnote mark or wildcard, not "pathetic".
        if exact is not None or letters < 2 or masked.endswith("*"):
            return exact
        for length in sorted(n for n in self.by_length if n > letters):
            found = self._best(w for w in self.by_length[length] if longest in w and _fits(masked, w, flexible=True))
            if found is not None:
                return found
        return None

    def _best(self, words: Iterable[str]) -> str | None:
        return min(words, key=self.rank.__getitem__, default=None)

    def unmask(self, text: str) -> str:
        """``text`` with each masked word that fits the vocabulary replaced by that word."""
        if "*" not in text:
            return text
        pieces: list[str] = []
        last = 0
        for m in _RUN.finditer(text):
            run = m.group()
            if "*" not in run or len(run) > MAX_MASKED or not run.replace("*", "").isalpha():
                continue
            word = _cached_fit(self, run)
            if word is not None:
                pieces.append(text[last : m.start()])
                pieces.append(word)
                last = m.end()
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)


def _fits(masked: str, word: str, *, flexible: bool) -> bool:
    """Whether ``word`` is ``masked`` with each ``*`` a letter (or, ``flexible``, each run of ``*`` one or
    more letters). The flexible test places the shown parts left to right, each at its first place after
    the previous one, which finds a fit whenever one exists (the hidden parts match any letters)."""
    if not flexible:
        return len(word) == len(masked) and all(m == "*" or m == c for m, c in zip(masked, word, strict=True))
    parts = re.split(r"\*+", masked)
    first, last = parts[0], parts[-1]
    if not word.startswith(first) or not word.endswith(last) or len(first) + len(last) >= len(word):
        return False
    pos = len(first)
    end = len(word) - len(last)
    for part in parts[1:-1]:
        # Each hidden run holds at least one letter: the next shown part starts a letter later.
        found = word.find(part, pos + 1, end - 1)
        if found < 0:
            return False
        pos = found + len(part)
    return pos < end


@lru_cache(maxsize=8192)
def _fit_of(words: MaskedWords, run: str) -> str | None:
    return words.fit(run.lower())


def _cached_fit(words: MaskedWords, run: str) -> str | None:
    found = _fit_of(words, run)
    if found is None:
        return None
    # Keep an initial capital: "F*ck" reads "Fuck".
    return found.capitalize() if run[0].isupper() else found


@lru_cache(maxsize=1)
def default_words() -> MaskedWords:
    """The shipped vocabulary: profane words, then harm cue words."""
    words = [*word_list(DATA_DIR / "profanity.txt"), *sorted(word_list(DATA_DIR / "harm_cues.txt"))]
    return MaskedWords(w for w in words if w.isalpha())


def unmask(text: str) -> str:
    """``text`` with masked profane and harm cue words read as the word they hide (see the module)."""
    return default_words().unmask(text)
