"""Train the feedback classifier's kind model: what a post is for, learned from labelled posts.

    python tools/train_feedback.py [--data tools/data/feedback_train.jsonl] [-o PATH] [--seed 0]

Training data: ``tools/data/feedback_train.jsonl``, forum posts invented for the purpose, and
``tools/data/feedback_train_real.jsonl``, real Reddit comments from a permissively licensed set of
``../shared/train`` (Hickey et al., MIT), joined by id; both labelled by the guide in
``tests/fixtures/feedback/README.md`` (see ``tools/data/README*.md``). Features: hashed word 1-2-grams and
character 3-5-grams of the normalised text (the harm model's extractor) and the hand-set evidence of
:mod:`safeguard.classifiers.feedback.kinds` (cue phrases, question shape, sentiment, reply, staff). One
logistic head per kind (scikit-learn, balanced class weights); the classifier turns the six margins into
probabilities with a softmax. The same features, with the aspect terms each post holds, train one head per
aspect (``aspect_<name>``), which vetoes an aspect its terms named when its probability is under the
model's ``aspect_threshold`` and, when the file has an ``aspect_add_threshold``, names an aspect no term
found when its probability reaches that. (The ``encoder`` tier blends this model with a fine-tuned
sentence encoder: ``tools/finetune_feedback.py``.)
The regularisation strengths are chosen by kind macro-F1 and the aspect heads' strength and thresholds by
aspect F0.5 (precision weighed twice as much as recall) on the ``dev`` half of the hand-labelled set
(``tests/fixtures/feedback``), whose ``test`` half nothing reads. Writes
``src/safeguard/classifiers/feedback/data/kinds.npz`` (no
pickles). Needs ``safeguard-moderation[train]``; deterministic; about eight minutes on 2 cores (most of
it the aspect grid: 6 strengths x 8 veto x 9 add thresholds).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from safeguard.classifiers.feedback import ASPECTS, KINDS, FeedbackClassifier
from safeguard.classifiers.feedback.classifier import (
    ASPECT_ADD_KEY,
    KIND_MODEL,
    MODEL_FEATURES,
    dense_matrix,
)
from safeguard.classifiers.toxicity.features import HashedNgrams
from safeguard.classifiers.toxicity.harmdata import train_dir
from safeguard.classifiers.toxicity.heads import HarmHeads
from safeguard.classifiers.toxicity.training import design_matrix
from safeguard.types import Author, Post

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tools" / "data" / "feedback_train.jsonl"
REAL = ROOT / "tools" / "data" / "feedback_train_real.jsonl"
MODELS = ROOT / "src" / "safeguard" / "classifiers" / "feedback" / "data"
TRAINED_ON = "tools/data/feedback_train.jsonl (invented); tools/data/feedback_train_real.jsonl (Reddit, labelled)"
EXTRACTOR = HashedNgrams(bits=16, char_orders=(3, 4, 5), word_orders=(1, 2), max_chars=2000)
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
#: Probabilities at which an aspect head names its aspect with no term found (None: the heads only veto).
ADD_THRESHOLDS = (None, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _eval_module() -> Any:
    spec = importlib.util.spec_from_file_location("feedback_eval", ROOT / "benchmarks" / "feedback_eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corpus(path: Path) -> tuple[list[Post], list[str], list[list[str]]]:
    """Labelled posts of ``path`` with their kinds and aspects: rows carry their text, or name a ``source``
    file of ``../shared/train`` whose row of the same id holds it (real comments are not copied into the
    repository)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts: dict[tuple[str, str], str] = {}
    wanted = {r["source"] for r in rows if "text" not in r}
    directory = train_dir()
    if wanted and directory is None:
        raise SystemExit(f"{path} joins texts from ../shared/train, which was not found")
    for source in wanted:
        assert directory is not None
        ids = {r["id"] for r in rows if r.get("source") == source}
        with (directory / source).open(encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                if rec["id"] in ids:
                    texts[(source, rec["id"])] = rec["text"]
    posts, kinds, aspects = [], [], []
    for r in rows:
        text = r["text"] if "text" in r else texts[(r["source"], r["id"])]
        author = Author(id=None, role=r.get("role") or "member")
        parent = "p" if r.get("reply") else None
        posts.append(Post(id=r["id"], text=text, title=r.get("title"), parent_id=parent, author=author))
        kinds.append(r["kind"])
        aspects.append(list(r.get("aspects") or ()))
    return posts, kinds, aspects


def features(classifier: FeedbackClassifier, posts: list[Post]) -> Any:
    """The design matrix of ``posts``: hashed n-grams, then the dense features as the classifier builds them."""
    from scipy import sparse

    readings = classifier.read(posts)
    x = design_matrix(EXTRACTOR, [r.normalized for r in readings])
    dense = dense_matrix(readings)
    return sparse.hstack([x, sparse.csr_matrix(dense)], format="csr")


def fit(x: Any, targets: dict[str, Any], c: float, seed: int, balanced: bool) -> tuple[Any, list[float]]:
    """One logistic head per target (name to boolean array): weights (features x targets) and biases."""
    from sklearn.linear_model import LogisticRegression

    coef, bias = [], []
    for y in targets.values():
        head = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=2000, random_state=seed)
        head.fit(x, y)
        coef.append(head.coef_[0])
        bias.append(float(head.intercept_[0]))
    return np.array(coef).T, bias


