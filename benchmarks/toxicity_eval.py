"""Accuracy of the toxicity backends on public labelled data.

    PYTHONPATH=src python benchmarks/toxicity_eval.py [--backend default] [--jigsaw-limit 10000]

Prints:
* OLID (OffensEval 2019) test split, 860 tweets, OFF vs NOT: ROC AUC of each backend's ``toxicity``
  (OLID replaces links by the token ``URL``; it is given back to the model as a link,
  ``http://example.com``, which is what it stands for). Nothing is ever fitted on OLID.
* Jigsaw toxic comments sample: ROC AUC per label (toxic, insult, threat, identity_hate) for the signal of
  the same meaning; evaluation only, never training.
* the obfuscation table: the default's insult and toxicity scores of plain insults and of their
  leetspeak, zero-width, Cyrillic, spaced and asterisk spellings, and the largest move.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence

import numpy as np

from safeguard.datasets import eval_path, read_eval
from safeguard.types import Post

JIGSAW_LABELS = {"toxic": "toxicity", "insult": "insult", "threat": "threat", "identity_hate": "identity_attack"}

OBFUSCATION_CASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("you idiot", ("you 1d10t", "you id\u200biot", "you \u0456d\u0456\u043et", "you i d i o t", "you id!ot")),
    ("you are stupid", ("you are 5tup1d", "you are stu\u200bpid", "you are \u0455tup\u0456d", "you are s t u p i d")),
    ("fuck you", ("f*ck you", "fu\u200bck you", "fu\u0441k you", "f u c k you", "f**k you")),
    ("you moron", ("you m0r0n", "you mo\u200bron", "you m\u043er\u043en", "you m o r o n", "you m*ron")),
)


def auc(y: Sequence[bool], score: Sequence[float]) -> float:
    """ROC AUC by the rank-sum formula (ties get the mean rank)."""
    y_arr = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = int(y_arr.sum())
    neg = len(y_arr) - pos
    return float((ranks[y_arr].sum() - pos * (pos + 1) / 2) / (pos * neg))


def olid_text(text: str) -> str:
    """OLID replaces every link by the token ``URL``; give the model a link, which is what it stands for."""
    return re.sub(r"\bURL\b", "http://example.com", text)


def build(options: dict[str, object]):  # type: ignore[no-untyped-def]
    from safeguard.classifiers.toxicity import ToxicityClassifier

    clf = ToxicityClassifier(**options)  # type: ignore[arg-type]
    clf.load()
    return clf


def scores(clf, texts: Sequence[str], label: str) -> list[float]:  # type: ignore[no-untyped-def]
    posts = [Post(id=str(i), text=t) for i, t in enumerate(texts)]
    return [float(r[label]) for r in clf.classify(posts)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", help="backend option mapping as k=v,k=v (default: default)")
    parser.add_argument("--jigsaw-limit", type=int, default=10000)
    args = parser.parse_args(argv)
    if eval_path("olid_offenseval2019.jsonl") is None:
        print("evaluation data not found (../shared/eval); nothing to measure", file=sys.stderr)
        return 2
    configs: list[dict[str, object]] = []
    for spec in args.backend or ["backend=default"]:
        configs.append(dict(kv.split("=", 1) for kv in spec.split(",")))

    olid = [r for r in read_eval("olid_offenseval2019.jsonl") if r["meta"]["split"] == "test"]
    olid_y = [r["label"] == "OFF" for r in olid]
    olid_texts = [olid_text(r["text"]) for r in olid]
    jigsaw = list(read_eval("jigsaw_toxic_comments_sample.jsonl", limit=args.jigsaw_limit))
    jig_texts = [r["text"] for r in jigsaw]

    for options in configs:
        clf = build(options)
        t0 = time.perf_counter()
        olid_scores = scores(clf, olid_texts, "toxicity")
        elapsed = time.perf_counter() - t0
        print(f"== {options}  outputs: {', '.join(clf.outputs)}")
        print(
            f"OLID test (n={len(olid)}, OFF={sum(olid_y)}): "
            f"toxicity AUC = {auc(olid_y, olid_scores):.4f}  ({elapsed:.2f}s)"
        )
        results = clf.classify([Post(id=str(i), text=t) for i, t in enumerate(jig_texts)])
        for jig_label, ours in JIGSAW_LABELS.items():
            if ours not in clf.outputs:
                continue
            y = [bool(r["labels"].get(jig_label)) for r in jigsaw]
            print(
                f"Jigsaw sample (n={len(jigsaw)}, {jig_label}={sum(y)}): "
                f"{ours} AUC = {auc(y, [r[ours] for r in results]):.4f}"
            )

    default = build({"backend": "default"})
    print("== obfuscation (default backend): label plain -> disguised (delta)")
    worst = 0.0
    for plain, variants in OBFUSCATION_CASES:
        base = default.classify([Post(id="p", text=plain)])[0]
        for variant in variants:
            got = default.classify([Post(id="v", text=variant)])[0]
            for label in ("toxicity", "insult"):
                delta = abs(got[label] - base[label])
                worst = max(worst, delta)
                print(
                    f"  {label:9s} {plain!r:18s} {base[label]:.3f} -> {variant!r:28s} {got[label]:.3f} ({delta:+.3f})"
                )
    print(f"largest move under obfuscation: {worst:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
