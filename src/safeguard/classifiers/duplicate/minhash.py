"""Vectorised character-shingle MinHash and LSH band keys, for a whole batch of texts at once.

Every text is cut into overlapping ``k``-character shingles; each shingle is hashed once (a
polynomial over its code points, the splitmix64 finaliser, top 32 bits kept), and ``num_perm``
random permutations of the 32-bit hash space, ``x -> a * x + b mod 2**32`` with ``a`` odd, give the
signature: its ``i``-th value is the least permuted hash of the text's shingles. All of it is numpy
over the concatenated batch: one pass per shingle position and per group of permutations, then
``np.minimum.reduceat`` per text. (32-bit arithmetic is twice as fast as 64-bit and estimates
Jaccard as well: ``benchmarks/duplicate_vs_pairwise.py`` compares it with datasketch.)
The signature is ``bands`` groups of ``num_perm // bands`` rows; each band hashes to one 64-bit key
(the band number is mixed in, so keys of different bands never meet).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["MinHasher"]

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]
_MASK64 = (1 << 64) - 1


def _mix(h: U64) -> U64:
    """The splitmix64 finaliser, elementwise (arithmetic wraps mod 2**64)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    out: U64 = h ^ (h >> np.uint64(31))
    return out


class MinHasher:
    """MinHash signatures and LSH band keys of character shingles. Deterministic for a given ``seed``."""

    def __init__(self, *, shingle: int, num_perm: int, bands: int, seed: int) -> None:
        self.shingle = shingle
        self.num_perm = num_perm
        self.bands = bands
        self.rows = num_perm // bands
        rng = np.random.Generator(np.random.PCG64(seed))
        self._poly = rng.integers(1, 2**63, size=shingle, dtype=np.uint64) | np.uint64(1)
        self._a = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
        self._b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32)
        self._band_mult = rng.integers(1, 2**63, size=self.rows, dtype=np.uint64) | np.uint64(1)
        self._band_salt = rng.integers(0, 2**63, size=bands, dtype=np.uint64)

    def shingle_hashes(self, texts: Sequence[str]) -> tuple[U32, npt.NDArray[np.intp]]:
        """32-bit hashes of every shingle of every text, concatenated, and each text's start offset.

        A text shorter than the shingle is one shingle (padded); every text has at least one.
        """
        k = self.shingle
        padded = [t if len(t) >= k else t + "\0" * (k - len(t)) for t in texts]
        lengths = np.fromiter((len(t) for t in padded), dtype=np.intp, count=len(padded))
        codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        total_chars = int(lengths.sum())
        h = np.zeros(max(0, total_chars - k + 1), dtype=np.uint64)
        for j in range(k):
            h += codes[j : j + h.size] * self._poly[j]
        counts = lengths - k + 1
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.intp)
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.intp)
        total = int(counts.sum())
        idx = np.repeat(starts - offsets, counts) + np.arange(total, dtype=np.intp)
        hashes: U32 = (_mix(h[idx]) >> np.uint64(32)).astype(np.uint32)
        return hashes, offsets

    def signatures(self, texts: Sequence[str]) -> npt.NDArray[np.uint32]:
        """MinHash signatures, shape ``(len(texts), num_perm)``."""
        n = len(texts)
        out = np.empty((n, self.num_perm), dtype=np.uint32)
        if n == 0:
            return out
        hashes, offsets = self.shingle_hashes(texts)
        step = max(1, min(self.num_perm, (1 << 22) // max(1, hashes.size)))
        for lo in range(0, self.num_perm, step):
            a = self._a[lo : lo + step, None]
            b = self._b[lo : lo + step, None]
            values = a * hashes[None, :] + b
            out[:, lo : lo + step] = np.minimum.reduceat(values, offsets, axis=1).T
        return out

    def band_keys(self, signatures: npt.NDArray[np.uint32]) -> U64:
        """One 64-bit key per band, shape ``(n, bands)``."""
        n = signatures.shape[0]
        sig = signatures[:, : self.bands * self.rows].astype(np.uint64).reshape(n, self.bands, self.rows)
        keys = (sig * self._band_mult[None, None, :]).sum(axis=2, dtype=np.uint64) + self._band_salt[None, :]
        return _mix(keys)
