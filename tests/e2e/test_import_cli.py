"""``moderate --from`` and ``classify --from``: forum exports through the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from safeguard.cli.checkpoint import FORMAT

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "benchmarks" / "rules" / "lists_only.yaml"
CARDANO = ROOT.parent / "shared" / "eval" / "raw" / "stackexchange-cardano"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "safeguard", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )


def _exports(tmp_path: Path) -> tuple[Path, Path]:
    if (CARDANO / "Posts.xml").is_file() and (CARDANO / "Comments.xml").is_file():
        return CARDANO / "Posts.xml", CARDANO / "Comments.xml"
    posts, comments = tmp_path / "Posts.xml", tmp_path / "Comments.xml"
    posts.write_text(
        "<posts>\n"
        + "\n".join(f'  <row Id="{i}" PostTypeId="1" Body="&lt;p&gt;post {i}&lt;/p&gt;" />' for i in range(1, 51))
        + "\n</posts>\n",
        encoding="utf-8",
    )
    comments.write_text(
        "<comments>\n"
        + "\n".join(f'  <row Id="{i}" PostId="{i}" Text="comment {i}" />' for i in range(1, 31))
        + "\n</comments>\n",
        encoding="utf-8",
    )
    return posts, comments


def test_moderate_from_stackexchange_decides_every_post_and_comment_once(tmp_path: Path) -> None:
    posts, comments = _exports(tmp_path)
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    result = run(
        "moderate", "--from", "stackexchange", str(posts), str(comments), "-r", str(RULES), "-o", str(out),
        "--summary-json", str(summary),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [len(re.findall(r"<row\b", p.read_text(encoding="utf-8-sig"))) for p in (posts, comments)]
    decisions = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(decisions) == sum(rows)
    assert all("error" not in d for d in decisions)
    ids = [d["post_id"] for d in decisions]
    assert len(set(ids)) == len(ids)
    assert sum(i.startswith("p") for i in ids) == rows[0] and sum(i.startswith("c") for i in ids) == rows[1]
    assert json.loads(summary.read_text(encoding="utf-8"))["errors"] == 0


def test_from_is_validated_and_recorded_for_resume(tmp_path: Path) -> None:
    dump = tmp_path / "rc.jsonl"
    dump.write_text(json.dumps({"id": "a", "body": "hello", "author": "x"}) + "\n", encoding="utf-8")
    bad = run("moderate", "--from", "phpbb", str(dump), "-r", str(RULES))
    assert bad.returncode == 2 and "stackexchange, discourse, reddit" in bad.stderr and "Traceback" not in bad.stderr
    both = run("moderate", "--from", "reddit", "--input-format", "jsonl", str(dump), "-r", str(RULES))
    assert both.returncode == 2 and "cannot be combined" in both.stderr
    out = tmp_path / "out.jsonl"
    ok = run("moderate", "--from", "reddit", str(dump), "-r", str(RULES), "-o", str(out), "--checkpoint-every", "0")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["post_id"] == "t1_a"
    # a checkpoint left by a --from reddit run refuses a resume without it
    ckpt = Path(str(out) + ".partial.checkpoint.json")
    partial = Path(str(out) + ".partial")
    partial.write_text("", encoding="utf-8")
    saved = {"format": FORMAT, "records": 0, "bytes": 0, "run": {"importer": "reddit"}, "counts": {}}
    ckpt.write_text(json.dumps(saved), encoding="utf-8")
    resumed = run("moderate", str(dump), "-r", str(RULES), "-o", str(out), "--resume", "--input-format", "jsonl")
    assert resumed.returncode == 2 and "importer" in resumed.stderr, resumed.stderr


def test_classify_from_discourse(tmp_path: Path) -> None:
    topic = {
        "id": 5,
        "title": "Hi",
        "post_stream": {
            "posts": [
                {"id": 1, "cooked": "<p>hello</p>", "topic_id": 5, "post_number": 1, "user_id": 3, "trust_level": 0},
                {"id": 2, "raw": "hi back", "topic_id": 5, "post_number": 2, "reply_to_post_number": 1},
            ]
        },
    }
    path = tmp_path / "topic.json"
    path.write_text(json.dumps(topic, indent=1), encoding="utf-8")
    result = run("classify", "--from", "discourse", str(path), "-r", str(RULES))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["1", "2"]
