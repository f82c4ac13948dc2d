"""Accuracy of the ``pii`` classifier on the labelled sets in ../shared/eval.

    python benchmarks/pii_eval.py            # from the repository root

* post-level recall on presidio_research_synthetic_pii.jsonl (all rows) over CREDIT_CARD,
  EMAIL_ADDRESS, PHONE_NUMBER, IBAN_CODE, US_SSN and IP_ADDRESS: a post whose gold spans include type E
  counts as found when the classifier reports E for it;
* false flags (posts with any reported type) on uci_review_sentences.jsonl (3,000 review sentences);
* Presidio's AnalyzerEngine with its stock pattern recognizers (no-op NLP engine, any score) on the
  same posts, for comparison.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter

from safeguard.classifiers.pii import PIIClassifier
from safeguard.datasets import read_eval
from safeguard.types import Post

TARGETS = ("CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "US_SSN", "IP_ADDRESS")
SYNTHETIC = "presidio_research_synthetic_pii.jsonl"
REVIEWS = "uci_review_sentences.jsonl"


def synthetic_recall(
    found_types: list[set[str]], gold_types: list[set[str]]
) -> tuple[dict[str, tuple[int, int]], float]:
    """Per-type (found, total) and the pooled post-level recall."""
    hits: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for found, gold in zip(found_types, gold_types, strict=True):
        for entity in gold:
            totals[entity] += 1
            hits[entity] += entity in found
    per = {e: (hits[e], totals[e]) for e in TARGETS}
    total = sum(totals.values())
    return per, (sum(hits.values()) / total if total else 0.0)


def load_synthetic() -> tuple[list[str], list[set[str]]]:
    texts, gold = [], []
    for row in read_eval(SYNTHETIC):
        types = {s["entity"] for s in (row.get("labels") or {}).get("spans", [])} & set(TARGETS)
        if types:
            texts.append(row["text"])
            gold.append(types)
    return texts, gold


def ours(texts: list[str]) -> list[set[str]]:
    clf = PIIClassifier(entities=list(TARGETS))
    signals = clf.classify([Post(id=str(i), text=t) for i, t in enumerate(texts)])
    return [set(s["entities"]) for s in signals]


def presidio_stock(texts: list[str]) -> list[set[str]]:
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    engine = AnalyzerEngine(nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}]))
    out = []
    for text in texts:
        results = engine.analyze(text, language="en", entities=list(TARGETS))
        out.append({r.entity_type for r in results})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-presidio", action="store_true", help="skip the stock Presidio comparison")
    parser.add_argument("--show-misses", type=int, default=0, help="print up to N missed posts per type")
    args = parser.parse_args()
    texts, gold = load_synthetic()
    reviews = [row["text"] for row in read_eval(REVIEWS)]
    systems = {"safeguard pii": ours}
    if not args.no_presidio:
        systems["presidio stock patterns"] = presidio_stock
    print(f"{SYNTHETIC}: {len(texts)} posts with a target type; {REVIEWS}: {len(reviews)} sentences")
    for label, run in systems.items():
        found = run(texts)
        per, pooled = synthetic_recall(found, gold)
        flagged = [(t, f) for t, f in zip(reviews, run(reviews), strict=True) if f]
        cells = "  ".join(f"{e} {h}/{n}={h / n:.3f}" for e, (h, n) in per.items() if n)
        print(f"\n{label}\n  recall (post level) {pooled:.4f}\n  {cells}\n  review false flags {len(flagged)}")
        for text, types in flagged[:10]:
            print(f"    {sorted(types)}: {text[:100]!r}")
        if args.show_misses:
            for e in TARGETS:
                misses = [t for t, f, g in zip(texts, found, gold, strict=True) if e in g and e not in f]
                for t in misses[: args.show_misses]:
                    print(f"    miss {e}: {t[:160]!r}")


if __name__ == "__main__":
    main()
