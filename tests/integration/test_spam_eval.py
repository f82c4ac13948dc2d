"""Accuracy gates of the spam model on the public spam sets in ../shared/eval (skipped when absent).

* The default model's recipe, cross-validated (it is trained on these sets): AUC >= 0.90 on YouTube
  and on SMS, out of fold. Reproduce: ``python tools/train_default_spam.py --check``.
* ``safeguard train spam`` on a fixed-seed stratified 75% of YouTube: F1 >= 0.93 on the other 25%.
  Reproduce: ``python benchmarks/spam_accuracy.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from safeguard.classifiers.spam.model import SpamModel
from safeguard.classifiers.spam.train import classification_metrics, cross_validate, labelled_eval, split
from safeguard.datasets import eval_path

ROOT = Path(__file__).resolve().parents[2]
YOUTUBE = "youtube_spam_collection.jsonl"
SMS = "sms_spam_collection.jsonl"

pytestmark = pytest.mark.skipif(
    eval_path(YOUTUBE) is None or eval_path(SMS) is None, reason="../shared/eval spam sets are not present"
)


def test_default_recipe_cross_validated_auc_on_youtube_and_sms() -> None:
    yt, sms = labelled_eval(YOUTUBE), labelled_eval(SMS)
    cv = cross_validate(yt[0] + sms[0], yt[1] + sms[1], folds=5, seed=13)
    scores = np.asarray(cv.scores)
    n = len(yt[0])
    auc_yt = classification_metrics(yt[1], scores[:n]).auc
    auc_sms = classification_metrics(sms[1], scores[n:]).auc
    assert auc_yt >= 0.90, auc_yt
    assert auc_sms >= 0.90, auc_sms


def test_train_spam_on_75_percent_of_youtube_f1_on_the_rest(tmp_path: Path) -> None:
    texts, labels = labelled_eval(YOUTUBE)
    train_x, train_y, test_x, test_y = split(texts, labels, test_fraction=0.25, seed=13)
    history = tmp_path / "train.jsonl"
    history.write_text(
        "".join(_row(t, y) for t, y in zip(train_x, train_y, strict=True)),
        encoding="utf-8",
    )
    model_path = tmp_path / "yt.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "safeguard", "train", "spam", str(history), "-o", str(model_path), "--seed", "13"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    metrics = classification_metrics(test_y, SpamModel.load(model_path).scores(test_x))
    assert metrics.f1 >= 0.93, metrics


def _row(text: str, label: int) -> str:
    return json.dumps({"text": text, "label": "spam" if label else "ham"}) + "\n"
