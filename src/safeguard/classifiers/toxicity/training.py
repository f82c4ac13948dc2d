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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard.classifiers.spam.train import auc
from safeguard.classifiers.toxicity.features import HashedNgrams
from safeguard.classifiers.toxicity.harmdata import HEADS, UNKNOWN, HarmRow
from safeguard.errors import install_hint

__all__ = [
    "Adaptation",
    "Blend",
    "Head",
    "LinearHeads",
    "adapt_head",
    "auc",
    "design_matrix",
    "fit_blends",
    "fit_dense_heads",
    "fit_heads",
    "fold_blends",
    "row_weights",
]

FloatArray = npt.NDArray[np.float64]


def _sklearn() -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"training harm models needs scikit-learn: {install_hint('train')}") from exc
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
    """How a head mixes raw head margins: ``margin = sum(weight * inputs[k][:, label]) + c`` over its
    ``terms`` ``(k, label, weight)``, fitted on ``fitted_on``. The result is a calibrated logit."""

    terms: list[tuple[int, str, float]]
    c: float
    fitted_on: str


@dataclass
class LinearHeads:
    """Heads whose margins are linear in the features: ``sparse`` (buckets x labels) over the n-grams,
    ``dense`` (dims x labels) over an embedding, or both, plus ``bias``; so a blend of them folds back
    into heads of the same kind."""

    labels: tuple[str, ...]
    bias: FloatArray
    sparse: FloatArray | None = None
    dense: FloatArray | None = None


def fit_blends(
    margins: Sequence[FloatArray],
    labels: Sequence[str],
    rows: Sequence[HarmRow],
    calibrations: Sequence[Sequence[tuple[float, float]]],
    *,
    extra: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Blend]:
    """Per head, a logistic regression over the raw margins of that head in each of ``margins`` (one
    ``rows x labels`` array per input model) and of the heads ``extra`` names for it (``{"toxicity":
    ["profanity"]}``: swearing is part of toxicity), fitted on the ``dev`` rows (held out from every
    input) when they hold at least 20 positives and 20 negatives; otherwise the mean of the inputs'
    calibrated logits of the head itself (``calibrations[k][j]`` = Platt ``(a, b)`` of input ``k``,
    head ``j``)."""
    splits = np.array([r.split for r in rows])
    out: dict[str, Blend] = {}
    for j, label in enumerate(labels):
        target = np.array([r.target(label) for r in rows])
        dev = np.flatnonzero((target != UNKNOWN) & (splits == "dev"))
        y = target[dev] == 1
        names = [label, *((extra or {}).get(label, ()))]
        terms = [(k, name) for name in names for k in range(len(margins))]
        if int(y.sum()) >= 20 and int((~y).sum()) >= 20:
            lr = _sklearn()(C=100.0, max_iter=1000)
            x = np.stack([margins[k][dev, labels.index(name)] for k, name in terms], axis=1)
            lr.fit(x, y, sample_weight=row_weights([rows[i] for i in dev.tolist()]))
            weights = [float(v) for v in lr.coef_[0]]
            out[label] = Blend(
                [(k, name, w) for (k, name), w in zip(terms, weights, strict=True)],
                float(lr.intercept_[0]),
                f"dev ({len(dev)} rows)",
            )
        else:
            n = len(margins)
            out[label] = Blend(
                [(k, label, calibrations[k][j][0] / n) for k in range(n)],
                sum(calibrations[k][j][1] for k in range(n)) / n,
                "mean of the calibrated heads",
            )
    return out


def fold_blends(blends: Mapping[str, Blend], inputs: Sequence[LinearHeads], labels: Sequence[str]) -> LinearHeads:
    """The heads that give each label's blended margin directly (their probability is its sigmoid)."""

    def width(kind: str) -> int | None:
        found = [getattr(h, kind).shape[0] for h in inputs if getattr(h, kind) is not None]
        return found[0] if found else None

    n_sparse, n_dense = width("sparse"), width("dense")
    sparse = np.zeros((n_sparse, len(labels))) if n_sparse is not None else None
    dense = np.zeros((n_dense, len(labels))) if n_dense is not None else None
    bias = np.zeros(len(labels))
    for j, label in enumerate(labels):
        blend = blends[label]
        bias[j] = blend.c
        for k, name, w in blend.terms:
            src = inputs[k]
            col = src.labels.index(name)
            bias[j] += w * float(src.bias[col])
            if src.sparse is not None and sparse is not None:
                sparse[:, j] += w * src.sparse[:, col]
            if src.dense is not None and dense is not None:
                dense[:, j] += w * src.dense[:, col]
    return LinearHeads(tuple(labels), bias, sparse, dense)
