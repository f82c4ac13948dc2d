"""Forum webhooks: ``POST /v1/hooks/{discourse,nodebb,vanilla}``.

A forum's endpoint exists only when a shared secret is configured for it (``--hook-secret
FORUM=FILE`` or ``SAFEGUARD_HOOK_SECRETS``). It takes no API key: every delivery is signed instead,
an HMAC-SHA256 of the raw request body under the secret, as ``sha256=<hex>``:

* Discourse signs its webhooks itself: ``X-Discourse-Event-Signature`` (with ``X-Discourse-Event``,
  ``X-Discourse-Event-Type``, ``X-Discourse-Event-Id`` and ``X-Discourse-Instance``);
* NodeBB and Vanilla have no standard signature: the sender computes ``X-Safeguard-Signature``
  (``examples/integrations/`` shows how).

A missing or bad signature is a 401 and nothing else happens. A signed delivery is mapped to a post
(422 when it cannot be), moderated, and answered with the decision (the JSON of ``/v1/moderate``).

Each delivery's event id (``X-Discourse-Event-Id``; ``X-Safeguard-Event-Id`` or else the post's id for
the others) is remembered with its decision in memory, the :data:`REMEMBERED` most recent ones: a
repeated delivery is answered with the stored decision (and ``X-Safeguard-Replayed: true``) without
moderating again. A repeat that arrives while the first delivery is still being decided waits for that
decision and gets it too, so simultaneous retries are decided (and called back) once; when deciding
the first one fails, every delivery waiting on it gets the same error (a 500), never a decision of its
own, and the forum's next retry is decided afresh. A fail-closed decision (moderation timed out) is not
remembered, so a retry is decided again.

The memory is per process. With ``--workers`` > 1 each worker remembers the deliveries it answered: a
repeat that reaches another worker is decided again there, and its callback is sent again. A forum
that must see one decision per event whatever the retries should run one worker for its webhooks (or
deduplicate callbacks on the event id).

With ``--hook-callback URL`` each new decision is also POSTed to that URL after the answer, as
``{"forum", "event_id", "post_id", "decision"}`` signed with the forum's secret in
``X-Safeguard-Signature``: up to :data:`CALLBACK_TRIES` tries, waiting :data:`CALLBACK_BACKOFF_S`
seconds, then twice that, between them; a failure is logged without the post's text.

Payload mappings:

* Discourse, ``{"post": {...}}`` of the ``post_created`` / ``post_edited`` events: as ``safeguard
  import discourse`` maps a post (``cooked`` HTML as text, else ``raw``; ``user_id``, ``trust_level``,
  ``moderator``/``admin``/``staff`` as the author; ``topic_id`` as the thread). Other events
  (``ping``, ``post_destroyed`` ...) are answered ``{"ignored": EVENT}``.
* NodeBB, ``{"post": {"pid", "uid", "tid", "content", "timestamp", "toPid"}, "user": {...}}``: ``pid`` ->
  id, ``content`` -> text, ``tid`` -> thread, ``toPid`` -> parent, ``timestamp`` (ms) -> created_at,
  ``uid`` -> author id; from ``user``: ``postcount`` -> post_count, ``joindate`` (ms) ->
  account_age_days, ``username`` and ``reputation`` -> the author's meta.
* Vanilla, ``{"comment": {...}}`` or ``{"discussion": {...}}`` (also under ``"payload"``): id
  ``comment:{commentID}`` / ``discussion:{discussionID}``, ``body`` -> text (as text when ``format`` is
  ``html``), ``name`` -> title, ``discussionID`` -> thread, ``insertUserID`` -> author id,
  ``dateInserted`` -> created_at, ``insertUser.name`` -> the author's meta.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response

from safeguard.errors import InputError
from safeguard.io.importers.discourse import post_record
from safeguard.io.importers.html import html_to_text
from safeguard.serve.errors import ApiError
from safeguard.types import Post

if TYPE_CHECKING:
    from safeguard.serve.service import Service

__all__ = [
    "CALLBACK_BACKOFF_S",
    "CALLBACK_TIMEOUT_S",
    "CALLBACK_TRIES",
    "FORUMS",
    "REMEMBERED",
    "SIGNATURE_HEADER",
    "Forum",
    "Remembered",
    "install",
    "sign",
]

#: Event ids (and their decisions) remembered per process for idempotent deliveries.
REMEMBERED = 10_000
#: The signature header of the forums that do not sign their deliveries themselves.
SIGNATURE_HEADER = "X-Safeguard-Signature"
EVENT_ID_HEADER = "X-Safeguard-Event-Id"
CALLBACK_TRIES = 3
CALLBACK_BACKOFF_S = 0.5
CALLBACK_TIMEOUT_S = 5.0

Headers = Mapping[str, str]


def sign(secret: str, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=`` and the hex HMAC-SHA256 under ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _hmac_sha256(header: str) -> Callable[[str, bytes, Headers], bool]:
    """A check of ``header: sha256=<hex>`` over the raw body, in constant time."""

    def verify(secret: str, body: bytes, headers: Headers) -> bool:
        algorithm, sep, given = headers.get(header, "").strip().partition("=")
        if not sep or algorithm.strip().lower() != "sha256":
            return False
        expected = sign(secret, body).encode("ascii")
        presented = ("sha256=" + given.strip().lower()).encode("latin-1", "replace")
        return hmac.compare_digest(expected, presented)

    return verify


def _scalar(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    return str(value)


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


# ---------------------------------------------------------------- payload mappers: a Post, or None to ignore


def _discourse(payload: dict[str, Any], headers: Headers) -> Post | None:
    event = headers.get("x-discourse-event", "")
    if event and event not in ("post_created", "post_edited"):
        return None
    if "post" not in payload and not event:
        if "ping" in payload:
            return None
        raise ValueError('not a Discourse post event: expected {"post": {...}}')
    record = post_record(_object(payload.get("post"), "post"))
    record["meta"] = {**record["meta"], "event": event or None, "instance": headers.get("x-discourse-instance")}
    return Post.from_mapping(record)


def _ms(value: Any) -> float | None:
    return value / 1000 if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _nodebb(payload: dict[str, Any], headers: Headers) -> Post | None:
    post = _object(payload.get("post"), "post")
    found = payload.get("user")
    user: dict[str, Any] = found if isinstance(found, dict) else {}
    pid, content = _scalar(post.get("pid")), post.get("content")
    if pid is None or not isinstance(content, str):
        raise ValueError("a NodeBB post needs a pid and a content string")
    author: dict[str, Any] = {"id": _scalar(post.get("uid"))}
    if isinstance(user.get("postcount"), int):
        author["post_count"] = user["postcount"]
    joined = _ms(user.get("joindate"))
    if joined is not None:
        author["account_age_days"] = max(0.0, (time.time() - joined) / 86400)
    for key in ("username", "reputation"):
        if user.get(key) is not None:
            author[key] = user[key]
    return Post.from_mapping(
        {
            "id": pid,
            "text": content.strip(),
            "author": author,
            "created_at": _ms(post.get("timestamp")),
            "thread_id": _scalar(post.get("tid")),
            "parent_id": _scalar(post.get("toPid")),
            "meta": {"source": "nodebb"},
        }
    )


def _vanilla(payload: dict[str, Any], headers: Headers) -> Post | None:
    inner = payload.get("payload")
    if isinstance(inner, dict) and ("comment" in inner or "discussion" in inner):
        payload = inner
    kind = "comment" if "comment" in payload else "discussion"
    item = _object(payload.get(kind), kind)
    number, body = _scalar(item.get(f"{kind}ID")), item.get("body")
    if number is None or not isinstance(body, str):
        raise ValueError(f"a Vanilla {kind} needs a {kind}ID and a body string")
    text = html_to_text(body).text if str(item.get("format", "")).lower() == "html" else body.strip()
    found = item.get("insertUser")
    user: dict[str, Any] = found if isinstance(found, dict) else {}
    author: dict[str, Any] = {"id": _scalar(item.get("insertUserID"))}
    if isinstance(user.get("name"), str):
        author["username"] = user["name"]
    return Post.from_mapping(
        {
            "id": f"{kind}:{number}",
            "text": text,
            "title": item.get("name") if isinstance(item.get("name"), str) else None,
            "author": author,
            "created_at": item.get("dateInserted"),
            "thread_id": _scalar(item.get("discussionID")),
            "meta": {"source": "vanilla", "format": item.get("format")},
        }
    )


def _header_id(header: str) -> Callable[[Headers, Post], str | None]:
    def event_id(headers: Headers, post: Post) -> str | None:
        return headers.get(header.lower()) or None

    return event_id


def _header_or_post_id(headers: Headers, post: Post) -> str | None:
    return headers.get(EVENT_ID_HEADER.lower()) or post.id or None


@dataclass(frozen=True)
class Forum:
    """How one forum's deliveries are checked, mapped and told apart."""

    verify: Callable[[str, bytes, Headers], bool]
    map: Callable[[dict[str, Any], Headers], Post | None]
    event_id: Callable[[Headers, Post], str | None]
    signature_header: str


