"""Forum webhooks in-process: signatures, payload mappings, idempotency and the decision callback."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from safeguard.errors import ConfigError
from safeguard.moderator import Moderator
from safeguard.serve import ServeSettings, create_app, hooks
from safeguard.serve.hooks import FORUMS, Remembered, sign
from safeguard.serve.settings import HOOK_FORUMS, hook_secrets

ROOT = Path(__file__).resolve().parents[2]
LISTS_ONLY = ROOT / "benchmarks" / "rules" / "lists_only.yaml"
SECRET = "s3cret-hook-value"
SECRETS = (("discourse", SECRET), ("nodebb", SECRET + "-n"), ("vanilla", SECRET + "-v"))

DISCOURSE_POST: dict[str, Any] = {
    "post": {
        "id": 991,
        "name": "Ann",
        "username": "ann",
        "created_at": "2024-05-01T10:00:00.000Z",
        "cooked": "<p>you <strong>idiot</strong></p>",
        "raw": "you **idiot**",
        "post_number": 3,
        "reply_to_post_number": 2,
        "topic_id": 77,
        "topic_title": "Welcome",
        "user_id": 12,
        "trust_level": 1,
        "moderator": False,
        "admin": False,
        "staff": False,
    }
}


def discourse_headers(body: bytes, event_id: str = "101", secret: str = SECRET) -> dict[str, str]:
    """The headers Discourse sends with a post_created delivery."""
    return {
        "Content-Type": "application/json",
        "X-Discourse-Instance": "https://forum.example",
        "X-Discourse-Event-Id": event_id,
        "X-Discourse-Event-Type": "post",
        "X-Discourse-Event": "post_created",
        "X-Discourse-Event-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator.from_file(LISTS_ONLY).load()


def count_batches(moderator: Moderator, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batches ``moderator`` decides from now on, appended as they come."""
    calls: list[int] = []
    real = moderator.moderate_batch
    monkeypatch.setattr(moderator, "moderate_batch", lambda posts: calls.append(len(posts)) or real(posts))
    return calls


def client(moderator: Moderator, **settings: Any) -> TestClient:
    return TestClient(create_app(LISTS_ONLY, ServeSettings(**settings), moderator=moderator))


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize("forum", HOOK_FORUMS)
def test_signature_checks(forum: str) -> None:
    check = FORUMS[forum]
    header = check.signature_header.lower()
    body = b'{"post": {"id": 1}}'
    good = sign(SECRET, body)
    assert check.verify(SECRET, body, {header: good})
    assert check.verify(SECRET, body, {header: good.upper().replace("SHA256=", "sha256=")})
    assert not check.verify(SECRET, body + b" ", {header: good})  # another body
    assert not check.verify(SECRET + "x", body, {header: good})  # another secret
    assert not check.verify(SECRET, body, {header: good[:-1] + ("0" if good[-1] != "0" else "1")})
    assert not check.verify(SECRET, body, {})  # missing
    assert not check.verify(SECRET, body, {header: good.removeprefix("sha256=")})  # no algorithm
    sha1 = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    assert not check.verify(SECRET, body, {header: sha1})  # wrong algorithm
    assert not check.verify(SECRET, body, {header: "sha1=" + good.removeprefix("sha256=")})
    assert not check.verify(SECRET, body, {header: "sha256=é"})


def test_forum_table_matches_the_settings() -> None:
    assert tuple(FORUMS) == HOOK_FORUMS
    assert FORUMS["discourse"].signature_header == "X-Discourse-Event-Signature"
    assert FORUMS["nodebb"].signature_header == FORUMS["vanilla"].signature_header == "X-Safeguard-Signature"


