"""Blending harm heads: the fitted mix and the single heads it folds into."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from safeguard.classifiers.toxicity.harmdata import SOURCES, HarmRow, load_corpus
from safeguard.classifiers.toxicity.training import LinearHeads, fit_blends, fold_blends

pytest.importorskip("sklearn")

LABELS = ("toxicity", "profanity")


def _rows(y_tox: np.ndarray, y_prof: np.ndarray, split: str = "dev") -> list[HarmRow]:
    return [
        HarmRow(str(i), "", "s", split, {"toxicity": int(a), "profanity": int(b)})
        for i, (a, b) in enumerate(zip(y_tox, y_prof, strict=True))
    ]


def test_folded_heads_give_the_blended_margin() -> None:
    rng = np.random.default_rng(0)
    sparse = LinearHeads(LABELS, rng.normal(size=2), sparse=rng.normal(size=(50, 2)))
    dense = LinearHeads(LABELS, rng.normal(size=2), dense=rng.normal(size=(8, 2)))
    x, e = rng.normal(size=(400, 50)), rng.normal(size=(400, 8))
    assert sparse.sparse is not None and dense.dense is not None
    m_sparse, m_dense = x @ sparse.sparse + sparse.bias, e @ dense.dense + dense.bias
    truth = m_sparse[:, 0] + 0.5 * m_dense[:, 0] + 0.8 * m_sparse[:, 1]
    y = (truth + rng.logistic(size=400)) > 0
    rows = _rows(y, m_sparse[:, 1] > 0)
    blends = fit_blends([m_sparse, m_dense], LABELS, rows, [[(1, 0)] * 2] * 2, extra={"toxicity": ["profanity"]})
    assert {(k, name) for k, name, _ in blends["toxicity"].terms} == {
        (0, "toxicity"),
        (1, "toxicity"),
        (0, "profanity"),
        (1, "profanity"),
    }
    weights = {(k, name): w for k, name, w in blends["toxicity"].terms}
    assert weights[(0, "profanity")] > 0.3  # the extra head's margin carries signal and gets weight
    folded = fold_blends(blends, [sparse, dense], LABELS)
    assert folded.sparse is not None and folded.dense is not None
    direct = x @ folded.sparse + e @ folded.dense + folded.bias
    margins = [m_sparse, m_dense]
    for j, label in enumerate(LABELS):
        b = blends[label]
        expected = sum(w * margins[k][:, LABELS.index(name)] for k, name, w in b.terms) + b.c
        np.testing.assert_allclose(direct[:, j], expected, rtol=1e-9, atol=1e-9)


def test_too_few_dev_rows_fall_back_to_the_calibrated_heads() -> None:
    rng = np.random.default_rng(1)
    m = rng.normal(size=(30, 2))
    rows = _rows(np.zeros(30), np.zeros(30))  # one class only: nothing to fit
    blends = fit_blends([m, m], LABELS, rows, [[(2.0, -1.0), (1.0, 0.0)], [(4.0, 1.0), (1.0, 0.0)]])
    assert blends["toxicity"].terms == [(0, "toxicity", 1.0), (1, "toxicity", 2.0)]
    assert blends["toxicity"].c == 0.0
    assert blends["toxicity"].fitted_on == "mean of the calibrated heads"


def test_hatemoji_pairs_never_straddle_two_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row's ``matched_id`` names its partner's row number; both rows of a pair share one split,
    whichever of the two is read first."""
    train = tmp_path / "train"
    (tmp_path / "eval").mkdir()
    train.mkdir()
    lines = []
    for n in range(0, 400, 2):
        for own, partner, label in ((n, n + 1, "hate"), (n + 1, n, "nothate")):
            labels = {"type": "derogation", "set": "original", "matched_id": str(partner)}
            row = {"id": f"hatemojibuild-{own:04d}", "text": f"post {own}", "label": label, "labels": labels}
            lines.append(json.dumps(row))
    (train / "hatemojibuild_train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("SAFEGUARD_EVAL_DIR", str(tmp_path / "eval"))
    rows = load_corpus(sources={"hatemojibuild_train.jsonl": SOURCES["hatemojibuild_train.jsonl"]})
    split = {r.id: r.split for r in rows}
    assert len(split) == 400
    assert {"train", "dev", "test"} <= set(split.values())
    for n in range(0, 400, 2):
        assert split[f"hatemojibuild-{n:04d}"] == split[f"hatemojibuild-{n + 1:04d}"]
