"""The FastAPI application: native endpoints, health, metrics, reload; the wire-compatible ones in
:mod:`safeguard.serve.compat`.

::

    from safeguard.serve import ServeSettings, create_app

    app = create_app("rules/community.yaml", ServeSettings())   # any ASGI server runs it
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import APIKeyQuery, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from safeguard import __version__
from safeguard.errors import ConfigError, InputError, ReviewError, SafeguardError
from safeguard.moderator import Moderator, to_post
from safeguard.review.store import ReviewStore
from safeguard.serve.errors import ApiError, error_body, json_body
from safeguard.serve.metrics import Metrics
from safeguard.serve.runtime import Runtime
from safeguard.serve.settings import REVIEW_SECRET_ENV, ServeSettings
from safeguard.serve.state import Current
from safeguard.types import Decision, Post

__all__ = [
    "FOLLOW_INTERVAL_S",
    "REVIEW_PREFIX",
    "SETTINGS_ENV",
    "Auth",
    "Service",
    "create_app",
    "create_app_from_env",
]

#: Environment variable a worker process reads its settings, ruleset path and runtime directory from
#: (``--workers`` > 1).
SETTINGS_ENV = "SAFEGUARD_SERVE_SETTINGS"
#: Seconds between two looks of a worker at the shared ruleset's stamp (``--workers`` > 1).
FOLLOW_INTERVAL_S = 0.5

log = logging.getLogger("safeguard.serve")
T = TypeVar("T")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the review pages are mounted when the service has a review store (``--db``).
REVIEW_PREFIX = "/review"
#: Paths answered without an API key.
PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


#: The security schemes of the OpenAPI document. They only describe what :class:`Gate` checks (before
#: routing, so that every refusal has the error shape of its API): with ``auto_error=False`` they
#: never refuse a request themselves.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="An API key (--keys, SAFEGUARD_API_KEYS) as `Authorization: Bearer KEY`.",
    auto_error=False,
)
ADMIN_BEARER = HTTPBearer(
    scheme_name="adminBearer",
    description="An admin key (--admin-keys, SAFEGUARD_ADMIN_KEYS) as `Authorization: Bearer KEY`; "
    "without any admin key configured the admin endpoints answer 403.",
    auto_error=False,
)
QUERY_KEY = APIKeyQuery(
    name="key",
    scheme_name="key",
    description="An API key as the `key` query parameter, as Perspective clients send it.",
    auto_error=False,
)


class Auth:
    """The route dependencies that declare each kind of endpoint's security in the OpenAPI document.

    They follow the settings as :class:`Gate` does: with no API key configured the API is open, and its
    operations declare no security; admin endpoints always need an admin key.
    """

    def __init__(self, settings: ServeSettings) -> None:
        keyed = bool(settings.api_keys)
        #: Native and OpenAI endpoints: a bearer key.
        self.api: list[Any] = [Depends(BEARER)] if keyed else []
        #: Perspective endpoints: a bearer key or ``?key=`` (either one).
        self.perspective: list[Any] = [Depends(BEARER), Depends(QUERY_KEY)] if keyed else []
        #: ``/v1/admin/*``: an admin key.
        self.admin: list[Any] = [Depends(ADMIN_BEARER)]


def log_event(event: str, **fields: Any) -> None:
    """One JSON line on the service log (stderr under ``safeguard serve``)."""
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "event": event, **fields}
    log.info(json.dumps(record, ensure_ascii=False, default=str))


def _setup_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class ModerationTimeout(Exception):
    """Moderating a request took longer than the configured timeout."""


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=str, separators=(",", ":")).encode("utf-8")


class Service:
    """Everything one app instance shares between requests."""

    def __init__(
        self,
        rules_path: str | Path,
        settings: ServeSettings,
        moderator: Moderator | None,
        runtime: Runtime | None = None,
    ) -> None:
        self.settings = settings
        self.current = Current(rules_path, moderator, runtime)
        self.metrics = Metrics()
        self.stopping = False
        #: The review store (``--db``), once open; None without one.
        self.review: ReviewStore | None = None
        self._models: tuple[str | None, dict[str, Any]] = (None, {})

    async def run(self, fn: Callable[[Moderator], T]) -> T:
        """Run ``fn(moderator)`` in a worker thread, within the request timeout (ModerationTimeout)."""

        def job() -> T:
            with self.current.use() as moderator:
                return fn(moderator)

        with anyio.move_on_after(self.settings.timeout_s):
            return await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
        self.metrics.errors.labels("timeout").inc()
        raise ModerationTimeout

    def timed_out(self, posts: list[Post]) -> list[Decision]:
        """Fail closed: the ruleset's ``on_error`` decision for each post, marked with the timeout."""
        ruleset = self.current.moderator.ruleset
        error = {"source": "timeout", "error": f"moderation took longer than {self.settings.timeout_s:g}s"}
        return [
            Decision(post_id=p.id, action=ruleset.on_error, errors=(error,), ruleset=ruleset.identity) for p in posts
        ]

    async def decide(self, posts: list[Post], *, queue: bool = True) -> list[Decision]:
        """Decisions for ``posts``, or fail-closed ones when the timeout passes. With a review store
        and ``queue``, the posts and their decisions are recorded there (every hold queued)."""
        if not posts:
            return []
        try:
            decisions = await self.run(lambda m: m.moderate_batch(posts))
        except ModerationTimeout:
            decisions = self.timed_out(posts)
            log_event("timeout", posts=len(posts), timeout_s=self.settings.timeout_s)
        self.metrics.record(decisions)
        if queue and self.review is not None:
            await self.enqueue(posts, decisions)
        return decisions

    async def enqueue(self, posts: list[Post], decisions: list[Decision]) -> bool:
        """Record posts and their decisions in the review store as ``safeguard moderate --queue`` does:
        every hold enters the queue with the priorities of the ruleset. A post without an id gets one
        (``serve:`` and a random hex) in the store only.

        Never raises: a failure (or a store slower than the request timeout) is logged and counted
        (``safeguard_review_store_total{operation="enqueue"}``, ``safeguard_errors_total{kind="review_store"}``)
        and the decisions stand. Returns whether the store took them.
        """
        store = self.review
        if store is None:
            return False
        try:
            ruleset = self.current.moderator.ruleset
            priorities, models = ruleset.priorities, self._model_revisions()
            pairs = [
                (p if p.id else dataclasses.replace(p, id=f"serve:{uuid.uuid4().hex}"), d)
                for p, d in zip(posts, decisions, strict=True)
            ]

            def job() -> None:
                store.enqueue(pairs, priorities=priorities, models=models, actor="safeguard serve")

            with anyio.move_on_after(self.settings.timeout_s):
                await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
                self.metrics.review.labels("enqueue", "ok").inc()
                return True
            self.review_failed("enqueue", "timeout", None)
        except Exception as exc:  # the decision stands whatever the store does
            self.review_failed("enqueue", "failed", exc)
        return False

    def review_failed(self, operation: str, result: str, exc: BaseException | None) -> None:
        """Count and log a failed write to the review store (never the posts or a password of the URL)."""
        self.metrics.review.labels(operation, result).inc()
        self.metrics.errors.labels("review_store").inc()
        fields: dict[str, Any] = {"operation": operation, "result": result}
        if isinstance(exc, ReviewError):
            fields.update(code=exc.code, error=str(exc))
        elif exc is not None:
            fields["exception"] = type(exc).__name__
        log_event("review_store_failed", **fields)

    def _model_revisions(self) -> dict[str, Any]:
        """What each classifier of the ruleset runs, recorded with queued decisions (once per ruleset)."""
        ruleset = self.current.moderator.ruleset
        key = str(ruleset.identity.get("hash"))
        if self._models[0] != key:
            out: dict[str, Any] = {"safeguard": __version__}
            for name, classifier in ruleset.classifiers.items():
                info = {k: v for k, v in classifier.describe().items() if k not in ("outputs", "name")}
                out[name] = json.loads(json.dumps(info, default=str))
            self._models = (key, out)
        return self._models[1]

    async def reload(self, trigger: str) -> dict[str, Any]:
        """Reload the ruleset; raises ApiError 422 (and keeps the running one) when the new one is invalid."""
        try:
            previous, fresh = await anyio.to_thread.run_sync(self.current.reload)
        except ConfigError as exc:
            self.metrics.reloads.labels("invalid").inc()
            problems = [
                {"file": p.file, "line": p.line, "column": p.column, "message": p.message} for p in exc.problems
            ]
            log_event("reload_failed", trigger=trigger, problems=problems)
            raise ApiError(
                422,
                "invalid_ruleset",
                f"the ruleset has {len(problems)} problem(s); the running one is kept",
                extra={"problems": problems},
            ) from None
        except SafeguardError as exc:
            self.metrics.reloads.labels("invalid").inc()
            log_event("reload_failed", trigger=trigger, error=str(exc))
            raise ApiError(422, "invalid_ruleset", f"{exc}; the running ruleset is kept") from None
        shared = self._swapped(trigger, previous, fresh)
        return {"reloaded": True, "previous": previous, "ruleset": fresh, **shared}

    def _swapped(self, trigger: str, previous: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
        """Count and log a ruleset swap; returns the shared generation (with a runtime directory)."""
        self.metrics.reloads.labels("ok").inc()
        self.metrics.set_ruleset(fresh)
        shared = {"generation": self.current.generation} if self.current.runtime is not None else {}
        log_event("reloaded", trigger=trigger, previous=previous, ruleset=fresh, **shared)
        return shared

    async def follow(self) -> None:
        """Switch to the ruleset another worker of this server published, if it is a new one."""
        try:
            swapped = await anyio.to_thread.run_sync(self.current.follow)
        except (SafeguardError, OSError) as exc:
            self.metrics.reloads.labels("invalid").inc()
            log_event("reload_failed", trigger="worker", generation=self.current.generation, error=str(exc))
            return
        if swapped is not None:
            self._swapped("worker", *swapped)


class BodyTooLarge(Exception):
    pass


class Gate:
    """Outermost middleware: request ids, API keys, the body size limit, generic 500s and access logs."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        request_id = headers.get("x-request-id", "")
        if not (0 < len(request_id) <= 64 and request_id.replace("-", "").replace("_", "").isalnum()):
            request_id = uuid.uuid4().hex
        path: str = scope.get("path", "")
        method: str = scope.get("method", "")
        state: dict[str, Any] = {"status": 0, "started": False, "key": None}
        metrics = self.service.metrics

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                state["status"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        async def reply(status: int, type: str, message: str) -> None:
            code, body = error_body(path, status, type, message)
            await JSON(body, status_code=code)(scope, receive, send_with_id)

        try:
            refused = self._check(scope, headers, state)
            if refused is not None:
                metrics.errors.labels(refused[1] if refused[1] in ("too_large",) else "auth").inc()
                await reply(*refused)
            else:
                await self.app(scope, self._limited(receive), send_with_id)
        except BodyTooLarge:
            metrics.errors.labels("too_large").inc()
            if not state["started"]:
                await reply(413, "too_large", self._too_large())
        except Exception as exc:
            metrics.errors.labels("internal").inc()
            frames = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__)]
            # The exception's type and where it happened, never its message: that may quote a post.
            log_event(
                "exception",
                request_id=request_id,
                method=method,
                path=path,
                exception=type(exc).__name__,
                frames=frames[-8:],
            )
            if not state["started"]:
                await reply(500, "internal_error", "internal error; the request id is in the X-Request-ID header")
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            route_path = getattr(route, "path", None) or ("public" if path in PUBLIC else "unmatched")
            metrics.requests.labels(method, route_path, str(state["status"])).inc()
            metrics.latency.labels(method, route_path).observe(elapsed)
            log_event(
                "request",
                method=method,
                path=path,
                status=state["status"],
                duration_ms=round(elapsed * 1000, 2),
                request_id=request_id,
                key=state["key"],
            )

    def _too_large(self) -> str:
        return f"the request body is larger than {self.service.settings.max_body_bytes} bytes"

    def _check(self, scope: Scope, headers: dict[str, str], state: dict[str, Any]) -> tuple[int, str, str] | None:
        settings = self.service.settings
        path: str = scope.get("path", "")
        if path not in PUBLIC and not self._is_hook(path) and not _is_review(path):
            if path.startswith("/v1/admin/"):
                if not settings.admin_keys:
                    return 403, "forbidden", "admin endpoints are off: no admin keys are configured"
                ring = settings.admin_keys
            else:
                ring = settings.api_keys
            if ring:
                key = _bearer(headers.get("authorization", ""))
                if key is None and path.startswith("/v1alpha1/"):
                    key = _query_key(scope.get("query_string", b""))
                if key is None:
                    return 401, "unauthorized", "missing API key: send 'Authorization: Bearer KEY'"
                name = ring.match(key)
                if name is None:
                    return 401, "unauthorized", "invalid API key"
                state["key"] = name
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return 400, "bad_request", "invalid Content-Length"
            if int(length) > settings.max_body_bytes:
                return 413, "too_large", self._too_large()
        return None

    def _is_hook(self, path: str) -> bool:
        """A mounted webhook endpoint: its deliveries are signed instead of carrying an API key."""
        forum = path.removeprefix("/v1/hooks/")
        return forum != path and self.service.settings.hook_secret(forum) is not None

    def _limited(self, receive: Receive) -> Receive:
        limit = self.service.settings.max_body_bytes
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        return limited


def _is_review(path: str) -> bool:
    """A path of the review pages (``--db``): they log moderators in themselves, with no API key."""
    return path == REVIEW_PREFIX or path.startswith(REVIEW_PREFIX + "/")


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _query_key(query: bytes) -> str | None:
    from urllib.parse import parse_qs

    values = parse_qs(query.decode("latin-1")).get("key")
    return values[0] if values else None


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None


# ---------------------------------------------------------------- OpenAPI schemas of the request bodies

POST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Post",
    "description": "One post, with the fields of a dump record; other keys go to the post's meta.",
    "required": ["text"],
    "properties": {
        "id": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "text": {"type": "string"},
        "title": {"type": ["string", "null"]},
        "author": {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": ["string", "null"]},
                        "trust_level": {"type": ["integer", "null"], "minimum": 0, "maximum": 4},
                        "role": {"type": ["string", "null"]},
                        "account_age_days": {"type": ["number", "null"]},
                        "post_count": {"type": ["integer", "null"]},
                    },
                },
                {"type": "null"},
            ]
        },
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "thread_id": {"type": ["string", "null"]},
        "parent_id": {"type": ["string", "null"]},
        "meta": {"type": "object"},
    },
}


def _body_schema(max_batch: int, *, batch: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = POST_SCHEMA
    if batch:
        schema = {
            "anyOf": [
                POST_SCHEMA,
                {
                    "type": "object",
                    "title": "Batch",
                    "required": ["posts"],
                    "properties": {"posts": {"type": "array", "maxItems": max_batch, "items": POST_SCHEMA}},
                },
            ]
        }
    return json_body(schema)


def split_body(body: Any, max_batch: int) -> tuple[bool, list[Post | dict[str, Any]]]:
    """(is_batch, items): each item a Post or an in-place error ``{"index", "id", "error"}``.

    A single post that is not valid raises ApiError 422; a batch keeps its invalid items as errors.
    """
    if not isinstance(body, dict):
        raise ApiError(422, "invalid_request", 'expected a post object or {"posts": [...]}')
    if "posts" in body and "text" not in body:
        posts = body["posts"]
        if not isinstance(posts, list):
            raise ApiError(422, "invalid_request", "'posts' must be a list of posts")
        if len(posts) > max_batch:
            raise ApiError(413, "batch_too_large", f"{len(posts)} posts in one request; at most {max_batch}")
        items: list[Post | dict[str, Any]] = []
        for index, item in enumerate(posts):
            try:
                items.append(to_post(item))
            except InputError as exc:
                raw_id = item.get("id") if isinstance(item, dict) else None
                post_id = raw_id if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) else None
                items.append({"index": index, "id": post_id, "error": str(exc)})
        return True, items
    try:
        return False, [to_post(body)]
    except InputError as exc:
        raise ApiError(422, "invalid_post", str(exc)) from None


def _in_place(items: list[Post | dict[str, Any]], results: list[Any]) -> list[Any]:
    found = iter(results)
    return [next(found) if isinstance(item, Post) else item for item in items]


# ---------------------------------------------------------------- the app


def create_app(
    rules_path: str | Path,
    settings: ServeSettings | None = None,
    *,
    moderator: Moderator | None = None,
    runtime: str | Path | None = None,
    review_store: ReviewStore | None = None,
) -> FastAPI:
    """The service for the ruleset at ``rules_path``.

    The ruleset (and every classifier it reads) loads when the app starts (its lifespan), before it
    answers a request, unless ``moderator`` is given already loaded. Closing the app closes the
    moderator: a duplicate window saves its ``state:``.

    ``runtime`` is the directory that the worker processes of one server share their ruleset through
    (:mod:`safeguard.serve.runtime`): a reload in any of them reaches all of them.

    With a review store (``settings.review_db``, opened when the app starts, or ``review_store`` given
    open, which the app then leaves open), every hold decided by ``/v1/moderate`` and the webhooks
    enters its queue, ``comments:suggestscore`` requests are stored as labels, and the moderators'
    pages answer under ``/review`` (:mod:`safeguard.review.web`). Without one, ``/review`` is a 404.
    """
    _setup_logging()
    settings = settings or ServeSettings()
    service = Service(rules_path, settings, moderator, Runtime(runtime) if runtime is not None else None)
    service.review = review_store
    owns_store = review_store is None and settings.review_db is not None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import asyncio

        if not service.current.ready:
            await anyio.to_thread.run_sync(service.current.load)
        if owns_store:
            assert settings.review_db is not None
            service.review = await anyio.to_thread.run_sync(ReviewStore.open, settings.review_db)
        identity = service.current.moderator.ruleset.identity
        service.metrics.set_ruleset(identity)
        kept = service.current.kept
        if kept is not None:
            log_event(
                "reload_failed",
                trigger="start",
                error=str(kept),
                message="the ruleset file is not loaded; this worker runs the one the others run",
            )
        follower = None
        if service.current.runtime is not None:
            follower = asyncio.get_running_loop().create_task(_follow_shared(service))
        hup = _watch_sighup(service)
        if not settings.api_keys:
            log_event("warning", message="no API keys configured: anyone who can reach this port can use the API")
        log_event(
            "ready",
            pid=os.getpid(),
            ruleset=identity,
            api_keys=len(settings.api_keys),
            hooks=[forum for forum, _ in settings.hook_secrets],
            review_store=service.review.where if service.review is not None else None,
            **({"generation": service.current.generation} if service.current.runtime is not None else {}),
        )
        try:
            yield
        finally:
            service.stopping = True
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
            if hup:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await anyio.to_thread.run_sync(service.current.close)
            if owns_store and service.review is not None:
                await anyio.to_thread.run_sync(service.review.close)
            log_event("stopped", pid=os.getpid())

    app = FastAPI(
        title="safeguard",
        version=__version__,
        description="Moderate posts under a YAML ruleset: allow, hold or remove, with reasons.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        status, body = error_body(request.url.path, exc.status, exc.type, exc.message, param=exc.param, extra=exc.extra)
        return JSON(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        status, body = error_body(
            request.url.path, 422, "invalid_request", "invalid request", extra={"details": details}
        )
        return JSON(body, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        status, body = error_body(request.url.path, exc.status_code, "http_error", str(exc.detail))
        return JSON(body, status_code=status, headers=getattr(exc, "headers", None))

    _native_routes(app, service)
    from safeguard.serve.compat import install

    install(app, service)
    if settings.hook_secrets:
        from safeguard.serve.hooks import install as install_hooks

        install_hooks(app, service)

    if service.review is not None or settings.review_db is not None:
        from safeguard.review.web import create_review_app

        secret = settings.review_secret or os.environ.get(REVIEW_SECRET_ENV) or None
        if secret is None:
            log_event("warning", message=f"no {REVIEW_SECRET_ENV}: review sessions end when this process stops")
        app.mount(
            REVIEW_PREFIX,
            create_review_app(lambda: service.review, secret=secret, session_s=settings.review_session_s),
        )

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        )
    app.add_middleware(Gate, service=service)  # added last: runs first
    return app


def create_app_from_env() -> FastAPI:
    """App factory for worker processes: the ruleset path, settings and runtime directory come from
    ``SAFEGUARD_SERVE_SETTINGS``."""
    data = json.loads(os.environ[SETTINGS_ENV])
    settings = ServeSettings.from_json(json.dumps(data["settings"]))
    return create_app(data["rules"], settings, runtime=data.get("runtime"))


_tasks: set[Any] = set()


async def _follow_shared(service: Service, interval: float = FOLLOW_INTERVAL_S) -> None:
    """Keep this worker on the ruleset the workers share: look at the stamp every ``interval`` seconds
    (one ``os.stat``) and switch when another worker published a new one.

    Every 20th look reads the stamp whatever its ``stat`` says, so a change is never missed on a file
    system whose timestamps are coarser than two publications.
    """
    runtime = service.current.runtime
    assert runtime is not None
    looks = 0
    while True:
        await anyio.sleep(interval)
        looks += 1
        try:
            if runtime.changed() or looks % 20 == 0:
                await service.follow()
        except Exception as exc:  # the worker keeps serving; the next look tries again
            log_event("exception", where="follow", exception=type(exc).__name__)


def _watch_sighup(service: Service) -> bool:
    """Reload the ruleset on SIGHUP (when this process's main thread runs the event loop)."""
    import asyncio

    loop = asyncio.get_running_loop()

    def reload() -> None:
        async def run() -> None:
            with contextlib.suppress(ApiError):  # already logged; the running ruleset is kept
                await service.reload("SIGHUP")

        task = loop.create_task(run())
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, reload)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        return False
    return True


def _native_routes(app: FastAPI, service: Service) -> None:
    settings = service.settings
    auth = Auth(settings)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "loading or stopping"}})
    async def readyz() -> Response:
        """200 once the ruleset and its classifiers are loaded; 503 while starting or stopping. Names the
        ruleset in service and the process id of the worker that answers (``--workers`` > 1)."""
        if service.current.ready and not service.stopping:
            identity = service.current.moderator.ruleset.identity
            return JSON({"status": "ready", "ruleset": identity, "pid": os.getpid()})
        return JSON({"status": "stopping" if service.stopping else "loading"}, status_code=503)

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus exposition: decisions by action and rule, request latency, errors, reloads."""
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/moderate", tags=["native"], openapi_extra=_body_schema(settings.max_batch), dependencies=auth.api)
    async def moderate(request: Request) -> Response:
        """Decide one post (the decision JSON of ``safeguard moderate``) or ``{"posts": [...]}``
        (``{"decisions": [...]}``, an invalid item replaced in place by ``{"index", "id", "error"}``)."""
        batch, items = split_body(await read_json(request), settings.max_batch)
        posts = [i for i in items if isinstance(i, Post)]
        if len(posts) < len(items):
            service.metrics.errors.labels("input").inc(len(items) - len(posts))
        decisions = [d.to_dict() for d in await service.decide(posts)]
        if batch:
            return JSON({"decisions": _in_place(items, decisions)})
        return JSON(decisions[0])

    @app.post("/v1/classify", tags=["native"], openapi_extra=_body_schema(settings.max_batch), dependencies=auth.api)
    async def classify(request: Request, only: str | None = None) -> Response:
        """Raw signals of the classifiers the rules read (``?only=toxicity,lists`` picks some) for one post
        (``{"post_id", "signals"}``) or a batch (``{"results": [...]}``, errors in place)."""
        names = [n.strip() for n in only.split(",") if n.strip()] if only else None
        known = service.current.moderator.ruleset.classifiers
        unknown = [n for n in names or () if n not in known]
        if unknown:
            raise ApiError(
                422,
                "unknown_classifier",
                f"no classifier named {', '.join(unknown)} in this ruleset (known: {', '.join(sorted(known))})",
                param="only",
            )
        batch, items = split_body(await read_json(request), settings.max_batch)
        posts = [i for i in items if isinstance(i, Post)]
        try:
            signals = await service.run(lambda m: m.classify(posts, names)) if posts else []
        except ModerationTimeout:
            raise ApiError(504, "timeout", f"classifying took longer than {settings.timeout_s:g}s") from None
        results = [{"post_id": p.id, "signals": s} for p, s in zip(posts, signals, strict=True)]
        if batch:
            return JSON({"results": _in_place(items, results)})
        return JSON(results[0])

    @app.post(
        "/v1/explain",
        tags=["native"],
        openapi_extra=_body_schema(settings.max_batch, batch=False),
        dependencies=auth.api,
    )
    async def explain(request: Request) -> Response:
        """The decision for one post and the signals of every classifier of the ruleset, read by a rule or not."""
        body = await read_json(request)
        if isinstance(body, dict) and "posts" in body and "text" not in body:
            raise ApiError(422, "invalid_request", "explain takes one post")
        _, items = split_body(body, 1)
        post = items[0]
        assert isinstance(post, Post)
        (decision,) = await service.decide([post])
        if decision.errors and decision.errors[0].get("source") == "timeout":
            return JSON({"decision": decision.to_dict(), "signals": {}})
        missing = [n for n in service.current.moderator.ruleset.classifiers if n not in decision.signals]
        signals: dict[str, Any] = {k: dict(v) for k, v in decision.signals.items()}
        if missing:
            try:
                (extra,) = await service.run(lambda m: m.classify([post], missing))
            except ModerationTimeout:
                extra = {}
            signals.update(extra)
        return JSON({"decision": decision.to_dict(), "signals": dict(sorted(signals.items()))})

    @app.get("/v1/ruleset", tags=["native"], dependencies=auth.api)
    async def ruleset() -> Response:
        """The ruleset in service: name, version, hash, on_error and every rule with its action."""
        rs = service.current.moderator.ruleset
        return JSON(
            {
                **rs.identity,
                "description": rs.description,
                "on_error": rs.on_error.value,
                "rules": [
                    {
                        "id": r.id,
                        "action": r.action.value,
                        "shadow": r.shadow,
                        "reason": r.reason,
                        "guideline": r.guideline,
                        "tags": list(r.tags),
                    }
                    for r in rs.rules
                ],
                "classifiers": {name: c.kind for name, c in rs.classifiers.items()},
            }
        )

    @app.post("/v1/admin/reload", tags=["admin"], dependencies=auth.admin)
    async def reload() -> Response:
        """Load the ruleset file again and swap it in; an invalid one is refused (422, its problems) and
        the running one keeps serving. Needs an admin key."""
        return JSON(await service.reload("api"))
