"""How well the feedback classifier reads kind, aspects and sentiment, on data labelled for it.

    python benchmarks/feedback_eval.py [--split test|dev|all] [--speed POSTS] [--kind-model lexical|encoder|rules|FILE]

Kind and aspects: the hand-labelled set in ``tests/fixtures/feedback/labels.jsonl`` (200 invented
retail-forum posts, and 70 Reddit and 70 Stack Exchange posts whose texts are joined by id from
``../shared/eval``; see that folder's README for how it was labelled). The cues and weights were set
looking at the ``dev`` half only; figures to quote are on ``test``. Without ``../shared`` only the
invented posts are read. Kind: per-class precision, recall and F1, and macro-F1; aspects: per-aspect
and micro precision and recall. Sentiment: ROC AUC of the polarity on the 3,000 UCI review sentences
(positive against negative), which nothing was tuned on. ``--speed N``: posts/s of the classifier on
one core over the first N real forum posts (Reddit and Stack Exchange, alternating).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from safeguard.classifiers.feedback import ASPECTS, KINDS, FeedbackClassifier
from safeguard.classifiers.spam.train import auc
from safeguard.datasets import eval_path, read_eval
from safeguard.types import Post

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "fixtures" / "feedback" / "labels.jsonl"


def load_labels(split: str = "all") -> tuple[list[Post], list[dict[str, Any]], int]:
    """The labelled posts of ``split`` ("dev", "test" or "all") and their labels; real posts whose text
    is not available (no ``../shared/eval``) are left out and counted (the third value)."""
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if split == "all" or r["split"] == split]
    wanted = {r["source"] for r in rows} - {"invented"}
    texts: dict[str, str] = {}
    for source in wanted:
        if eval_path(source) is None:
            continue
        ids = {r["id"] for r in rows if r["source"] == source}
        for rec in read_eval(source):
            if rec["id"] in ids:
                texts[rec["id"]] = rec["text"]
    posts, labels, missing = [], [], 0
    for r in rows:
        text = r.get("text") if r["source"] == "invented" else texts.get(r["id"])
        if text is None:
            missing += 1
            continue
        parent = "parent" if r.get("reply") else None
        posts.append(Post(id=r["id"], text=text, title=r.get("title"), parent_id=parent))
        labels.append(r)
    return posts, labels, missing


def prf(pairs: Sequence[tuple[bool, bool]]) -> tuple[float, float, float, int]:
    """Precision, recall, F1 and support from (predicted, true) pairs."""
    tp = sum(p and t for p, t in pairs)
    fp = sum(p and not t for p, t in pairs)
    fn = sum(t and not p for p, t in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, tp + fn


def kind_scores(predicted: Sequence[str], truth: Sequence[str]) -> dict[str, Any]:
    per = {k: prf([(p == k, t == k) for p, t in zip(predicted, truth, strict=True)]) for k in KINDS}
    macro = sum(v[2] for v in per.values()) / len(per)
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / max(1, len(truth))
    return {"per_kind": per, "macro_f1": macro, "accuracy": accuracy}


def aspect_scores(predicted: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> dict[str, Any]:
    per = {a: prf([(a in p, a in t) for p, t in zip(predicted, truth, strict=True)]) for a in ASPECTS}
    pairs = [(a in p, a in t) for p, t in zip(predicted, truth, strict=True) for a in ASPECTS]
    return {"per_aspect": per, "micro": prf(pairs)}


def sentiment_auc(classifier: FeedbackClassifier) -> tuple[float, int] | None:
    if eval_path("uci_review_sentences.jsonl") is None:
        return None
    rows = list(read_eval("uci_review_sentences.jsonl"))
    posts = [Post(id=r["id"], text=r["text"]) for r in rows]
    scores = [s["sentiment"] for s in classifier.classify(posts)]
    return auc([int(r["label"] == "positive") for r in rows], scores), len(rows)


def forum_posts(n: int) -> Iterator[Post]:
    sources = [read_eval("reddit_comp551_comments.jsonl"), read_eval("stackexchange_posts_comments.jsonl")]
    made = 0
    while made < n:
        for source in sources:
            rec = next(source, None)
            if rec is None:
                return
            yield Post(id=rec["id"], text=rec["text"])
            made += 1


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=("dev", "test", "all"), default="test")
    parser.add_argument("--speed", type=int, default=0, metavar="POSTS")
    parser.add_argument("--errors", action="store_true", help="list the posts whose kind was wrong")
    parser.add_argument(
        "--kind-model",
        default=None,
        help="the classifier's kind_model option (lexical, encoder, rules, a model file or an encoder tier directory)",
    )
    args = parser.parse_args(argv)
    classifier = FeedbackClassifier(kind_model=args.kind_model)
    posts, labels, missing = load_labels(args.split)
    signals = classifier.classify(posts)
    print(
        f"labelled set, split {args.split}: {len(posts)} posts"
        + (f" ({missing} real posts without text: no ../shared/eval)" if missing else "")
    )
    kinds = kind_scores([s["kind"] for s in signals], [r["kind"] for r in labels])
    print(f"{'kind':<12} {'precision':>9} {'recall':>7} {'F1':>6} {'n':>4}")
    for k, (p, r, f, n) in kinds["per_kind"].items():
        print(f"{k:<12} {p:9.3f} {r:7.3f} {f:6.3f} {n:4d}")
    print(f"macro-F1 {kinds['macro_f1']:.3f}  accuracy {kinds['accuracy']:.3f}")
    confusion = Counter((r["kind"], s["kind"]) for s, r in zip(signals, labels, strict=True) if s["kind"] != r["kind"])
    print(
        "most frequent confusions (true -> predicted): "
        + ", ".join(f"{t}->{p} {n}" for (t, p), n in confusion.most_common(6))
    )
    aspects = aspect_scores([s["aspects"] for s in signals], [r["aspects"] for r in labels])
    print(f"\n{'aspect':<12} {'precision':>9} {'recall':>7} {'F1':>6} {'n':>4}")
    for a, (p, r, f, n) in aspects["per_aspect"].items():
        print(f"{a:<12} {p:9.3f} {r:7.3f} {f:6.3f} {n:4d}")
    p, r, f, n = aspects["micro"]
    print(f"{'micro':<12} {p:9.3f} {r:7.3f} {f:6.3f} {n:4d}")
    print(f"\n{'source':<36} {'posts':>5} {'kind macro-F1':>13} {'aspect P':>8} {'aspect R':>8} {'aspects':>7}")
    for source in sorted({r["source"] for r in labels}):
        mine = [i for i, r in enumerate(labels) if r["source"] == source]
        present = {labels[i]["kind"] for i in mine}
        # macro-F1 over the kinds this source has (a source without suggestions would score 0 on them)
        per = kind_scores([signals[i]["kind"] for i in mine], [labels[i]["kind"] for i in mine])["per_kind"]
        macro = sum(per[k][2] for k in present) / len(present)
        ap, ar, _, an = aspect_scores([signals[i]["aspects"] for i in mine], [labels[i]["aspects"] for i in mine])[
            "micro"
        ]
        print(f"{source:<36} {len(mine):5d} {macro:13.3f} {ap:8.3f} {ar:8.3f} {an:7d}")
    if args.errors:
        for post, s, lab in zip(posts, signals, labels, strict=True):
            if s["kind"] != lab["kind"] or set(s["aspects"]) != set(lab["aspects"]):
                print(f"\n{post.id} true {lab['kind']} {lab['aspects']} got {s['kind']} {s['aspects']} {s['evidence']}")
                print("   " + (post.title or "") + " | " + post.text[:300].replace("\n", " "))
    uci = sentiment_auc(classifier)
    if uci is None:
        print("\nsentiment: ../shared/eval/uci_review_sentences.jsonl not found")
    else:
        print(f"\nsentiment ROC AUC, UCI review sentences ({uci[1]:,}): {uci[0]:.3f}")
    if args.speed:
        posts = list(forum_posts(args.speed))
        classifier.classify(posts[:256])
        started = time.perf_counter()
        for i in range(0, len(posts), 256):
            classifier.classify(posts[i : i + 256])
        seconds = time.perf_counter() - started
        chars = sum(len(p.text) for p in posts) / max(1, len(posts))
        print(
            f"speed: {len(posts) / seconds:,.0f} posts/s on one core "
            f"({len(posts):,} forum posts, {chars:.0f} characters on average)"
        )


if __name__ == "__main__":
    main()
