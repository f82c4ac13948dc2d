"""``safeguard serve`` as a user runs it: a subprocess on a free loopback port, spoken to over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from safeguard.types import Decision

ROOT = Path(__file__).resolve().parents[2]
LISTS_ONLY = ROOT / "benchmarks" / "rules" / "lists_only.yaml"
COMMUNITY = ROOT / "rules" / "community.yaml"

PLAIN_KEY = "k-plain-0123456789"
HASHED_KEY = "k-hashed-9876543210"
ADMIN_KEY = "adm-key-55555"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def start(tmp: Path, rules: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    log = tmp / f"serve-{port}.log"
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), environ.get("PYTHONPATH", "")])
    for name in ("SAFEGUARD_API_KEYS", "SAFEGUARD_ADMIN_KEYS", "SAFEGUARD_HOOK_SECRETS"):
        if name not in (env or {}):
            environ.pop(name, None)
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "safeguard", "serve", "--rules", str(rules), "--port", str(port), *args],
            cwd=ROOT,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}:\n{server.stderr()}")
        try:
            if httpx.get(f"{server.base}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"serve never became ready:\n{server.stderr()}")


def lists_ruleset(directory: Path, *, version: int = 1, extra: str = "") -> Path:
    """A copy of the light ruleset that a test may rewrite (its term lists referenced by absolute path)."""
    text = LISTS_ONLY.read_text(encoding="utf-8").replace("../../rules/lists/", f"{ROOT}/rules/lists/")
    text = text.replace("version: 1", f"version: {version}") + extra
    path = directory / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


AUTH = {"Authorization": f"Bearer {PLAIN_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    keys = tmp / "keys.txt"
    keys.write_text(f"# keys\n{PLAIN_KEY}\nci:{hashlib.sha256(HASHED_KEY.encode()).hexdigest()}\n", encoding="utf-8")
    server = start(
        tmp,
        lists_ruleset(tmp),
        "--keys",
        str(keys),
        "--max-batch",
        "8",
        "--max-body-bytes",
        "65536",
        "--labels",
        str(tmp / "labels.jsonl"),
        env={"SAFEGUARD_ADMIN_KEYS": ADMIN_KEY},
    )
    yield server
    assert server.stop() == 0, server.stderr()
    assert "Traceback" not in server.stderr()


@pytest.fixture(scope="module")
def community(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start(tmp_path_factory.mktemp("community"), COMMUNITY)
    yield server
    assert server.stop() == 0, server.stderr()


def post(server: Server, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    response = httpx.post(server.base + path, json=body, headers=AUTH if headers is None else headers, timeout=60)
    assert "Traceback" not in response.text
    return response


def test_moderate_one_post_gives_the_decision_json(served: Server) -> None:
    r = post(served, "/v1/moderate", {"id": 7, "text": "you absolute idiot", "author": {"trust_level": 1}})
    assert r.status_code == 200
    decision = r.json()
    assert decision["post_id"] == "7" and decision["action"] == "hold"
    assert [m["rule"] for m in decision["matches"]] == ["insult"]
    assert set(decision) == set(Decision.json_schema()["required"])  # what `safeguard moderate` writes
    assert r.headers["x-request-id"]


def test_batch_keeps_order_with_errors_in_place(served: Server) -> None:
    posts = [
        {"id": "a", "text": "lovely kettle"},
        {"id": "b", "body": "no text here"},
        {"id": "c", "text": "idiot"},
        {"id": "d", "text": "x", "author": {"trust_level": 9}},
        "a bare text",
    ]
    r = post(served, "/v1/moderate", {"posts": posts})
    assert r.status_code == 200
    out = r.json()["decisions"]
    assert len(out) == 5
    assert out[0]["action"] == "allow" and out[2]["action"] == "hold"
    assert out[1] == {"index": 1, "id": "b", "error": "record has no text (looked for field 'text')"}
    assert out[3]["index"] == 3 and "trust_level" in out[3]["error"]
    assert out[4]["action"] == "allow"


def test_a_single_invalid_post_is_422(served: Server) -> None:
    r = post(served, "/v1/moderate", {"id": "x", "title": "no text"})
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_post"
    r = httpx.post(served.base + "/v1/moderate", content=b"{not json", headers=AUTH)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_json"


def test_classify_explain_and_ruleset(served: Server) -> None:
    r = post(served, "/v1/classify", {"text": "you idiot"})
    assert r.json()["signals"]["lists"]["insults"] == ["idiot"]
    r = post(served, "/v1/explain", {"id": "e", "text": "you idiot"})
    assert r.json()["decision"]["action"] == "hold" and "lists" in r.json()["signals"]
    ruleset = httpx.get(served.base + "/v1/ruleset", headers=AUTH).json()
    assert ruleset["name"] == "lists-only-benchmark" and ruleset["hash"].startswith("sha256:")
    assert {"id": "insult", "action": "hold"}.items() <= ruleset["rules"][2].items()


def test_keys_missing_bad_plain_and_hashed(served: Server) -> None:
    body = {"text": "hello"}
    assert post(served, "/v1/moderate", body, headers={}).status_code == 401
    bad = post(served, "/v1/moderate", body, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"]["message"] == "invalid API key"
    assert post(served, "/v1/moderate", body, headers={"Authorization": f"Bearer {HASHED_KEY}"}).status_code == 200
    assert post(served, "/v1/moderate", body).status_code == 200
    # Health and metrics need no key; admin endpoints need an admin key, not an API key.
    assert httpx.get(served.base + "/healthz").status_code == 200
    assert post(served, "/v1/admin/reload", {}).status_code == 401
    # The Perspective endpoints also take ?key=
    r = httpx.post(
        f"{served.base}/v1alpha1/comments:suggestscore?key={PLAIN_KEY}",
        json={
            "comment": {"text": "x"},
            "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}},
            "clientToken": "t1",
        },
    )
    assert r.status_code == 200 and r.json() == {"clientToken": "t1"}
    r = httpx.post(f"{served.base}/v1alpha1/comments:analyze?key=wrong", json={})
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"


def test_access_log_is_one_json_line_per_request(served: Server) -> None:
    r = httpx.get(served.base + "/healthz", headers={"X-Request-ID": "trace-me-123"})
    assert r.headers["x-request-id"] == "trace-me-123"
    time.sleep(0.2)
    lines = [json.loads(line) for line in served.stderr().splitlines() if line.startswith("{")]
    mine = [entry for entry in lines if entry.get("request_id") == "trace-me-123"]
    assert len(mine) == 1
    assert {"method": "GET", "path": "/healthz", "status": 200}.items() <= mine[0].items()
    assert isinstance(mine[0]["duration_ms"], float)
    assert all(PLAIN_KEY not in line for line in served.stderr().splitlines())


def test_body_too_large_is_413_before_it_is_read(served: Server) -> None:
    big = {"text": "x" * 70_000}
    r = post(served, "/v1/moderate", big)
    assert r.status_code == 413 and "65536 bytes" in r.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b'{"text": "'
        for _ in range(20):
            yield b"y" * 8192
        yield b'"}'

    r = httpx.post(served.base + "/v1/moderate", content=chunks(), headers=AUTH)
    assert r.status_code == 413 and r.json()["error"]["type"] == "too_large"


def test_batch_too_large(served: Server) -> None:
    r = post(served, "/v1/moderate", {"posts": [{"text": "hi"}] * 9})
    assert r.status_code == 413
    assert r.json()["error"] == {"type": "batch_too_large", "message": "9 posts in one request; at most 8"}


def test_suggestscore_appends_a_label_line(served: Server, tmp_path_factory: pytest.TempPathFactory) -> None:
    r = post(
        served,
        "/v1alpha1/comments:suggestscore",
        {"comment": {"text": "a label"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}}},
    )
    assert r.status_code == 200
    labels = next(Path(p) for p in (tmp_path_factory.getbasetemp()).glob("serve*/labels.jsonl"))
    assert any(json.loads(line)["comment"]["text"] == "a label" for line in labels.read_text().splitlines())


def test_reload_swaps_a_valid_ruleset_and_refuses_an_invalid_one(served: Server) -> None:
    path = served.log.parent / "rules.yaml"
    before = httpx.get(served.base + "/v1/ruleset", headers=AUTH).json()
    original = path.read_text(encoding="utf-8")
    path.write_text(original + "  - {id: broken, when: size(lists.nope) > 0, action: delete}\n", encoding="utf-8")
    r = post(served, "/v1/admin/reload", {}, headers=ADMIN)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["type"] == "invalid_ruleset" and len(error["problems"]) >= 1
    assert all({"file", "line", "column", "message"} <= set(p) for p in error["problems"])
    assert httpx.get(served.base + "/v1/ruleset", headers=AUTH).json()["hash"] == before["hash"]
    assert post(served, "/v1/moderate", {"text": "idiot"}).json()["action"] == "hold"

    path.write_text(original.replace("insults) > 0, action: hold", "insults) > 0, action: remove"), encoding="utf-8")
    r = post(served, "/v1/admin/reload", {}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["previous"]["hash"] == before["hash"]
    assert r.json()["ruleset"]["hash"] != before["hash"]
    assert post(served, "/v1/moderate", {"text": "idiot"}).json()["action"] == "remove"
    path.write_text(original, encoding="utf-8")
    assert post(served, "/v1/admin/reload", {}, headers=ADMIN).status_code == 200


def test_sighup_reloads(served: Server) -> None:
    path = served.log.parent / "rules.yaml"
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace("version: 1", "version: 42"), encoding="utf-8")
    try:
        served.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while httpx.get(served.base + "/v1/ruleset", headers=AUTH).json()["version"] != 42:
            assert time.monotonic() < deadline, served.stderr()
            time.sleep(0.2)
        # An invalid file on SIGHUP is logged and the running ruleset stays.
        path.write_text("rules: [", encoding="utf-8")
        served.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while '"reload_failed"' not in served.stderr():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert httpx.get(served.base + "/v1/ruleset", headers=AUTH).json()["version"] == 42
    finally:
        path.write_text(original, encoding="utf-8")
    assert post(served, "/v1/admin/reload", {}, headers=ADMIN).status_code == 200


def answers(server: Server, count: int) -> list[tuple[int, str]]:
    """(worker pid, ruleset hash) of ``count`` answers of /readyz, each on a new connection, so that the
    workers, which accept from one shared socket, all get some."""
    out = []
    for _ in range(count):
        body = httpx.get(server.base + "/readyz", headers={"Connection": "close"}, timeout=5).json()
        out.append((body["pid"], body["ruleset"]["hash"]))
    return out


def every_worker(server: Server, workers: int, within: float = 60) -> dict[int, str]:
    """Each worker's pid and its ruleset hash, once each of ``workers`` workers has answered."""
    found: dict[int, str] = {}
    deadline = time.monotonic() + within
    while len(found) < workers:
        assert time.monotonic() < deadline, (found, server.stderr()[-3000:])
        found.update(answers(server, 10))
    return found


