"""The service in-process (Starlette's test client): failure paths that are hard to reach over a socket."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from safeguard.moderator import Moderator
from safeguard.serve import KeyRing, ServeSettings, create_app
from safeguard.serve.compat import OPENAI_CATEGORIES, openai_scores, spans

ROOT = Path(__file__).resolve().parents[2]
LISTS_ONLY = ROOT / "benchmarks" / "rules" / "lists_only.yaml"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def service_log() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("safeguard.serve")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def client(moderator: Moderator, **settings: Any) -> TestClient:
    return TestClient(create_app(LISTS_ONLY, ServeSettings(**settings), moderator=moderator))


def test_a_timeout_fails_closed_with_on_error_for_every_post(monkeypatch: pytest.MonkeyPatch) -> None:
    moderator = Moderator.from_file(LISTS_ONLY).load()

    def slow(posts: Any) -> Any:
        time.sleep(1.0)
        raise AssertionError("unreachable")

    monkeypatch.setattr(moderator, "moderate_batch", slow)
    with client(moderator, timeout_s=0.05) as c:
        r = c.post("/v1/moderate", json={"posts": [{"id": "a", "text": "hi"}, {"id": "b", "text": "hello"}]})
        assert r.status_code == 200
        decisions = r.json()["decisions"]
        assert [d["action"] for d in decisions] == ["hold", "hold"]  # the ruleset's on_error, never allow
        assert decisions[0]["errors"] == [{"source": "timeout", "error": "moderation took longer than 0.05s"}]
        single = c.post("/v1/moderations", json={"input": "hi"}).json()["results"][0]
        assert single["flagged"] and single["safeguard"]["errors"][0]["source"] == "timeout"
        assert 'safeguard_errors_total{kind="timeout"}' in c.get("/metrics").text


def test_an_unexpected_exception_is_a_generic_500_logged_without_the_post(
    monkeypatch: pytest.MonkeyPatch, service_log: Lines
) -> None:
    moderator = Moderator.from_file(LISTS_ONLY).load()

    def broken(posts: Any) -> Any:
        raise RuntimeError(f"cannot handle {posts[0].text}")

    monkeypatch.setattr(moderator, "moderate_batch", broken)
    with client(moderator) as c:
        r = c.post("/v1/moderate", json={"text": "my secret post"})
        assert r.status_code == 500
        assert r.json() == {
            "error": {
                "type": "internal_error",
                "message": "internal error; the request id is in the X-Request-ID header",
            }
        }
        r = c.post("/v1/moderations", json={"input": "my secret post"})
        assert r.status_code == 500 and r.json()["error"]["type"] == "server_error"
    logged = "\n".join(service_log.lines)
    assert '"exception": "RuntimeError"' in logged and "my secret post" not in logged


def test_admin_endpoint_is_off_without_admin_keys_and_cors_is_off_by_default() -> None:
    with client(Moderator.from_file(LISTS_ONLY).load()) as c:
        assert c.post("/v1/admin/reload").status_code == 403
        r = c.options("/v1/moderate", headers={"Origin": "https://a.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in r.headers


def test_key_ring_reads_named_digests_and_plain_keys() -> None:
    ring = KeyRing.parse(["# comment", "", f"ci:{hashlib.sha256(b'one').hexdigest()}", "two:with:colons"], "keys.txt")
    assert ring.match("one") == "ci" and ring.match("two:with:colons") == "keys.txt:4"
    assert ring.match("three") is None and len(ring) == 2
    assert KeyRing.from_env("X", {"X": "a, b\nc"}).match("b") == "X:2"
    settings = ServeSettings(api_keys=ring, max_batch=3, labels_path=Path("/tmp/l.jsonl"))
    assert ServeSettings.from_json(settings.to_json()) == settings


def test_openai_mapping_table() -> None:
    scores = openai_scores({"toxicity": 0.9, "insult": 0.8, "threat": 0.6, "identity_attack": 0.3, "self_harm": 0.1})
    assert list(scores) == list(OPENAI_CATEGORIES) and len(scores) == 13
    assert scores["harassment"] == 0.8 and scores["violence"] == 0.6 and scores["harassment/threatening"] == 0.6
    assert scores["hate"] == 0.3 and scores["hate/threatening"] == 0.3 and scores["self-harm"] == 0.1
    assert scores["sexual"] == scores["illicit"] == scores["self-harm/intent"] == 0.0
    assert set(openai_scores(None).values()) == {0.0}


def test_sentence_spans() -> None:
    text = "  First one.  Second?!\nthird"
    assert [text[b:e] for b, e in spans(text)] == ["First one.", "Second?!", "third"]
    assert spans("") == []


def test_serve_without_the_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from typer.testing import CliRunner

    from safeguard.cli.app import app

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    result = CliRunner().invoke(app, ["serve", "--rules", str(LISTS_ONLY)])
    assert result.exit_code == 2
    assert "pip install 'safeguard-moderation[serve]'" in result.output


def test_serve_refuses_an_invalid_ruleset(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from safeguard.cli.app import app

    bad = tmp_path / "bad.yaml"
    bad.write_text("ruleset: x\nrules:\n  - {id: a, when: nope.x > 1, action: delete}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["serve", "--rules", str(bad), "--port", "0"])
    assert result.exit_code == 2
    assert "bad.yaml:3" in result.output


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def test_openapi_declares_the_key_schemes_the_gate_checks() -> None:
    """Each operation declares exactly the keys it needs: refused without one, let in with each declared one."""
    settings: dict[str, Any] = {
        "api_keys": KeyRing.parse(["api-key-1"], "keys"),
        "admin_keys": KeyRing.parse(["admin-key-1"], "admin"),
        "hook_secrets": (("discourse", "hook-secret"),),
    }
    with client(Moderator.from_file(LISTS_ONLY).load(), **settings) as c:
        doc = c.get("/openapi.json").json()
        schemes = doc["components"]["securitySchemes"]
        assert {name: {k: v for k, v in s.items() if k != "description"} for name, s in schemes.items()} == {
            "bearer": {"type": "http", "scheme": "bearer"},
            "adminBearer": {"type": "http", "scheme": "bearer"},
            "key": {"type": "apiKey", "in": "query", "name": "key"},
        }
        declared = {(method, path): op.get("security") for method, path, op in _operations(doc)}
        bearer: list[dict[str, list[str]]] = [{"bearer": []}]
        admin: list[dict[str, list[str]]] = [{"adminBearer": []}]
        either: list[dict[str, list[str]]] = [{"bearer": []}, {"key": []}]
        assert declared == {
            ("get", "/healthz"): None,
            ("get", "/readyz"): None,
            ("get", "/metrics"): None,
            ("post", "/v1/moderate"): bearer,
            ("post", "/v1/classify"): bearer,
            ("post", "/v1/explain"): bearer,
            ("get", "/v1/ruleset"): bearer,
            ("post", "/v1/admin/reload"): admin,
            ("post", "/v1/moderations"): bearer,
            ("post", "/v1alpha1/comments:analyze"): either,
            ("post", "/v1alpha1/comments:suggestscore"): either,
            ("post", "/v1/hooks/discourse"): None,  # signed deliveries, no key
        }
        given = {
            "bearer": {"headers": {"Authorization": "Bearer api-key-1"}},
            "adminBearer": {"headers": {"Authorization": "Bearer admin-key-1"}},
            "key": {"params": {"key": "api-key-1"}},
        }
        for (method, path), security in declared.items():
            bare = c.request(method, path, json={})
            refused = bare.status_code == 401 and "bad_signature" not in bare.text  # a hook's 401 is its signature
            assert refused == (security is not None), (method, path, bare.status_code, bare.text)
            for requirement in security or ():
                (scheme,) = requirement
                r = c.request(method, path, json={}, **given[scheme])
                assert r.status_code not in (401, 403), (method, path, scheme, r.text)
            wrong = c.request(method, path, json={}, headers={"Authorization": "Bearer api-key-1"})
            if security == admin:
                assert wrong.status_code == 401  # an API key is not an admin key
        # Refusals keep the shape of their API.
        assert c.post("/v1/moderations", json={}).json()["error"]["code"] == "invalid_api_key"
        assert c.post("/v1alpha1/comments:analyze", json={}).json()["error"]["status"] == "UNAUTHENTICATED"
        assert c.post("/v1/moderate", json={}).json() == {
            "error": {"type": "unauthorized", "message": "missing API key: send 'Authorization: Bearer KEY'"}
        }


def test_openapi_of_an_open_service_declares_no_key_but_for_admin() -> None:
    with client(Moderator.from_file(LISTS_ONLY).load()) as c:
        doc = c.get("/openapi.json").json()
        secured = {(method, path): op["security"] for method, path, op in _operations(doc) if "security" in op}
        assert secured == {("post", "/v1/admin/reload"): [{"adminBearer": []}]}
        assert set(doc["components"]["securitySchemes"]) == {"adminBearer"}
        assert c.post("/v1/moderate", json={"text": "hi"}).status_code == 200


def _lists_copy(directory: Path, version: int = 1) -> Path:
    """A copy of the light ruleset in ``directory`` (its lists referenced by absolute path)."""
    text = LISTS_ONLY.read_text(encoding="utf-8").replace("../../rules/lists/", f"{ROOT}/rules/lists/")
    path = directory / "rules.yaml"
    path.write_text(text.replace("version: 1", f"version: {version}"), encoding="utf-8")
    return path


def test_workers_share_reloads_through_the_runtime_directory(tmp_path: Path) -> None:
    from safeguard.errors import ConfigError
    from safeguard.serve.runtime import Runtime
    from safeguard.serve.state import Current

    rules = _lists_copy(tmp_path)
    shared = tmp_path / "run"
    shared.mkdir()
    first, second = Current(rules, runtime=Runtime(shared)), Current(rules, runtime=Runtime(shared))
    v1 = first.load().ruleset.hash
    assert second.load().ruleset.hash == v1 and first.generation == second.generation is not None
    assert second.follow() is None  # nothing new

    _lists_copy(tmp_path, version=2)
    previous, fresh = first.reload(drain_s=0)
    assert previous["hash"] == v1 and fresh["version"] == 2
    _lists_copy(tmp_path, version=3)  # edited again, not reloaded: a follower takes what was published
    swapped = second.follow(drain_s=0)
    assert swapped is not None and swapped[1] == fresh and second.moderator.ruleset.version == 2
    assert second.generation == first.generation and second.follow() is None

    rules.write_text("rules: [", encoding="utf-8")
    with pytest.raises(ConfigError):
        first.reload(drain_s=0)
    assert first.moderator.ruleset.version == 2 and second.follow() is None  # nothing was published

    # A worker that starts on an invalid file (uvicorn restarting it) runs the shared ruleset instead.
    third = Current(rules, runtime=Runtime(shared))
    assert third.load().ruleset.hash == fresh["hash"] and isinstance(third.kept, ConfigError)
    for current in (first, second, third):
        current.close()
    # Without a shared ruleset, an invalid file still fails the start.
    with pytest.raises(ConfigError):
        Current(rules, runtime=Runtime(tmp_path / "empty")).load()


def test_a_start_on_a_new_valid_file_is_shared(tmp_path: Path) -> None:
    from safeguard.serve.runtime import Runtime
    from safeguard.serve.state import Current

    rules = _lists_copy(tmp_path)
    (tmp_path / "run").mkdir()
    runtime = Runtime(tmp_path / "run")
    running = Current(rules, runtime=runtime)
    running.load()
    _lists_copy(tmp_path, version=5)
    started = Current(rules, runtime=Runtime(tmp_path / "run"))  # a worker uvicorn started after SIGHUP
    assert started.load().ruleset.version == 5
    stamp = runtime.read()
    assert stamp is not None and stamp.hash == started.moderator.ruleset.hash
    assert running.follow(drain_s=0) is not None and running.moderator.ruleset.version == 5
    assert runtime.changed() and not runtime.changed()  # a stat tells whether to look again


def test_old_snapshots_are_pruned(tmp_path: Path) -> None:
    import os

    from safeguard.serve.runtime import KEEP_S, Runtime

    runtime = Runtime(tmp_path)
    first = runtime.publish(b"ruleset: a", "sha256:a")
    second = runtime.publish(b"ruleset: b", "sha256:b")
    assert runtime.read() == second and runtime.snapshot(first) == b"ruleset: a"  # a follower may still read it
    old = time.time() - KEEP_S - 1
    os.utime(tmp_path / first.snapshot, (old, old))
    third = runtime.publish(b"ruleset: c", "sha256:c")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["generation", second.snapshot, third.snapshot])
