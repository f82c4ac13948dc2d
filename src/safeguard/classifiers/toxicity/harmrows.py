"""What a labelled harm row is: the heads of the harm models, a row's targets, and the split a key
falls in. The corpus readers (:mod:`.harmdata`) and the functional cases (:mod:`.functional`) both make
rows of this shape."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["HEADS", "UNKNOWN", "HarmRow", "hash_split"]

#: The heads of the harm models, in the order of their weight columns.
HEADS: tuple[str, ...] = (
    "toxicity",
    "insult",
    "threat",
    "identity_attack",
    "self_harm",
    "counter_speech",
    "profanity",
)
UNKNOWN = -1


@dataclass(frozen=True)
class HarmRow:
    """One labelled text: ``targets`` maps each head to 1, 0 or :data:`UNKNOWN`."""

    id: str
    text: str
    source: str
    split: str
    targets: dict[str, int] = field(default_factory=dict)
    weight: float = 1.0

    def target(self, head: str) -> int:
        return self.targets.get(head, UNKNOWN)


def hash_split(key: str, *, dev: float = 0.1, test: float = 0.2) -> str:
    """``train``, ``dev`` or ``test`` for ``key``, fixed by its hash (70/10/20 by default)."""
    x = int.from_bytes(hashlib.sha256(f"harm-v1:{key}".encode()).digest()[:8], "big") / 2**64
    return "test" if x < test else "dev" if x < test + dev else "train"
