"""The review pages and the review store of ``safeguard serve --db``, in-process (Starlette's test client)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")

from fastapi.testclient import TestClient

from safeguard.errors import ReviewError
from safeguard.moderator import Moderator
from safeguard.review import ReviewStore
from safeguard.review.web import COOKIE, LoginThrottle, Session, SessionSigner, pieces
from safeguard.review.web.app import CSP
from safeguard.serve import ServeSettings, create_app
from safeguard.types import Action, Author, Decision, Post, RuleMatch

ROOT = Path(__file__).resolve().parents[2]
LISTS_ONLY = ROOT / "benchmarks" / "rules" / "lists_only.yaml"
HOSTILE = '<script>alert("x")</script> you idiot, mail me at bob@example.com'


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator.from_file(LISTS_ONLY).load()


def held(pid: str, text: str, *, cluster: int | None = None, thread: str = "t1", rule: str = "insult") -> Any:
    post = Post(id=pid, text=text, thread_id=thread, author=Author(id=f"u-{pid}", trust_level=1))
    match = RuleMatch(
        rule=rule,
        action=Action.HOLD,
        reason="insults a member",
        guideline="1.2 Be respectful",
        values={"lists.insults": ["idiot"]},
    )
    signals = {"duplicate": {"cluster": cluster}} if cluster is not None else {}
    return post, Decision(post_id=pid, action=Action.HOLD, matches=(match,), signals=signals)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ReviewStore]:
    s = ReviewStore.open(tmp_path / "review.db")
    s.add_user("alice", "alice-password")
    s.add_user("bob", "bob-password")
    s.add_user("root", "root-password", role="admin")
    s.enqueue([held("p1", HOSTILE)])
    s.enqueue([held("p2", "idiot post two", thread="t2")])
    s.enqueue([held("p3", "Claim your prize now idiot", cluster=1, thread="t3")])
    s.enqueue([held("p4", "CLAIM your prize now   idiot", cluster=2, thread="t4")])
    yield s
    s.close()


@pytest.fixture
def app(store: ReviewStore, moderator: Moderator) -> Any:
    return create_app(LISTS_ONLY, ServeSettings(review_secret="s" * 32), moderator=moderator, review_store=store)


def client(app: Any, **kw: Any) -> TestClient:
    return TestClient(app, follow_redirects=False, **kw)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def login(c: TestClient, user: str, password: str | None = None) -> str:
    """Log in; returns the CSRF token of the session."""
    form = c.get("/review/login")
    assert form.status_code == 200
    r = c.post(
        "/review/login",
        data={"csrf": csrf(form.text), "username": user, "password": password or f"{user}-password", "next": "/"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/review/", r.text
    return csrf(c.get("/review/").text)


def item_ids(store: ReviewStore) -> dict[str, int]:
    return {e.post_id: e.id for e in store.queue(status=("open", "claimed", "done"))}


def test_every_page_but_login_needs_a_session(app: Any) -> None:
    with client(app) as c:
        for path in ("/review/", "/review/items/1", "/review/log", "/review/appeals", "/review/users"):
            r = c.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/review/login?next="), path
        assert c.get("/review/items/1?pii=show").headers["location"] == "/review/login?next=%2Fitems%2F1%3Fpii%3Dshow"
        r = c.post("/review/next", data={"csrf": "x"})
        assert r.status_code == 403 and "log in again" in r.text
        page = c.get("/review/login")
        assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
        assert "<script>" not in page.text and 'src="/review/static/review.js"' in page.text
        assert page.headers["x-frame-options"] == "DENY"
        js = c.get("/review/static/review.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert c.get("/review/static/..%2Fapp.py").status_code == 404


def test_login_refuses_a_bad_password_and_sets_a_strict_http_only_cookie(app: Any) -> None:
    with client(app) as c:
        token = csrf(c.get("/review/login").text)
        bad = c.post("/review/login", data={"csrf": token, "username": "alice", "password": "wrong-password"})
        assert bad.status_code == 401 and "Wrong user name or password." in bad.text
        assert c.get("/review/").status_code == 303
        ok = c.post("/review/login", data={"csrf": token, "username": "alice", "password": "alice-password"})
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Secure" not in cookie and "Max-Age=" in cookie
        assert c.get("/review/").status_code == 200
    with client(app, base_url="https://testserver") as c:
        token = csrf(c.get("/review/login").text)
        ok = c.post("/review/login", data={"csrf": token, "username": "alice", "password": "alice-password"})
        assert "Secure" in ok.headers["set-cookie"]


def test_failed_logins_are_throttled(app: Any) -> None:
    with client(app) as c:
        token = csrf(c.get("/review/login").text)
        codes = [
            c.post("/review/login", data={"csrf": token, "username": "bob", "password": f"guess-{i}"}).status_code
            for i in range(7)
        ]
        assert codes == [401] * 5 + [429] * 2
        r = c.post("/review/login", data={"csrf": token, "username": "bob", "password": "bob-password"})
        assert r.status_code == 429 and "Too many failed logins" in r.text


def test_forms_without_the_session_csrf_token_are_refused(app: Any, store: ReviewStore) -> None:
    with client(app) as c:
        form = c.get("/review/login")
        r = c.post("/review/login", data={"username": "alice", "password": "alice-password"})
        assert r.status_code == 403 and "expired" in r.text
        r = c.post("/review/login", data={"csrf": "forged", "username": "alice", "password": "alice-password"})
        assert r.status_code == 403
        assert csrf(form.text)
        token = login(c, "alice")
        ids = item_ids(store)
        for data in ({}, {"csrf": ""}, {"csrf": token + "x"}):
            r = c.post(f"/review/items/{ids['p2']}/decide", data={**data, "action": "remove"})
            assert r.status_code == 403, data
        assert store.verdicts() == [], "no refused form changed anything"
        assert c.post("/review/logout", data={}).status_code == 403
        assert c.get("/review/").status_code == 200, "still logged in"


def test_a_forged_or_expired_cookie_is_no_session() -> None:
    now = [1_000_000.0]
    signer = SessionSigner(b"k" * 32, 60, clock=lambda: now[0])
    session = Session.new("alice", now[0])
    value = signer.dump(session)
    assert signer.load(value) == session
    body, mac = value.split(".")
    forged = SessionSigner(b"other-key-000000", 60).dump(Session("root", session.csrf, session.issued, session.sid))
    assert signer.load(forged) is None
    assert signer.load(body + "." + mac[:-2] + ("AA" if not mac.endswith("AA") else "BB")) is None
    now[0] += 61
    assert signer.load(value) is None
    now[0] -= 61
    signer.end(session)
    assert signer.load(value) is None, "a session that logged out stays out"
    assert LoginThrottle(attempts=1, window_s=10, clock=lambda: 0.0).wait_s("x") == 0


def test_logout_ends_the_session(app: Any) -> None:
    with client(app) as c:
        token = login(c, "alice")
        kept = c.cookies.get(COOKIE)
        r = c.post("/review/logout", data={"csrf": token})
        assert r.status_code == 303 and r.headers["location"] == "/review/login?notice=logged_out"
        c.cookies.set(COOKIE, kept or "", path="/review/")
        assert c.get("/review/").status_code == 303, "the old cookie no longer opens the pages"


def test_a_moderator_cannot_manage_users_an_admin_can(app: Any, store: ReviewStore) -> None:
    with client(app) as c:
        token = login(c, "alice")
        r = c.get("/review/users")
        assert r.status_code == 403 and "Only an admin" in r.text
        assert "/review/users" not in c.get("/review/").text
        r = c.post("/review/users", data={"csrf": token, "name": "mallory", "password": "mallory-pw", "role": "admin"})
        assert r.status_code == 403
        assert c.post("/review/users/alice/role", data={"csrf": token, "role": "admin"}).status_code == 403
    assert [u.name for u in store.users()] == ["alice", "bob", "root"] and store.user("alice").role == "moderator"
    with client(app) as c:
        token = login(c, "root")
        page = c.get("/review/users")
        assert page.status_code == 200 and "alice" in page.text
        r = c.post(
            "/review/users", data={"csrf": token, "name": "carol", "password": "carol-password", "role": "moderator"}
        )
        assert r.status_code == 303
        r = c.post("/review/users/carol/role", data={"csrf": token, "role": "admin"})
        assert r.status_code == 303
        short = c.post("/review/users", data={"csrf": token, "name": "dave", "password": "short", "role": "moderator"})
        assert short.status_code == 400 and "8 characters" in short.text
        dup = c.post(
            "/review/users", data={"csrf": token, "name": "carol", "password": "carol-password", "role": "moderator"}
        )
        assert dup.status_code == 409
    assert store.user("carol").role == "admin"
    assert store.check_password("carol", "carol-password") is not None


def test_an_item_escapes_hostile_text_marks_evidence_and_hides_personal_data(app: Any, store: ReviewStore) -> None:
    ids = item_ids(store)
    with client(app) as c:
        login(c, "alice")
        page = c.get(f"/review/items/{ids['p1']}")
        assert page.status_code == 200
        html = page.text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert '<mark title="insult">idiot</mark>' in html
        assert "bob@example.com" not in html and "&lt;EMAIL&gt;" in html
        assert "insults a member" in html and "1.2 Be respectful" in html
        assert 'data-key="a"' in html and 'data-key="r"' in html and 'data-key="e"' in html and 'data-key="s"' in html
        assert "bob@example.com" not in c.get("/review/").text, "the queue shows redacted excerpts"
        shown = c.get(f"/review/items/{ids['p1']}?pii=show")
        assert shown.status_code == 200 and "bob@example.com" in shown.text
        assert "<script>alert" not in shown.text
    assert any(e.what == "show_pii" and e.actor == "alice" and e.item_id == ids["p1"] for e in store.log(10))
    with client(app) as c:
        login(c, "bob")
        other = c.get(f"/review/items/{ids['p1']}?pii=show")
        assert other.status_code == 409
        assert "bob@example.com" not in other.text, "only the claimer may show personal data"


def test_a_claim_held_by_another_moderator_is_a_409_page_without_verdict_buttons(app: Any, store: ReviewStore) -> None:
    ids = item_ids(store)
    with client(app) as alice, client(app) as bob:
        login(alice, "alice")
        bob_token = login(bob, "bob")
        assert alice.get(f"/review/items/{ids['p2']}").status_code == 200
        page = bob.get(f"/review/items/{ids['p2']}")
        assert page.status_code == 409
        assert "Claimed by alice" in page.text and "claimed by alice" in page.text
        assert 'value="approve"' not in page.text and "/decide" not in page.text
        r = bob.post(f"/review/items/{ids['p2']}/decide", data={"csrf": bob_token, "action": "approve"})
        assert r.status_code == 409 and "claimed by alice" in r.text
        assert bob.get("/review/items/424242").status_code == 404
    assert store.item(ids["p2"]).entry.claimed_by == "alice" and store.verdicts() == []


def test_a_verdict_is_recorded_with_the_user_and_the_next_item_is_claimed(app: Any, store: ReviewStore) -> None:
    with client(app) as c:
        token = login(c, "alice")
        first = c.post("/review/next", data={"csrf": token})
        assert first.status_code == 303
        item = int(first.headers["location"].rsplit("/", 1)[1])
        r = c.post(
            f"/review/items/{item}/decide",
            data={"csrf": token, "action": "remove", "guideline": "1.2 Be respectful", "note": "an insult"},
        )
        assert r.status_code == 303
        following = int(r.headers["location"].rsplit("/", 1)[1])
        assert following != item and store.item(following).entry.claimed_by == "alice"
        bad = c.post(f"/review/items/{following}/decide", data={"csrf": token, "action": "delete"})
        assert bad.status_code == 400 and "Unknown action" in bad.text
        log = c.get("/review/log")
        assert log.status_code == 200 and f"#{item}" in log.text and "alice" in log.text
    (verdict,) = store.verdicts()
    assert (verdict.item_id, verdict.user, verdict.action, verdict.note) == (item, "alice", "remove", "an insult")
    assert verdict.guideline == "1.2 Be respectful"
    assert store.item(item).entry.outcome == "remove"


def test_next_from_an_item_gives_it_back_and_claims_another(app: Any, store: ReviewStore) -> None:
    ids = item_ids(store)
    with client(app) as c:
        token = login(c, "alice")
        assert c.get(f"/review/items/{ids['p2']}").status_code == 200
        r = c.post("/review/next", data={"csrf": token, "after": str(ids["p2"])})
        nxt = int(r.headers["location"].rsplit("/", 1)[1])
        assert nxt != ids["p2"]
    assert store.item(ids["p2"]).entry.status == "open" and store.item(nxt).entry.claimed_by == "alice"


def test_a_bulk_verdict_covers_every_open_item_of_the_cluster(app: Any, store: ReviewStore) -> None:
    ids = item_ids(store)
    with client(app) as c:
        token = login(c, "alice")
        page = c.get(f"/review/items/{ids['p3']}")
        assert page.status_code == 200 and 'id="bulk"' in page.text and f"#{ids['p4']}" in page.text
        assert 'id="bulk"' not in c.get(f"/review/items/{ids['p2']}").text, "no cluster, no bulk form"
        r = c.post(f"/review/items/{ids['p3']}/bulk", data={"csrf": token, "action": "remove", "note": "campaign"})
        assert r.status_code == 303
    outcomes = {v.item_id: (v.user, v.action, v.note) for v in store.verdicts()}
    assert outcomes == {ids["p3"]: ("alice", "remove", "campaign"), ids["p4"]: ("alice", "remove", "campaign")}


def test_appeals_are_recorded_by_moderators_and_resolved_by_admins(app: Any, store: ReviewStore) -> None:
    with client(app) as c:
        token = login(c, "alice")
        r = c.post(
            "/review/appeals", data={"csrf": token, "post_id": "p1", "appellant": "u-p1", "text": "I was joking"}
        )
        assert r.status_code == 303
        missing = c.post("/review/appeals", data={"csrf": token, "post_id": "nope", "appellant": "x", "text": "y"})
        assert missing.status_code == 404
        (appeal,) = store.appeals()
        page = c.get("/review/appeals")
        assert "I was joking" in page.text and "/resolve" not in page.text
        r = c.post(f"/review/appeals/{appeal.id}/resolve", data={"csrf": token, "outcome": "granted"})
        assert r.status_code == 403
    assert any(e.what == "record_appeal" and e.actor == "alice" for e in store.log(10))
    with client(app) as c:
        token = login(c, "root")
        assert "/resolve" in c.get("/review/appeals").text
        r = c.post(
            f"/review/appeals/{appeal.id}/resolve",
            data={"csrf": token, "outcome": "denied", "resolution": "an insult is an insult"},
        )
        assert r.status_code == 303
        again = c.post(f"/review/appeals/{appeal.id}/resolve", data={"csrf": token, "outcome": "granted"})
        assert again.status_code == 409
        assert c.get("/review/appeals?status=bogus").status_code == 400
    (done,) = store.appeals("denied")
    assert done.resolved_by == "root"


def test_the_service_queues_holds_and_stores_suggestions(app: Any, store: ReviewStore) -> None:
    with client(app) as c:
        r = c.post(
            "/v1/moderate", json={"posts": [{"id": "web-1", "text": "you idiot"}, {"id": "web-2", "text": "hi"}]}
        )
        assert [d["action"] for d in r.json()["decisions"]] == ["hold", "allow"]
        anonymous = c.post("/v1/moderate", json={"text": "what an idiot"})
        assert anonymous.json()["action"] == "hold" and anonymous.json()["post_id"] == ""
        c.post("/v1/moderations", json={"input": "you idiot"})
        r = c.post(
            "/v1alpha1/comments:suggestscore",
            json={
                "comment": {"text": "you idiot"},
                "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.9}}},
                "clientToken": "web-1",
            },
        )
        assert r.status_code == 200 and r.json() == {"clientToken": "web-1"}
        metrics = c.get("/metrics").text
    queued = {e.post_id for e in store.queue(200)}
    assert "web-1" in queued and "web-2" not in queued
    assert any(p.startswith("serve:") for p in queued), "a post without an id is queued under a made-up one"
    assert not any(p.startswith("input-") for p in queued), "OpenAI inputs have no ids and are not queued"
    (label,) = store.labels("web-1")
    assert label.source == "perspective-suggestscore"
    assert label.label["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == 0.9
    assert label.label["text"] == "you idiot"
    assert 'safeguard_review_store_total{operation="enqueue",result="ok"} 2.0' in metrics
    assert 'safeguard_review_store_total{operation="label",result="ok"} 1.0' in metrics
    item = next(e.id for e in store.queue(200) if e.post_id == "web-1")
    with client(app) as c:
        login(c, "alice")
        assert "perspective-suggestscore" in c.get(f"/review/items/{item}").text


def test_a_failing_store_never_changes_a_decision(
    app: Any, store: ReviewStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ReviewError("review store sqlite:///x: database is locked", code="unavailable")

    monkeypatch.setattr(store, "enqueue", broken)
    monkeypatch.setattr(store, "add_label", broken)
    with client(app) as c:
        r = c.post("/v1/moderate", json={"id": "f1", "text": "you idiot"})
        assert r.status_code == 200 and r.json()["action"] == "hold"
        r = c.post("/v1/moderate", json={"id": "f2", "text": "hello there"})
        assert r.status_code == 200 and r.json()["action"] == "allow"
        r = c.post(
            "/v1alpha1/comments:suggestscore",
            json={"comment": {"text": "x"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.1}}}},
        )
        assert r.status_code == 200
        metrics = c.get("/metrics").text
    assert 'safeguard_review_store_total{operation="enqueue",result="failed"} 2.0' in metrics
    assert 'safeguard_review_store_total{operation="label",result="failed"} 1.0' in metrics
    assert 'safeguard_errors_total{kind="review_store"} 3.0' in metrics


def test_a_store_error_is_a_page_with_its_status(app: Any, store: ReviewStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        raise ReviewError("review store sqlite:///x: unable to open database file", code="unavailable")

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    with client(app) as c, client(app, raise_server_exceptions=False) as quiet:
        login(c, "alice")
        login(quiet, "bob")
        monkeypatch.setattr(store, "queue", down)
        r = c.get("/review/")
        assert r.status_code == 503 and "unable to open database file" in r.text
        assert r.headers["content-type"].startswith("text/html")
        monkeypatch.setattr(store, "queue", crash)
        r = quiet.get("/review/")
        assert r.status_code == 500 and "boom" not in r.text and "Traceback" not in r.text
        assert "The page failed" in r.text


def test_without_a_store_there_are_no_review_pages(moderator: Moderator) -> None:
    with client(create_app(LISTS_ONLY, ServeSettings(), moderator=moderator)) as c:
        assert c.get("/review/").status_code == 404
        assert c.get("/review/login").status_code == 404
        assert c.post("/v1/moderate", json={"id": "a", "text": "you idiot"}).json()["action"] == "hold"


def test_pieces_mark_evidence_and_hide_personal_data() -> None:
    from safeguard.review.views import MatchView

    text = "call 07700 900874 you idiot"
    match = MatchView("insult", "hold", None, None, {}, [{"start": 22, "end": 27, "evidence": "idiot"}])
    hidden = pieces(text, [match])
    assert [(p.text, p.rules, p.hidden) for p in hidden] == [
        ("call ", (), False),
        ("<NUMBER>", (), True),
        (" you ", (), False),
        ("idiot", ("insult",), False),
    ]
    shown = pieces(text, [match], show_personal=True)
    assert "".join(p.text for p in shown) == text


def test_webhook_holds_are_queued_and_api_keys_do_not_guard_the_pages(store: ReviewStore, moderator: Moderator) -> None:
    import json

    from safeguard.serve import KeyRing
    from safeguard.serve.hooks import sign

    settings = ServeSettings(
        api_keys=KeyRing.parse(["api-key-1"], "keys"), hook_secrets=(("nodebb", "hook-secret"),), review_secret="k" * 32
    )
    app = create_app(LISTS_ONLY, settings, moderator=moderator, review_store=store)
    body = json.dumps({"post": {"pid": 77, "uid": 5, "tid": 9, "content": "you idiot"}}).encode()
    with client(app) as c:
        r = c.post("/v1/hooks/nodebb", content=body, headers={"X-Safeguard-Signature": sign("hook-secret", body)})
        assert r.status_code == 200 and r.json()["action"] == "hold"
        assert c.post("/v1/moderate", json={"text": "x"}).status_code == 401
        assert c.get("/review/login").status_code == 200, "users log in to the pages: no API key"
        login(c, "alice")
    assert "77" in {e.post_id for e in store.queue(200)}


def test_serve_refuses_a_bad_review_store_before_serving(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from safeguard.cli.app import app as cli

    runner = CliRunner()
    bad = runner.invoke(cli, ["serve", "--rules", str(LISTS_ONLY), "--db", "mysql://u@h/db"])
    assert bad.exit_code == 2 and "unsupported database URL" in " ".join(bad.output.split())
    missing = runner.invoke(cli, ["serve", "--rules", str(LISTS_ONLY), "--db", str(tmp_path / "no" / "dir.db")])
    assert missing.exit_code == 4 and "does not exist" in " ".join(missing.output.split())
