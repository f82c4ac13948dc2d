"""The feedback classifier against its hand-labelled set (``tests/fixtures/feedback``): the set is what its
README says it is, and the shipped classifier keeps the figures it was shipped with on the ``test`` half.
Without ``../shared/eval`` the real posts have no text and only the invented ones are scored."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from safeguard.classifiers.feedback import ASPECTS, KINDS, FeedbackClassifier
from safeguard.datasets import eval_path

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT / "tests" / "fixtures" / "feedback" / "labels.jsonl"


def _evaluation() -> Any:
    spec = importlib.util.spec_from_file_location("feedback_eval", ROOT / "benchmarks" / "feedback_eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scored() -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    evaluation = _evaluation()
    posts, labels, _ = evaluation.load_labels("test")
    return evaluation, labels, FeedbackClassifier().classify(posts)


def test_the_labelled_set_is_what_its_readme_says() -> None:
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == 490 and len({r["id"] for r in rows}) == 490
    for r in rows:
        assert r["kind"] in KINDS and set(r["aspects"]) <= set(ASPECTS)
        digest = int(hashlib.sha256(("feedback-v1:" + r["id"]).encode()).hexdigest(), 16)
        assert r["split"] == ("dev" if digest % 2 == 0 else "test")
        assert ("text" in r) == (r["source"] == "invented")  # real texts stay in ../shared/eval


def test_kind_macro_f1_holds_on_the_test_half(scored: tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    evaluation, labels, signals = scored
    result = evaluation.kind_scores([s["kind"] for s in signals], [r["kind"] for r in labels])
    # shipped at 0.791 on all 254 test posts: a drop below 0.75 is a regression
    assert result["macro_f1"] >= 0.75, result


def test_aspect_precision_holds_on_the_test_half(
    scored: tuple[Any, list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    evaluation, labels, signals = scored
    precision, recall, _, _ = evaluation.aspect_scores([s["aspects"] for s in signals], [r["aspects"] for r in labels])[
        "micro"
    ]
    assert precision >= 0.8 and recall >= 0.55, (precision, recall)  # shipped at 0.844 and 0.592


@pytest.fixture(scope="module")
def scored_encoder() -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    evaluation = _evaluation()
    posts, labels, missing = evaluation.load_labels("test")
    if missing:  # the figures below are the whole half's
        pytest.skip(f"{missing} real posts have no text without ../shared/eval")
    return evaluation, labels, FeedbackClassifier(kind_model="encoder").classify(posts)


def test_the_encoder_tier_reads_kinds_and_aspects_better_on_the_test_half(
    scored: tuple[Any, list[dict[str, Any]], list[dict[str, Any]]],
    scored_encoder: tuple[Any, list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    evaluation, labels, lexical = scored
    _, _, encoder = scored_encoder
    truth = [r["kind"] for r in labels]
    f1 = {
        name: evaluation.kind_scores([s["kind"] for s in got], truth)["macro_f1"]
        for name, got in (("lexical", lexical), ("encoder", encoder))
    }
    # shipped at 0.867 (lexical 0.787 or so) on all 254 test posts: below 0.82, or no better than the
    # lexical model, is a regression
    assert f1["encoder"] >= 0.82 and f1["encoder"] > f1["lexical"] + 0.02, f1
    precision, recall, _, _ = evaluation.aspect_scores([s["aspects"] for s in encoder], [r["aspects"] for r in labels])[
        "micro"
    ]
    assert precision >= 0.82 and recall >= 0.68, (precision, recall)  # shipped at 0.856 and 0.741


@pytest.mark.skipif(eval_path("uci_review_sentences.jsonl") is None, reason="../shared/eval not found")
def test_sentiment_ranks_the_uci_review_sentences() -> None:
    result = _evaluation().sentiment_auc(FeedbackClassifier())
    assert result is not None and result[0] >= 0.90, result