def heads_of(parts: list[tuple[list[str], Any, list[float]]], meta: dict[str, Any]) -> HarmHeads:
    """One model file's heads from (labels, weights, biases) parts, kinds first."""
    labels = [label for names, _, _ in parts for label in names]
    w = np.hstack([weights for _, weights, _ in parts])
    bias = [b for _, _, biases in parts for b in biases]
    width = EXTRACTOR.width
    return HarmHeads(
        EXTRACTOR,
        labels,
        w[:width],
        bias,
        np.ones(len(labels)),
        np.zeros(len(labels)),
        {
            "dense_features": list(MODEL_FEATURES),
            "trained_on": TRAINED_ON,
            **meta,
        },
        w[width:],
    )


def signals_of(heads: HarmHeads, posts: list[Post]) -> list[dict[str, Any]]:
    """The classifier's signals for ``posts`` with ``heads`` as its kind model, loaded as it loads one."""
    with tempfile.TemporaryDirectory() as tmp:
        heads.save(Path(tmp) / "kinds.npz")
        return FeedbackClassifier(kind_model=Path(tmp) / "kinds.npz").classify(posts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, nargs="+", default=[p for p in (DATA, REAL) if p.exists()])
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    output = args.output or MODELS / KIND_MODEL
    started = time.perf_counter()
    evaluation = _eval_module()
    reader = FeedbackClassifier(kind_model="rules")
    posts: list[Post] = []
    kinds: list[str] = []
    aspects: list[list[str]] = []
    for path in args.data:
        more_posts, more_kinds, more_aspects = corpus(path)
        posts += more_posts
        kinds += more_kinds
        aspects += more_aspects
    x = features(reader, posts)
    dev_posts, dev_labels, missing = evaluation.load_labels("dev")
    truth = [r["kind"] for r in dev_labels]
    print(
        f"training on {len(posts):,} posts; choosing C on {len(dev_posts)} dev posts"
        + (f" ({missing} without text)" if missing else "")
    )
    rules = reader.classify(dev_posts)
    rules_f1 = evaluation.kind_scores([s["kind"] for s in rules], truth)["macro_f1"]
    print(f"  hand-set scores alone: dev macro-F1 {rules_f1:.3f}")
    kind_targets = {k: np.array(kinds) == k for k in KINDS}
    best: tuple[float, float, Any, list[float]] | None = None
    for c in C_GRID:
        w, b = fit(x, kind_targets, c, args.seed, balanced=True)
        predicted = [s["kind"] for s in signals_of(heads_of([(list(KINDS), w, b)], {}), dev_posts)]
        f1 = evaluation.kind_scores(predicted, truth)["macro_f1"]
        print(f"  kind C={c:<5} dev macro-F1 {f1:.3f}")
        if best is None or f1 > best[0]:
            best = (f1, c, w, b)
    assert best is not None
    kind_f1, kind_c, kind_w, kind_b = best
    kind_part = (list(KINDS), kind_w, kind_b)
    # Aspect heads veto what the terms found; chosen by F0.5 on the dev half, since an aspect wrongly
    # named misleads a community team more than one missed.
    true_aspects = [r["aspects"] for r in dev_labels]
    p, r, _, _ = evaluation.aspect_scores([s["aspects"] for s in rules], true_aspects)["micro"]
    print(f"  aspects by terms alone: dev precision {p:.3f} recall {r:.3f} F0.5 {f_half(p, r):.3f}")
    aspect_targets = {f"aspect_{a}": np.array([a in found for found in aspects]) for a in ASPECTS}
    chosen: tuple[float, dict[str, Any], Any, list[float]] | None = None
    for c in C_GRID:
        w, b = fit(x, aspect_targets, c, args.seed, balanced=False)
        for t in THRESHOLDS:
            for add in ADD_THRESHOLDS:
                settings = {"aspect_C": c, "aspect_threshold": t} | ({} if add is None else {ASPECT_ADD_KEY: add})
                heads = heads_of([kind_part, (list(aspect_targets), w, b)], settings)
                found = [s["aspects"] for s in signals_of(heads, dev_posts)]
                p, r, _, _ = evaluation.aspect_scores(found, true_aspects)["micro"]
                score = f_half(p, r)
                if chosen is None or score > chosen[0]:
                    chosen = (score, settings, w, b)
                    print(f"  aspect {settings}: dev precision {p:.3f} recall {r:.3f} F0.5 {score:.3f}")
    assert chosen is not None
    score, settings, aspect_w, aspect_b = chosen
    meta = {"C": kind_c, **settings}
    heads_of([kind_part, (list(aspect_targets), aspect_w, aspect_b)], meta).save(output)
    print(
        f"wrote {output} (kind C={kind_c}, dev macro-F1 {kind_f1:.3f}; aspects {settings}, "
        f"dev F0.5 {score:.3f}) in {time.perf_counter() - started:.0f}s"
    )
    return 0


def f_half(precision: float, recall: float) -> float:
    """F0.5: the harmonic mean that weighs precision twice as much as recall."""
    return 1.25 * precision * recall / (0.25 * precision + recall) if precision + recall else 0.0


if __name__ == "__main__":
    sys.exit(main())
