"""Posts per second of the ``pii`` classifier against Presidio's stock AnalyzerEngine, in one run.

    python benchmarks/pii_speed.py [--posts 4000]      # from the repository root

Both see the same real forum posts: half Reddit comments (reddit_comp551_comments.jsonl), half Stack
Exchange posts and comments (stackexchange_posts_comments.jsonl), the first N/2 of each, from
../shared/eval. Presidio is the unmodified AnalyzerEngine with its predefined pattern recognizers on a
no-op NLP engine, asked for the same six entity types. A spaCy NER model is measured too when
``en_core_web_sm`` is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import time
from collections.abc import Callable

from safeguard.classifiers.pii import DEFAULT_ENTITIES, PIIClassifier
from safeguard.datasets import read_eval
from safeguard.types import Post


def forum_posts(n: int) -> list[str]:
    half = n // 2
    texts = [r["text"] for r in read_eval("reddit_comp551_comments.jsonl", limit=half)]
    texts += [r["text"] for r in read_eval("stackexchange_posts_comments.jsonl", limit=n - half)]
    return texts


def timed(label: str, run: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    rate = n / elapsed
    print(f"{label:<44} {elapsed:8.2f} s  {rate:10.0f} posts/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=4000)
    args = parser.parse_args()
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    texts = forum_posts(args.posts)
    posts = [Post(id=str(i), text=t) for i, t in enumerate(texts)]
    chars = sum(map(len, texts))
    print(f"{len(texts)} forum posts, {chars / len(texts):.0f} characters on average")

    ours = PIIClassifier()
    ours.load()
    ours.classify(posts[:50])  # warm-up

    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    stock = AnalyzerEngine(nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}]))
    entities = list(DEFAULT_ENTITIES)
    for t in texts[:50]:
        stock.analyze(t, language="en", entities=entities)

    rate_ours = timed("safeguard pii (default config)", lambda: ours.classify(posts), len(texts))
    rate_stock = timed(
        "presidio AnalyzerEngine, pattern recognizers",
        lambda: [stock.analyze(t, language="en", entities=entities) for t in texts],
        len(texts),
    )
    print(f"ratio safeguard / presidio patterns: {rate_ours / rate_stock:.1f}x")
    skipped = sum(1 for p in posts if not ours._candidate_entities(p.text))
    print(f"posts settled by the pre-screen (Presidio not called): {skipped}/{len(posts)}")
    if importlib.util.find_spec("en_core_web_sm") is None:
        print("presidio with spaCy NER: not measured, no spaCy model (en_core_web_sm) is installed")
    else:
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        nlp = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": "en_core_web_sm"}],
            }
        ).create_engine()
        ner = AnalyzerEngine(nlp_engine=nlp)
        rate_ner = timed(
            "presidio AnalyzerEngine, spaCy en_core_web_sm",
            lambda: [ner.analyze(t, language="en", entities=entities) for t in texts],
            len(texts),
        )
        print(f"ratio safeguard / presidio with NER: {rate_ours / rate_ner:.1f}x")


if __name__ == "__main__":
    main()
