"""The CLI against hostile paths, streams and records: refusals before anything is written, no
traceback, nothing of the user's destroyed; and ``moderate --resume`` after a SIGKILL."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LISTS = ROOT / "benchmarks" / "rules" / "lists_only.yaml"
DUMP = ROOT / "examples" / "community_dump.jsonl"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "NO_COLOR": "1"}


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "safeguard", *args], capture_output=True, text=True, cwd=cwd, env=ENV, timeout=120
    )
    assert "Traceback" not in result.stderr, result.stderr
    result.stderr = " ".join(result.stderr.split())  # messages wrapped at 80 columns, joined again
    return result


def shell(script: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    result.stderr = " ".join(result.stderr.split())  # messages wrapped at 80 columns, joined again
    return result


def moderate(*args: str) -> subprocess.CompletedProcess[str]:
    return run("moderate", str(DUMP), "-r", str(LISTS), *args)


# --- outputs never destroy ----------------------------------------------------------------------


def test_every_command_that_writes_a_file_refuses_a_symlink_before_working(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "out"
    link.symlink_to(target)
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        "".join(json.dumps({"text": f"post {i}", "label": "spam" if i % 2 else "ham"}) + "\n" for i in range(40))
    )
    commands = {
        "report": ["report", str(DUMP), "-o", str(link)],
        "test --junit": ["test", str(ROOT / "tests" / "fixtures" / "ruletests"), "--junit", str(link)],
        "train spam": ["train", "spam", str(labelled), "-o", str(link)],
        "train spam --metrics-json": [
            "train",
            "spam",
            str(labelled),
            "-o",
            str(tmp_path / "m.json"),
            "--metrics-json",
            str(link),
        ],
        "bench": ["bench", "--quick", "--only", "text", "-o", str(link)],
    }
    for name, args in commands.items():
        result = run(*args)
        assert result.returncode == 4, (name, result.stderr)
        assert "is a symbolic link: refusing to replace it" in result.stderr, name
        assert link.is_symlink() and target.read_text() == "keep me", name
    assert not (tmp_path / "m.json").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_output_to_a_character_device_is_refused(tmp_path: Path) -> None:
    device = tmp_path / "null"  # a device node like /dev/null, in a scratch directory
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for args in (
        ["-o", str(device), "--format", "jsonl"],
        ["-o", str(tmp_path / "d.jsonl"), "--summary-json", str(device)],
    ):
        result = moderate(*args)
        assert result.returncode == 4, result.stderr
        assert "is a character device: refusing to replace it" in result.stderr
        assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]


def test_output_to_dev_null_is_refused_before_anything_is_written() -> None:
    before = os.lstat("/dev/null")
    result = moderate("-o", "/dev/null", "--format", "jsonl", "--rules", "missing-rules.yaml")
    # refused on the output before the (missing) ruleset is even looked at
    assert result.returncode == 4 and "/dev/null: is a character device" in result.stderr
    after = os.lstat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino


def test_output_through_a_symlink_or_onto_a_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "precious.jsonl"
    target.write_text("keep me\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    result = moderate("-o", str(link))
    assert result.returncode == 4 and "is a symbolic link" in result.stderr
    assert link.is_symlink() and target.read_text() == "keep me\n"
    folder = tmp_path / "folder.jsonl"
    folder.mkdir()
    (folder / "inside").write_text("x")
    result = moderate("-o", str(folder))
    assert result.returncode == 4 and "is a directory" in result.stderr
    assert (folder / "inside").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.jsonl", "link.jsonl", "precious.jsonl"]


def test_summary_into_a_missing_directory_fails_before_the_run(tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    result = moderate("-o", str(out), "--summary-json", str(tmp_path / "nowhere" / "s.json"))
    assert result.returncode == 4 and "directory" in result.stderr and "does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []  # not even a partial output


def test_duplicate_state_through_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "window.npz").symlink_to(tmp_path / "elsewhere.npz")  # saving would replace the link
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "ruleset: s\nclassifiers:\n  duplicate: {state: window.npz}\n"
        "rules:\n  - {id: dup, when: 'duplicate.of != \"\"', action: hold}\n"
    )
    result = run("moderate", str(DUMP), "-r", str(rules), "-o", str(tmp_path / "d.jsonl"))
    assert result.returncode == 4 and "window.npz: is a symbolic link" in result.stderr
    assert not (tmp_path / "d.jsonl").exists()


def test_failed_final_rename_keeps_the_records_and_resume_places_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from safeguard.cli.app import app

    out = tmp_path / "d.jsonl"
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if str(dst) == str(out):
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    args = ["moderate", str(DUMP), "-r", str(LISTS), "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 4, result.output
    partial = tmp_path / "d.jsonl.partial"
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "Permission denied" in said and str(partial) in said
    assert len(partial.read_text().splitlines()) == 364 and not out.exists()
    monkeypatch.setattr(os, "replace", real_replace)
    result = CliRunner().invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 364
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl"]


# --- streams ------------------------------------------------------------------------------------


def test_cut_off_stdout_ends_quietly() -> None:
    result = shell(
        f"{sys.executable} -m safeguard moderate {DUMP} -r {LISTS} -o - | head -1; echo rc=${{PIPESTATUS[0]}} >&2"
    )
    assert json.loads(result.stdout)["line"] == 1
    assert result.stderr == "rc=0", result.stderr


def test_closed_stdin_is_an_io_error() -> None:
    result = shell(f"{sys.executable} -m safeguard moderate - -r {LISTS} <&-")
    assert result.returncode == 4
    assert "standard input is closed" in result.stderr


def test_unknown_output_format_is_a_usage_error(tmp_path: Path) -> None:
    result = moderate("-o", str(tmp_path / "d.jsonl"), "--format", "bogus")
    assert result.returncode == 2
    assert "unknown format 'bogus'" in result.stderr and "jsonl, csv, tsv, parquet" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --- markup -------------------------------------------------------------------------------------


def test_names_and_texts_are_not_rich_markup(tmp_path: Path) -> None:
    result = run("moderate", "a[/x].jsonl", "-r", str(LISTS), "-o", str(tmp_path / "d.jsonl"))
    assert result.returncode == 4 and "a[/x].jsonl" in result.stderr
    result = run("moderate", str(DUMP), "-r", "[bold]rules.yaml", "-o", str(tmp_path / "d.jsonl"))
    assert result.returncode == 2 and "[bold]rules.yaml" in result.stderr
    rules = tmp_path / "r[bold].yaml"
    rules.write_text(
        "ruleset: m\nlists:\n  insults: [idiot]\nrules:\n"
        "  - {id: insult, when: size(lists.insults) > 0, action: hold, reason: '[bold]rude[/x]'}\n"
    )
    result = run("explain", "you [/x] idiot [bold]", "-r", str(rules))
    assert result.returncode == 0, result.stderr
    assert "[bold]rude[/x]" in result.stdout
    result = run("check", str(rules))
    assert result.returncode == 0 and "r[bold].yaml" in result.stderr


# --- report -------------------------------------------------------------------------------------


def test_report_over_nan_infinity_and_huge_signals(tmp_path: Path) -> None:
    decisions = tmp_path / "d.jsonl"
    values = ["NaN", "Infinity", "-Infinity", "1e308", "-1e308", "0.5"]
    decisions.write_text(
        "".join(
            f'{{"post_id": "p{i}", "action": "allow", "signals": {{"toxicity": {{"toxicity": {v}, "same": 1e308}}}}}}\n'
            for i, v in enumerate(values)
        )
    )
    result = run("report", str(decisions), "-o", str(tmp_path / "r.html"))
    assert result.returncode == 0, result.stderr
    assert "6 decisions" in result.stderr and (tmp_path / "r.html").stat().st_size > 0


# --- duplicate ids ------------------------------------------------------------------------------


def test_duplicate_ids_are_counted_or_become_error_records(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    ids = ["a", "b", "a", "c", "b", "a"]
    dump.write_text("".join(json.dumps({"id": i, "text": f"post {n}"}) + "\n" for n, i in enumerate(ids)))
    out, summary = tmp_path / "d.jsonl", tmp_path / "s.json"
    result = run("moderate", str(dump), "-r", str(LISTS), "-o", str(out), "--summary-json", str(summary))
    assert result.returncode == 0 and "duplicate ids" in result.stderr
    assert json.loads(summary.read_text())["duplicate_ids"] == 3
    assert [json.loads(line)["action"] for line in out.read_text().splitlines()] == ["allow"] * 6
    result = run("moderate", str(dump), "-r", str(LISTS), "-o", str(out), "--duplicate-ids", "error")
    assert result.returncode == 3
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("action") for r in records] == ["allow", "allow", None, "allow", None, None]
    assert records[2] == {"line": 3, "id": "a", "error": "duplicate id 'a': an earlier record of this run has it"}


# --- resume -------------------------------------------------------------------------------------

RESUME_RULES = """
ruleset: resume-test
classifiers:
  duplicate: {window: 400}
