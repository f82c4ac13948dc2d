"""The shipped policy over technical forum answers (benchmarks/data/technical_answers.jsonl).

Formulas, logs, stack traces, version strings, shell commands ("kill -9", "rm -rf build/"), SQL,
configs, part and order numbers: nothing harmful, so the shipped policy must remove none of them.
Reads repo files only (no ../shared).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from safeguard import Moderator
from safeguard.types import Action

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "community.yaml"
ANSWERS = ROOT / "benchmarks" / "data" / "technical_answers.jsonl"
KINDS = {"formula", "log", "version", "command", "sql", "config", "other"}


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in ANSWERS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_file_shape(rows: list[dict[str, Any]]) -> None:
    assert len(rows) >= 80
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids), "duplicate ids"
    for r in rows:
        assert set(r) == {"id", "text", "kind"}, r["id"]
        assert isinstance(r["text"], str) and r["text"].strip(), r["id"]
        assert r["kind"] in KINDS, f"{r['id']}: kind {r['kind']!r}"


def test_shipped_policy_removes_no_technical_answer(rows: list[dict[str, Any]]) -> None:
    moderator = Moderator.from_file(RULES)
    decisions = moderator.moderate_batch([{"id": r["id"], "text": r["text"]} for r in rows])
    removed = [
        f"{r['id']} [{r['kind']}] {', '.join(d.rules)}: {r['text'][:80]!r}"
        for r, d in zip(rows, decisions, strict=True)
        if d.action is Action.REMOVE
    ]
    assert not removed, "technical answers removed:\n" + "\n".join(removed)
