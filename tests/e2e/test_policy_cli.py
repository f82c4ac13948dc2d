"""``safeguard diff``, ``evaluate`` and ``report`` as a user runs them: exit codes, outputs, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "community.yaml"
DUMP = ROOT / "examples" / "community_dump.jsonl"
POLICY = ROOT / "tests" / "fixtures" / "policy"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "safeguard", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def new_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped policy with the shouting rule enforced instead of shadowed."""
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for rule in data["rules"]:
        if rule["id"] == "shouting-long-post":
            rule.pop("mode")
    data["lists"] = {k: str(RULES.parent / v) for k, v in data["lists"].items()}
    data["allow_outside"] = True  # the copy lives elsewhere and reads the shipped lists
    path = tmp_path_factory.mktemp("rules") / "new.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_diff_json_is_byte_identical_across_runs(new_rules: Path) -> None:
    first = run("diff", str(RULES), str(new_rules), str(DUMP), "--json")
    second = run("diff", str(RULES), str(new_rules), str(DUMP), "--json", "--batch-size", "7")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert data["changed"] == 1 and data["transitions"]["allow"]["hold"] == 1
    assert data["rules"]["shouting-long-post"]["mode_before"] == "shadow"
    assert data["examples"]["allow->hold"][0]["post_id"] == "p0247"
    assert data["hold_queue"]["days"] == 28 and "seconds" not in first.stdout


@pytest.mark.parametrize(
    ("new", "flags", "code"),
    [
        ("new", ["--fail-on-change"], 1),
        ("same", ["--fail-on-change"], 0),
        ("new", [], 0),
    ],
)
def test_diff_fail_on_change(new_rules: Path, new: str, flags: list[str], code: int) -> None:
    other = new_rules if new == "new" else RULES
    result = run("diff", str(RULES), str(other), str(DUMP), *flags)
    assert result.returncode == code, result.stderr
    assert "changed" in result.stdout and "transitions" in result.stdout and "Traceback" not in result.stderr


def test_diff_errors(tmp_path: Path) -> None:
    bad_rules = run("diff", str(RULES), str(tmp_path / "nope.yaml"), str(DUMP))
    assert bad_rules.returncode == 2 and "not found" in bad_rules.stderr
    missing = run("diff", str(RULES), str(RULES), str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 4 and "cannot read" in missing.stderr
    dump = tmp_path / "d.jsonl"
    dump.write_text('{"id": "a", "text": "hi"}\n{"id": "b"\n', encoding="utf-8")
    records = run("diff", str(RULES), str(RULES), str(dump), "--json")
    assert records.returncode == 3 and json.loads(records.stdout)["error_records"] == 1
    assert "Traceback" not in bad_rules.stderr + missing.stderr + records.stderr


EVAL = [
    "evaluate",
    str(POLICY / "labelled.jsonl"),
    "--rules",
    str(POLICY / "eval_rules.yaml"),
    "--label-field",
    "review.verdict",
    "--label-map",
    "ok=allow,flag=hold,bad=remove",
]


def test_evaluate_json_numbers() -> None:
    result = run(*EVAL, "--json")
    assert result.returncode == 3, result.stderr  # two records of the fixture are not posts
    data = json.loads(result.stdout)
    assert data["posts"] == 13 and data["error_records"] == 2 and data["unlabelled"] == 1
    assert data["rules"]["insult"]["precision"] == round(2 / 3, 6)
    assert data["actions"]["hold"]["recall"] == 0.25
    assert data["confusion"]["matrix"]["remove"] == {"allow": 1, "hold": 1, "remove": 2}


@pytest.mark.parametrize(
    ("gates", "code", "message"),
    [
        (["--min-precision", "insult=0.6", "--min-recall", "hold+=0.6"], 3, "pass"),
        (["--min-precision", "insult=0.7"], 1, "1 gate failed"),
        (["--min-recall", "remove=0.9", "--min-precision", "threat=0.9"], 1, "2 gates failed"),
        (["--min-precision", "nosuch=0.9"], 2, "neither an action"),
        (["--min-recall", "hold=2"], 2, "between 0 and 1"),
    ],
)
def test_evaluate_gates(gates: list[str], code: int, message: str) -> None:
    result = run(*EVAL, *gates)
    assert result.returncode == code, result.stderr
    assert message in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_evaluate_unmapped_labels_list_the_values() -> None:
    result = run(*EVAL[:-1], "ok=allow")
    assert result.returncode == 2
    assert "'flag' (4)" in result.stderr and "'bad' (4)" in result.stderr and "--label-map" in result.stderr
    nolabel = run(*EVAL[:4], "--label-field", "verdict", *EVAL[-2:])
    assert nolabel.returncode == 2 and "no record has a label" in nolabel.stderr


def test_report_writes_one_page(tmp_path: Path) -> None:
    decisions = tmp_path / "decisions.jsonl"
    moderated = run("moderate", str(DUMP), "-o", str(decisions), "--no-progress")
    assert moderated.returncode == 0, moderated.stderr
    page = tmp_path / "report.html"
    result = run("report", str(decisions), "-o", str(page), "--posts", str(DUMP))
    assert result.returncode == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    for element in ("chart-actions-over-time", "chart-top-rules", "chart-score-text-length"):
        assert f'id="{element}"' in html
    assert "364 posts joined" in result.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(decisions.read_text(encoding="utf-8") + "{oops\n", encoding="utf-8")
    assert run("report", str(bad), "-o", str(page)).returncode == 3
    assert run("report", str(tmp_path / "none.jsonl"), "-o", str(page)).returncode == 4
    csv = run("report", str(tmp_path / "decisions.csv"), "-o", str(page))
    assert csv.returncode == 2 and "JSONL or Parquet" in csv.stderr


def test_error_records_are_named_through_the_field_map(tmp_path: Path) -> None:
    dump = tmp_path / "renamed.jsonl"
    dump.write_text(
        '{"post_id": "a", "body": "the kettle is great", "verdict": "ok"}\n{"post_id": "b", "verdict": "ok"}\n',
        encoding="utf-8",
    )
    fields = ["--field", "id=post_id", "--field", "text=body"]
    diffed = run("diff", str(RULES), str(RULES), str(dump), *fields, "--json")
    evaluated = run(
        "evaluate", str(dump), "--rules", str(RULES), "--label-field", "verdict", "--label-map", "ok=allow",
        *fields, "--json",
    )  # fmt: skip
    for result in (diffed, evaluated):
        assert result.returncode == 3, result.stderr
        errors = json.loads(result.stdout)["errors"]
        assert [(e["id"], e["line"]) for e in errors] == [("b", 2)]