def stop_or_kill(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=10)


def test_a_reload_reaches_every_worker(tmp_path: Path) -> None:
    rules = lists_ruleset(tmp_path)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    server = start(tmp_path, rules, "--workers", "2", env={"SAFEGUARD_ADMIN_KEYS": ADMIN_KEY, "TMPDIR": str(temporary)})
    try:
        (runtime,) = temporary.iterdir()  # the server's runtime directory, private to its user
        assert runtime.name.startswith("safeguard-serve-") and runtime.stat().st_mode & 0o077 == 0
        workers = every_worker(server, 2)
        (before,) = set(workers.values())
        original = rules.read_text(encoding="utf-8")
        rules.write_text(original.replace("insults) > 0, action: hold", "insults) > 0, action: remove"), "utf-8")
        r = httpx.post(server.base + "/v1/admin/reload", headers=ADMIN, timeout=30)
        assert r.status_code == 200, r.text
        after = r.json()["ruleset"]["hash"]
        assert after != before
        # The worker that reloaded shares it; the other switches within a couple of seconds.
        deadline = time.monotonic() + 3
        latest = dict(workers)
        while set(latest.values()) != {after}:
            assert time.monotonic() < deadline, latest
            latest.update(answers(server, 4))
        assert set(latest) == set(workers) and r.json()["generation"]
        assert {hash for _, hash in answers(server, 20)} == {after}
        assert {pid for pid, _ in answers(server, 30)} == set(workers)  # both still answer
        for _ in range(6):
            r = httpx.post(server.base + "/v1/moderate", json={"text": "idiot"}, headers={"Connection": "close"})
            assert r.json()["action"] == "remove" and r.json()["ruleset"]["hash"] == after
        assert httpx.get(server.base + "/v1/ruleset").json()["hash"] == after

        # A SIGHUP sent to one worker (its pid is in /readyz) reaches the other too.
        rules.write_text(original.replace("version: 1", "version: 9"), "utf-8")
        os.kill(min(workers), signal.SIGHUP)
        deadline = time.monotonic() + 5
        latest = dict.fromkeys(workers, after)
        while after in latest.values():
            assert time.monotonic() < deadline, latest
            latest.update(answers(server, 4))
        assert set(latest) == set(workers) and len(set(latest.values())) == 1
        after = latest[min(workers)]
        ruleset = httpx.get(server.base + "/v1/ruleset").json()
        assert (ruleset["version"], ruleset["hash"]) == (9, after)

        # An invalid ruleset is refused by the worker that gets the reload, and no worker changes.
        rules.write_text(original + "  - {id: broken, when: size(lists.nope) > 0, action: delete}\n", "utf-8")
        r = httpx.post(server.base + "/v1/admin/reload", headers=ADMIN, timeout=30)
        assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_ruleset"
        assert r.json()["error"]["problems"]
        time.sleep(2)  # four looks at the stamp
        assert every_worker(server, 2) == dict.fromkeys(workers, after)
        assert {hash for _, hash in answers(server, 20)} == {after}
    finally:
        stop_or_kill(server)
    assert server.proc.returncode == 0, server.stderr()[-3000:]
    log = server.stderr()
    assert '"trigger": "worker"' in log and "Traceback" not in log
    assert not any(temporary.iterdir())  # removed when the server stopped


