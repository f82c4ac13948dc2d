"""Train the embedded default spam model from the CC BY 4.0 spam sets in ../shared/eval.

Reads ``youtube_spam_collection.jsonl`` (Alberto et al. 2015) and ``sms_spam_collection.jsonl``
(Almeida and Gomez Hidalgo 2011) through :mod:`safeguard.datasets`, cross-validates the recipe
(stratified 5-fold on the union, out-of-fold figures reported per set), trains on all rows and writes
``src/safeguard/classifiers/spam/data/default_model.json`` with the figures in its metadata.
Deterministic: the same data gives the same file.

    python tools/train_default_spam.py            # writes the model and prints the figures
    python tools/train_default_spam.py --check    # prints the figures, writes nothing
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from safeguard.classifiers.spam.model import DEFAULT_MODEL_PATH, FeatureConfig
from safeguard.classifiers.spam.train import classification_metrics, cross_validate, labelled_eval, train

SETS = {
    "youtube": "youtube_spam_collection.jsonl",
    "sms": "sms_spam_collection.jsonl",
}
SEED = 13
FOLDS = 5
ATTRIBUTION = (
    "Trained on the UCI YouTube Spam Collection (Alberto, Lochter and Almeida 2015) and the UCI SMS Spam "
    "Collection (Almeida and Gomez Hidalgo 2011), both CC BY 4.0."
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="Print cross-validated figures; write nothing.")
    parser.add_argument("-o", "--output", default=str(DEFAULT_MODEL_PATH), help="Where to write the model.")
    args = parser.parse_args()

    texts: list[str] = []
    labels: list[int] = []
    sources: list[str] = []
    for short, name in SETS.items():
        try:
            x, y = labelled_eval(name)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        texts += x
        labels += y
        sources += [short] * len(x)

    config = FeatureConfig()
    cv = cross_validate(texts, labels, config, folds=FOLDS, seed=SEED)
    oof = np.asarray(cv.scores)
    y = np.asarray(labels)
    src = np.asarray(sources)
    figures: dict[str, object] = {
        "method": f"stratified {FOLDS}-fold cross-validation on the union, seed {SEED}, out-of-fold scores",
        "all": cv.overall.to_dict(),
    }
    for short in SETS:
        mask = src == short
        figures[short] = classification_metrics(y[mask], oof[mask]).to_dict()
    print(json.dumps(figures, indent=2))
    if args.check:
        return 0

    model = train(
        texts,
        labels,
        config,
        seed=SEED,
        metadata={
            "training_data": {short: f"../shared/eval/{name}" for short, name in SETS.items()},
            "licence": "CC BY 4.0 (training data); weights only, no text, are shipped",
            "attribution": ATTRIBUTION,
            "metrics": figures,
            "created_by": "tools/train_default_spam.py",
        },
    )
    model.save(args.output)
    print(f"wrote {args.output} ({len(model.tokens)} n-gram weights)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
