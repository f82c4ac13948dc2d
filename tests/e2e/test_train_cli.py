"""`safeguard train spam` as a user runs it: files, printed metrics, exit codes, a model a ruleset can use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SPAM = [f"WIN a £{i}00 cash prize, text WIN to 8{i}121 now" for i in range(20)]
HAM = [f"My order {i} arrived late but the kettle works" for i in range(20)]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "safeguard", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def write_history(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def history(tmp_path: Path) -> Path:
    rows = [{"body": t, "decision": "removed"} for t in SPAM] + [{"body": t, "decision": "kept"} for t in HAM]
    return write_history(tmp_path / "history.jsonl", rows)


def test_train_spam_writes_a_model_the_ruleset_uses(tmp_path: Path) -> None:
    model = tmp_path / "model.json"
    args = ("train", "spam", str(history(tmp_path)), "-o", str(model), "--text-field", "body")
    result = run(*args, "--label-field", "decision", "--positive", "removed", "--seed", "7")
    assert result.returncode == 0, result.stderr
    assert "5-fold cross-validation (stratified, seed 7)" in result.stdout
    assert "(out of fold)" in result.stdout and "AUC" in result.stdout
    again = tmp_path / "again.json"
    rerun = run(*args[:4], str(again), *args[5:], "--label-field", "decision", "--positive", "removed", "--seed", "7")
    assert rerun.returncode == 0 and model.read_bytes() == again.read_bytes()
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "ruleset: t\nclassifiers:\n  spam: {model: model.json}\nrules:\n"
        "  - {id: spammy, when: spam.score > 0.5, action: remove}\n",
        encoding="utf-8",
    )
    posts = write_history(
        tmp_path / "posts.jsonl",
        [{"id": "s", "text": "WIN a £900 cash prize, text WIN to 80121 now"}, {"id": "h", "text": "the kettle works"}],
    )
    out = tmp_path / "out.jsonl"
    moderated = run("moderate", str(posts), "-r", str(rules), "-o", str(out), "--no-progress")
    assert moderated.returncode == 0, moderated.stderr
    actions = {d["post_id"]: d["action"] for d in map(json.loads, out.read_text().splitlines())}
    assert actions == {"s": "remove", "h": "allow"}


def test_train_spam_errors_are_messages_with_exit_codes(tmp_path: Path) -> None:
    one_class = write_history(tmp_path / "one.jsonl", [{"text": t, "label": "ham"} for t in HAM])
    few = write_history(tmp_path / "few.jsonl", [{"text": "x", "label": "spam"}, {"text": "y", "label": "ham"}])
    out = str(tmp_path / "m.json")
    # (arguments, exit code, message)
    table = [
        ((str(history(tmp_path)), "-o", out, "--text-field", "body"), 2, "no label field 'label'"),
        ((str(history(tmp_path)), "-o", out, "--label-field", "decision"), 2, "text field 'text'"),
        ((str(one_class), "-o", out), 2, "single class"),
        ((str(few), "-o", out), 2, "too few labelled rows"),
        ((str(tmp_path / "absent.jsonl"), "-o", out), 4, "absent.jsonl"),
    ]
    for args, code, message in table:
        result = run("train", "spam", *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_corrupt_model_in_a_ruleset_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"format": "safeguard-spam-model", "format_version": 99}', encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "ruleset: t\nclassifiers:\n  spam: {model: model.json}\nrules:\n"
        "  - {id: r, when: spam.score > 0.5, action: hold}\n",
        encoding="utf-8",
    )
    posts = write_history(tmp_path / "p.jsonl", [{"id": "1", "text": "hi"}])
    result = run("moderate", str(posts), "-r", str(rules), "-o", str(tmp_path / "o.jsonl"), "--no-progress")
    assert result.returncode == 2
    assert "format_version 99 is not supported" in result.stderr and "model.json" in result.stderr
    assert "Traceback" not in result.stderr


def small_heads(path: Path) -> Path:
    """A small random heads file (the shipped format, 4,096 buckets) to adapt quickly; its
    ``identity_attack`` head is all zeros, so the base scores every post alike (AUC 0.5)."""
    import numpy as np

    from safeguard.classifiers.toxicity.features import HashedNgrams
    from safeguard.classifiers.toxicity.harmdata import HEADS
    from safeguard.classifiers.toxicity.heads import HarmHeads

    rng = np.random.default_rng(0)
    ex = HashedNgrams(bits=12)
    n = len(HEADS)
    weights = rng.normal(0, 0.1, (ex.width, n))
    weights[:, HEADS.index("identity_attack")] = 0.0  # the head the test adapts knows nothing yet
    HarmHeads(ex, HEADS, weights, np.zeros(n), np.ones(n), np.zeros(n)).save(path)
    return path


def verdicts(tmp_path: Path) -> Path:
    bad = [f"post {i}: the grommet people are a plague on this forum" for i in range(60)]
    good = [f"post {i}: the grommet arrived on time and fits the tap" for i in range(60)]
    rows = [{"id": f"b{i}", "body": t, "verdict": "remove"} for i, t in enumerate(bad)]
    rows += [{"id": f"g{i}", "body": t, "verdict": "approve"} for i, t in enumerate(good)]
    rows.append({"id": "u1", "body": "not reviewed yet", "verdict": None})
    return write_history(tmp_path / "verdicts.jsonl", rows)


def test_train_toxicity_adapts_a_head_and_the_ruleset_uses_it(tmp_path: Path) -> None:
    base = small_heads(tmp_path / "base.npz")
    out = tmp_path / "community.npz"
    result = run(
        "train", "toxicity", "--data", str(verdicts(tmp_path)), "-o", str(out), "--label-field", "verdict",
        "--text-field", "body", "--base", str(base), "--head", "identity_attack",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "120 labelled rows, 60 'remove', 60 other" in result.stdout
    line = next(x for x in result.stdout.splitlines() if "ROC AUC on the held-out rows" in x)
    base_auc, adapted_auc = (float(x.split()[-1]) for x in line.split(":")[1].split(","))
    assert adapted_auc > 0.95 and adapted_auc > base_auc
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "ruleset: t\nversion: 1\nclassifiers:\n  toxicity: {backend: fast, model: community.npz}\n"
        "rules:\n  - id: group\n    when: toxicity.identity_attack >= 0.5\n    action: hold\n",
        encoding="utf-8",
    )
    dump = write_history(tmp_path / "dump.jsonl", [{"id": "1", "text": "the grommet people are a plague"}])
    moderated = run("moderate", str(dump), "--rules", str(rules), "-o", str(tmp_path / "d.jsonl"))
    assert moderated.returncode == 0, moderated.stderr
    decision = json.loads((tmp_path / "d.jsonl").read_text(encoding="utf-8"))
    assert decision["action"] == "hold"


def test_train_toxicity_reports_bad_input(tmp_path: Path) -> None:
    data = write_history(tmp_path / "one.jsonl", [{"id": "1", "text": "x", "label": "remove"}])
    result = run(
        "train",
        "toxicity",
        "--data",
        str(data),
        "-o",
        str(tmp_path / "o.npz"),
        "--base",
        str(small_heads(tmp_path / "b.npz")),
    )
    assert result.returncode == 2
    assert "only one class" in result.stderr
    missing = run("train", "toxicity", "--data", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.npz"))
    assert missing.returncode == 4
    assert "Traceback" not in missing.stderr
