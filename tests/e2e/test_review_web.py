"""The review pages as a moderator uses them: ``moderate --queue`` fills a store, ``review user add`` makes
the moderators, ``serve --db`` serves the pages, and headless Chromium (driven by Playwright) logs in and
works the queue by keyboard. Two other sessions first work part of it at once over plain HTTP.

Skips when /usr/bin/chromium is absent, or Playwright is not installed (``pip install playwright``;
the installed Chromium is used, no browser is downloaded).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _postgres import binaries, cluster
from test_serve import ROOT, Server, start

from safeguard.review import ReviewStore

CHROMIUM = Path("/usr/bin/chromium")
COMMUNITY = ROOT / "rules" / "community.yaml"
DUMP = ROOT / "examples" / "community_dump.jsonl"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed (/usr/bin/chromium)")


def safeguard(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "safeguard", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """The whole loop on a SQLite file, then on a PostgreSQL cluster the tests start."""
    tmp = tmp_path_factory.mktemp("review-web")
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            if binaries() is None:
                pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
            pytest.importorskip("psycopg", reason="psycopg is not installed: the postgres extra")
            db = stack.enter_context(cluster())
        else:
            db = str(tmp / "review.db")
        decisions = str(tmp / "decisions.jsonl")
        safeguard("moderate", str(DUMP), "--rules", str(COMMUNITY), "--queue", db, "-o", decisions)
        for name in ("alice", "bob", "carol"):
            secret = tmp / f"{name}.pw"
            secret.write_text(f"{name}-password-123\n", encoding="utf-8")
            safeguard("review", "user", "add", name, "--db", db, "--password-file", str(secret))
        server = start(tmp, COMMUNITY, "--db", db, env={"SAFEGUARD_REVIEW_SECRET": "e2e-session-key-0123456789"})
        yield server, db
        assert server.stop() == 0, server.stderr()
    log = server.stderr()
    assert "Traceback" not in log
    assert "-password-123" not in log, "no password in the service log"


def login(base: str, user: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    form = c.get("/review/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token
    r = c.post(
        "/review/login",
        data={"csrf": token.group(1), "username": user, "password": f"{user}-password-123", "next": "/"},
    )
    assert r.status_code == 303, r.text
    found = re.search(r'name="csrf" value="([^"]+)"', c.get("/review/").text)
    assert found
    return c, found.group(1)


def test_two_sessions_working_the_queue_at_once_never_share_an_item(served: tuple[Server, str]) -> None:
    server, db = served
    sessions = {name: login(server.base, name) for name in ("bob", "carol")}
    got: dict[str, list[int]] = {name: [] for name in sessions}
    failures: list[Any] = []
    barrier = threading.Barrier(len(sessions))

    def work(name: str) -> None:
        client, token = sessions[name]
        barrier.wait()
        try:
            while len(got[name]) < 4:  # part of the queue: the browser test clears the rest
                r = client.post("/review/next", data={"csrf": token})
                if r.status_code != 303:
                    failures.append((name, "next", r.status_code, r.text[:300]))
                    return
                where = r.headers["location"]
                if "notice=empty" in where:
                    return
                item = int(where.rsplit("/", 1)[1])
                got[name].append(item)
                page = client.get(where)
                if page.status_code != 200:
                    failures.append((name, "open", item, page.status_code))
                    return
                r = client.post(f"/review/items/{item}/decide", data={"csrf": token, "action": "approve"})
                if r.status_code != 303:
                    failures.append((name, "decide", item, r.status_code, r.text[:300]))
                    return
            # A verdict claims the next item: give the last one back for the browser test.
            found = re.search(r"/review/items/(\d+)$", r.headers["location"])
            if found:
                r = client.post(f"/review/items/{found.group(1)}/release", data={"csrf": token})
                if r.status_code != 303:
                    failures.append((name, "release", r.status_code, r.text[:300]))
        except Exception as exc:
            failures.append((name, repr(exc)))

    threads = [threading.Thread(target=work, args=(name,)) for name in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for client, _ in sessions.values():
        client.close()
    assert not failures, failures
    bob, carol = set(got["bob"]), set(got["carol"])
    assert bob and carol, got
    assert not bob & carol, f"both sessions got {sorted(bob & carol)}"
    with ReviewStore.open(db) as store:
        counts = store.counts()
        claimed = store.queue(status="claimed")
        verdicts = [v for v in store.verdicts() if v.user in ("bob", "carol")]
    assert counts["open"] > 0 and not claimed
    assert sorted(v.item_id for v in verdicts) == sorted(bob | carol)
    assert all(v.item_id in (bob if v.user == "bob" else carol) for v in verdicts)


def test_a_moderator_clears_the_queue_by_keyboard_in_chromium(served: tuple[Server, str], tmp_path: Path) -> None:
    """Alice logs in and works every open item by keyboard (``r`` and ``a`` in turn) until the queue is
    empty; the store records each verdict as hers and ``review stats`` gives each rule's precision."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install playwright")
    server, db = served
    with ReviewStore.open(db) as store:
        waiting = store.counts()["open"]
    assert waiting >= 5
    pressed: list[tuple[int, str]] = []
    problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{server.base}/review/")
            assert "/review/login" in page.url
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-password-123")
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert page.url.endswith("/review/"), page.url
            assert f"{waiting} open" in page.inner_text("#counts")
            page.locator("body").click(position={"x": 5, "y": 300})  # focus the page, not a field
            with page.expect_navigation():
                page.keyboard.press("n")
            while (found := re.search(r"/review/items/(\d+)$", page.url)) is not None:
                assert len(pressed) <= waiting, "more items than the queue held"
                assert page.locator("#post-text").count() == 1
                assert page.locator("button[data-key=a]").count() == 1, "the item is claimed by alice"
                key = "ra"[len(pressed) % 2]
                pressed.append((int(found.group(1)), key))
                if len(pressed) == 2:
                    page.screenshot(path=str(tmp_path / "review-item.png"), full_page=True)
                with page.expect_navigation():
                    page.keyboard.press(key)
            assert "/review/" in page.url and "0 open" in page.inner_text("#counts"), page.url
            page.goto(f"{server.base}/review/log")
            page.screenshot(path=str(tmp_path / "review-log.png"), full_page=True)
        finally:
            browser.close()
    assert not problems, problems  # no script error and no Content-Security-Policy violation
    shot = (tmp_path / "review-item.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
    assert len(pressed) == waiting and len({item for item, _ in pressed}) == waiting
    actions = {"a": "approve", "r": "remove"}
    with ReviewStore.open(db) as store:
        assert store.counts()["open"] == 0
        mine = [(v.item_id, v.action) for v in store.verdicts() if v.user == "alice"]
        rules_of = {item: {m.rule for m in store.item(item).decision.matches} for item, _ in pressed}
    assert mine == [(i, actions[k]) for i, k in pressed]
    # Each rule's precision is the share of its items alice removed (verdicts of other users included).
    stats = json.loads(safeguard("review", "stats", "--db", db, "--json").stdout)
    by_rule = {r["rule"]: r for r in stats["rules"]}
    for rule in {r for rules in rules_of.values() for r in rules} & set(by_rule):
        mine_for_rule = [k for item, k in pressed if rule in rules_of[item]]
        assert by_rule[rule]["decided"] >= len(mine_for_rule)
        assert 0.0 <= by_rule[rule]["interval"][0] <= by_rule[rule]["share"] <= by_rule[rule]["interval"][1] <= 1.0
    assert stats["verdicts"]["remove"] >= sum(k == "r" for _, k in pressed)