def wait_stopped(server: Server, pids: Iterable[int], within: float = 60) -> None:
    """Wait until each of the worker processes ``pids`` has logged that it stopped."""
    deadline = time.monotonic() + within
    while not all(f'"event": "stopped", "pid": {pid}}}' in server.stderr() for pid in pids):
        assert time.monotonic() < deadline, server.stderr()[-3000:]
        assert server.proc.poll() is None, server.stderr()[-3000:]
        time.sleep(0.2)


def test_sighup_to_the_main_process_of_several_workers(tmp_path: Path) -> None:
    """uvicorn restarts the workers; the new ones load the file, or keep the shared ruleset when it is invalid."""
    rules = lists_ruleset(tmp_path)
    server = start(tmp_path, rules, "--workers", "2")
    try:
        old_workers = every_worker(server, 2)
        original = rules.read_text(encoding="utf-8")
        rules.write_text(original.replace("version: 1", "version: 42"), encoding="utf-8")
        server.proc.send_signal(signal.SIGHUP)
        wait_stopped(server, old_workers)
        new_workers = every_worker(server, 2)
        assert not set(new_workers) & set(old_workers)
        (hash42,) = set(new_workers.values())
        assert hash42 != next(iter(old_workers.values()))
        assert httpx.get(server.base + "/v1/ruleset").json()["version"] == 42

        rules.write_text("rules: [", encoding="utf-8")
        server.proc.send_signal(signal.SIGHUP)
        wait_stopped(server, new_workers)
        # Restarted on the ruleset they shared: the service is up, and the invalid file is not served.
        assert server.stderr().count('"trigger": "start"') == 2
        assert set(every_worker(server, 2).values()) == {hash42}
        assert {hash for _, hash in answers(server, 20)} == {hash42}
    finally:
        stop_or_kill(server)
    assert server.proc.returncode == 0, server.stderr()[-3000:]


