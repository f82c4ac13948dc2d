"""The default backend's word look-ups for a whole batch at once, with array operations.

Most posts hold no word that the lexicons act on beyond the negativity lexicon: for them the default
backend needs only the linear model's term ids and the strongest negative word. :class:`WordScan`
finds both for every plain post of a batch in one pass over the batch's bytes, instead of a dictionary
look-up per word in Python:

* the texts (normalised, unmasked; non-ASCII characters that are not letters or digits read as ``?``)
  are joined by newlines; the linear model's tokens are the
  runs of letters, digits and underscores; the lexicon's words are the runs of letters and digits, or
  two of them joined by one apostrophe (``don't``), exactly as :meth:`Lexicon.words` reads them;
* every token and word is identified by a 64-bit key, the polynomial hash of its bytes plus its length
  times a constant, looked up in a table of every linear-model term and every word the lexicons read;
* a post is *plain* when it holds no non-ASCII letter or digit, no apostrophe that joins three runs
  (``rock'n'roll``), no word or token that sets off a word check of the lexicon (insults, profanity,
  slurs, groups of people) and no word of every group of a threat or self-harm pattern or a targeted
  phrase ("shut up"). Only plain posts take the values found here; the others go through the per-word
  path.

A token with the key of a table word is taken to be that word: for a token that is not in the
table, that happens about once in 10^15 tokens (the table's size over 2^64), and then it is
counted as a word it is not; a word in the table is never missed, and a post with a word of any
lexicon check always goes through the per-word path. The hash base is fixed, so every process decides
the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from safeguard.classifiers.text import non_ascii_chars

__all__ = ["ScanResult", "WordScan", "ascii_view"]

_MASK = (1 << 64) - 1
#: Slots of the direct-mapped key table: 2^20 (4 MB), for a few tens of thousands of keys.
_SLOT_BITS = 20
_MIX = 0xD6E8FEB86659FD93
_BASE = 0x9E3779B97F4A7C15
_INVERSE = pow(_BASE, -1, 1 << 64)
#: A word's key is its polynomial hash plus its length times this (odd) constant, mod 2^64.
_LENGTH_MIX = 0xC2B2AE3D27D4EB4F

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _slot(hashes: npt.NDArray[np.uint64]) -> IntArray:
    """Slot of each hash: the top bits after a multiplication that mixes every bit into them (the
    polynomial hash of a short word varies little in its top bits)."""
    slots: IntArray = ((hashes * np.uint64(_MIX)) >> np.uint64(64 - _SLOT_BITS)).astype(np.int64)
    return slots


def ascii_view(text: str) -> str | None:
    """``text`` with its non-ASCII characters as ``?`` when none of them is a letter or digit (emoji, quotes,
    dashes: separators for both tokenisers, as ``?`` is, so the tokens and words are the same), else None."""
    if any(c.isalnum() for c in non_ascii_chars(text)):
        return None
    return text.encode("ascii", "replace").decode("ascii")


def _runs(mask: BoolArray) -> tuple[IntArray, IntArray]:
    """(starts, ends) of the runs of True in ``mask``, whose first and last values are False: its changes
    alternate, a run's start then its end."""
    changes = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    return changes[0::2], changes[1::2]


def _group_starts(owners: IntArray) -> IntArray:
    """Where each run of equal values of the sorted ``owners`` begins (for ``reduceat``)."""
    return np.flatnonzero(np.concatenate([[True], owners[1:] != owners[:-1]]))


def _hash(data: bytes, base: int) -> int:
    value = 0
    power = 1
    for byte in data:
        value = (value + byte * power) & _MASK
        power = (power * base) & _MASK
    return value


@dataclass(frozen=True)
class ScanResult:
    """What :meth:`WordScan.scan` found in a batch of ``n`` texts.

    ``scanned[i]`` says whether text ``i`` was read here (it holds no non-ASCII letter or digit), and
    ``rows`` and ``terms`` are the (text, term id) pairs of every linear-model token of the scanned
    texts, in no particular order; ``plain[i]`` says whether text ``i`` may also take ``negativity[i]``, its
    strongest negative word (the context rule applied), as all its lexical features.
    """

    scanned: BoolArray
    plain: BoolArray
    negativity: FloatArray
    rows: IntArray
    terms: IntArray
    #: (text, key) of every lexicon word of the scanned texts, and of every run of letters and digits (key -1
    #: when not in the table; the runs are the words' parts at apostrophes), for :meth:`WordScan.word_sets`.
    words: tuple[IntArray, IntArray]
    parts: tuple[IntArray, IntArray]
    #: Texts with a run joined on both sides by apostrophes ("rock'n'roll"): their word sets are not read here.
    chained: BoolArray