lists:
  insults: [idiot, moron]
rules:
  - {id: campaign, when: 'duplicate.of != "" && duplicate.authors >= 3', action: hold}
  - {id: insult, when: size(lists.insults) > 0, action: hold}
"""


def _resume_dump(path: Path, n: int) -> None:
    rng = random.Random(7)
    words = ("kettle", "boils", "fast", "lovely", "garden", "store", "price", "order", "code", "idiot", "moron")
    campaigns = [
        "Get 70% off every order with code LARK70 at the outlet store, limited time only!",
        "Buy cheap followers now at the best price, visit our store for more deals today",
    ]
    lines = []
    for i in range(n):
        if rng.random() < 0.15:
            text = rng.choice(campaigns) + " " + rng.choice(words)
        else:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 25)))
        lines.append(json.dumps({"id": f"p{i}", "text": text, "author": {"id": f"a{rng.randint(0, 200)}"}}))
    lines.insert(50, "not json")
    path.write_text("\n".join(lines) + "\n")


def _timings_aside(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        row.pop("elapsed_ms", None)
    return rows


def test_resume_after_sigkill_gives_the_output_of_one_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    dump, rules = data / "dump.jsonl", data / "rules.yaml"
    _resume_dump(dump, 3000)
    rules.write_text(RESUME_RULES)
    base = [sys.executable, "-m", "safeguard", "moderate", str(dump), "-r", str(rules)]
    opts = ["--batch-size", "32", "--checkpoint-every", "0"]
    full = tmp_path / "full.jsonl"
    full_proc = subprocess.Popen([*base, "-o", str(full), *opts], cwd=ROOT, env=ENV, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while not (tmp_path / "full.jsonl.partial.checkpoint.json").exists() and full_proc.poll() is None:
        time.sleep(0.005)
    startup = time.monotonic() - started
    full_proc.wait(timeout=120)
    whole = time.monotonic() - started - startup  # the moderating part of a run
    expected = _timings_aside(full)
    assert len(expected) == 3001 and any(m["rule"] == "campaign" for r in expected for m in r.get("matches", []))
    resumed = 0
    for seed in range(5):
        folder = tmp_path / f"run{seed}"
        folder.mkdir()
        out = folder / "out.jsonl"
        proc = subprocess.Popen([*base, "-o", str(out), *opts], cwd=ROOT, env=ENV, stderr=subprocess.DEVNULL)
        # Start-up (imports, the ruleset) takes a varying share of the run on a loaded machine: the random
        # point is taken within the moderating part, from the first checkpoint on.
        checkpoint = folder / "out.jsonl.partial.checkpoint.json"
        first = time.monotonic()
        while not checkpoint.exists() and proc.poll() is None and time.monotonic() - first < 60:
            time.sleep(0.005)
        time.sleep(random.Random(seed).random() * whole)
        proc.kill()
        proc.wait()
        result = subprocess.run(
            [*base, "-o", str(out), *opts, "--resume"], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 3, result.stderr  # the one line that is not JSON
        assert "Traceback" not in result.stderr
        resumed += "resuming after" in result.stderr
        assert _timings_aside(out) == expected, seed
        assert [p.name for p in folder.iterdir()] == ["out.jsonl"]
    assert resumed >= 2  # most kills landed after a checkpoint


def test_resume_refuses_another_run_and_unresumable_outputs(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(LISTS.read_text().replace("../../rules/", str(ROOT / "rules") + "/"))
    out = tmp_path / "d.jsonl"
    partial = tmp_path / "d.jsonl.partial"
    partial.write_text("")
    from safeguard.cli import checkpoint as cp

    cp.write_checkpoint(
        cp.checkpoint_path(str(partial)),
        {"records": 0, "bytes": 0, "run": {"inputs": [cp.file_identity(str(DUMP))], "signals": False}, "counts": {}},
    )
    result = run("moderate", str(DUMP), "-r", str(rules), "-o", str(out), "--resume")
    assert result.returncode == 2 and "the run differs" in result.stderr and "signals" in result.stderr
    assert partial.exists() and not out.exists()
    result = run("moderate", str(DUMP), "-r", str(rules), "-o", str(tmp_path / "d.parquet"), "--resume")
    assert result.returncode == 2 and "--resume cannot continue parquet output" in result.stderr
    result = run("moderate", str(DUMP), "-r", str(rules), "-o", str(out))
    assert result.returncode == 0 and "replacing" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "rules.yaml"]
