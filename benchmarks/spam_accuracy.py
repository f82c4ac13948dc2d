"""Accuracy of the spam model on the public spam sets in ../shared/eval, with the commands behind each figure.

1. The default model's recipe (tools/train_default_spam.py), stratified 5-fold cross-validation on
   YouTube + SMS, seed 13: out-of-fold AUC, precision, recall and F1 per set.
2. ``safeguard train spam`` on a stratified 75% of YouTube (seed 13), scored on the other 25%.
3. False positives of the shipped default model on benign text: share of posts at or above score
   thresholds (UCI review sentences, Stack Exchange and Reddit comments; not spam-labelled, so these
   are upper bounds on false-positive rates).

    python benchmarks/spam_accuracy.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from safeguard.classifiers.spam.model import DEFAULT_MODEL_PATH, SpamModel
from safeguard.classifiers.spam.train import classification_metrics, cross_validate, labelled_eval, split
from safeguard.datasets import read_eval

YOUTUBE = "youtube_spam_collection.jsonl"
SMS = "sms_spam_collection.jsonl"
BENIGN = ("uci_review_sentences.jsonl", "stackexchange_posts_comments.jsonl", "reddit_comp551_comments.jsonl")


def main() -> None:
    yt, sms = labelled_eval(YOUTUBE), labelled_eval(SMS)
    cv = cross_validate(yt[0] + sms[0], yt[1] + sms[1], folds=5, seed=13)
    scores = np.asarray(cv.scores)
    n = len(yt[0])
    print("default recipe, 5-fold CV on YouTube+SMS (seed 13), out of fold:")
    for name, labels, part in (("youtube", yt[1], scores[:n]), ("sms", sms[1], scores[n:])):
        print(f"  {name:8} {json.dumps(classification_metrics(labels, part).to_dict())}")

    train_x, train_y, test_x, test_y = split(yt[0], yt[1], test_fraction=0.25, seed=13)
    with tempfile.TemporaryDirectory() as tmp:
        history = Path(tmp) / "train.jsonl"
        history.write_text(
            "".join(_row(t, y) for t, y in zip(train_x, train_y, strict=True)),
            encoding="utf-8",
        )
        model_path = Path(tmp) / "yt.json"
        cmd = [sys.executable, "-m", "safeguard", "train", "spam", str(history), "-o", str(model_path), "--seed", "13"]
        subprocess.run(cmd, check=True, capture_output=True)
        metrics = classification_metrics(test_y, SpamModel.load(model_path).scores(test_x))
    print(f"safeguard train spam on 75% of YouTube (seed 13), held-out 25%: {json.dumps(metrics.to_dict())}")

    model = SpamModel.load(DEFAULT_MODEL_PATH)
    print("default model on benign text, share of posts with score >= threshold (first 10,000 of each):")
    for name in BENIGN:
        texts = [r["text"] for r in read_eval(name, limit=10_000)]
        s = np.asarray(model.scores(texts))
        shares = ", ".join(f">={t}: {float((s >= t).mean()):.2%}" for t in (0.5, 0.9, 0.98))
        print(f"  {name:38} {shares}")


if __name__ == "__main__":
    main()


def _row(text: str, label: int) -> str:
    return json.dumps({"text": text, "label": "spam" if label else "ham"}) + "\n"
