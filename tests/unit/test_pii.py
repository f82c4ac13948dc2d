"""The pii classifier: configuration, disguises and offsets, retail look-alikes, signals, accuracy gates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from safeguard.classifiers.base import get_classifier_class
from safeguard.classifiers.pii import PIIClassifier
from safeguard.classifiers.pii.normalize import normalize_pii
from safeguard.datasets import eval_path
from safeguard.errors import ClassifierError
from safeguard.testing import check_classifier
from safeguard.types import Post

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pii" / "retail_lookalikes.yaml"
LOOKALIKES: list[dict[str, Any]] = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="module")
def pii() -> PIIClassifier:
    clf = PIIClassifier()
    clf.load()
    return clf


def signals(clf: PIIClassifier, text: str) -> dict[str, Any]:
    return clf.classify([Post(id="p", text=text)])[0]


def test_conforms_and_is_registered(pii: PIIClassifier) -> None:
    check_classifier(pii)
    assert get_classifier_class("pii") is PIIClassifier


@pytest.mark.parametrize("case", LOOKALIKES, ids=[c["text"][:40] for c in LOOKALIKES])
def test_retail_lookalikes_and_positives(pii: PIIClassifier, case: dict[str, Any]) -> None:
    assert sorted(signals(pii, case["text"])["entities"]) == sorted(case["expect"])


def test_lookalike_suite_has_both_kinds() -> None:
    negatives = [c for c in LOOKALIKES if not c["expect"]]
    assert len(negatives) >= 30 and len(LOOKALIKES) - len(negatives) >= 15


@pytest.mark.parametrize(
    ("text", "entity", "original"),
    [
        ("mail jane (at) gmail (dot) com now", "EMAIL_ADDRESS", "jane (at) gmail (dot) com"),
        ("mail jane[at]gmail[dot]com now", "EMAIL_ADDRESS", "jane[at]gmail[dot]com"),
        ("or jane at gmail dot com", "EMAIL_ADDRESS", "jane at gmail dot com"),
        ("x j\u200bane@gm\u200bail.com y", "EMAIL_ADDRESS", "j\u200bane@gm\u200bail.com"),
        ("call 0\u200b7700 900\u200b318", "PHONE_NUMBER", "0\u200b7700 900\u200b318"),
        ("call me: 4 1 5 5 5 5 0 1 3 2 ok", "PHONE_NUMBER", "4 1 5 5 5 5 0 1 3 2"),
        ("card ４１１１ １１１１ １１１１ １１１１ ok", "CREDIT_CARD", "４１１１ １１１１ １１１１ １１１１"),
        ("my card is 4111 1111 1111 1111", "CREDIT_CARD", "4111 1111 1111 1111"),
    ],
)
def test_disguises_are_found_with_original_offsets(pii: PIIClassifier, text: str, entity: str, original: str) -> None:
    out = signals(pii, text)
    spans = [s for s in out["spans"] if s["type"] == entity]
    assert len(spans) == 1, out
    assert text[spans[0]["start"] : spans[0]["end"]] == original
    assert out["redacted"] == text.replace(original, f"<{entity}>")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text, nothing to do", "plain text, nothing to do"),
        ("look at example.com", "look at example.com"),
        ("jane (at) x (dot) org", "jane@x.org"),
        ("a\u200bb", "ab"),
        ("1 2 3 4 5 6 7", "1234567"),
        ("1 2 3", "1 2 3"),
    ],
)
def test_normalize_pii(text: str, expected: str) -> None:
    norm = normalize_pii(text)
    assert norm.text == expected
    if norm.text:
        start, end = norm.original_span(0, len(norm.text))
        assert (start, end) == (0, len(text))


def test_signals_shape_and_overlaps(pii: PIIClassifier) -> None:
    text = "card 4111 1111 1111 1111 and mail a.b@example.com, call +44 7700 900123"
    out = signals(pii, text)
    assert out["entities"] == ["CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER"]
    assert out["count"] == 3
    assert set(out["scores"]) == set(out["entities"])
    assert all(0.5 <= v <= 1.0 for v in out["scores"].values())
    assert [text[s["start"] : s["end"]] for s in out["spans"]] == [
        "4111 1111 1111 1111",
        "a.b@example.com",
        "+44 7700 900123",
    ]
    assert out["redacted"] == "card <CREDIT_CARD> and mail <EMAIL_ADDRESS>, call <PHONE_NUMBER>"


def test_nothing_found_gives_neutral_signals(pii: PIIClassifier) -> None:
    out = signals(pii, "Does this kettle come in black?")
    assert out == {
        "entities": [],
        "count": 0,
        "scores": {},
        "spans": [],
        "redacted": "Does this kettle come in black?",
        "title_spans": [],
        "redacted_title": "",
    }


def test_the_title_is_read_too_and_its_spans_are_kept_apart(pii: PIIClassifier) -> None:
    post = Post(id="t", title="Call me on +44 7700 900123", text="Card 4111 1111 1111 1111 was charged twice.")
    (out,) = pii.classify([post])
    assert out["entities"] == ["PHONE_NUMBER", "CREDIT_CARD"] and out["count"] == 2
    assert [s["type"] for s in out["spans"]] == ["CREDIT_CARD"]
    assert out["redacted"] == "Card <CREDIT_CARD> was charged twice."
    assert [s["type"] for s in out["title_spans"]] == ["PHONE_NUMBER"]
    assert out["redacted_title"] == "Call me on <PHONE_NUMBER>"


def test_prescreen_skips_presidio(pii: PIIClassifier, monkeypatch: pytest.MonkeyPatch) -> None:
    class Exploding:
        def analyze(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("presidio ran")

    monkeypatch.setattr(pii, "_analyzer", Exploding())
    assert signals(pii, "Worst blender ever, broke in 2 days, 3 stars at most")["count"] == 0
    with pytest.raises(ClassifierError, match="presidio ran"):
        signals(pii, "mail me at a@b.com")


@pytest.mark.parametrize(
    ("options", "text", "expected"),
    [
        ({"entities": ["EMAIL_ADDRESS"]}, "a@b.com and 4111 1111 1111 1111", ["EMAIL_ADDRESS"]),
        ({"allow_list": ["support@larkmoor.com"]}, "write to support@larkmoor.com", []),
        ({"allow_list": ["support@larkmoor.com"]}, "write to jane@larkmoor.com", ["EMAIL_ADDRESS"]),
        ({"min_score": 0.9}, "call me on 07700 900318", []),
        ({"entity_min_score": {"PHONE_NUMBER": 0.9}}, "call me on 07700 900318 or a@b.com", ["EMAIL_ADDRESS"]),
        ({}, "helpline 07700900318", []),
        ({"context": {"PHONE_NUMBER": ["helpline"]}}, "helpline 07700900318", ["PHONE_NUMBER"]),
        ({"regions": ["US"]}, "ring +33 1 42 68 53 00", ["PHONE_NUMBER"]),
        (
            {
                "recognizers": [
                    {"name": "gift", "entity": "GIFT_CARD", "patterns": [{"regex": r"\bLMGC-\d{8}\b", "score": 0.9}]}
                ]
            },
            "my gift card LMGC-12345678 works?",
            ["GIFT_CARD"],
        ),
        (
            {
                "recognizers": [
                    {
                        "name": "loyalty",
                        "entity": "LOYALTY_ID",
                        "patterns": [{"regex": r"\bLK\d{6}\b", "score": 0.3}],
                        "context": ["loyalty"],
                    }
                ]
            },
            "loyalty id LK123456 / LK654321",
            ["LOYALTY_ID"],
        ),
    ],
)
def test_options(options: dict[str, Any], text: str, expected: list[str]) -> None:
    assert signals(PIIClassifier(**options), text)["entities"] == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"entities": ["EMAIL"]}, "unknown type"),
        ({"entities": "EMAIL_ADDRESS"}, "list of non-empty strings"),
        ({"entities": ["PERSON"]}, "need a spaCy model"),
        ({"min_score": 1.5}, r"in \[0, 1\]"),
        ({"min_score": True}, r"in \[0, 1\]"),
        ({"entity_min_score": {"URL": 0.5}}, "not one of the entities"),
        ({"context": {"PHONE_NUMBER": "call"}}, "list of non-empty strings"),
        ({"regions": ["UK1"]}, "two-letter ISO"),
        ({"nlp_model": "en core"}, "spaCy model package"),
        ({"recognizers": [{"name": "x", "entity": "X", "patterns": [{"regex": "(?<=a)b", "score": 0.5}]}]}, "RE2"),
        ({"recognizers": [{"name": "x", "entity": "X", "patterns": [{"regex": "a(", "score": 0.5}]}]}, "RE2"),
        ({"recognizers": [{"name": "x", "entity": "x", "patterns": [{"regex": "a", "score": 0.5}]}]}, "upper-case"),
        ({"recognizers": [{"name": "x", "entity": "X", "patterns": []}]}, "non-empty list"),
        ({"recognizers": [{"name": "x", "entity": "X", "patterns": [{"regex": "a", "score": 2}]}]}, r"in \[0, 1\]"),
        ({"recognizers": [{"name": "x", "entity": "X", "pattern": "a"}]}, "unknown key"),
        ({"color": "red"}, "color"),
    ],
)
def test_bad_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        PIIClassifier(**options)


def test_unknown_region_fails_at_load() -> None:
    with pytest.raises(ClassifierError, match="ZZ"):
        PIIClassifier(regions=["ZZ"]).load()


def test_missing_spacy_model_names_the_package() -> None:
    clf = PIIClassifier(entities=["PERSON", "EMAIL_ADDRESS"], nlp_model="en_core_web_nonexistent")
    with pytest.raises(ClassifierError, match=r"en_core_web_nonexistent.*not installed"):
        clf.load()


def test_quiet_and_offline() -> None:
    code = (
        "import sys; from safeguard.classifiers.pii import PIIClassifier; from safeguard.types import Post; "
        "c = PIIClassifier(); print(c.classify([Post(id='1', text='mail a.b@example.co.uk')])[0]['entities']); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert run.stdout.split("\n")[:2] == ["['EMAIL_ADDRESS']", "[]"]
    assert run.stderr == ""


# ---------------------------------------------------------------------- accuracy gates (need ../shared/eval)

TARGETS = ("CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "US_SSN", "IP_ADDRESS")


def _rows(name: str) -> list[dict[str, Any]]:
    path = eval_path(name)
    if path is None:
        pytest.skip(f"evaluation set {name} not found (../shared/eval)")
    from safeguard.datasets import read_eval

    return list(read_eval(name))


def test_recall_on_presidio_research_synthetic(pii: PIIClassifier) -> None:
    rows = _rows("presidio_research_synthetic_pii.jsonl")
    gold = [{s["entity"] for s in r["labels"]["spans"]} & set(TARGETS) for r in rows]
    posts = [Post(id=r["id"], text=r["text"]) for r, g in zip(rows, gold, strict=True) if g]
    gold = [g for g in gold if g]
    found = [set(s["entities"]) for s in pii.classify(posts)]
    hits = sum(len(g & f) for g, f in zip(gold, found, strict=True))
    total = sum(len(g) for g in gold)
    assert total > 700
    assert hits / total >= 0.97


def test_no_false_flags_on_review_sentences(pii: PIIClassifier) -> None:
    rows = _rows("uci_review_sentences.jsonl")
    assert len(rows) == 3000
    flagged = [
        (r["text"], s["entities"])
        for r, s in zip(rows, pii.classify([Post(id=r["id"], text=r["text"]) for r in rows]), strict=True)
        if s["entities"]
    ]
    assert flagged == []


def test_every_pattern_entity_has_its_recognizers_in_the_table() -> None:
    from safeguard.classifiers.pii import PATTERN_ENTITIES
    from safeguard.classifiers.pii.recognizers import pattern_recognizers

    table = pattern_recognizers(["GB"])
    assert tuple(table) == PATTERN_ENTITIES
    for entity, found in table.items():
        assert found and all(entity in r.supported_entities for r in found), entity
