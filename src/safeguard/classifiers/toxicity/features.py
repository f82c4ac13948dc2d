"""Hashed word and character n-grams: the features of the fast harm model, computed with numpy alone.

A text is read as a sequence of Unicode code points. Its features are

* character n-grams of every order in ``char_orders`` (spaces included, so a phrase written without
  its spaces or with one swapped letter still shares most of its n-grams with the plain one), and
* word n-grams of every order in ``word_orders``, where a word is a run of letters, digits and
  apostrophes, and every emoji or other pictographic symbol is a word of its own ("I'd 🔪 them").

Each n-gram is hashed to one of ``2**bits`` buckets. A text's feature vector holds, per bucket, the
number of its n-grams that fall there, scaled by ``1/sqrt(n)`` where ``n`` counts the text's n-grams of
the same kind (character or word), so long and short texts weigh alike and no bucket needs sorting.

The hash of a code-point sequence ``c[0..m)`` is ``sum(c[k] * P**k) mod 2**64``; it is folded with the
n-gram's kind and order and its top ``bits`` bits pick the bucket (multiplicative hashing).
:meth:`HashedNgrams.pairs` computes it for a whole batch with prefix sums (every substring's hash is a
difference of two prefixes times a power of ``P``'s inverse); :func:`reference_features` is the plain
per-n-gram loop it must agree with, and a test compares the two on generated text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["HashedNgrams", "reference_features", "token_class"]

U64 = np.uint64
FloatArray = npt.NDArray[np.float64]
_MASK = (1 << 64) - 1
#: Base of the polynomial string hash (odd, so it has an inverse modulo 2**64).
_P = 0x100000001B3
_P_INV = pow(_P, -1, 1 << 64)
#: Multipliers that fold an n-gram's kind and order into its hash, and spread it over the top bits.
_KIND = {"char": 0x9E3779B97F4A7C15, "word": 0xC2B2AE3D27D4EB4F}
_MIX = 0xFF51AFD7ED558CCD
_WORD_STEP = 0x94D049BB133111EB

#: Code-point ranges (inclusive) read as standalone symbols: each one is a word of its own.
_SYMBOL_RANGES: tuple[tuple[int, int], ...] = (
    (0x2190, 0x21FF),  # arrows
    (0x2300, 0x23FF),  # technical symbols (⌚ ⏰)
    (0x2460, 0x27BF),  # enclosed alphanumerics, shapes, dingbats, miscellaneous symbols
    (0x2900, 0x2BFF),  # arrows and symbols
    (0x1F000, 0x1FAFF),  # emoji, pictographs, skin tones
)
#: Code points that end a word: whitespace, ASCII and general punctuation (an apostrophe stays in).
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'")


def token_class(c: int) -> int:
    """0 for a separator, 1 for a word character, 2 for a standalone symbol (one code point)."""
    if c < 0x80:
        return 1 if chr(c) in _ASCII_WORD else 0
    for lo, hi in _SYMBOL_RANGES:
        if lo <= c <= hi:
            return 2
    if 0x2000 <= c <= 0x206F or c in (0xA0, 0x3000) or 0x80 <= c <= 0xBF:
        return 0  # general punctuation and spaces, Latin-1 punctuation
    return 1


_CLASS_TABLE = np.array([token_class(c) for c in range(0x3000)], dtype=np.int8)


def _classes(cp: npt.NDArray[np.uint32]) -> npt.NDArray[np.int8]:
    out = _CLASS_TABLE[np.minimum(cp, len(_CLASS_TABLE) - 1)]
    high = cp >= len(_CLASS_TABLE)
    if high.any():
        hc = cp[high]
        cls = np.ones(len(hc), dtype=np.int8)
        for lo, hi in _SYMBOL_RANGES:
            cls[(hc >= lo) & (hc <= hi)] = 2
        cls[hc == 0x3000] = 0
        out[high] = cls
    return out


def _clean(text: str, max_chars: int) -> str:
    """The part of ``text`` that is read: its first ``max_chars`` code points, NUL read as a space."""
    return text[:max_chars].replace("\0", " ")


def _fold(h: npt.NDArray[np.uint64], kind: str, order: int, bits: int) -> npt.NDArray[np.int64]:
    """Bucket of each hash: fold in kind and order, multiply, keep the top ``bits`` bits."""
    x = h + U64((_KIND[kind] * order) & _MASK)
    x *= U64(_MIX)
    x ^= x >> U64(29)
    x *= U64(_KIND[kind])
    x >>= U64(64 - bits)
    out: npt.NDArray[np.int64] = x.view(np.int64)  # below 2**bits: the same values, no copy
    return out


def _fold_int(h: int, kind: str, order: int, bits: int) -> int:
    x = ((h + _KIND[kind] * order) * _MIX) & _MASK
    x ^= x >> 29
    x = (x * _KIND[kind]) & _MASK
    return x >> (64 - bits)


def _powers(base: int, n: int) -> npt.NDArray[np.uint64]:
    """``base**k mod 2**64`` for k in [0, n), by doubling the known prefix."""
    out = np.empty(max(n, 1), dtype=np.uint64)
    out[0] = 1
    filled = 1
    while filled < n:
        take = min(filled, n - filled)
        out[filled : filled + take] = out[:take] * U64(pow(base, filled, 1 << 64))
        filled += take
    return out[:n]


@dataclass(frozen=True)
class HashedNgrams:
    """Feature extractor. ``pairs(texts)`` gives (row, bucket, value) triples of the sparse features."""

    bits: int = 18
    char_orders: tuple[int, ...] = (2, 3, 4, 5)
    word_orders: tuple[int, ...] = (1, 2, 3)
    max_chars: int = 2000

    @property
    def width(self) -> int:
        return 1 << self.bits

    def to_dict(self) -> dict[str, object]:
        return {
            "bits": self.bits,
            "char_orders": list(self.char_orders),
            "word_orders": list(self.word_orders),
            "max_chars": self.max_chars,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> HashedNgrams:
        def ints(v: object) -> tuple[int, ...]:
            if not isinstance(v, list) or not all(isinstance(x, int) and 1 <= x <= 8 for x in v):
                raise ValueError(f"n-gram orders must be a list of integers 1..8, got {v!r}")
            return tuple(v)

        bits, max_chars = data.get("bits"), data.get("max_chars")
        if not isinstance(bits, int) or not 8 <= bits <= 24:
            raise ValueError(f"bits must be an integer in 8..24, got {bits!r}")
        if not isinstance(max_chars, int) or max_chars < 1:
            raise ValueError(f"max_chars must be a positive integer, got {max_chars!r}")
        return cls(bits, ints(data.get("char_orders")), ints(data.get("word_orders")), max_chars)

    def pairs(
        self, texts: Sequence[str]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(row, bucket, value) of every n-gram of ``texts`` (repeats kept: a bucket's value is the sum)."""
        blocks = self.blocks(texts)
        if not blocks:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        row = np.concatenate([b[0] for b in blocks])
        col = np.concatenate([b[1] for b in blocks])
        kind = np.concatenate([np.full(len(b[0]), b[2], dtype=np.int64) for b in blocks])
        scale = self.scales(len(texts), blocks)
        return row, col, scale[kind, row]

    @staticmethod
    def scales(n: int, blocks: Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]]) -> FloatArray:
        """``1/sqrt(count)`` per kind (0 character, 1 word) and text: the value of each of its n-grams."""
        counts = np.zeros((2, n))
        for row, _, kind in blocks:
            counts[kind] += np.bincount(row, minlength=n)
        out: FloatArray = np.divide(1.0, np.sqrt(counts), out=np.zeros_like(counts), where=counts > 0)
        return out

    def blocks(self, texts: Sequence[str]) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]]:
        """The n-grams of ``texts`` as blocks of (row, bucket, kind), one block per kind and order; within a
        block rows never decrease, so per-text sums are one ``np.add.reduceat`` per block."""
        n = len(texts)
        if n == 0:
            return []
        # Each text between two spaces (so first and last words get boundary n-grams), texts joined by NUL.
        joined = "\0".join(f" {_clean(t, self.max_chars)} " for t in texts) + "\0"
        cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        total = len(cp)
        nul = cp == 0
        doc = np.cumsum(nul) - nul  # text index of each position (NULs belong to the text they end)
        cls = _classes(cp)
        cls[nul] = 0
        cp64 = cp.astype(np.uint64)
        nul_prefix = np.zeros(total + 1, dtype=np.int32)
        np.cumsum(nul, out=nul_prefix[1:])

        out: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], int]] = []
        # Character n-grams: every window with no NUL inside. ``h[i]`` is the hash of the window of the
        # current order starting at i, extended by one code point per order (slices, no gathers).
        h = cp64
        for order in range(1, max(self.char_orders, default=0) + 1):
            if total < order:
                break
            if order > 1:
                h = h[:-1] + cp64[order - 1 :] * U64(pow(_P, order - 1, 1 << 64))
            if order not in self.char_orders:
                continue
            ok = nul_prefix[order:] == nul_prefix[:-order]
            out.append((doc[: len(ok)][ok], _fold(h[ok], "char", order, self.bits), 0))
        # Words: runs of class 1, and single class-2 code points.
        word = cls == 1
        prev_word = np.concatenate([[False], word[:-1]])
        next_word = np.concatenate([word[1:], [False]])
        starts = np.flatnonzero((word & ~prev_word) | (cls == 2))
        ends = np.flatnonzero((word & ~next_word) | (cls == 2)) + 1
        if len(starts):
            # A word's hash is a difference of prefix sums, shifted back to its start.
            prefix = np.zeros(total + 1, dtype=np.uint64)
            np.cumsum(cp64 * _powers(_P, total), out=prefix[1:])
            uni = (prefix[ends] - prefix[starts]) * _powers(_P_INV, total)[starts]
            wdoc = doc[starts]
            for order in self.word_orders:
                if len(uni) < order:
                    continue
                m = len(uni) - order + 1
                same = wdoc[order - 1 :] == wdoc[:m]
                h = uni[:m].copy()
                for k in range(1, order):
                    h = h * U64(_WORD_STEP) + uni[k : k + m]
                out.append((wdoc[:m][same], _fold(h[same], "word", order, self.bits), 1))
        return [b for b in out if len(b[0])]


