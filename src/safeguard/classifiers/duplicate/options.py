"""The duplicate classifier's options: what the window, its saved state and the sharded runs read."""

from __future__ import annotations

import os
from dataclasses import dataclass

from safeguard.options import Integer, Number, OptionalCheck, Options, file_path, option

__all__ = ["DuplicateOptions"]


@dataclass(frozen=True, kw_only=True)
class DuplicateOptions(Options):
    """Options of :class:`~safeguard.classifiers.duplicate.DuplicateClassifier`, all optional."""

    threshold: float = option(
        0.8, Number(0.0, 1.0, low_open=True), "least rapidfuzz ratio (0..1) between normalised texts for a near-copy"
    )
    window: int = option(100_000, Integer(), "posts kept")
    window_seconds: float | None = option(
        None,
        OptionalCheck(Number(0.0, low_open=True)),
        "also drop posts older than this, by created_at (posts without one are windowed by count only)",
    )
    min_chars: int = option(30, Integer(), "shorter normalised texts are ignored")
    max_chars: int = option(2000, Integer(), "only this many leading characters are hashed and compared")
    shingle: int = option(5, Integer(1, 32), "character shingle size")
    num_perm: int = option(64, Integer(1, 1024), "MinHash permutations (a multiple of bands)")
    bands: int = option(16, Integer(), "LSH bands")
    seed: int = option(1, Integer(0, 2**32 - 1), "fixes the hash functions")
    max_candidates: int = option(32, Integer(), "most recent posts verified per LSH bucket")
    state: str | os.PathLike[str] | None = option(
        None,
        OptionalCheck(file_path),
        "npz file the window is restored from at load and saved to on close (relative to the ruleset)",
    )

    def validate(self) -> None:
        if self.max_chars < self.min_chars:
            raise ValueError(f"max_chars ({self.max_chars}) must be at least min_chars ({self.min_chars})")
        if self.bands > self.num_perm:
            raise ValueError(f"bands must be an integer between 1 and {self.num_perm}, got {self.bands!r}")
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")

    def hashing_config(self) -> dict[str, int]:
        """The options that determine signatures and band keys: a saved window needs the same ones."""
        return {
            "shingle": self.shingle,
            "num_perm": self.num_perm,
            "bands": self.bands,
            "seed": self.seed,
            "max_chars": self.max_chars,
        }
