"""What the service's endpoints share: the :class:`Service` (the ruleset, metrics and review store
of one app instance), the security dependencies of the OpenAPI document, the JSON response and
request body, and the service log. The native endpoints (:mod:`.app`), the wire-compatible ones
(:mod:`.compat`) and the webhooks (:mod:`.hooks`) all build on it."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.responses import Response
from fastapi.security import APIKeyQuery, HTTPBearer

from safeguard import __version__
from safeguard.errors import ConfigError, ReviewError, SafeguardError
from safeguard.moderator import Moderator
from safeguard.review.store import ReviewStore
from safeguard.serve.errors import ApiError
from safeguard.serve.metrics import Metrics
from safeguard.serve.runtime import Runtime
from safeguard.serve.settings import ServeSettings
from safeguard.serve.state import Current
from safeguard.types import Decision, Post

__all__ = [
    "ADMIN_BEARER",
    "BEARER",
    "JSON",
    "QUERY_KEY",
    "Auth",
    "ModerationTimeout",
    "Service",
    "log_event",
    "read_json",
    "setup_logging",
]

log = logging.getLogger("safeguard.serve")
T = TypeVar("T")


#: The security schemes of the OpenAPI document. They only describe what the app's ``Gate`` checks
#: (before routing, so that every refusal has the error shape of its API): with ``auto_error=False``
#: they never refuse a request themselves.
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

    They follow the settings as the app's ``Gate`` does: with no API key configured the API is open,
    and its operations declare no security; admin endpoints always need an admin key.
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


def setup_logging() -> None:
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


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