def test_metrics_expose_decision_counters(served: Server) -> None:
    post(served, "/v1/moderate", {"text": "you idiot"})
    text = httpx.get(served.base + "/metrics").text
    assert 'safeguard_decisions_total{action="hold"}' in text
    assert 'safeguard_rule_matches_total{action="hold",rule="insult"}' in text
    assert "safeguard_http_request_duration_seconds_bucket" in text
    assert 'safeguard_errors_total{kind="auth"}' in text


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b"null",
        b'"text"',
        b'{"posts": 3}',
        b'{"posts": [1, null, [], {}]}',
        b"[" * 50_000,
        b'{"text": "\\ud800"}',
        b'{"text": 5}',
        b'{"text": "x", "created_at": "yesterday"}',
    ],
)
def test_hostile_bodies_never_500_nor_traceback(served: Server, body: bytes) -> None:
    for path in ("/v1/moderate", "/v1/classify", "/v1/explain", "/v1/moderations", "/v1alpha1/comments:analyze"):
        r = httpx.post(served.base + path, content=body, headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code < 500, (path, body[:40], r.text)
        assert ("Traceback" not in r.text and "error" in r.json()) or r.status_code == 200


def test_openai_client_unmodified(community: Server) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=community.base + "/v1", api_key="unused-the-service-is-open")
    result = client.moderations.create(input=["I will kill you, you worthless idiot", "Lovely kettle, boils fast"])
    assert result.id.startswith("modr-") and len(result.results) == 2
    threat, fine = result.results
    assert threat.flagged and not fine.flagged
    assert threat.categories.violence and threat.category_scores.violence > 0.5
    assert fine.category_scores.harassment < 0.5 and fine.category_scores.sexual == 0.0
    assert threat.category_applied_input_types.hate == ["text"]
    assert len(threat.model_dump(by_alias=True)["categories"]) == 13
    extra = threat.model_extra or {}
    assert extra["safeguard"]["action"] == "remove" and "violent-threat" in extra["safeguard"]["rules"]
    parts = client.moderations.create(input=[{"type": "text", "text": "you are an idiot"}])
    assert len(parts.results) == 1
    import openai

    with pytest.raises(openai.BadRequestError) as info:
        client.moderations.create(input=[{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}])
    assert "image inputs are not supported" in str(info.value)
    assert "no API keys configured" in community.stderr()


