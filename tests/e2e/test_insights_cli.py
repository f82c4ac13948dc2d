"""``safeguard insights`` as a community manager runs it: the page, its JSON, and the two agreeing;
moderation in the same pass, from earlier decisions, or not at all; dates, a gazetteer, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DUMP = ROOT / "examples" / "community_dump.jsonl"
GAZETTEER = ROOT / "examples" / "gazetteer.csv"
HOSTILE_TITLE = "<script>alert(1)</script> Where is my order?"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "safeguard", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """The shipped example, with the shipped rules and gazetteer: page, JSON and stderr."""
    tmp = tmp_path_factory.mktemp("insights")
    page, data = tmp / "insights.html", tmp / "insights.json"
    done = run("insights", str(DUMP), "--gazetteer", str(GAZETTEER), "-o", str(page), "--json", str(data))
    assert done.returncode == 0, done.stderr
    return page, json.loads(data.read_text(encoding="utf-8")), done.stderr


def test_the_numbers_add_up(made: tuple[Path, dict[str, Any], str]) -> None:
    _, data, stderr = made
    posts = sum(1 for line in DUMP.read_text(encoding="utf-8").splitlines() if line.strip())
    assert data["schema"] == "safeguard.insights/1" and data["posts"] == posts and data["errors"] == 0
    assert sum(k["total"] for k in data["kinds"].values()) == posts
    weeks = data["weeks"]
    assert weeks and all(len(k["weekly"]) == len(weeks) for k in data["kinds"].values())
    assert sum(sum(k["weekly"]) for k in data["kinds"].values()) == posts - data["undated"]
    assert sum(data["moderation"]["totals"].values()) == posts  # moderated in the same pass
    assert data["moderation"]["totals"]["hold"] + data["moderation"]["totals"]["remove"] > 0
    assert data["products"] and data["stores"]  # the gazetteer named some
    assert all(p["posts"] >= 1 and p["name"] for p in data["products"])
    assert f"{posts:,} posts" in stderr


def test_the_page_shows_the_json_numbers(made: tuple[Path, dict[str, Any], str]) -> None:
    page, data, _ = made
    html = page.read_text(encoding="utf-8")

    def card(name: str) -> int:
        m = re.search(rf'id="card-{name}"[^>]*><div class="n">([\d,]+)</div>', html)
        assert m, name
        return int(m.group(1).replace(",", ""))

    assert card("questions") == data["kinds"]["question"]["total"]
    assert card("complaints") == data["kinds"]["complaint"]["total"]
    assert card("unanswered") == data["threads"]["unanswered"]["unanswered"]
    assert card("escalating") == len(data["threads"]["escalating"])
    assert card("held") == data["moderation"]["totals"]["hold"]
    assert html.count("<tr class='topic'>") == len(data["topics"]["topics"])
    for aspect in data["aspects"]:
        if aspect["posts"]:
            row = f"<td>{aspect['aspect']}</td><td class='num'>{aspect['posts']:,}</td>"
            assert row in html, aspect["aspect"]
    for section in (
        "aspects",
        "over-time",
        "products",
        "stores",
        "topics",
        "unanswered",
        "escalating",
        "faq",
        "moderation",
    ):
        assert f'<section id="{section}">' in html
    assert "<script" not in html


def test_decisions_from_an_earlier_run_give_the_same_load(
    made: tuple[Path, dict[str, Any], str], tmp_path: Path
) -> None:
    _, data, _ = made
    decisions = tmp_path / "decisions.jsonl"
    assert run("moderate", str(DUMP), "-o", str(decisions), "--no-progress").returncode == 0
    again = run("insights", str(DUMP), "--decisions", str(decisions), "--json", "-")
    assert again.returncode == 0, again.stderr
    reread = json.loads(again.stdout)
    assert reread["moderation"]["totals"] == data["moderation"]["totals"]
    assert reread["moderation"]["rules"] == data["moderation"]["rules"]
    assert not (ROOT / "insights.html").exists() or (ROOT / "insights.html").stat().st_mtime < decisions.stat().st_mtime
    none = run("insights", str(DUMP), "--no-moderation", "--json", "-", "-o", str(tmp_path / "p.html"))
    assert none.returncode == 0 and json.loads(none.stdout)["moderation"] is None
    assert "did not moderate" in (tmp_path / "p.html").read_text(encoding="utf-8")


def test_dates_limit_the_posts(tmp_path: Path) -> None:
    done = run(
        "insights", str(DUMP), "--no-moderation", "--since", "2026-10-05", "--until", "2026-10-11", "--json", "-"
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert 0 < data["posts"] < 364 and data["outside_range"] == 364 - data["posts"]
    assert data["first"] >= "2026-10-05" and data["last"] < "2026-10-12"
    bad = run("insights", str(DUMP), "--since", "last tuesday", "-o", str(tmp_path / "x.html"))
    assert bad.returncode == 2 and "--since must be a date" in bad.stderr


def test_bad_records_are_counted_and_text_is_escaped(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    hostile = {
        "id": "h1",
        "thread_id": "th",
        "title": HOSTILE_TITLE,
        "text": "Ordered a kettle a month ago, still nothing. Does anyone know who to call?",
        "created_at": "2026-10-20T10:00:00Z",
        "author": {"id": "u1"},
    }
    later = {"id": "h2", "thread_id": "t2", "text": "Lovely new store layout.", "created_at": "2026-10-23T10:00:00Z"}
    lines = [json.dumps(hostile), "{not json", json.dumps({"id": "x", "text": 5}), json.dumps(later)]
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page = tmp_path / "page.html"
    done = run("insights", str(dump), "--no-moderation", "-o", str(page), "--json", str(tmp_path / "d.json"))
    assert done.returncode == 3, done.stderr
    data = json.loads((tmp_path / "d.json").read_text(encoding="utf-8"))
    assert data["posts"] == 2 and data["errors"] == 2 and len(data["input_errors"]) == 2
    html = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    # the question got no reply in three days: it is on the page, with its title, as unanswered
    assert [q["post_id"] for q in data["threads"]["unanswered"]["questions"]] == ["h1"]


def test_a_bad_gazetteer_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "g.csv"
    bad.write_text("type,id,name\nproduct,1,Kettle\nshelf,2,Thing\n", encoding="utf-8")
    done = run("insights", str(DUMP), "--gazetteer", str(bad), "-o", str(tmp_path / "x.html"))
    assert done.returncode == 2
    said = " ".join(done.stderr.split())  # rich wraps long lines
    assert f"{bad}:3" in said and "type must be one of product, store" in said
    assert not (tmp_path / "x.html").exists()


def test_the_encoder_tier_reads_the_same_posts(made: tuple[Path, dict[str, Any], str], tmp_path: Path) -> None:
    data = tmp_path / "encoder.json"
    done = run(
        "insights", str(DUMP), "--gazetteer", str(GAZETTEER), "--kind-model", "encoder", "--json", str(data),
        "-o", str(tmp_path / "encoder.html"), "--no-moderation",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lexical, encoder = made[1], json.loads(data.read_text(encoding="utf-8"))
    assert encoder["posts"] == lexical["posts"] > 0
    assert (encoder["kind_model"], lexical["kind_model"]) == ("encoder", "lexical")
    assert "kinds read by <code>encoder</code>" in (tmp_path / "encoder.html").read_text(encoding="utf-8")
    assert encoder["kinds"] != lexical["kinds"] or encoder["aspects"] != lexical["aspects"]  # another model read them


def test_an_unknown_kind_model_is_a_config_error(tmp_path: Path) -> None:
    done = run("insights", str(DUMP), "--kind-model", "encodr", "-o", str(tmp_path / "x.html"))
    assert done.returncode == 2
    said = " ".join(done.stderr.split())
    assert "--kind-model: kind_model file" in said and "not found (shipped models: lexical, encoder" in said
    assert "Traceback" not in done.stderr and not (tmp_path / "x.html").exists()