#: forum -> how its deliveries are handled.
FORUMS: dict[str, Forum] = {
    "discourse": Forum(
        _hmac_sha256("x-discourse-event-signature"),
        _discourse,
        _header_id("X-Discourse-Event-Id"),
        "X-Discourse-Event-Signature",
    ),
    "nodebb": Forum(_hmac_sha256(SIGNATURE_HEADER.lower()), _nodebb, _header_or_post_id, SIGNATURE_HEADER),
    "vanilla": Forum(_hmac_sha256(SIGNATURE_HEADER.lower()), _vanilla, _header_or_post_id, SIGNATURE_HEADER),
}


class Remembered:
    """A bounded LRU of ``(forum, event id) -> decision``."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str], decision: dict[str, Any]) -> None:
        self.items[key] = decision
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


_callbacks: set[asyncio.Task[bool]] = set()


async def deliver(url: str, secret: str, body: dict[str, Any], log: Callable[..., None]) -> bool:
    """POST ``body`` to ``url``, signed, with retries; True once a try got a 2xx. Never raises."""
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, data)}
    outcome = ""
    async with httpx.AsyncClient(timeout=CALLBACK_TIMEOUT_S) as client:
        for attempt in range(1, CALLBACK_TRIES + 1):
            try:
                response = await client.post(url, content=data, headers=headers)
                if response.is_success:
                    return True
                outcome = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            if attempt < CALLBACK_TRIES:
                await asyncio.sleep(CALLBACK_BACKOFF_S * 2 ** (attempt - 1))
    log(
        "hook_callback_failed",
        forum=body.get("forum"),
        event_id=body.get("event_id"),
        post_id=body.get("post_id"),
        error=outcome,
    )
    return False


def install(app: FastAPI, service: Service) -> None:
    """Mount ``POST /v1/hooks/{forum}`` for each forum with a secret in the service's settings."""
    from safeguard.serve.service import JSON, log_event

    settings = service.settings
    remembered = Remembered()
    #: (forum, event id) -> the decision of the delivery being decided now; repeats await it.
    deciding: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}

    async def decide(key: tuple[str, str] | None, post: Post) -> dict[str, Any]:
        """Decide ``post``; the deliveries repeating ``key`` meanwhile get the same result or error."""
        if key is None:
            (decision,) = await service.decide([post])
            return decision.to_dict()
        pending: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        deciding[key] = pending
        try:
            (decision,) = await service.decide([post])
            result = decision.to_dict()
            if not any(e.get("source") == "timeout" for e in decision.errors):
                remembered.put(key, result)  # before `deciding` lets go of the key: no gap for a repeat
            pending.set_result(result)
            return result
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else RuntimeError("the first delivery was interrupted")
            pending.set_exception(failure)
            pending.exception()  # retrieved: no "never retrieved" warning when nobody was waiting
            raise
        finally:
            if deciding.get(key) is pending:
                del deciding[key]

    def route(forum: str, handler: Forum, secret: str) -> None:
        async def hook(request: Request) -> Response:
            body = await request.body()
            headers = request.headers
            if not handler.verify(secret, body, headers):
                service.metrics.hooks.labels(forum, "bad_signature").inc()
                service.metrics.errors.labels("auth").inc()
                raise ApiError(401, "bad_signature", f"missing or invalid {handler.signature_header} header")
            try:
                payload = json.loads(body)
            except (ValueError, RecursionError):
                raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
            try:
                post = handler.map(_object(payload, "the payload"), headers)
            except (ValueError, InputError) as exc:
                service.metrics.hooks.labels(forum, "unmapped").inc()
                raise ApiError(422, "invalid_payload", f"cannot read a {forum} post: {exc}") from None
            if post is None:
                service.metrics.hooks.labels(forum, "ignored").inc()
                return JSON({"ignored": headers.get("x-discourse-event") or "event"})
            event_id = handler.event_id(headers, post)
            key = (forum, event_id) if event_id else None
            if key is not None:
                # No await between these checks and registering this delivery in `deciding`: within the
                # event loop, exactly one of several simultaneous repeats becomes the one that decides.
                stored = remembered.get(key)
                if stored is None and key in deciding:
                    stored = await asyncio.shield(deciding[key])  # raises the first delivery's error
                if stored is not None:
                    service.metrics.hooks.labels(forum, "replayed").inc()
                    return JSON(stored, headers={"X-Safeguard-Replayed": "true"})
            result = await decide(key, post)
            service.metrics.hooks.labels(forum, "decided").inc()
            if settings.hook_callback:
                message = {"forum": forum, "event_id": event_id, "post_id": post.id, "decision": result}
                task = asyncio.get_running_loop().create_task(
                    deliver(settings.hook_callback, secret, message, log_event)
                )
                _callbacks.add(task)
                task.add_done_callback(_callbacks.discard)
            return JSON(result)

        hook.__doc__ = (
            f"A signed {forum} webhook delivery ({handler.signature_header}: sha256=<hex>): the decision for its "
            "post, as /v1/moderate answers; a repeated event id gets the stored decision."
        )
        app.add_api_route(f"/v1/hooks/{forum}", hook, methods=["POST"], tags=["hooks"], name=f"hook_{forum}")

    for forum, secret in settings.hook_secrets:
        route(forum, FORUMS[forum], secret)
