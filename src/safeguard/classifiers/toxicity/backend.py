"""What every toxicity backend provides, and the batching shared by the model-backed ones."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from safeguard.classifiers.base import Cost
from safeguard.cpus import available

__all__ = [
    "DETOXIFY_LABELS",
    "KNOWN_LABELS",
    "Backend",
    "EscalationStats",
    "activate",
    "batched_scores",
    "cached_model",
    "check_options",
    "cpu_count",
    "standard_label",
]

FloatArray = npt.NDArray[np.float64]

#: Detoxify's label names, in its order.
DETOXIFY_LABELS: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
)
#: Every label a backend may give.
KNOWN_LABELS: tuple[str, ...] = (*DETOXIFY_LABELS, "self_harm")

#: Names some checkpoints use for Detoxify's labels (Detoxify renames them the same way).
_LABEL_ALIASES = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}

#: Posts per forward pass on CPU: larger batches pad more and gain nothing.
DEFAULT_BATCH_SIZE = 8


def activate(logits: npt.NDArray[np.floating[Any]], activation: str) -> npt.NDArray[np.float64]:
    """Probabilities from raw outputs: ``sigmoid`` per class (multi-label) or ``softmax`` across classes."""
    x = np.asarray(logits, dtype=np.float64)
    if activation == "softmax":
        shifted = np.exp(x - x.max(axis=1, keepdims=True))
        out: npt.NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
        return out
    sig: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-x))
    return sig


def standard_label(name: str) -> str:
    """Detoxify's name for a class name found in a checkpoint or model config."""
    return _LABEL_ALIASES.get(name, name)


def cpu_count() -> int:
    """CPUs this process may run on (its share of them in a worker process: :mod:`safeguard.cpus`)."""
    return available()


class Backend:
    """A source of toxicity scores. Constructors validate options only; :meth:`load` does the heavy work."""

    #: The labels :meth:`predict` returns, known before loading.
    labels: tuple[str, ...] = ()
    cost: Cost = Cost.MODEL

    def load(self) -> None:
        """Import dependencies and load the model (idempotent)."""

    def predict(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        """Scores in [0, 1] for every label in :attr:`labels`, one value per text, in order."""
        raise NotImplementedError

    def extra_outputs(self) -> dict[str, type]:
        """Signals beside the labels (the cascade's routing flag)."""
        return {}


class EscalationStats:
    """Mixin for cascades: counts of the posts seen and sent on to the slower model, safe across threads.
    ``stats`` is ``{"posts": N, "escalated": M}``; call :meth:`reset_stats` in the constructor."""

    stats: dict[str, int]

    def reset_stats(self) -> None:
        self.stats = {"posts": 0, "escalated": 0}
        self._stats_lock = threading.Lock()

    def count(self, posts: int, escalated: int) -> None:
        with self._stats_lock:
            self.stats["posts"] += posts
            self.stats["escalated"] += escalated

    @property
    def escalated_share(self) -> float:
        """Share of the posts seen so far that went to the slower model."""
        return self.stats["escalated"] / self.stats["posts"] if self.stats["posts"] else 0.0


def batched_scores(
    texts: Sequence[str],
    run: Callable[[list[str]], npt.NDArray[np.floating[Any]]],
    width: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    length: Callable[[str], int] = len,
) -> npt.NDArray[np.float64]:
    """Score ``texts`` with ``run`` (a batch of texts -> array of shape (batch, width)).

    Identical texts are scored once; the distinct texts are sorted by ``length`` and cut into batches
    of ``batch_size`` so each batch pads little; results come back in input order.
    """
    out = np.zeros((len(texts), width), dtype=np.float64)
    if not texts:
        return out
    index: dict[str, int] = {}
    where = np.empty(len(texts), dtype=np.int64)
    unique: list[str] = []
    for i, text in enumerate(texts):
        j = index.get(text)
        if j is None:
            j = index[text] = len(unique)
            unique.append(text)
        where[i] = j
    order = sorted(range(len(unique)), key=lambda k: length(unique[k]))
    scores = np.zeros((len(unique), width), dtype=np.float64)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        result = np.asarray(run([unique[k] for k in chunk]), dtype=np.float64)
        if result.shape != (len(chunk), width):
            raise RuntimeError(f"model returned shape {result.shape}, expected {(len(chunk), width)}")
        scores[chunk] = result
    out[:] = scores[where]
    return out


_T = TypeVar("_T")
_model_cache: dict[Hashable, Any] = {}
_cache_lock = threading.Lock()
_key_locks: dict[Hashable, threading.Lock] = {}


def cached_model(key: Hashable, build: Callable[[], _T]) -> _T:
    """The object built for ``key`` in this process: models are loaded once, however many instances ask."""
    with _cache_lock:
        if key in _model_cache:
            return _model_cache[key]  # type: ignore[no-any-return]
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _model_cache:
                return _model_cache[key]  # type: ignore[no-any-return]
        value = build()
        with _cache_lock:
            _model_cache[key] = value
        return value


def check_options(backend: str, options: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Raise ValueError naming unknown options of ``backend``."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) for toxicity backend {backend!r}: {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'})"
        )
