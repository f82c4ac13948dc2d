"""``{backend: cascade, fast: fast, slow: {...}, band: [lo, hi]}``: a cheap model settles most posts.

The fast backend scores every post. Posts whose fast ``toxicity`` lies inside ``band`` (inclusive) are
uncertain and go to the slow backend, whose scores replace the fast ones for them; the others keep the
fast scores. The labels are those both backends give. Each post also gets ``escalated`` (true when the
slow model scored it), and :attr:`CascadeBackend.stats` counts posts seen and escalated, so the share
sent to the slow model is known (``escalated_share``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from safeguard.classifiers.toxicity.backend import Backend, EscalationStats, FloatArray, check_options

__all__ = ["CascadeBackend"]


def _options(value: Any, role: str) -> dict[str, Any]:
    if isinstance(value, str):
        return {"backend": value}
    if isinstance(value, Mapping):
        opts = dict(value)
        if opts.get("backend", "default") == "cascade":
            raise ValueError(f"the cascade's {role} backend cannot itself be a cascade")
        return opts
    raise ValueError(f"{role} must be a backend name or a mapping of backend options, got {value!r}")


class CascadeBackend(EscalationStats, Backend):
    """Options: ``fast`` (default ``fast``), ``slow`` (required), ``band`` (default ``[0.2, 0.8]``)."""

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        fast: Any = "fast",
        slow: Any = None,
        band: Sequence[float] = (0.2, 0.8),
        **options: Any,
    ) -> None:
        from safeguard.classifiers.toxicity.classifier import make_backend

        check_options("cascade", options, ())
        if slow is None:
            raise ValueError("the cascade backend needs slow: {backend: detoxify | transformers | onnx, ...}")
        if (
            isinstance(band, (str, bytes))
            or not isinstance(band, Sequence)
            or len(band) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in band)
            or not 0.0 <= band[0] <= band[1] <= 1.0
        ):
            raise ValueError(f"band must be [lo, hi] with 0 <= lo <= hi <= 1, got {band!r}")
        self.band = (float(band[0]), float(band[1]))
        self.fast = make_backend(_options(fast, "fast"), base_dir=base_dir)
        self.slow = make_backend(_options(slow, "slow"), base_dir=base_dir)
        for role, b in (("fast", self.fast), ("slow", self.slow)):
            if "toxicity" not in b.labels:
                raise ValueError(f"the cascade's {role} backend must give toxicity")
        self.labels = tuple(label for label in self.fast.labels if label in self.slow.labels)
        self.cost = max(self.fast.cost, self.slow.cost)
        self.reset_stats()

    def extra_outputs(self) -> dict[str, type]:
        return {"escalated": bool}

    def load(self) -> None:
        self.fast.load()
        self.slow.load()

    def predict(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        fast = self.fast.predict(texts)
        lo, hi = self.band
        tox = fast["toxicity"]
        uncertain = np.flatnonzero((tox >= lo) & (tox <= hi))
        out = {label: np.array(fast[label], dtype=np.float64) for label in self.labels}
        if len(uncertain):
            slow = self.slow.predict([texts[int(i)] for i in uncertain])
            for label in self.labels:
                out[label][uncertain] = slow[label]
        escalated = np.zeros(len(texts), dtype=bool)
        escalated[uncertain] = True
        out["escalated"] = escalated
        self.count(len(texts), len(uncertain))
        return out