def test_perspective_analyze(community: Server) -> None:
    request = {
        "comment": {"text": "Thanks for the quick reply. You are a stupid idiot and I will hurt you."},
        "requestedAttributes": {"TOXICITY": {}, "INSULT": {"scoreThreshold": 0.0}, "THREAT": {"scoreThreshold": 1.0}},
        "languages": ["en"],
        "spanAnnotations": True,
        "doNotStore": True,
        "clientToken": "abc",
    }
    r = post(community, "/v1alpha1/comments:analyze", request, headers={})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["clientToken"] == "abc" and out["languages"] == ["en"]
    assert set(out["attributeScores"]) == {"TOXICITY", "INSULT"}  # THREAT is under its threshold
    toxicity = out["attributeScores"]["TOXICITY"]
    assert toxicity["summaryScore"]["type"] == "PROBABILITY" and toxicity["summaryScore"]["value"] > 0.5
    first, second = toxicity["spanScores"]
    assert (first["begin"], first["end"]) == (0, 27)
    assert first["score"]["value"] < second["score"]["value"]
    swearing = {"comment": {"text": "this kettle is fucking shit"}, "requestedAttributes": {"PROFANITY": {}}}
    calm = {"comment": {"text": "this kettle is lovely"}, "requestedAttributes": {"PROFANITY": {}}}
    scores = [
        post(community, "/v1alpha1/comments:analyze", body, headers={}).json()["attributeScores"]["PROFANITY"]
        for body in (swearing, calm)
    ]
    assert scores[0]["summaryScore"]["value"] > 0.5 > scores[1]["summaryScore"]["value"]
    r = post(
        community,
        "/v1alpha1/comments:analyze",
        {"comment": {"text": "x"}, "requestedAttributes": {"SEXUALLY_EXPLICIT": {}}},
        headers={},
    )
    assert r.status_code == 400
    assert r.json() == {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "Attribute SEXUALLY_EXPLICIT is not supported by this service",
        }
    }


