"""``safeguard moderate`` with a duplicate window that persists between runs (``state:``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RULES = """
ruleset: dup-cli
classifiers:
  duplicate: {window: 1000, state: state/window.npz}
rules:
  - id: campaign
    when: duplicate.of != "" && duplicate.authors >= 3
    action: hold
"""
TEXT = "Get 70% off every order with code LARK70 at the outlet store, limited time only!"


def moderate(tmp_path: Path, name: str, authors: list[str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    dump = tmp_path / f"{name}.jsonl"
    records = [{"id": f"{name}{i}", "text": TEXT, "author": {"id": a}} for i, a in enumerate(authors)]
    dump.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    out = tmp_path / f"{name}.out.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "safeguard", "moderate", str(dump), "-r", str(tmp_path / "rules.yaml"), "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    actions = [json.loads(line)["action"] for line in out.read_text().splitlines()] if out.exists() else []
    return result, actions


def test_window_state_is_saved_after_a_dump_and_restored_by_the_next(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    result, actions = moderate(tmp_path, "day1", ["a", "b"])
    assert result.returncode == 0, result.stderr
    assert actions == ["allow", "allow"]
    assert (tmp_path / "state" / "window.npz").exists()
    result, actions = moderate(tmp_path, "day2", ["c"])
    assert result.returncode == 0, result.stderr
    assert actions == ["hold"]  # the third author, counting the two from yesterday's dump


def test_corrupt_state_is_a_config_error_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "window.npz").write_bytes(b"garbage")
    result, _ = moderate(tmp_path, "day1", ["a"])
    assert result.returncode == 2
    assert "cannot be read as a duplicate window" in result.stderr and "Traceback" not in result.stderr
