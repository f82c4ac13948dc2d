"""The spam model: a logistic regression over word n-grams and the engineered features, in numpy.

A model file is JSON (never pickle)::

    {
      "format": "safeguard-spam-model",
      "format_version": 1,
      "features": {"ngram_max": 2, "min_df": 2, "max_features": 50000, "l2": 1e-4, ...},
      "bias": -1.2,
      "tokens": {"subscribe": 2.31, "check out": 1.9, ...},
      "engineered": {"names": [...], "mean": [...], "scale": [...], "weights": [...]},
      "metadata": {"training_data": ..., "metrics": ..., "created_by": ...}
    }

The score of a text is ``sigmoid(bias + sum(tokens[t] for t in T) / sqrt(|T|) + w . (v - mean) / scale)``,
where ``T`` is the set of distinct word n-grams of the lowercased text (unigrams up to
``ngram_max``-grams; n-grams the model does not know count in ``|T|`` with weight 0) and ``v`` is
:meth:`~safeguard.classifiers.spam.features.TextFeatures.vector`.

A reader accepts files whose ``format_version`` it knows (:data:`FORMAT_VERSION`); anything else is a
:class:`~safeguard.errors.ModelLoadError` that names the file and says what to do.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from safeguard.classifiers.spam.features import VECTOR_NAMES, TextFeatures, extract
from safeguard.errors import ModelLoadError
from safeguard.files import UnsafeFileError, read_bounded_text

__all__ = [
    "DEFAULT_MODEL_PATH",
    "FORMAT",
    "FORMAT_VERSION",
    "FeatureConfig",
    "SpamModel",
    "ngrams",
]

FORMAT = "safeguard-spam-model"
FORMAT_VERSION = 1
DEFAULT_MODEL_PATH = Path(__file__).with_name("data") / "default_model.json"

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_MAX_WORD = 40
#: Largest spam model file read (the shipped one is about 400 kB).
MAX_MODEL_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class FeatureConfig:
    """How texts become model inputs, and the training settings; stored in the model file."""

    ngram_max: int = 2
    min_df: int = 2
    max_features: int = 50_000
    l2: float = 1e-4
    iterations: int = 400
    learning_rate: float = 0.05
    norm: str = "sqrt"

    def __post_init__(self) -> None:
        if not 1 <= self.ngram_max <= 3:
            raise ValueError(f"ngram_max must be 1, 2 or 3, got {self.ngram_max}")
        if self.min_df < 1:
            raise ValueError(f"min_df must be at least 1, got {self.min_df}")
        if self.max_features < 1:
            raise ValueError(f"max_features must be at least 1, got {self.max_features}")
        if not (self.l2 >= 0 and math.isfinite(self.l2)):
            raise ValueError(f"l2 must be a finite number >= 0, got {self.l2}")
        if self.iterations < 1:
            raise ValueError(f"iterations must be at least 1, got {self.iterations}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a finite number > 0, got {self.learning_rate}")
        if self.norm not in ("sqrt", "mean"):
            raise ValueError(f"norm must be 'sqrt' or 'mean', got {self.norm!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ngram_max": self.ngram_max,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "l2": self.l2,
            "iterations": self.iterations,
            "learning_rate": self.learning_rate,
            "norm": self.norm,
        }

    def token_scale(self, n_grams: int) -> float:
        """Weight of each n-gram of a text with ``n_grams`` distinct n-grams."""
        n = max(1, n_grams)
        return 1.0 / (math.sqrt(n) if self.norm == "sqrt" else n)


def ngrams(text: str, ngram_max: int = 2) -> set[str]:
    """Distinct word n-grams (1 to ``ngram_max`` words, joined by a space) of the lowercased text."""
    words = _WORD.findall(text.lower())
    if any(len(w) > _MAX_WORD for w in words):
        words = [w for w in words if len(w) <= _MAX_WORD]
    grams = set(words)
    if ngram_max >= 2:
        grams.update(map(" ".join, itertools.pairwise(words)))
    if ngram_max >= 3:
        grams.update(map(" ".join, zip(words, words[1:], words[2:], strict=False)))
    return grams


@dataclass
class SpamModel:
    """A loaded spam model: scores texts in [0, 1]."""

    config: FeatureConfig
    bias: float
    tokens: dict[str, float]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Fold the standardisation into the engineered weights: w . (v - m) / s = (w / s) . v - (w / s) . m
        self._folded = self.weights / self.scale
        self._offset = self.bias - float(self._folded @ self.mean)
        self._folded_list: list[float] = [float(x) for x in self._folded]

    def score_features(self, text: str, features: TextFeatures) -> float:
        """Spam probability of ``text`` whose features were already extracted."""
        grams = ngrams(text, self.config.ngram_max)
        z = self._offset
        if grams:
            tokens = self.tokens
            # fsum is exact, so the score does not depend on the set's (per-process) iteration order.
            z += math.fsum([tokens[g] for g in grams if g in tokens]) * self.config.token_scale(len(grams))
        z += sum(w * v for w, v in zip(self._folded_list, features.vector(), strict=True))
        return _sigmoid(z)

    def score(self, text: str) -> float:
        """Spam probability of ``text`` in [0, 1]."""
        return self.score_features(text, extract(text))

    def scores(self, texts: Sequence[str]) -> list[float]:
        """Spam probabilities of many texts."""
        return [self.score(t) for t in texts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "features": self.config.to_dict(),
            "bias": self.bias,
            "tokens": dict(sorted(self.tokens.items())),
            "engineered": {
                "names": list(VECTOR_NAMES),
                "mean": [float(x) for x in self.mean],
                "scale": [float(x) for x in self.scale],
                "weights": [float(x) for x in self.weights],
            },
            "metadata": self.metadata,
        }

    def save(self, path: str | Path) -> None:
        """Write the model as JSON (UTF-8, stable key order)."""
        data = json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))
        Path(path).write_text(data + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> SpamModel:
        """Read a model file; :class:`ModelLoadError` names the file and what to do when it is unusable."""
        p = Path(path)
        try:
            raw = read_bounded_text(p, MAX_MODEL_BYTES, what="spam model")
        except UnsafeFileError as exc:
            raise ModelLoadError("spam", f"cannot read model file {str(p)!r}: {exc.reason}") from None
        except FileNotFoundError:
            raise ModelLoadError(
                "spam", f"model file {str(p)!r} not found: train one with `safeguard train spam INPUT -o {p}`"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelLoadError("spam", f"cannot read model file {str(p)!r}: {exc}") from None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(
                "spam",
                f"model file {str(p)!r} is not valid JSON ({exc.msg} at line {exc.lineno}): it is corrupt or not a "
                "spam model; retrain it with `safeguard train spam`",
            ) from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ModelLoadError("spam", f"model file {str(p)!r}: {exc}") from None

    @classmethod
    def from_dict(cls, data: Any) -> SpamModel:
        """Build a model from its JSON form; ``ValueError`` says what is wrong."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f'not a safeguard spam model (expected "format": {FORMAT!r})')
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"format_version {version!r} is not supported by this safeguard (it reads version {FORMAT_VERSION}): "
                "retrain the model with this version's `safeguard train spam`, or upgrade safeguard"
            )
        try:
            config = FeatureConfig(**dict(data["features"]))
            bias = float(data["bias"])
            tokens = {str(k): float(v) for k, v in dict(data["tokens"]).items()}
            eng = dict(data["engineered"])
            names = list(eng["names"])
            mean = np.asarray(eng["mean"], dtype=np.float64)
            scale = np.asarray(eng["scale"], dtype=np.float64)
            weights = np.asarray(eng["weights"], dtype=np.float64)
            metadata = dict(data.get("metadata") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"missing or malformed field: {exc}") from None
        if names != list(VECTOR_NAMES):
            raise ValueError(f"engineered features {names} differ from this safeguard's {list(VECTOR_NAMES)}: retrain")
        n = len(VECTOR_NAMES)
        if not (mean.shape == scale.shape == weights.shape == (n,)):
            raise ValueError(f"engineered mean, scale and weights must each have {n} numbers")
        values = np.concatenate([mean, scale, weights, [bias], np.fromiter(tokens.values(), float, len(tokens))])
        if not np.all(np.isfinite(values)):
            raise ValueError("holds a non-finite number")
        if np.any(scale <= 0):
            raise ValueError("engineered scale must be positive")
        return cls(config, bias, tokens, mean, scale, weights, metadata)


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
