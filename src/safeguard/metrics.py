"""Counts of one positive class and what they give: precision, recall and F1 with their Wilson score
intervals. The policy evaluation scores actions and rules with it, spam training its held-out split."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Z95", "Metric", "MetricName", "ratio", "round_metric", "wilson_interval"]

#: The two-sided 95% normal quantile.
Z95 = 1.959963984540054
MetricName = Literal["precision", "recall", "f1"]


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for a proportion ``successes / n``; ``None`` when ``n == 0``.

    ``z`` is the normal quantile (the default gives a two-sided 95% interval). Unlike the normal
    approximation, it stays inside [0, 1] and is sensible for proportions near 0 or 1 and small n.
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def ratio(num: int, den: int) -> float | None:
    """``num / den``, or None when there is nothing to divide by."""
    return num / den if den else None


@dataclass(frozen=True)
class Metric:
    """Counts of one positive class: true positives, false positives, false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def predicted(self) -> int:
        """Posts predicted positive (``tp + fp``)."""
        return self.tp + self.fp

    @property
    def support(self) -> int:
        """Posts that are positives (``tp + fn``)."""
        return self.tp + self.fn

    @property
    def precision(self) -> float | None:
        return ratio(self.tp, self.predicted)

    @property
    def recall(self) -> float | None:
        return ratio(self.tp, self.support)

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None if p is None or r is None else 0.0
        return 2 * p * r / (p + r)

    @property
    def precision_ci(self) -> tuple[float, float] | None:
        return wilson_interval(self.tp, self.predicted)

    @property
    def recall_ci(self) -> tuple[float, float] | None:
        return wilson_interval(self.tp, self.support)

    def value(self, name: MetricName) -> float | None:
        """``precision``, ``recall`` or ``f1`` by name."""
        if name == "precision":
            return self.precision
        if name == "recall":
            return self.recall
        return self.f1

    def to_dict(self) -> dict[str, Any]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "predicted": self.predicted,
            "support": self.support,
            "precision": round_metric(self.precision),
            "precision_ci": _round_pair(self.precision_ci),
            "recall": round_metric(self.recall),
            "recall_ci": _round_pair(self.recall_ci),
            "f1": round_metric(self.f1),
        }


def round_metric(value: float | None) -> float | None:
    """A metric as reports print it (six decimals), None kept."""
    return None if value is None else round(value, 6)


def _round_pair(pair: tuple[float, float] | None) -> list[float] | None:
    return None if pair is None else [round(pair[0], 6), round(pair[1], 6)]
