"""Regenerate the embedded data of the default toxicity backend (src/safeguard/classifiers/toxicity/data).

Three steps, each writing one file:

1. ``profanity_linear.npz``: the linear model of alt-profanity-check (MIT licence, notice in
   ``data/LICENSE-alt-profanity-check``) as plain arrays: ``vocab``, ``idf``, ``coef`` (5 x vocabulary),
   ``intercept``, ``calib_a``, ``calib_b`` (a TF-IDF vectoriser and five sigmoid-calibrated linear SVMs
   whose probabilities are averaged). Checked to reproduce ``predict_prob`` within 1e-9 before writing.
2. ``negativity.txt``: the single words of negative valence of the VADER sentiment lexicon
   (vaderSentiment, MIT licence, notice in ``data/LICENSE-vaderSentiment``).
3. ``combination.json``: the means and standard deviations of the two views the default backend sums
   (the linear model's logit and the lexical score) and a logistic calibration of their sum, all
   computed on the Davidson et al. tweets (MIT; offensive or hate vs neither, balanced classes).
   Nothing is fitted on OLID or Jigsaw.

Build-time requirements (never runtime ones)::

    pip install alt-profanity-check==1.9.1 vaderSentiment==3.3.2 scikit-learn
    python tools/build_toxicity_default.py      # needs ../shared/eval/davidson_hate_offensive.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from importlib import resources
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA_DIR = ROOT / "src" / "safeguard" / "classifiers" / "toxicity" / "data"

SAMPLES = [
    "you are a fucking idiot",
    "thanks, the kettle arrived on time",
    "what a stupid design, this blender is shit",
    "I love this shop",
    "",
]
_VADER_WORD = re.compile(r"[a-z][a-z']*")


def export_linear(out: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from profanity_check import profanity_check as pc

    from safeguard.classifiers.toxicity.linear import LinearTextModel

    vectorizer, model = pc.vectorizer, pc.model
    vocab_items = sorted(vectorizer.vocabulary_.items(), key=lambda kv: kv[1])
    vocab = np.array([term for term, _ in vocab_items])
    idf = np.asarray(vectorizer.idf_, dtype=np.float64)
    calibrated = model.calibrated_classifiers_
    coef = np.stack([c.estimator.coef_[0] for c in calibrated]).astype(np.float64)
    intercept = np.array([float(c.estimator.intercept_[0]) for c in calibrated])
    calib_a = np.array([float(c.calibrators[0].a_) for c in calibrated])
    calib_b = np.array([float(c.calibrators[0].b_) for c in calibrated])
    exported = LinearTextModel(vocab, idf, coef, intercept, calib_a, calib_b)
    expected = pc.predict_prob([s.lower() for s in SAMPLES])
    got = exported.predict([s.lower() for s in SAMPLES])
    if not np.allclose(expected, got, atol=1e-9):
        raise SystemExit(f"export does not reproduce predict_prob: {expected} vs {got}")
    np.savez_compressed(out, vocab=vocab, idf=idf, coef=coef, intercept=intercept, calib_a=calib_a, calib_b=calib_b)
    print(f"wrote {out} ({len(vocab)} terms)")


def export_negativity(out: Path) -> None:
    lexicon = resources.files("vaderSentiment") / "vader_lexicon.txt"
    rows = []
    for line in lexicon.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not _VADER_WORD.fullmatch(parts[0]):
            continue
        valence = float(parts[1])
        if valence < 0:
            rows.append(f"{parts[0]}\t{valence:g}")
    header = (
        "# Negative-valence words of the VADER sentiment lexicon "
        "(vaderSentiment 3.3.2, MIT; see LICENSE-vaderSentiment)\n"
    )
    out.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {out} ({len(rows)} words)")


def fit_combination(out: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from safeguard.classifiers.toxicity.default import Combination, DefaultModel
    from safeguard.datasets import read_eval

    rows = list(read_eval("davidson_hate_offensive.jsonl"))
    y = np.array([r["label"] != "neither" for r in rows])
    placeholder = Combination(0.0, 1.0, 0.0, 1.0, 1.0, 0.0)
    model = DefaultModel(DATA_DIR, combination=placeholder)
    logit, feats = model.parts([r["text"] for r in rows])
    lexical = feats[:, 0]
    stats = {
        "linear_mean": float(logit.mean()),
        "linear_std": float(logit.std()),
        "lexical_mean": float(lexical.mean()),
        "lexical_std": float(lexical.std()),
    }
    combined = (logit - stats["linear_mean"]) / stats["linear_std"] + (lexical - stats["lexical_mean"]) / stats[
        "lexical_std"
    ]
    calibration = LogisticRegression(class_weight="balanced").fit(combined.reshape(-1, 1), y)
    stats["slope"] = float(calibration.coef_[0][0])
    stats["intercept"] = float(calibration.intercept_[0])
    payload = {
        "_about": "Standardisation and calibration of the default toxicity score; fitted on Davidson et al. "
        f"({len(rows)} tweets) by tools/build_toxicity_default.py",
        **{k: round(v, 6) for k, v in stats.items()},
    }
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}: {stats}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the default toxicity backend's data files.")
    parser.add_argument("--skip-linear", action="store_true", help="keep the existing profanity_linear.npz")
    args = parser.parse_args(argv)
    if not args.skip_linear:
        export_linear(DATA_DIR / "profanity_linear.npz")
    export_negativity(DATA_DIR / "negativity.txt")
    fit_combination(DATA_DIR / "combination.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
