"""The post ids a run has seen, for counting (or refusing) duplicate ids in bounded memory per id.

A Python set of a million id strings takes about 85 MiB; :class:`SeenIds` keeps an 8-byte digest
per id instead (BLAKE2b, 64 bits), in a sorted array that recent ids are merged into a block at a
time. Two different ids share a digest with probability about n^2 / 2^65 (3e-8 for a million ids),
in which case the later one is counted as a duplicate. :class:`PlainSeenIds` is the plain reference
the tests compare it with.
"""

from __future__ import annotations

from hashlib import blake2b

import numpy as np
import numpy.typing as npt

__all__ = ["PlainSeenIds", "SeenIds"]

#: Recent digests kept in a set before they are merged into the sorted array.
_BLOCK = 1 << 16


def _digest(post_id: str) -> int:
    return int.from_bytes(blake2b(post_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class SeenIds:
    """``seen(id)``: whether an earlier call had ``id``; remembers ``id`` either way."""

    def __init__(self, *, block: int = _BLOCK) -> None:
        self._block = max(1, block)
        self._sorted: npt.NDArray[np.uint64] = np.empty(0, dtype=np.uint64)
        self._recent: set[int] = set()

    def seen(self, post_id: str) -> bool:
        h = _digest(post_id)
        if h in self._recent:
            return True
        if self._sorted.size:
            i = int(np.searchsorted(self._sorted, np.uint64(h)))
            if i < self._sorted.size and int(self._sorted[i]) == h:
                return True
        self._recent.add(h)
        if len(self._recent) >= self._block:
            block = np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent))
            self._sorted = np.union1d(self._sorted, block)
            self._recent.clear()
        return False

    def __len__(self) -> int:
        return int(self._sorted.size) + len(self._recent)


class PlainSeenIds:
    """The reference: a set of the ids themselves."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def seen(self, post_id: str) -> bool:
        if post_id in self._ids:
            return True
        self._ids.add(post_id)
        return False

    def __len__(self) -> int:
        return len(self._ids)
