"""The CLI as a user runs it: a subprocess, real files, exit codes and outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
VALID = FIXTURES / "rules" / "valid.yaml"


def run(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "safeguard", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_check_lists_all_four_problems_with_lines_and_no_traceback() -> None:
    result = run("check", str(FIXTURES / "rules" / "four_problems.yaml"))
    assert result.returncode == 2
    err = result.stderr
    assert "Traceback" not in err
    for line, fragment in [
        (9, "unknown key 'severity'"),
        (11, "invalid expression"),
        (14, "unknown signal spamscore.scroe"),
        (18, "invalid action 'delete'"),
    ]:
        assert f"four_problems.yaml:{line}:" in err and fragment in err, (line, err)
    assert "4 problems" in err


def test_check_valid_ruleset_exits_zero() -> None:
    result = run("check", str(VALID))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stderr and "4 rules" in result.stderr


def test_moderate_bad_records_become_error_records_in_place(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    lines = [
        json.dumps({"id": "p1", "text": "Lovely kettle, boils fast"}),
        json.dumps({"id": "p2", "text": "you absolute idiot"}),
        '{"id": "p3", "text": "this line was trunc',
        "",
        json.dumps({"id": "p4", "body": "no text field here"}),
        json.dumps({"id": "p5", "text": "see you at the store", "author": {"trust_level": 0}}),
    ]
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "decisions.jsonl"
    result = run("moderate", str(dump), "--rules", str(VALID), "-o", str(out))
    assert result.returncode == 3, result.stderr
    records = read_jsonl(out)
    assert len(records) == 5  # five records; the blank line is not one
    assert [r.get("post_id") or r.get("id") for r in records] == ["p1", "p2", None, "p4", "p5"]
    assert records[0]["action"] == "allow" and records[1]["action"] == "hold"
    assert records[2]["line"] == 3 and "invalid JSON" in str(records[2]["error"])
    assert records[3]["line"] == 5 and "no text" in str(records[3]["error"])
    assert records[4]["action"] == "allow"
    assert "error records" in result.stderr and "Traceback" not in result.stderr


def test_moderate_clean_dump_exits_zero_and_summarises(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text(
        "\n".join(json.dumps({"id": f"p{i}", "text": "you moron" if i % 4 == 0 else "fine"}) for i in range(40)),
        encoding="utf-8",
    )
    summary = tmp_path / "summary.json"
    result = run(
        "moderate", str(dump), "-r", str(VALID), "-o", str(tmp_path / "o.jsonl"), "--summary-json", str(summary)
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(summary.read_text())
    assert data["actions"] == {"allow": 30, "hold": 10, "remove": 0}
    assert data["rules"] == {"insult-list": 10}
    assert data["errors"] == 0 and data["posts"] == 40


def test_moderate_stdin_with_field_map_to_stdout() -> None:
    stdin = "\n".join(
        [
            json.dumps({"post_id": "a", "body": "you moron", "user_id": "u1"}),
            json.dumps({"post_id": "b", "body": "great price"}),
        ]
    )
    result = run("moderate", "-", "-r", str(VALID), "--field", "text=body", "--field", "id=post_id", stdin=stdin)
    assert result.returncode == 0, result.stderr
    records = [json.loads(x) for x in result.stdout.splitlines()]
    assert [(r["post_id"], r["action"]) for r in records] == [("a", "hold"), ("b", "allow")]


def test_moderate_csv_and_parquet_inputs_and_outputs(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    csv_in = tmp_path / "dump.csv"
    csv_in.write_text('id,text\nc1,"you moron"\nc2,"multi\nline kettle review"\nc3,\n', encoding="utf-8")
    out_csv = tmp_path / "out.csv"
    result = run("moderate", str(csv_in), "-r", str(VALID), "-o", str(out_csv))
    assert result.returncode == 3, result.stderr  # c3 has no text
    rows = out_csv.read_text().splitlines()
    assert rows[0].startswith("line,post_id,action")
    assert len([r for r in rows[1:] if r.strip()]) >= 3

    table = pa.table({"id": ["q1", "q2"], "text": ["you idiot", "nice"]})
    pq_in = tmp_path / "dump.parquet"
    pq.write_table(table, pq_in)
    out_pq = tmp_path / "out.parquet"
    result = run("moderate", str(pq_in), "-r", str(VALID), "-o", str(out_pq))
    assert result.returncode == 0, result.stderr
    back = pq.read_table(out_pq).to_pylist()
    assert [(r["post_id"], r["action"]) for r in back] == [("q1", "hold"), ("q2", "allow")]


def test_missing_input_file_is_an_io_error(tmp_path: Path) -> None:
    result = run("moderate", str(tmp_path / "nope.jsonl"), "-r", str(VALID))
    assert result.returncode == 4
    assert "nope.jsonl" in result.stderr and "Traceback" not in result.stderr


def test_missing_rules_file_is_a_config_error(tmp_path: Path) -> None:
    result = run("moderate", "-", "-r", str(tmp_path / "none.yaml"), stdin="")
    assert result.returncode == 2
    assert "not found" in result.stderr


def test_classify_prints_raw_signals(tmp_path: Path) -> None:
    result = run("classify", "-", "-r", str(VALID), "--only", "text", stdin=json.dumps({"id": "z", "text": "HELLO"}))
    assert result.returncode == 0, result.stderr
    [row] = [json.loads(x) for x in result.stdout.splitlines()]
    assert row["id"] == "z" and set(row["signals"]) == {"text"}
    assert row["signals"]["text"]["caps_ratio"] == 1.0


@pytest.mark.parametrize(
    ("files", "code", "closing"),
    [
        (["pass.test.yaml"], 0, "6 passed, 0 failed, 1 xfailed"),
        (["fail.test.yaml"], 1, "1 passed, 1 failed"),
        (["broken.test.yaml"], 2, "0 passed, 0 failed, 1 broken file"),
        (["broken_rules.test.yaml"], 2, "0 passed, 0 failed, 1 broken file"),
    ],
)
def test_rule_test_exit_codes(files: list[str], code: int, closing: str) -> None:
    result = run("test", *[str(FIXTURES / "ruletests" / f) for f in files])
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == closing
    assert "Traceback" not in result.stderr


def test_rule_test_failure_is_explained_and_junit_written(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = run("test", str(FIXTURES / "ruletests" / "fail.test.yaml"), "--junit", str(junit))
    assert result.returncode == 1
    assert "should have fired: threat" in result.stderr
    assert "fired unexpectedly: insult-list" in result.stderr
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"


def test_rule_test_broken_file_lists_every_problem() -> None:
    result = run("test", str(FIXTURES / "ruletests" / "broken.test.yaml"))
    err = result.stderr
    assert "unknown key 'expcet'" in err
    assert "no rule 'no-such-rule'" in err
    assert "has no signal 'insultt'" in err


def test_rule_test_run_filter_and_uncovered_rules() -> None:
    result = run("test", str(FIXTURES / "ruletests" / "fail.test.yaml"), "--run", "^passes$")
    assert result.returncode == 0
    assert result.stdout.strip().splitlines()[-1] == "1 passed, 0 failed"
    assert "rules no case covers" in result.stderr and "new-member-long" in result.stderr


def test_explain_shows_rules_values_and_signals() -> None:
    result = run("explain", "you absolute m0r0n", "-r", str(VALID))
    assert result.returncode == 0, result.stderr
    assert "HOLD" in result.stdout and "insult-list" in result.stdout
    assert "caps_ratio" in result.stdout


def test_schema_matches_the_shipped_schema_file() -> None:
    result = run("schema")
    assert result.returncode == 0
    shipped = json.loads((ROOT / "schema" / "ruleset.schema.json").read_text())
    assert json.loads(result.stdout) == shipped


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith("safeguard ")
    assert "moderate" in run("--help").stdout


def test_help_shows_no_type_beside_a_flag() -> None:
    text = run("moderate", "--help").stdout
    progress = next(line for line in text.splitlines() if "--no-progress" in line)
    assert "<bool>" not in progress
    assert "<bool>" not in text  # --help itself included
    # options that take a value still say what kind
    assert "<path>" in next(line for line in text.splitlines() if "--rules" in line)
