"""``safeguard bench`` as a user runs it: a subprocess, tiny runs, the JSON it prints and the files it writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from safeguard.bench import validate_results
from safeguard.bench.report import MARKER_END, MARKER_START

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    src = str(ROOT / "src")
    path = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "safeguard", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_quick_text_only_prints_conforming_json(tmp_path: Path) -> None:
    result = run("bench", "--quick", "--only", "text", "--posts", "200", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert validate_results(document) == []
    (text,) = document["results"]
    assert text["name"] == "text" and text["status"] == "ok" and text["posts"] == 200
    assert "[1/1] text:" in result.stderr and "posts/s" in result.stderr
    assert not (tmp_path / "benchmarks").exists()  # a partial run writes no default results file


def test_output_file_and_readme_table_from_it(tmp_path: Path) -> None:
    corpus = ROOT / "examples" / "community_dump.jsonl"
    out = tmp_path / "r.json"
    result = run("bench", "--only", "text", "--posts", "50", "--corpus", str(corpus), "-o", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["corpus"]["source"] == str(corpus)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{MARKER_START}\nold\n{MARKER_END}\n", encoding="utf-8")
    result = run("bench", "--markdown", str(out), "--readme", str(readme), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "| `text` |" in readme.read_text(encoding="utf-8") and "old" not in readme.read_text(encoding="utf-8")


def test_user_mistakes_get_a_message_and_an_exit_code_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"results": []}', encoding="utf-8")
    cases = [
        (("bench", "--only", "nope"), 2, "unknown subject 'nope'"),
        (("bench", "--corpus", str(tmp_path / "missing.jsonl")), 4, "not found"),
        (("bench", "--markdown", str(bad), "--readme", str(tmp_path / "R.md")), 2, "missing key 'machine'"),
        (("bench", "--markdown", str(tmp_path / "none.json")), 4, "cannot read"),
    ]
    for args, code, message in cases:
        result = run(*args, cwd=tmp_path)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