def test_schemathesis_native_endpoints(served: Server) -> None:
    """Generated requests from the OpenAPI document of the native endpoints: never a 5xx, never a traceback."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(served.base + "/openapi.json").include(
        path_regex="^/v1/(moderate|classify|explain|ruleset)$"
    )
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 4

    for operation in operations:

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=served.base, headers=AUTH)
            if response.status_code >= 500 or "Traceback" in response.text:
                failures.append(f"{case.method} {case.path}: {response.status_code} {response.text[:200]}")

        check()
    assert not failures, failures[:5]


def test_sigterm_lets_in_flight_requests_finish_and_saves_state(tmp_path: Path) -> None:
    state = tmp_path / "window.npz"
    rules = lists_ruleset(
        tmp_path,
        extra=(
            f"  - {{id: repost, when: duplicate.similarity >= 0.9, action: hold}}\n"
            f"classifiers:\n  duplicate: {{threshold: 0.9, min_chars: 10, state: {state}}}\n"
        ),
    )
    server = start(tmp_path, rules)
    text = "Selling my old kettle, barely used, collect from town centre this weekend"
    assert post(server, "/v1/moderate", {"id": "1", "text": text}, headers={}).json()["action"] == "allow"
    again = post(server, "/v1/moderate", {"id": "2", "text": text}, headers={}).json()
    assert again["action"] == "hold" and again["signals"]["duplicate"]["of"] == "1"  # the window spans requests

    sent_head = threading.Event()
    release = threading.Event()
    result: dict[str, Any] = {}

    def slow_body() -> Iterator[bytes]:
        yield b'{"posts": [{"id": "late", '
        sent_head.set()
        release.wait(10)
        yield b'"text": "still here"}]}'

    def client() -> None:
        result["response"] = httpx.post(server.base + "/v1/moderate", content=slow_body(), timeout=30)

    thread = threading.Thread(target=client)
    thread.start()
    assert sent_head.wait(10)
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.proc.poll() is None  # still finishing the request
    release.set()
    thread.join(30)
    response = result["response"]
    assert response.status_code == 200 and response.json()["decisions"][0]["post_id"] == "late"
    assert server.proc.wait(30) == 0, server.stderr()
    assert state.exists()  # the duplicate window was saved on shutdown
    assert "Traceback" not in server.stderr()


def test_discourse_webhook_signed_like_discourse(tmp_path: Path) -> None:
    """A post_created delivery as Discourse sends it: verified, decided, replayed, and called back."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[str, bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.headers.get("X-Safeguard-Signature", ""), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    secret = "discourse-hook-secret-4711"
    secret_file = tmp_path / "discourse.secret"
    secret_file.write_text(secret + "\n", encoding="utf-8")
    callback = f"http://127.0.0.1:{receiver.server_address[1]}/decisions"
    (tmp_path / "keys.txt").write_text(PLAIN_KEY + "\n", encoding="utf-8")
    server = start(
        tmp_path,
        lists_ruleset(tmp_path),
        "--keys",
        str(tmp_path / "keys.txt"),
        "--hook-secret",
        f"discourse={secret_file}",
        "--hook-callback",
        callback,
        env={"SAFEGUARD_HOOK_SECRETS": "nodebb=nodebb-secret-0815"},
    )
    try:
        payload = {
            "post": {
                "id": 4242,
                "username": "ann",
                "created_at": "2024-05-01T10:00:00.000Z",
                "cooked": "<p>you absolute <em>idiot</em></p>",
                "post_number": 2,
                "reply_to_post_number": 1,
                "topic_id": 17,
                "topic_title": "Hello",
                "user_id": 3,
                "trust_level": 1,
                "moderator": False,
                "admin": False,
                "staff": False,
            }
        }
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Discourse-Instance": "https://forum.example",
            "X-Discourse-Event-Id": "5150",
            "X-Discourse-Event-Type": "post",
            "X-Discourse-Event": "post_created",
            "X-Discourse-Event-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        }
        url = server.base + "/v1/hooks/discourse"
        r = httpx.post(url, content=body, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        decision = r.json()
        assert decision["post_id"] == "4242" and decision["action"] == "hold"
        again = httpx.post(url, content=body, headers=headers, timeout=30)
        assert again.json() == decision and again.headers["x-safeguard-replayed"] == "true"
        forged = {**headers, "X-Discourse-Event-Signature": "sha256=" + "0" * 64}
        assert httpx.post(url, content=body, headers=forged, timeout=30).status_code == 401
        nodebb = json.dumps({"post": {"pid": 1, "content": "hello"}}).encode()
        sig = "sha256=" + hmac.new(b"nodebb-secret-0815", nodebb, hashlib.sha256).hexdigest()
        r = httpx.post(server.base + "/v1/hooks/nodebb", content=nodebb, headers={"X-Safeguard-Signature": sig})
        assert r.status_code == 200 and r.json()["action"] == "allow"
        assert httpx.post(server.base + "/v1/hooks/vanilla", content=b"{}").status_code == 401  # not mounted
        deadline = time.monotonic() + 20
        while len(received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(received) == 2  # one per new decision, none for the replay
        signature, sent = received[0]
        assert signature == "sha256=" + hmac.new(secret.encode(), sent, hashlib.sha256).hexdigest()
        assert json.loads(sent) == {"forum": "discourse", "event_id": "5150", "post_id": "4242", "decision": decision}
    finally:
        assert server.stop() == 0, server.stderr()
        receiver.shutdown()
        receiver.server_close()
    log = server.stderr()
    assert secret not in log and "nodebb-secret-0815" not in log and "absolute" not in log
    assert "Traceback" not in log