class _Powers:
    """B^j and B^-j mod 2^64 for j < size, grown on demand; both tables are swapped in as one pair, so
    concurrent scans always read tables of the same size."""

    def __init__(self, base: int, inverse: int) -> None:
        self.base, self.inverse = base, inverse
        self.pair = (np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64))

    def at_least(self, size: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        pair = self.pair
        if len(pair[0]) >= size:
            return pair
        up, down = pair
        # Doubling: the powers j + k are the first k powers times B^k, one array product (a running
        # product over the whole table is sequential, and several times slower).
        while len(up) < size:
            k = len(up)
            up = np.concatenate([up, up * np.uint64(pow(self.base, k, 1 << 64))])
            down = np.concatenate([down, down * np.uint64(pow(self.inverse, k, 1 << 64))])
        self.pair = (up, down)
        return up, down


class WordScan:
    """Batch look-ups of linear-model terms and lexicon words (see the module docstring).

    ``terms`` maps each linear-model term to its id (ids start at 1); ``words`` are the lexicon words
    (with or without an apostrophe); ``negativity`` their negative strength; ``context_dependent`` the
    negative words that count only when the text names a person; ``person_words`` the words that
    name one; ``special`` the words that always send a text to the per-word path, and ``patterns`` the
    word groups of each pattern: a text holding a word of every group of one goes there too.
    """

    def __init__(
        self,
        terms: Mapping[str, int],
        words: Iterable[str],
        negativity: Mapping[str, float],
        *,
        context_dependent: Iterable[str],
        person_words: Iterable[str],
        special: Iterable[str],
        patterns: Sequence[Sequence[frozenset[str]]],
    ) -> None:
        words = set(words)
        keys = sorted(k for k in set(terms) | words if k.isascii())  # non-ASCII texts never take this path
        encoded = [k.encode("ascii") for k in keys]
        first = np.array([(_hash(e, _BASE) + len(e) * _LENGTH_MIX) & _MASK for e in encoded], dtype=np.uint64)
        order = np.argsort(first, kind="stable")
        self._first = first[order]
        if len(self._first) > 1 and bool((self._first[1:] == self._first[:-1]).any()):
            raise ValueError("two vocabulary words share a hash; the batch look-up cannot tell them apart")
        sorted_keys = [keys[i] for i in order]
        self._keys = np.array(sorted_keys, dtype=object)
        context = set(context_dependent)
        person = set(person_words)
        self._term = np.array([terms.get(k, 0) for k in sorted_keys], dtype=np.int64)
        # A token counts as a lexicon word only where it is not part of a word with an apostrophe.
        self._word = np.array([k in words for k in sorted_keys], dtype=np.bool_)
        self._negative = np.array([negativity.get(k, 0.0) if k in words else 0.0 for k in sorted_keys])
        context_word = np.array([k in context for k in sorted_keys], dtype=np.bool_)
        self._negative_alone = np.where(context_word, 0.0, self._negative)
        self._person = np.array([k in person and k in words for k in sorted_keys], dtype=np.bool_)
        # One bit per word group of every pattern, and the last bit for the words that always need the
        # per-word path; a text needs it when it holds a special word or a word of every group of a pattern.
        groups = [group for pattern in patterns for group in pattern]
        if len(groups) > 63:
            raise ValueError(f"{len(groups)} pattern word groups: at most 63 fit the batch look-up")
        special = set(special)
        bits = np.zeros(len(sorted_keys), dtype=np.uint64)
        for i, key in enumerate(sorted_keys):
            value = 1 << 63 if key in special else 0
            for j, group in enumerate(groups):
                if key in group:
                    value |= 1 << j
            bits[i] = value
        self._bits = bits
        # Each table ends with a neutral entry (no term, not a word, no bits), which the key -1 of a token
        # not in the table reads: look-ups need no mask first.
        self._term = np.append(self._term, 0)
        self._word = np.append(self._word, False)
        self._negative = np.append(self._negative, 0.0)
        self._negative_alone = np.append(self._negative_alone, 0.0)
        self._person = np.append(self._person, False)
        self._bits = np.append(self._bits, np.uint64(0))
        self._needs: list[int] = []
        j = 0
        for pattern in patterns:
            self._needs.append(sum(1 << (j + g) for g in range(len(pattern))))
            j += len(pattern)
        if not all(any(key in group for key in sorted_keys) for group in groups):
            raise ValueError("every word of the pattern groups must be a lexicon word")
        # Direct-mapped slots on the top bits of the first hash; keys sharing a slot use the sorted table.
        self._slots = np.full(1 << _SLOT_BITS, -1, dtype=np.int32)
        slot = _slot(self._first)
        taken, counts = np.unique(slot, return_counts=True)
        self._slots[slot] = np.arange(len(slot))
        self._slots[taken[counts > 1]] = -2
        self._powers = _Powers(_BASE, _INVERSE)

    def _lookup(
        self, starts: IntArray, ends: IntArray, prefix: npt.NDArray[np.uint64], down: npt.NDArray[np.uint64]
    ) -> IntArray:
        """Index into the key table of each span [start, end) of the bytes whose hash prefix is ``prefix``
        (inclusive sums; ``down`` the inverse powers of the base), or -1. Spans never start at 0."""
        if len(starts) == 0 or len(self._first) == 0:
            return np.full(len(starts), -1, dtype=np.int64)
        h = (prefix[ends - 1] - prefix[starts - 1]) * down[starts]
        h += (ends - starts).astype(np.uint64) * np.uint64(_LENGTH_MIX)
        at = self._slots[_slot(h)].astype(np.int64)
        shared = np.flatnonzero(at == -2)
        if len(shared):
            at[shared] = np.minimum(np.searchsorted(self._first, h[shared]), len(self._first) - 1)
        found = (at >= 0) & (self._first[np.maximum(at, 0)] == h)
        return np.where(found, at, -1)

    def scan(self, texts: Sequence[str]) -> ScanResult:
        """Look up the tokens and words of ``texts`` (normalised and unmasked)."""
        n = len(texts)
        views = [t if t.isascii() else ascii_view(t) for t in texts]
        scanned = np.fromiter((v is not None for v in views), dtype=np.bool_, count=n)
        plain = scanned.copy()
        usable = [v or "" for v in views]
        # One leading and two trailing newlines, so every neighbour looked at exists.
        a = np.frombuffer(("\n" + "\n".join(usable) + "\n\n").encode("ascii"), dtype=np.uint8)
        lengths = np.fromiter(map(len, usable), dtype=np.int64, count=n)
        # The text each byte belongs to (a text's separating newline counts as its own): one look-up per
        # position, instead of a binary search over the texts' starts for each.
        owner = np.full(len(a), n - 1, dtype=np.int32)
        owner[0] = -1
        body = np.repeat(np.arange(n, dtype=np.int32), lengths + 1)
        owner[1 : 1 + len(body)] = body

        def text_of(positions: IntArray) -> IntArray:
            found: IntArray = owner[positions].astype(np.int64)
            return found

        def mark(positions: IntArray) -> None:
            if len(positions):
                plain[text_of(positions)] = False

        alnum = (((a | 32) - 97).astype(np.uint8) < 26) | ((a - 48).astype(np.uint8) < 10)
        token_starts, token_ends = _runs(alnum)
        token_text = text_of(token_starts)
        # Apostrophes between two letters or digits join two runs into one lexicon word.
        quote = np.flatnonzero(a == 39)
        joining = quote[alnum[quote - 1] & alnum[quote + 1]]
        before = np.searchsorted(token_ends, joining)  # the run that ends at the apostrophe
        after = before + 1  # the run that starts after it
        # A run joined on both sides ("rock'n'roll") is split otherwise by the lexicon.
        chained_at = joining[1:][token_ends[after[:-1]] == joining[1:]]
        mark(chained_at)
        chained = np.zeros(n, dtype=np.bool_)
        if len(chained_at):
            chained[text_of(chained_at)] = True

        up, down = self._powers.at_least(len(a))
        prefix = np.multiply(a, up[: len(a)], dtype=np.uint64)
        np.cumsum(prefix, out=prefix)
        token_key = self._lookup(token_starts, token_ends, prefix, down)

        # Lexicon words: a run not beside a joining apostrophe, or two runs and the apostrophe between them.
        alone = np.ones(len(token_starts), dtype=np.bool_)
        alone[before] = False
        alone[after] = False
        pair_key = self._lookup(token_starts[before], token_ends[after], prefix, down)
        pair_text = token_text[before]
        alone_key, alone_text = token_key[alone], token_text[alone]

        # Texts with a special word, or a word of every group of some pattern, take the per-word path.
        masks = np.zeros(n, dtype=np.uint64)
        for keys, owners in ((token_key, token_text), (pair_key, pair_text)):
            bits = self._bits[keys]
            flagged = np.flatnonzero(bits)
            if len(flagged):
                owners, bits = owners[flagged], bits[flagged]
                first = _group_starts(owners)
                masks[owners[first]] |= np.bitwise_or.reduceat(bits, first)
        needs_words = (masks >> np.uint64(63)) != 0
        for need in self._needs:
            required = np.uint64(need)
            needs_words |= (masks & required) == required
        plain &= ~needs_words

        # The strongest negative word; words that depend on context count only when a person is named.
        names = np.zeros(n, dtype=np.bool_)
        at_sign = np.flatnonzero(a == 64)
        if len(at_sign):
            names[text_of(at_sign)] = True
        words = []
        for keys, owners in ((alone_key, alone_text), (pair_key, pair_text)):
            lexicon_word = self._word[keys]
            keys, owners = keys[lexicon_word], owners[lexicon_word]
            names[owners[self._person[keys]]] = True
            words.append((keys, owners))
        parts = (token_text, token_key)  # every run, looked up or not: word_sets picks the lexicon words
        negativity = np.zeros(n)
        for keys, owners in words:
            if len(keys):
                values = np.where(names[owners], self._negative[keys], self._negative_alone[keys])
                first = _group_starts(owners)
                np.maximum.at(negativity, owners[first], np.maximum.reduceat(values, first))

        # The linear model's tokens are runs of letters, digits and underscores (the lexicon splits on "_").
        underscore = a == 95
        underscores = np.flatnonzero(underscore)
        if len(underscores):
            # A run of letters and digits beside an underscore is part of a longer token: the underscores and
            # the runs beside them, merged where they touch, are the tokens that hold underscores.
            touched = underscore[token_starts - 1] | underscore[token_ends]
            starts = np.concatenate([token_starts[touched], underscores])
            ends = np.concatenate([token_ends[touched], underscores + 1])
            order = np.argsort(starts, kind="stable")
            starts, ends = starts[order], ends[order]
            first = np.concatenate([[True], starts[1:] != ends[:-1]])
            last = np.concatenate([first[1:], [True]])
            starts, ends = starts[first], ends[last]
            token_key = np.concatenate([token_key[~touched], self._lookup(starts, ends, prefix, down)])
            token_text = np.concatenate([token_text[~touched], text_of(starts)])
        term = self._term[token_key]
        keep = term > 0  # texts not scanned have no tokens here
        (alone_keys, alone_texts), (pair_keys, pair_texts) = words
        found = (np.concatenate([alone_texts, pair_texts]), np.concatenate([alone_keys, pair_keys]))
        return ScanResult(scanned, plain, negativity, token_text[keep], term[keep], found, parts, chained)

    def word_sets(self, scan: ScanResult, texts: IntArray) -> list[tuple[set[str], set[str]]]:
        """(lexicon words, lexicon words among the runs of letters and digits) of each of ``texts`` (indices of
        scanned texts without chained apostrophes): ``relevant & set(words)`` and ``relevant & set(runs)`` for the
        ``words`` the scan was built with as ``relevant``, and the text's :meth:`Lexicon.words` and runs."""
        wanted = np.zeros(len(scan.scanned), dtype=np.bool_)
        wanted[texts] = True
        sets: list[list[set[str]]] = []
        for owners, keys in (scan.words, scan.parts):
            keep = wanted[owners]
            owners, keys = owners[keep], keys[keep]
            word = self._word[keys]
            owners, keys = owners[word], keys[word]
            order = np.argsort(owners, kind="stable")
            owners = owners[order]
            strings = self._keys[keys[order]].tolist()
            starts = np.searchsorted(owners, texts, side="left").tolist()
            ends = np.searchsorted(owners, texts, side="right").tolist()
            sets.append([set(strings[a:b]) for a, b in zip(starts, ends, strict=True)])
        return list(zip(*sets, strict=True))