def test_a_bad_or_missing_signature_is_401_and_nothing_is_moderated(
    moderator: Moderator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_batches(moderator, monkeypatch)
    body = encode(DISCOURSE_POST)
    with client(moderator, hook_secrets=SECRETS) as c:
        for headers in (
            discourse_headers(body, secret="wrong"),
            {k: v for k, v in discourse_headers(body).items() if k != "X-Discourse-Event-Signature"},
            {**discourse_headers(body), "X-Discourse-Event-Signature": "sha512=" + "0" * 128},
        ):
            r = c.post("/v1/hooks/discourse", content=body, headers=headers)
            assert r.status_code == 401
            assert r.json()["error"]["type"] == "bad_signature"
        r = c.post("/v1/hooks/nodebb", content=b"{}", headers={"X-Safeguard-Signature": sign(SECRET, b"{}")})
        assert r.status_code == 401  # signed with another forum's secret
        assert 'safeguard_hook_deliveries_total{forum="discourse",result="bad_signature"} 3.0' in c.get("/metrics").text
    assert calls == []


def test_hooks_are_mounted_only_for_forums_with_a_secret_and_take_no_api_key(moderator: Moderator) -> None:
    from safeguard.serve import KeyRing

    body = encode(DISCOURSE_POST)
    with client(moderator, api_keys=KeyRing.parse(["k"], "keys"), hook_secrets=SECRETS[:1]) as c:
        r = c.post("/v1/hooks/discourse", content=body, headers=discourse_headers(body))
        assert r.status_code == 200 and r.json()["action"] == "hold"
        r = c.post("/v1/hooks/nodebb", content=b"{}", headers={"X-Safeguard-Signature": sign(SECRET, b"{}")})
        assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"  # not mounted: API key first
        r = c.post("/v1/hooks/nodebb", content=b"{}", headers={"Authorization": "Bearer k"})
        assert r.status_code == 404
        assert c.post("/v1/moderate", json={"text": "hi"}).status_code == 401  # the rest still needs a key
    with client(moderator) as c:
        assert c.post("/v1/hooks/discourse", content=body, headers=discourse_headers(body)).status_code == 404


# ---------------------------------------------------------------- mappings


def test_discourse_mapping() -> None:
    post = FORUMS["discourse"].map(DISCOURSE_POST, {"x-discourse-event": "post_created"})
    assert post is not None
    assert post.id == "991" and post.text == "you idiot" and post.title == "Welcome"
    assert post.author.id == "12" and post.author.trust_level == 1 and post.author.role == "member"
    assert post.thread_id == "77" and post.created_at is not None and post.created_at.year == 2024
    assert post.meta["reply_to_post_number"] == 2 and post.meta["event"] == "post_created"
    raw_only = {"post": {**DISCOURSE_POST["post"], "cooked": None, "moderator": True}}
    mapped = FORUMS["discourse"].map(raw_only, {})
    assert mapped is not None and mapped.text == "you **idiot**" and mapped.author.role == "moderator"
    assert FORUMS["discourse"].map({"ping": "OK"}, {"x-discourse-event": "ping"}) is None
    assert FORUMS["discourse"].map(DISCOURSE_POST, {"x-discourse-event": "post_destroyed"}) is None
    for bad in ({"topic": {}}, {"post": "x"}, {"post": {"id": 1}}):
        with pytest.raises(ValueError):
            FORUMS["discourse"].map(bad, {})


def test_nodebb_mapping() -> None:
    now_ms = time.time() * 1000
    payload = {
        "post": {"pid": 5, "uid": 9, "tid": 3, "content": " hello there ", "timestamp": 1714557600000, "toPid": 4},
        "user": {"username": "bob", "reputation": 12, "postcount": 40, "joindate": now_ms - 10 * 86400 * 1000},
    }
    post = FORUMS["nodebb"].map(payload, {})
    assert post is not None
    assert (post.id, post.text, post.thread_id, post.parent_id) == ("5", "hello there", "3", "4")
    assert post.author.id == "9" and post.author.post_count == 40
    assert post.author.account_age_days is not None and 9.9 < post.author.account_age_days < 10.1
    assert post.author.meta == {"username": "bob", "reputation": 12}
    assert post.created_at is not None and post.created_at.year == 2024
    assert FORUMS["nodebb"].event_id({}, post) == "5"
    assert FORUMS["nodebb"].event_id({"x-safeguard-event-id": "e-1"}, post) == "e-1"
    for bad in ({}, {"post": {"pid": 1}}, {"post": {"content": "x"}}, {"post": []}):
        with pytest.raises(ValueError):
            FORUMS["nodebb"].map(bad, {})


def test_vanilla_mapping() -> None:
    comment = {
        "comment": {
            "commentID": 8,
            "discussionID": 2,
            "body": "<p>nice &amp; <b>kind</b></p>",
            "format": "Html",
            "insertUserID": 6,
            "dateInserted": "2024-05-01T10:00:00+00:00",
            "insertUser": {"name": "cy"},
        }
    }
    post = FORUMS["vanilla"].map(comment, {})
    assert post is not None
    assert (post.id, post.text, post.thread_id, post.author.id) == ("comment:8", "nice & kind", "2", "6")
    assert post.author.meta == {"username": "cy"} and post.created_at is not None
    discussion = {
        "payload": {"discussion": {"discussionID": 2, "name": "Hi all", "body": "**hi**", "format": "markdown"}}
    }
    post = FORUMS["vanilla"].map(discussion, {})
    assert post is not None and (post.id, post.title, post.text) == ("discussion:2", "Hi all", "**hi**")
    for bad in ({}, {"comment": {"commentID": 1}}, {"discussion": {"body": "x"}}):
        with pytest.raises(ValueError):
            FORUMS["vanilla"].map(bad, {})


def test_an_unmappable_payload_is_422_and_invalid_json_400(moderator: Moderator) -> None:
    with client(moderator, hook_secrets=SECRETS) as c:
        for forum, secret in SECRETS:
            body = encode({"something": "else"})
            r = c.post(f"/v1/hooks/{forum}", content=body, headers={FORUMS[forum].signature_header: sign(secret, body)})
            assert r.status_code == 422, forum
            assert r.json()["error"]["type"] == "invalid_payload"
        body = b"{not json"
        r = c.post("/v1/hooks/vanilla", content=body, headers={"X-Safeguard-Signature": sign(SECRETS[2][1], body)})
        assert r.status_code == 400


def test_nodebb_and_vanilla_deliveries_are_decided(moderator: Moderator) -> None:
    with client(moderator, hook_secrets=SECRETS) as c:
        body = encode({"post": {"pid": 1, "uid": 2, "tid": 3, "content": "you idiot"}})
        r = c.post("/v1/hooks/nodebb", content=body, headers={"X-Safeguard-Signature": sign(SECRETS[1][1], body)})
        assert r.status_code == 200 and r.json()["post_id"] == "1" and r.json()["action"] == "hold"
        body = encode({"comment": {"commentID": 4, "body": "a fine day", "format": "text"}})
        r = c.post("/v1/hooks/vanilla", content=body, headers={"X-Safeguard-Signature": sign(SECRETS[2][1], body)})
        assert r.status_code == 200 and r.json()["post_id"] == "comment:4" and r.json()["action"] == "allow"


# ---------------------------------------------------------------- idempotency


def test_a_repeated_delivery_gets_the_stored_decision_without_moderating_again(
    moderator: Moderator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_batches(moderator, monkeypatch)
    body = encode(DISCOURSE_POST)
    with client(moderator, hook_secrets=SECRETS) as c:
        first = c.post("/v1/hooks/discourse", content=body, headers=discourse_headers(body, "e-7"))
        again = c.post("/v1/hooks/discourse", content=body, headers=discourse_headers(body, "e-7"))
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and first.json()["action"] == "hold"
        assert again.headers["x-safeguard-replayed"] == "true" and "x-safeguard-replayed" not in first.headers
        assert calls == [1]
        other = c.post("/v1/hooks/discourse", content=body, headers=discourse_headers(body, "e-8"))
        assert other.status_code == 200 and calls == [1, 1]
        metrics = c.get("/metrics").text
        assert 'safeguard_hook_deliveries_total{forum="discourse",result="replayed"} 1.0' in metrics
        assert 'safeguard_hook_deliveries_total{forum="discourse",result="decided"} 2.0' in metrics
        assert 'safeguard_decisions_total{action="hold"} 2.0' in metrics


def slow_batches(moderator: Moderator, monkeypatch: pytest.MonkeyPatch, *, fail_first: bool = False) -> list[int]:
    """Like :func:`count_batches`, each batch taking 0.3 s (the first one raising when ``fail_first``)."""
    calls: list[int] = []
    real = moderator.moderate_batch

    def slow(posts: Any) -> Any:
        calls.append(len(posts))
        time.sleep(0.3)
        if fail_first and len(calls) == 1:
            raise RuntimeError("the classifier broke")
        return real(posts)

    monkeypatch.setattr(moderator, "moderate_batch", slow)
    return calls


def callbacks(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The callback messages the hooks send from now on (none leaves the process)."""
    sent: list[dict[str, Any]] = []

    async def deliver(url: str, secret: str, body: dict[str, Any], log: Any) -> bool:
        sent.append(body)
        return True

    monkeypatch.setattr(hooks, "deliver", deliver)
    return sent


Delivery = tuple[bytes, dict[str, str]]


def deliver_at_once(app: Any, *rounds: list[Delivery]) -> list[list[Any]]:
    """For each round in turn, POST its (body, headers) to the Discourse hook of ``app`` concurrently;
    the responses of each round, in order."""
    import asyncio

    import httpx

    async def main() -> list[list[httpx.Response]]:
        out: list[list[httpx.Response]] = []
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as c:
                for deliveries in rounds:
                    posts = (c.post("/v1/hooks/discourse", content=body, headers=h) for body, h in deliveries)
                    out.append(list(await asyncio.gather(*posts)))
                    await asyncio.sleep(0.1)  # the callbacks run in the background
        return out

    return asyncio.run(main())


def test_simultaneous_repeats_are_decided_and_called_back_once(
    moderator: Moderator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = slow_batches(moderator, monkeypatch)
    sent = callbacks(monkeypatch)
    app = create_app(
        LISTS_ONLY, ServeSettings(hook_secrets=SECRETS, hook_callback="http://127.0.0.1:9/cb"), moderator=moderator
    )
    body = encode(DISCOURSE_POST)
    others = [(body, discourse_headers(body, f"other-{i}")) for i in range(3)]
    responses, separate = deliver_at_once(app, [(body, discourse_headers(body, "twice-1"))] * 5, others)
    assert calls == [1] * 4  # the five repeats decided once, then each of the three other events
    assert [r.status_code for r in responses] == [200] * 5
    assert len({r.content for r in responses}) == 1 and responses[0].json()["action"] == "hold"
    assert sorted(r.headers.get("x-safeguard-replayed", "") for r in responses) == ["", "true", "true", "true", "true"]
    assert sent[0] == {"forum": "discourse", "event_id": "twice-1", "post_id": "991", "decision": responses[0].json()}
    assert sorted(m["event_id"] for m in sent) == ["other-0", "other-1", "other-2", "twice-1"]  # one callback each
    assert all(r.status_code == 200 and "x-safeguard-replayed" not in r.headers for r in separate)
    metrics = TestClient(app).get("/metrics").text
    assert 'safeguard_hook_deliveries_total{forum="discourse",result="replayed"} 4.0' in metrics
    assert 'safeguard_hook_deliveries_total{forum="discourse",result="decided"} 4.0' in metrics


def test_when_deciding_fails_the_simultaneous_repeats_get_the_error_too(
    moderator: Moderator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = slow_batches(moderator, monkeypatch, fail_first=True)
    sent = callbacks(monkeypatch)
    app = create_app(
        LISTS_ONLY, ServeSettings(hook_secrets=SECRETS, hook_callback="http://127.0.0.1:9/cb"), moderator=moderator
    )
    body = encode(DISCOURSE_POST)
    headers = discourse_headers(body, "broken-1")
    responses, (retry,) = deliver_at_once(app, [(body, headers)] * 5, [(body, headers)])
    assert [r.status_code for r in responses] == [500] * 5  # never a decision of their own, never an allow
    assert all(r.json()["error"]["type"] == "internal_error" for r in responses)
    assert retry.status_code == 200 and retry.json()["action"] == "hold" and calls == [1, 1]
    assert "x-safeguard-replayed" not in retry.headers and len(sent) == 1


def test_remembered_is_a_bounded_lru() -> None:
    memory = Remembered(size=2)
    memory.put(("d", "1"), {"a": 1})
    memory.put(("d", "2"), {"a": 2})
    assert memory.get(("d", "1")) == {"a": 1}  # now the most recent
    memory.put(("d", "3"), {"a": 3})
    assert memory.get(("d", "2")) is None and memory.get(("d", "1")) == {"a": 1} and len(memory.items) == 2


# ---------------------------------------------------------------- callback


class Flaky(BaseHTTPRequestHandler):
    """Fails the first two requests with a 503, then answers 204; records what it got."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((dict(self.headers), body))
        self.send_response(503 if len(self.received) <= 2 else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    Flaky.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/decisions", Flaky.received
    server.shutdown()
    server.server_close()


def test_the_callback_is_retried_until_it_succeeds(
    moderator: Moderator, monkeypatch: pytest.MonkeyPatch, flaky: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = flaky
    monkeypatch.setattr(hooks, "CALLBACK_BACKOFF_S", 0.01)
    body = encode(DISCOURSE_POST)
    with client(moderator, hook_secrets=SECRETS, hook_callback=url) as c:
        started = time.monotonic()
        r = c.post("/v1/hooks/discourse", content=body, headers=discourse_headers(body, "cb-1"))
        assert r.status_code == 200
        deadline = time.monotonic() + 10
        while len(received) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(received) == 3 and time.monotonic() - started < 10
        headers, sent = received[-1]
        message = json.loads(sent)
        assert message == {"forum": "discourse", "event_id": "cb-1", "post_id": "991", "decision": r.json()}
        assert headers["X-Safeguard-Signature"] == sign(SECRET, sent)
        c.post("/v1/hooks/discourse", content=body, headers=discourse_headers(body, "cb-1"))  # a replay
        time.sleep(0.2)
        assert len(received) == 3  # is not sent again


def closed_port_url() -> str:
    """A URL on a loopback port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/x"


def test_a_callback_that_keeps_failing_is_logged_without_the_post(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    monkeypatch.setattr(hooks, "CALLBACK_BACKOFF_S", 0.01)
    logged: list[tuple[str, dict[str, Any]]] = []
    message = {"forum": "nodebb", "event_id": "e", "post_id": "p", "decision": {"text": "secret words"}}
    ok = asyncio.run(hooks.deliver(closed_port_url(), SECRET, message, lambda event, **f: logged.append((event, f))))
    assert ok is False
    failed = {"forum": "nodebb", "event_id": "e", "post_id": "p", "error": "ConnectError"}
    assert logged == [("hook_callback_failed", failed)]
    assert "secret words" not in json.dumps(logged) and SECRET not in json.dumps(logged)


# ---------------------------------------------------------------- settings


def test_hook_secrets_from_options_and_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "discourse.secret"
    secret_file.write_text(" from-file \n", encoding="utf-8")
    env = {"SAFEGUARD_HOOK_SECRETS": "nodebb=from-env, discourse=overridden"}
    found = hook_secrets([f"discourse={secret_file}"], env)
    assert found == (("discourse", "from-file"), ("nodebb", "from-env"))
    settings = ServeSettings(hook_secrets=found, hook_callback="http://127.0.0.1:9/cb")
    assert ServeSettings.from_json(settings.to_json()) == settings
    assert "from-file" not in repr(settings)
    for options, environ in (
        (["phpbb=x"], {}),
        ([f"discourse{secret_file}"], {}),
        ([f"discourse={tmp_path / 'missing'}"], {}),
        ([], {"SAFEGUARD_HOOK_SECRETS": "vanilla="}),
    ):
        with pytest.raises(ConfigError) as info:
            hook_secrets(options, environ)
        assert "from-file" not in str(info.value)
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        hook_secrets([f"vanilla={tmp_path / 'empty'}"], {})


def test_serve_refuses_an_unknown_forum_or_a_bad_callback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from safeguard.cli.app import app

    secret = tmp_path / "s"
    secret.write_text("do-not-print-me", encoding="utf-8")
    for args in (["--hook-secret", f"phpbb={secret}"], ["--hook-callback", "ftp://x"]):
        result = CliRunner().invoke(app, ["serve", "--rules", str(LISTS_ONLY), "--port", "0", *args])
        assert result.exit_code == 2, result.output
        assert "do-not-print-me" not in result.output
