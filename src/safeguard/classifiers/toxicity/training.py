"""Training the harm heads: the fast tier over hashed n-grams, the model tier over sentence embeddings.

Both fit one L2-regularised logistic regression per head with scikit-learn (training only: running a
trained model needs numpy alone), on the rows whose target for that head is known, weighting each
source by ``1/sqrt(rows of that source)`` so that no single corpus decides, and positives up to the
square root of the class ratio (at most 10x). Each head is then calibrated (Platt scaling) on the
``dev`` rows when they hold at least 20 positives, else on 3-fold out-of-fold margins of the training
rows. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard.classifiers.spam.train import auc
from safeguard.classifiers.toxicity.features import HashedNgrams
from safeguard.classifiers.toxicity.harmdata import HEADS, UNKNOWN, HarmRow

__all__ = [
    "Adaptation",
    "Blend",
    "Head",
    "adapt_head",
    "auc",
    "design_matrix",
    "fit_blends",
    "fit_dense_heads",
    "fit_heads",
    "row_weights",
]

FloatArray = npt.NDArray[np.float64]


def _sklearn() -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("training harm models needs scikit-learn: pip install 'safeguard[train]'") from exc
    return LogisticRegression


def design_matrix(extractor: HashedNgrams, texts: Sequence[str], *, chunk: int = 5000) -> Any:
    """The sparse (CSR) feature matrix of already normalised ``texts``."""
    from scipy import sparse

    blocks = []
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        row, col, value = extractor.pairs(part)
        blocks.append(sparse.csr_matrix((value, (row, col)), shape=(len(part), extractor.width), dtype=np.float64))
    if not blocks:
        return sparse.csr_matrix((0, extractor.width))
    return sparse.vstack(blocks, format="csr")


def row_weights(rows: Sequence[HarmRow]) -> FloatArray:
    """``weight/sqrt(n)`` for a row of a source with ``n`` rows, scaled to mean 1."""
    counts = Counter(r.source for r in rows)
    w = np.array([r.weight / math.sqrt(counts[r.source]) for r in rows])
    return w * (len(w) / w.sum()) if len(w) else w


@dataclass
class Head:
    """One fitted head: weights over the features, bias, Platt calibration and how it was calibrated."""

    name: str
    coef: FloatArray
    bias: float
    calib_a: float
    calib_b: float
    calibrated_on: str
    train_rows: int
    positives: int


def _platt(margin: FloatArray, y: npt.NDArray[np.bool_], weight: FloatArray) -> tuple[float, float]:
    lr = _sklearn()(C=1e4, max_iter=1000)
    lr.fit(margin.reshape(-1, 1), y, sample_weight=weight)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def fit_heads(
    x: Any,
    rows: Sequence[HarmRow],
    *,
    heads: Sequence[str] = HEADS,
    c: float | Sequence[float] = 4.0,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> list[Head]:
    """Fit one head per name in ``heads`` on design matrix ``x`` (one row per entry of ``rows``)."""
    logistic = _sklearn()
    splits = np.array([r.split for r in rows])
    cs = [float(c)] * len(heads) if isinstance(c, (int, float)) else [float(v) for v in c]
    out: list[Head] = []
    for head, c_head in zip(heads, cs, strict=True):
        target = np.array([r.target(head) for r in rows])
        known = target != UNKNOWN
        train = np.flatnonzero(known & (splits == "train"))
        dev = np.flatnonzero(known & (splits == "dev"))
        y = target == 1
        w = row_weights([rows[i] for i in train.tolist()])
        pos = int(y[train].sum())
        neg = len(train) - pos
        if pos == 0 or neg == 0:
            raise ValueError(f"head {head!r}: the training rows hold only one class")
        w = np.where(y[train], w * min(10.0, math.sqrt(neg / pos)), w)

        def fit(
            idx: npt.NDArray[np.int64], weight: FloatArray, *, c_value: float = c_head, y: npt.NDArray[np.bool_] = y
        ) -> Any:
            model = logistic(C=c_value, solver="liblinear", max_iter=200, tol=1e-3, random_state=seed)
            model.fit(x[idx], y[idx], sample_weight=weight)
            return model

        model = fit(train, w)
        coef = np.asarray(model.coef_[0], dtype=np.float64)
        bias = float(model.intercept_[0])
        if int(y[dev].sum()) >= 20 and int((~y[dev]).sum()) >= 20:
            margin = x[dev] @ coef + bias
            a, b = _platt(margin, y[dev], row_weights([rows[i] for i in dev.tolist()]))
            calibrated_on = f"dev ({len(dev)} rows)"
        else:
            rng = np.random.default_rng(seed)
            fold = rng.integers(0, 3, len(train))
            margin = np.empty(len(train))
            for k in range(3):
                inner = fold != k
                m = fit(train[inner], w[inner])
                margin[~inner] = x[train[~inner]] @ m.coef_[0] + m.intercept_[0]
            a, b = _platt(margin, y[train], row_weights([rows[i] for i in train.tolist()]))
            calibrated_on = f"3-fold out-of-fold training rows ({len(train)} rows)"
        if a <= 0:
            a, b = 1.0, 0.0  # a head no better than chance on held-out data keeps its raw margin
        out.append(Head(head, coef, bias, a, b, calibrated_on, len(train), pos))
        if log is not None:
            log(f"{head}: {len(train)} rows, {pos} positive, C={c_head}; calibrated on {calibrated_on}")
    return out


@dataclass
class Adaptation:
    """What :func:`adapt_head` did: the adapted heads and the held-out comparison with the base."""

    heads: Any
    head: str
    train_rows: int
    heldout_rows: int
    heldout_positives: int
    base_auc: float
    adapted_auc: float


def adapt_head(
    base: Any,
    normalized: Sequence[str],
    labels: Sequence[bool],
    *,
    head: str = "toxicity",
    dense: npt.NDArray[np.floating[Any]] | None = None,
    ids: Sequence[str] | None = None,
    heldout: float = 0.2,
    c: float = 1.0,
    seed: int = 0,
) -> Adaptation:
    """Retrain ``head`` of ``base`` (a :class:`~.heads.HarmHeads`) on a community's own verdicts.

    The new head is a logistic regression over the base head's margin and the same n-gram (and dense)
    features, so it starts from what the base knows and learns the community's corrections; it folds
    back into one weight vector, so the result is a heads file of the same shape. Rows are split by a
    hash of ``ids`` (the row numbers when absent): ``heldout`` of them never train or calibrate anything
    and give the AUC of the base head and of the adapted one. Other heads are kept unchanged.
    """
    from scipy import sparse

    from safeguard.classifiers.toxicity.harmdata import hash_split

    if head not in base.labels:
        raise ValueError(f"the base model has no head {head!r} (heads: {', '.join(base.labels)})")
    y = np.asarray(labels, dtype=bool)
    if len(y) != len(normalized):
        raise ValueError("one label per text is needed")
    keys = [str(i) for i in range(len(y))] if ids is None else [str(i) for i in ids]
    test_share = float(heldout)
    is_test = np.array([hash_split(k, dev=0.0, test=test_share) == "test" for k in keys])
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    for name, idx in (("training", train), ("held-out", test)):
        if y[idx].all() or not y[idx].any():
            raise ValueError(f"the {name} rows hold only one class: more labelled rows of both kinds are needed")
    j = base.labels.index(head)
    x = design_matrix(base.extractor, normalized)
    margin = base.margins(normalized, dense)[:, j]
    blocks = [x] if dense is None or not base.dense_dim else [x, sparse.csr_matrix(np.asarray(dense, np.float64))]
    design = sparse.hstack([*blocks, sparse.csr_matrix(margin.reshape(-1, 1))], format="csr")
    w = np.ones(len(train))
    pos = int(y[train].sum())
    w[y[train]] *= min(10.0, math.sqrt((len(train) - pos) / pos))
    model = _sklearn()(C=c, solver="liblinear", max_iter=500, tol=1e-4, random_state=seed)
    model.fit(design[train], y[train], sample_weight=w)
    coef = np.asarray(model.coef_[0], dtype=np.float64)
    k = coef[-1]  # weight on the base margin
    width = base.extractor.width
    new_sparse = base.weights.astype(np.float64)
    new_sparse[:, j] = k * new_sparse[:, j] + coef[:width]
    new_dense = base.dense.copy()
    if base.dense_dim and dense is not None:
        new_dense[:, j] = k * new_dense[:, j] + coef[width : width + base.dense_dim]
    bias = base.bias.copy()
    bias[j] = k * base.bias[j] + float(model.intercept_[0])
    new_margin = design @ coef + float(model.intercept_[0])
    a, b = _platt(new_margin[train], y[train], np.ones(len(train)))
    calib_a, calib_b = base.calib_a.copy(), base.calib_b.copy()
    calib_a[j], calib_b[j] = (a, b) if a > 0 else (1.0, 0.0)
    meta = dict(base.meta)
    meta["adapted"] = {"head": head, "rows": len(train), "positives": pos}
    heads = type(base)(
        base.extractor, base.labels, new_sparse, bias, calib_a, calib_b, meta, new_dense if base.dense_dim else None
    )
    return Adaptation(
        heads,
        head,
        len(train),
        len(test),
        int(y[test].sum()),
        auc(y[test], margin[test]),
        auc(y[test], new_margin[test]),
    )


def fit_dense_heads(
    emb: npt.NDArray[np.floating[Any]],
    rows: Sequence[HarmRow],
    *,
    heads: Sequence[str] = HEADS,
    c: float = 1.0,
    seed: int = 0,
) -> list[Head]:
    """One logistic head per name over dense features (sentence embeddings), weighted as :func:`fit_heads`,
    calibrated on 3-fold out-of-fold margins of the training rows."""
    logistic = _sklearn()
    x = np.asarray(emb, dtype=np.float64)
    splits = np.array([r.split for r in rows])
    out: list[Head] = []
    for head in heads:
        target = np.array([r.target(head) for r in rows])
        train = np.flatnonzero((target != UNKNOWN) & (splits == "train"))
        y = target[train] == 1
        pos = int(y.sum())
        w = row_weights([rows[i] for i in train.tolist()])
        w = np.where(y, w * min(10.0, math.sqrt((len(train) - pos) / max(pos, 1))), w)

        def fit(
            idx: npt.NDArray[np.int64],
            train: npt.NDArray[np.int64] = train,
            y: npt.NDArray[np.bool_] = y,
            w: FloatArray = w,
        ) -> Any:
            model = logistic(C=c, max_iter=2000, random_state=seed)
            model.fit(x[train[idx]], y[idx], sample_weight=w[idx])
            return model

        model = fit(np.arange(len(train)))
        fold = np.random.default_rng(seed).integers(0, 3, len(train))
        margin = np.empty(len(train))
        for k in range(3):
            m = fit(np.flatnonzero(fold != k))
            margin[fold == k] = x[train[fold == k]] @ m.coef_[0] + m.intercept_[0]
        a, b = _platt(margin, y, row_weights([rows[i] for i in train.tolist()]))
        out.append(
            Head(
                head,
                model.coef_[0].astype(np.float64),
                float(model.intercept_[0]),
                a,
                b,
                "3-fold out-of-fold",
                len(train),
                pos,
            )
        )
    return out


@dataclass
class Blend:
    """How a head of the model tier mixes the n-gram head and the embedding head: ``margin = a * sparse +
    b * dense + c`` over their raw margins, fitted on ``fitted_on``."""

    a: float
    b: float
    c: float
    fitted_on: str


def fit_blends(
    sparse_margin: FloatArray,
    dense_margin: FloatArray,
    rows: Sequence[HarmRow],
    sparse_heads: Sequence[Head],
    dense_heads: Sequence[Head],
) -> list[Blend]:
    """Per head, a logistic regression over the two raw margins on the ``dev`` rows (held out from both
    heads) when they hold at least 20 positives and 20 negatives; otherwise the mean of the two heads'
    calibrated logits. The result is a calibrated probability either way."""
    splits = np.array([r.split for r in rows])
    out: list[Blend] = []
    for j, (sh, dh) in enumerate(zip(sparse_heads, dense_heads, strict=True)):
        target = np.array([r.target(sh.name) for r in rows])
        dev = np.flatnonzero((target != UNKNOWN) & (splits == "dev"))
        y = target[dev] == 1
        if int(y.sum()) >= 20 and int((~y).sum()) >= 20:
            lr = _sklearn()(C=100.0, max_iter=1000)
            x = np.stack([sparse_margin[dev, j], dense_margin[dev, j]], axis=1)
            lr.fit(x, y, sample_weight=row_weights([rows[i] for i in dev.tolist()]))
            a, b = (float(v) for v in lr.coef_[0])
            out.append(Blend(a, b, float(lr.intercept_[0]), f"dev ({len(dev)} rows)"))
        else:
            out.append(
                Blend(
                    sh.calib_a / 2,
                    dh.calib_a / 2,
                    (sh.calib_b + dh.calib_b) / 2,
                    "mean of the calibrated heads",
                )
            )
    return out
