"""The functional cases written for the harm models: deterministic, split by template, and apart from the
shipped policy's own test cases."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from safeguard.classifiers.toxicity import functional, harmdata
from safeguard.classifiers.toxicity.functional import KINDS, SLOTS, TEMPLATES, functional_rows
from safeguard.classifiers.toxicity.harmdata import HEADS, UNKNOWN

ROOT = Path(__file__).resolve().parents[2]


def test_rows_are_fixed_by_the_seed() -> None:
    first = [(r.id, r.text, r.split) for r in functional_rows(per_template=5)]
    assert first == [(r.id, r.text, r.split) for r in functional_rows(per_template=5)]
    assert first != [(r.id, r.text, r.split) for r in functional_rows(per_template=5, seed=1)]


def test_every_template_fills_and_every_slot_is_known() -> None:
    rows = functional_rows(per_template=3)
    by_template = defaultdict(list)
    for r in rows:
        by_template[r.id.rsplit("-", 1)[0]].append(r)
    assert set(by_template) == {t.id for t in TEMPLATES}
    for t in TEMPLATES:
        assert t.kind in KINDS
        assert set(functional._SLOT.findall(t.text)) <= set(SLOTS), t.id
    for r in rows:
        assert "{" not in r.text and "}" not in r.text, r.text
    assert len({r.id for r in rows}) == len(rows)
    assert len({r.text for r in rows}) == len(rows)


def test_a_template_never_straddles_two_splits() -> None:
    splits = defaultdict(set)
    for r in functional_rows():
        splits[r.id.rsplit("-", 1)[0]].add(r.split)
    assert all(len(s) == 1 for s in splits.values())
    # Every kind trains, and the held-out splits hold sentence shapes of several kinds.
    kinds_by_split = defaultdict(set)
    for t in TEMPLATES:
        kinds_by_split[next(iter(splits[t.id]))].add(t.kind)
    assert kinds_by_split["train"] == set(KINDS)
    assert len(kinds_by_split["test"]) >= 5


def test_targets_speak_only_of_known_heads() -> None:
    for kind, targets in KINDS.items():
        assert set(targets) <= set(HEADS), kind
        assert set(targets.values()) <= {0, 1}, kind
    rows = functional_rows(per_template=2)
    harmful = {"group_hate", "group_threat", "person_threat", "person_insult"}
    for r in rows:
        kind = r.id.split("-", 1)[0]
        assert r.target("toxicity") == int(kind in harmful)
        assert r.target("self_harm") == int(kind == "self_harm")
        benign = ("figurative", "story_violence", "identity_benign")
        assert r.target("profanity") in ((0,) if kind in benign else (0, UNKNOWN))


def test_the_policy_test_cases_are_not_training_rows() -> None:
    cases = yaml.safe_load((ROOT / "rules" / "community.test.yaml").read_text(encoding="utf-8"))["cases"]
    case_texts = {" ".join(str(c["post"].get("text", "")).lower().split()) for c in cases}
    rows = {" ".join(r.text.lower().split()) for r in functional_rows()}
    assert not case_texts & rows


def test_load_corpus_adds_the_cases_unless_sources_are_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    row = {"id": "t-1", "text": "a kind word", "label": "neutral", "split": "train"}
    (tmp_path / "toxigen_seed_sentences.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    monkeypatch.setattr(harmdata, "train_dir", lambda: tmp_path)
    chosen = {"toxigen_seed_sentences.jsonl": harmdata.SOURCES["toxigen_seed_sentences.jsonl"]}
    only = harmdata.load_corpus(sources=chosen)
    assert [r.source for r in only] == ["toxigen_seed_sentences"]
    both = harmdata.load_corpus(sources=chosen, functional=True)
    assert len(both) == 1 + len(functional_rows())
    assert {r.source for r in both} == {"toxigen_seed_sentences", functional.SOURCE}
    assert all(r.weight == functional.WEIGHT for r in both if r.source == functional.SOURCE)
