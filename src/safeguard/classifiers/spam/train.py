"""Train and cross-validate the spam model, in numpy alone (no scikit-learn), deterministically.

::

    texts, labels = read_labelled("history.jsonl", label_field="label", positive="spam")
    report = cross_validate(texts, labels, folds=5, seed=13)   # out-of-fold AUC, precision, recall, F1
    model = train(texts, labels, seed=13)
    model.save("spam-model.json")

Training is full-batch Adam on the L2-regularised logistic loss over a sparse design matrix: binary
word n-grams scaled by ``1/sqrt(n-grams in the text)`` (n-grams seen in at least ``min_df`` training
texts, the ``max_features`` most frequent), then the standardised engineered features. Given the
same data, configuration and seed, the result is the same model.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from safeguard.classifiers.spam.features import extract
from safeguard.classifiers.spam.model import FeatureConfig, SpamModel, ngrams
from safeguard.errors import InputError
from safeguard.metrics import Metric
from safeguard.types import lookup_path

__all__ = [
    "MIN_ROWS",
    "CrossValidation",
    "Metrics",
    "auc",
    "classification_metrics",
    "cross_validate",
    "read_labelled",
    "read_labelled_rows",
    "train",
]

#: Fewest labelled texts ``train`` and ``cross_validate`` accept.
MIN_ROWS = 20


@dataclass(frozen=True)
class Metrics:
    """Ranking and thresholded quality of spam scores against labels."""

    auc: float
    precision: float
    recall: float
    f1: float
    threshold: float
    n: int
    positives: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": round(self.auc, 4),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "threshold": self.threshold,
            "n": self.n,
            "positives": self.positives,
        }


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold metrics of a stratified k-fold cross-validation, and each fold's."""

    overall: Metrics
    folds: list[Metrics]
    seed: int
    scores: list[float] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folds": len(self.folds),
            "seed": self.seed,
            "out_of_fold": self.overall.to_dict(),
            "per_fold": [m.to_dict() for m in self.folds],
        }


def auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic; ties count one half). NaN with one class."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # Average ranks over ties.
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def classification_metrics(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, threshold: float = 0.5
) -> Metrics:
    """AUC, and precision, recall and F1 of ``score >= threshold`` (0 where undefined)."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    predicted = s >= threshold
    counts = Metric(tp=int(np.sum(predicted & y)), fp=int(np.sum(predicted & ~y)), fn=int(np.sum(~predicted & y)))
    precision, recall, f1 = (v or 0.0 for v in (counts.precision, counts.recall, counts.f1))
    return Metrics(auc(y, s), precision, recall, f1, threshold, len(y), int(y.sum()))


def read_labelled(
    path: str | Path,
    *,
    text_field: str = "text",
    label_field: str = "label",
    positive: str = "spam",
    format: str | None = None,
) -> tuple[list[str], list[int]]:
    """Texts and 0/1 labels from a JSONL, CSV or Parquet file (label == ``positive`` is 1).

    Records whose label is null or empty are skipped (unlabelled). Raises :class:`InputError` for an
    unreadable record, a record without the text or label field, or a non-string text.
    """
    texts, labels, _ = read_labelled_rows(
        path, text_field=text_field, label_field=label_field, positive=positive, format=format
    )
    return texts, labels


def read_labelled_rows(
    path: str | Path,
    *,
    text_field: str = "text",
    label_field: str = "label",
    positive: str = "spam",
    format: str | None = None,
    id_field: str | None = None,
) -> tuple[list[str], list[int], list[str] | None]:
    """As :func:`read_labelled`, plus each labelled row's ``id_field`` value as a string (None when
    ``id_field`` is None or some labelled row lacks it), read in the same pass."""
    from safeguard.io.readers import read_records

    texts: list[str] = []
    labels: list[int] = []
    ids: list[str] | None = [] if id_field is not None else None
    for record in read_records(path, format=format):
        if record.data is None:
            raise InputError(f"{record.source}: {record.error}", line=record.line)
        found, label = lookup_path(record.data, label_field)
        if not found:
            fields = ", ".join(sorted(record.data)) or "none"
            raise InputError(
                f"{record.source}: no label field {label_field!r} (fields: {fields}); name the label field",
                line=record.line,
            )
        if label is None or label == "":
            continue
        found, text = lookup_path(record.data, text_field)
        if not found or not isinstance(text, str):
            what = "no" if not found else f"a non-string ({type(text).__name__})"
            raise InputError(
                f"{record.source}: {what} text field {text_field!r}; name the text field", line=record.line
            )
        texts.append(text)
        labels.append(1 if str(label) == positive else 0)
        if ids is not None and id_field is not None:
            found, value = lookup_path(record.data, id_field)
            if found:
                ids.append(str(value))
            else:
                ids = None
    return texts, labels, ids


def _check_training_set(texts: Sequence[str], labels: Sequence[int], positive: str = "spam") -> None:
    if len(texts) != len(labels):
        raise InputError(f"{len(texts)} texts but {len(labels)} labels")
    if len(texts) < MIN_ROWS:
        raise InputError(f"too few labelled rows to train: {len(texts)} (need at least {MIN_ROWS})")
    n_pos = sum(1 for y in labels if y)
    if n_pos == 0 or n_pos == len(labels):
        only = f"all {positive!r}" if n_pos else f"none is {positive!r}"
        raise InputError(
            f"the labels have a single class ({only} among {len(labels)} rows): "
            "check the label field and the positive value"
        )


class _Design:
    """Sparse (CSR) token part and dense engineered part of a design matrix."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, dense: np.ndarray, width: int):
        self.indptr = indptr
        self.indices = indices
        self.values = values
        self.rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        self.dense = dense
        self.width = width

    def dot(self, w_tokens: np.ndarray, w_dense: np.ndarray) -> np.ndarray:
        n = len(self.indptr) - 1
        sparse = np.bincount(self.rows, weights=self.values * w_tokens[self.indices], minlength=n)
        out: np.ndarray = sparse + self.dense @ w_dense
        return out

    def tdot(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tokens = np.bincount(self.indices, weights=self.values * g[self.rows], minlength=self.width)
        return tokens, self.dense.T @ g


def _featurise(
    texts: Sequence[str], config: FeatureConfig, vocabulary: dict[str, int] | None
) -> tuple[list[set[str]], np.ndarray, dict[str, int]]:
    grams = [ngrams(t, config.ngram_max) for t in texts]
    dense = np.array([extract(t).vector() for t in texts], dtype=np.float64)
    if vocabulary is None:
        df: Counter[str] = Counter()
        for g in grams:
            df.update(g)
        kept = [(c, tok) for tok, c in df.items() if c >= config.min_df]
        kept.sort(key=lambda x: (-x[0], x[1]))
        vocabulary = {tok: i for i, (_, tok) in enumerate(sorted(kept[: config.max_features], key=lambda x: x[1]))}
    return grams, dense, vocabulary


def _design(
    grams: list[set[str]], dense: np.ndarray, vocabulary: dict[str, int], mean: Any, scale: Any, config: FeatureConfig
) -> _Design:
    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    for g in grams:
        cols = sorted(vocabulary[t] for t in g if t in vocabulary)
        indices.extend(cols)
        values.extend([config.token_scale(len(g))] * len(cols))
        indptr.append(len(indices))
    return _Design(
        np.asarray(indptr, dtype=np.int64),
        np.asarray(indices, dtype=np.int64),
        np.asarray(values, dtype=np.float64),
        (dense - mean) / scale,
        len(vocabulary),
    )


def train(
    texts: Sequence[str],
    labels: Sequence[int],
    config: FeatureConfig | None = None,
    *,
    seed: int = 0,
    metadata: dict[str, Any] | None = None,
) -> SpamModel:
    """Fit a :class:`SpamModel` on ``texts`` with 0/1 ``labels``. Deterministic for the same inputs.

    ``seed`` is recorded; full-batch training itself has no randomness. Raises :class:`InputError` for
    fewer than :data:`MIN_ROWS` texts or a single class.
    """
    cfg = config or FeatureConfig()
    _check_training_set(texts, labels)
    y = np.asarray(labels, dtype=np.float64)
    grams, dense, vocabulary = _featurise(texts, cfg, None)
    mean = dense.mean(axis=0)
    scale = dense.std(axis=0)
    scale[scale < 1e-9] = 1.0
    design = _design(grams, dense, vocabulary, mean, scale, cfg)
    n = len(y)
    p = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    params = [np.zeros(design.width), np.zeros(dense.shape[1]), np.array([math.log(p / (1 - p))])]
    moments = [(np.zeros_like(x), np.zeros_like(x)) for x in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, cfg.iterations + 1):
        z = design.dot(params[0], params[1]) + params[2][0]
        err = (1.0 / (1.0 + np.exp(-np.clip(z, -35, 35))) - y) / n
        g_tokens, g_dense = design.tdot(err)
        grads = [g_tokens + cfg.l2 * params[0], g_dense + cfg.l2 * params[1], np.array([err.sum()])]
        for i, (param, grad) in enumerate(zip(params, grads, strict=True)):
            m, v = moments[i]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            m_hat = m / (1 - beta1**step)
            v_hat = v / (1 - beta2**step)
            param -= cfg.learning_rate * m_hat / (np.sqrt(v_hat) + eps)
    inverse = sorted(vocabulary, key=vocabulary.__getitem__)
    tokens = {tok: round(float(w), 6) for tok, w in zip(inverse, params[0], strict=True) if abs(w) >= 1e-6}
    meta = {"rows": n, "positives": int(y.sum()), "seed": seed, **(metadata or {})}
    return SpamModel(
        config=cfg,
        bias=round(float(params[2][0]), 6),
        tokens=tokens,
        mean=mean,
        scale=scale,
        weights=np.round(params[1], 6),
        metadata=meta,
    )


def _stratified_folds(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=np.int64)
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        assignment[idx] = np.arange(len(idx)) % folds
    return assignment


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[int],
    config: FeatureConfig | None = None,
    *,
    folds: int = 5,
    seed: int = 0,
    threshold: float = 0.5,
) -> CrossValidation:
    """Stratified ``folds``-fold cross-validation: each text is scored by a model that did not see it.

    Returns the out-of-fold metrics over all texts and each fold's. Deterministic for a given ``seed``.
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    _check_training_set(texts, labels)
    y = np.asarray(labels, dtype=np.int64)
    if min(int(y.sum()), len(y) - int(y.sum())) < folds:
        raise InputError(f"too few examples of one class for {folds} folds: need at least {folds} of each")
    assignment = _stratified_folds(y, folds, seed)
    oof = np.zeros(len(y))
    per_fold: list[Metrics] = []
    for k in range(folds):
        train_idx = np.flatnonzero(assignment != k)
        test_idx = np.flatnonzero(assignment == k)
        model = train([texts[int(i)] for i in train_idx], [int(y[i]) for i in train_idx], config, seed=seed)
        scores = model.scores([texts[int(i)] for i in test_idx])
        oof[test_idx] = scores
        per_fold.append(classification_metrics(y[test_idx], scores, threshold))
    return CrossValidation(classification_metrics(y, oof, threshold), per_fold, seed, [float(s) for s in oof])


def split(
    texts: Sequence[str], labels: Sequence[int], *, test_fraction: float = 0.25, seed: int = 0
) -> tuple[list[str], list[int], list[str], list[int]]:
    """A stratified fixed-seed split: ``(train_texts, train_labels, test_texts, test_labels)``."""
    y = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        idx = idx[rng.permutation(len(idx))]
        test[idx[: round(len(idx) * test_fraction)]] = True
    tr = np.flatnonzero(~test)
    te = np.flatnonzero(test)
    return (
        [texts[int(i)] for i in tr],
        [int(y[i]) for i in tr],
        [texts[int(i)] for i in te],
        [int(y[i]) for i in te],
    )


def labelled_eval(name: str, positive: str = "spam") -> tuple[list[str], list[int]]:
    """Texts and 0/1 labels of a labelled evaluation set in ../shared/eval (see :mod:`safeguard.datasets`)."""
    from safeguard.datasets import read_eval

    texts: list[str] = []
    labels: list[int] = []
    for row in read_eval(name):
        if row.get("label") is None:
            continue
        texts.append(row["text"])
        labels.append(1 if row["label"] == positive else 0)
    return texts, labels
