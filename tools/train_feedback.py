"""Train the feedback classifier's kind model: what a post is for, learned from labelled posts.

    python tools/train_feedback.py [--data tools/data/feedback_train.jsonl] [-o PATH] [--seed 0]

Training data: ``tools/data/feedback_train.jsonl``, forum posts invented for the purpose, and
``tools/data/feedback_train_real.jsonl``, real Reddit comments from a permissively licensed set of
``../shared/train`` (Hickey et al., MIT), joined by id; both labelled by the guide in
``tests/fixtures/feedback/README.md`` (see ``tools/data/README*.md``). Features: hashed word 1-2-grams and
character 3-5-grams of the normalised text (the harm model's extractor) and the hand-set evidence of
:mod:`safeguard.classifiers.feedback.kinds` (cue phrases, question shape, sentiment, reply, staff). One
logistic head per kind (scikit-learn, balanced class weights); the classifier turns the six margins into
probabilities with a softmax. The regularisation strength is chosen by kind macro-F1 on the ``dev`` half of
the hand-labelled set (``tests/fixtures/feedback``), whose ``test`` half nothing reads. Writes
``src/safeguard/classifiers/feedback/data/kinds.npz`` (no pickles). Needs ``safeguard[train]``; deterministic;
under a minute on 2 cores.
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

from safeguard.classifiers.feedback import KINDS, FeedbackClassifier
from safeguard.classifiers.feedback.classifier import KIND_MODEL
from safeguard.classifiers.feedback.kinds import DENSE_FEATURES, dense_features
from safeguard.classifiers.toxicity.features import HashedNgrams
from safeguard.classifiers.toxicity.harmdata import train_dir
from safeguard.classifiers.toxicity.heads import HarmHeads
from safeguard.classifiers.toxicity.training import design_matrix
from safeguard.types import Author, Post

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tools" / "data" / "feedback_train.jsonl"
REAL = ROOT / "tools" / "data" / "feedback_train_real.jsonl"
OUT = ROOT / "src" / "safeguard" / "classifiers" / "feedback" / "data" / KIND_MODEL
TRAINED_ON = "tools/data/feedback_train.jsonl (invented); tools/data/feedback_train_real.jsonl (Reddit, labelled)"
EXTRACTOR = HashedNgrams(bits=16, char_orders=(3, 4, 5), word_orders=(1, 2), max_chars=2000)
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def _eval_module() -> Any:
    spec = importlib.util.spec_from_file_location("feedback_eval", ROOT / "benchmarks" / "feedback_eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corpus(path: Path) -> tuple[list[Post], list[str]]:
    """Labelled posts of ``path``: rows carry their text, or name a ``source`` file of ``../shared/train``
    whose row of the same id holds it (real comments are not copied into the repository)."""
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
    posts, kinds = [], []
    for r in rows:
        text = r["text"] if "text" in r else texts[(r["source"], r["id"])]
        author = Author(id=None, role=r.get("role") or "member")
        parent = "p" if r.get("reply") else None
        posts.append(Post(id=r["id"], text=text, title=r.get("title"), parent_id=parent, author=author))
        kinds.append(r["kind"])
    return posts, kinds


def features(classifier: FeedbackClassifier, posts: list[Post]) -> Any:
    from scipy import sparse

    readings = classifier.read(posts)
    x = design_matrix(EXTRACTOR, [r.normalized for r in readings])
    dense = np.array([dense_features(r.evidence) for r in readings], dtype=np.float64)
    return sparse.hstack([x, sparse.csr_matrix(dense)], format="csr")


def fit(x: Any, kinds: list[str], c: float, seed: int) -> HarmHeads:
    from sklearn.linear_model import LogisticRegression

    y = np.array(kinds)
    coef, bias = [], []
    for kind in KINDS:
        head = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed)
        head.fit(x, y == kind)
        coef.append(head.coef_[0])
        bias.append(float(head.intercept_[0]))
    w = np.array(coef).T  # features x kinds
    width = EXTRACTOR.width
    ones = np.ones(len(KINDS))
    return HarmHeads(
        EXTRACTOR,
        KINDS,
        w[:width],
        bias,
        ones,
        np.zeros(len(KINDS)),
        {"dense_features": list(DENSE_FEATURES), "C": c, "trained_on": TRAINED_ON},
        w[width:],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, nargs="+", default=[p for p in (DATA, REAL) if p.exists()])
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    evaluation = _eval_module()
    reader = FeedbackClassifier(kind_model="rules")
    posts: list[Post] = []
    kinds: list[str] = []
    for path in args.data:
        more_posts, more_kinds = corpus(path)
        posts += more_posts
        kinds += more_kinds
    x = features(reader, posts)
    dev_posts, dev_labels, missing = evaluation.load_labels("dev")
    truth = [r["kind"] for r in dev_labels]
    print(
        f"training on {len(posts):,} posts; choosing C on {len(dev_posts)} dev posts"
        + (f" ({missing} without text)" if missing else "")
    )
    rules = [s["kind"] for s in reader.classify(dev_posts)]
    print(f"  hand-set scores alone: dev macro-F1 {evaluation.kind_scores(rules, truth)['macro_f1']:.3f}")
    best: tuple[float, float, HarmHeads] | None = None
    for c in C_GRID:
        heads = fit(x, kinds, c, args.seed)
        with tempfile.TemporaryDirectory() as tmp:  # the candidate, loaded as the classifier loads its model
            heads.save(Path(tmp) / "kinds.npz")
            predicted = [s["kind"] for s in FeedbackClassifier(kind_model=Path(tmp) / "kinds.npz").classify(dev_posts)]
        f1 = evaluation.kind_scores(predicted, truth)["macro_f1"]
        print(f"  C={c:<5} dev macro-F1 {f1:.3f}")
        if best is None or f1 > best[0]:
            best = (f1, c, heads)
    assert best is not None
    f1, c, heads = best
    heads.save(args.output)
    print(f"wrote {args.output} (C={c}, dev macro-F1 {f1:.3f}) in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