def reference_features(extractor: HashedNgrams, text: str) -> dict[int, float]:
    """The features of one text by a plain loop over its n-grams: bucket -> value."""
    padded = f" {_clean(text, extractor.max_chars)} "
    cp = [ord(c) for c in padded]

    def poly(seq: Sequence[int]) -> int:
        h = 0
        for k, c in enumerate(seq):
            h = (h + c * pow(_P, k, 1 << 64)) & _MASK
        return h

    char: list[int] = []
    for order in extractor.char_orders:
        for i in range(len(cp) - order + 1):
            char.append(_fold_int(poly(cp[i : i + order]), "char", order, extractor.bits))
    words: list[list[int]] = []
    current: list[int] = []
    for c in cp:
        cls = token_class(c)
        if cls == 1:
            current.append(c)
            continue
        if current:
            words.append(current)
            current = []
        if cls == 2:
            words.append([c])
    if current:
        words.append(current)
    uni = [poly(w) for w in words]
    word: list[int] = []
    for order in extractor.word_orders:
        for i in range(len(uni) - order + 1):
            h = uni[i]
            for k in range(1, order):
                h = (h * _WORD_STEP + uni[i + k]) & _MASK
            word.append(_fold_int(h, "word", order, extractor.bits))
    out: dict[int, float] = {}
    for group in (char, word):
        for bucket in group:
            out[bucket] = out.get(bucket, 0.0) + 1.0 / len(group) ** 0.5
    return out
