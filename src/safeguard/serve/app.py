"""The FastAPI application: native endpoints, health, metrics, reload; the wire-compatible ones in
:mod:`safeguard.serve.compat`.

::

    from safeguard.serve import ServeSettings, create_app

    app = create_app("rules/community.yaml", ServeSettings())   # any ASGI server runs it
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from safeguard import __version__
from safeguard.errors import InputError
from safeguard.moderator import Moderator, to_post
from safeguard.review.store import ReviewStore
from safeguard.serve.errors import ApiError, error_body, json_body
from safeguard.serve.runtime import Runtime
from safeguard.serve.service import (
    JSON,
    Auth,
    ModerationTimeout,
    Service,
    log_event,
    read_json,
    setup_logging,
)
from safeguard.serve.settings import REVIEW_SECRET_ENV, ServeSettings
from safeguard.types import Post

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


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the review pages are mounted when the service has a review store (``--db``).
REVIEW_PREFIX = "/review"
#: Paths answered without an API key.
PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


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
    setup_logging()
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
