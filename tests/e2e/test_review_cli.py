"""The review loop from the command line: moderate into a queue, decide, read the figures, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from safeguard.review import ReviewStore

ROOT = Path(__file__).resolve().parents[2]
DUMP = ROOT / "examples" / "community_dump.jsonl"
RULES = ROOT / "rules" / "community.yaml"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "safeguard", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def verdict_for(rules: list[str], sampled: bool, post_id: str) -> str:
    """The scripted moderator: insults and scams removed, a new member's link approved, one sampled allow
    in three removed (the rules missed it)."""
    if sampled:
        return "remove" if int(post_id[1:]) % 3 == 0 else "approve"
    if rules == ["new-member-links"] or "contact-details" in rules:
        return "approve"
    return "remove"


def test_moderate_queue_decide_stats_and_exports(tmp_path: Path) -> None:
    db = tmp_path / "review.db"
    summary = tmp_path / "summary.json"
    moderated = run(
        "moderate", str(DUMP), "--rules", str(RULES), "-o", str(tmp_path / "decisions.jsonl"), "--no-progress",
        "--queue", str(db), "--queue-sample-allows", "0.1", "--summary-json", str(summary),
    )  # fmt: skip
    assert moderated.returncode == 0, moderated.stderr
    figures = json.loads(summary.read_text())
    holds = figures["actions"]["hold"]
    assert holds > 0
    assert figures["queue"]["queued"] + figures["queue"]["joined"] == holds
    assert figures["queue"]["sampled"] > 0
    assert len((tmp_path / "decisions.jsonl").read_text().splitlines()) == figures["posts"]
    assert "review queue" in moderated.stderr

    (tmp_path / "pw").write_text("correct horse battery\n")
    added = run("review", "user", "add", "alice", "--db", str(db), "--password-file", str(tmp_path / "pw"))
    assert added.returncode == 0, added.stderr
    bad = run(
        "review", "user", "add", "eve", "--db", str(db), "--role", "owner", "--password-file", str(tmp_path / "pw")
    )
    assert bad.returncode == 2 and "unknown role" in bad.stderr and "Traceback" not in bad.stderr

    # Two items through the terminal, with piped keys: an unknown key is asked again.
    store = ReviewStore.open(db)
    first, second = store.queue(limit=2)
    keys = "".join(
        {"remove": "r\n", "approve": "a\n"}[verdict_for(e.rules, e.sampled, e.post_id)] for e in (first, second)
    )
    terminal = run("review", "next", "--db", str(db), "--user", "alice", "--all", stdin="x\n" + keys + "q\n")
    assert terminal.returncode == 0, terminal.stderr
    assert "unknown key 'x'" in terminal.stdout
    assert first.excerpt[:30] in " ".join(terminal.stdout.split())
    assert f"item {first.id}: {verdict_for(first.rules, first.sampled, first.post_id)}" in terminal.stderr
    assert "given back" in terminal.stderr
    # The rest through the store.
    expected: Counter[str] = Counter()
    upheld: Counter[str] = Counter()
    while (item := store.claim("alice")) is not None:
        store.decide(item.id, "alice", verdict_for(item.entry.rules, item.entry.sampled, item.post.post_id))
    for r in store.reviewed():
        if not r.sampled:
            for rule in {m.rule for m in r.decision.matches}:
                expected[rule] += 1
                upheld[rule] += r.outcome == "remove"
    store.close()

    stats = run("review", "stats", "--db", str(db), "--json")
    assert stats.returncode == 0, stats.stderr
    numbers = json.loads(stats.stdout)
    per_rule = {r["rule"]: r for r in numbers["rules"]}
    assert set(per_rule) == set(expected)
    for rule, n in expected.items():
        assert (per_rule[rule]["decided"], per_rule[rule]["upheld"]) == (n, upheld[rule]), rule
        lo, hi = per_rule[rule]["interval"]
        assert lo <= per_rule[rule]["share"] <= hi
    assert per_rule["new-member-links"]["share"] < 1.0
    assert (
        numbers["items"]["open"] == 0
        and numbers["items"]["done"] == holds - figures["queue"]["joined"] + figures["queue"]["sampled"]
    )
    assert numbers["recall"]["sampled_decided"] == figures["queue"]["sampled"]
    human = run("review", "stats", "--db", str(db))
    assert human.returncode == 0 and "95% interval" in human.stdout and "new-member-links" in human.stdout

    tests_file = tmp_path / "review.test.yaml"
    exported = run(
        "review", "export", "--db", str(db), "--format", "tests", "-o", str(tests_file), "--rules", str(RULES)
    )
    assert exported.returncode == 0, exported.stderr
    ran = run("test", str(tests_file))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    reviewed = holds + figures["queue"]["sampled"]
    disagreements = sum(1 for line in tests_file.read_text().splitlines() if line.strip().startswith("xfail:"))
    assert disagreements > 0
    assert f"{reviewed - disagreements} passed, 0 failed, {disagreements} xfailed" in ran.stdout + ran.stderr
    strict = run("review", "export", "--db", str(db), "--format", "tests", "-o", str(tests_file), "--rules", str(RULES),
                 "--strict")  # fmt: skip
    assert strict.returncode == 0
    assert run("test", str(tests_file)).returncode == 1, "the disagreements fail without xfail"

    labels = tmp_path / "labels.jsonl"
    exported = run("review", "export", "--db", str(db), "--format", "labels", "-o", str(labels))
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    assert len(rows) == reviewed and {r["label"] for r in rows} == {"remove", "allow"}
    evaluated = run("evaluate", str(labels), "--rules", str(RULES), "--label-field", "label", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["posts"] == reviewed

    empty = run("review", "next", "--db", str(db), "--user", "alice")
    assert empty.returncode == 0 and "the queue is empty" in empty.stderr

    pytest.importorskip("sklearn", reason="training needs safeguard-moderation[train]")
    retrained = run("train", "toxicity", "--from-review", str(db), "-o", str(tmp_path / "community.npz"))
    assert retrained.returncode == 0, retrained.stderr
    assert "held-out posts:" in retrained.stdout
    assert "before" in retrained.stdout and "after" in retrained.stdout and (tmp_path / "community.npz").exists()
    both = run("train", "toxicity", "--from-review", str(db), "--data", str(labels), "-o", str(tmp_path / "x.npz"))
    assert both.returncode == 2 and "one of them" in both.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--queue", "/no/such/dir/review.db"], 4, "does not exist"),
        (["--queue", "mysql://u@h/db"], 2, "unsupported database URL"),
        (["--queue-sample-allows", "0.1"], 2, "needs --queue"),
    ],
)
def test_moderate_refuses_a_queue_it_cannot_use(args: list[str], code: int, message: str, tmp_path: Path) -> None:
    result = run("moderate", str(DUMP), "--rules", str(RULES), "-o", str(tmp_path / "d.jsonl"), "--no-progress", *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d.jsonl").exists()


def test_review_commands_report_store_errors_with_exit_codes(tmp_path: Path) -> None:
    db = str(tmp_path / "review.db")
    unknown = run("review", "next", "--db", db, "--user", "nobody")
    assert unknown.returncode == 2 and "no user 'nobody'" in unknown.stderr
    unreachable = run("review", "stats", "--db", "/no/such/dir/review.db")
    assert unreachable.returncode == 4 and "Traceback" not in unreachable.stderr
    wrong = run("review", "export", "--db", db, "--format", "csv", "-o", str(tmp_path / "x"))
    assert wrong.returncode == 2 and "labels or tests" in wrong.stderr
