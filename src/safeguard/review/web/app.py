"""The moderators' pages: an ASGI app (Starlette) over a :class:`~safeguard.review.ReviewStore`.

Server-rendered HTML (Jinja2, every value escaped), one stylesheet and one small script for the keyboard
shortcuts; every page works with the script off. ``safeguard serve --db DB`` mounts it at ``/review``.
Every page but the login form needs a session; every form carries the session's CSRF token and is
refused (403) without it. Errors are pages with their status: 400 invalid, 403 forbidden, 404 not
found, 409 conflict (an item claimed by someone else, or already decided), 429 too many failed
logins, 503 when the store cannot be reached.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote

import anyio.to_thread
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from safeguard.errors import ReviewError
from safeguard.review.store import HUMAN_ACTIONS, ROLES, ReviewStore
from safeguard.review.views import ItemView, UserInfo
from safeguard.review.web.highlight import pieces
from safeguard.review.web.session import COOKIE, LoginThrottle, Session, SessionSigner

__all__ = ["CSP", "PAGE_SIZE", "create_review_app"]

HERE = Path(__file__).parent
#: Items, verdicts or appeals per page.
PAGE_SIZE = 50
#: The Content-Security-Policy of every page: no inline script or style, nothing from elsewhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_STATIC = {
    "review.css": "text/css; charset=utf-8",
    "review.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
#: Notices a redirect may ask a page to show (by code, so no text is reflected from a URL).
NOTICES = {
    "empty": "The queue is empty: nothing left for you to claim.",
    "released": "The item went back to the queue.",
    "logged_out": "You are logged out.",
    "appeal": "The appeal is recorded.",
    "resolved": "The appeal is resolved.",
    "user": "The user is saved.",
}
_STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409, "unavailable": 503}
_TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported form",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Store unavailable",
}

log = logging.getLogger("safeguard.serve")
T = TypeVar("T")


class PageError(Exception):
    """An error answered with an error page: its status and a message for the moderator."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the logged-in user (as the store knows them now) and their session."""

    user: UserInfo
    session: Session

    @property
    def admin(self) -> bool:
        return self.user.role == "admin"


def create_review_app(
    store: ReviewStore | Callable[[], ReviewStore | None],
    *,
    secret: bytes | str | None = None,
    session_s: int = 8 * 3600,
    throttle: LoginThrottle | None = None,
) -> Starlette:
    """The pages over ``store`` (or a function returning it once it is open; ``None`` answers 503).

    ``secret`` signs the session cookies (a random one when ``None``: sessions end when the process
    does); ``session_s`` is how long a session lasts after logging in.
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    pages = Pages(
        store if callable(store) else (lambda: store),
        SessionSigner(key or secrets.token_bytes(32), session_s),
        throttle or LoginThrottle(),
    )
    routes = [
        Route("/", pages.queue, methods=["GET"]),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/next", pages.next_item, methods=["POST"]),
        Route("/items/{item_id:int}", pages.item, methods=["GET"]),
        Route("/items/{item_id:int}/decide", pages.decide, methods=["POST"]),
        Route("/items/{item_id:int}/bulk", pages.bulk, methods=["POST"]),
        Route("/items/{item_id:int}/release", pages.release, methods=["POST"]),
        Route("/log", pages.log, methods=["GET"]),
        Route("/appeals", pages.appeals, methods=["GET"]),
        Route("/appeals", pages.file_appeal, methods=["POST"]),
        Route("/appeals/{appeal_id:int}/resolve", pages.resolve_appeal, methods=["POST"]),
        Route("/users", pages.users, methods=["GET"]),
        Route("/users", pages.add_user, methods=["POST"]),
        Route("/users/{name}/role", pages.set_role, methods=["POST"]),
        Route("/static/{name}", pages.static, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: pages.http_error, Exception: pages.crash},  # type: ignore[dict-item]
    )


class Pages:
    """The request handlers, sharing the store, the session signer, the login brake and the templates."""

    def __init__(self, store: Callable[[], ReviewStore | None], signer: SessionSigner, throttle: LoginThrottle) -> None:
        self._store = store
        self.signer = signer
        self.throttle = throttle
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"], default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.globals["actions"] = HUMAN_ACTIONS
        self.templates.globals["roles"] = ROLES
        self.templates.filters["when"] = _when

    # ------------------------------------------------------------------ plumbing

    def store(self) -> ReviewStore:
        found = self._store()
        if found is None:
            raise PageError(503, "The review store is not open yet: try again in a moment.")
        return found

    async def call(self, fn: Callable[[], T]) -> T:
        """Run a store call in a worker thread; a store error becomes an error page."""
        try:
            return await anyio.to_thread.run_sync(fn)
        except ReviewError as exc:
            raise PageError(_STATUS.get(exc.code, 400), str(exc)) from None

    def base(self, request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        *,
        viewer: Viewer | None = None,
        session: Session | None = None,
        **context: Any,
    ) -> HTMLResponse:
        notice = NOTICES.get(request.query_params.get("notice", ""))
        holder = viewer.session if viewer is not None else session
        html = self.templates.get_template(template).render(
            base=self.base(request),
            viewer=viewer,
            csrf=holder.csrf if holder is not None else "",
            notice=notice,
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=_HEADERS)
        if session is not None and viewer is None:
            self.set_cookie(request, response, session)
        return response

    def set_cookie(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.signer.dump(session),
            max_age=self.signer.max_age_s,
            path=(self.base(request) or "") + "/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def redirect(self, request: Request, path: str, **query: str) -> RedirectResponse:
        target = self.base(request) + path
        if query:
            target += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        return RedirectResponse(target, status_code=303, headers=_HEADERS)

    def error_page(self, request: Request, status: int, message: str, viewer: Viewer | None = None) -> HTMLResponse:
        return self.render(
            request, "error.html", status, viewer=viewer, title=_TITLES.get(status, "Error"), message=message
        )

    async def viewer(self, request: Request) -> Viewer | None:
        """The logged-in user of this request, or ``None`` (no session, a forged or expired one, a user
        who no longer exists or is disabled)."""
        session = self.signer.load(request.cookies.get(COOKIE))
        if session is None or session.user is None:
            return None
        name = session.user
        try:
            user = await self.call(lambda: self.store().user(name))
        except PageError as exc:
            if exc.status == 404:
                return None
            raise
        return None if user.disabled else Viewer(user, session)

    async def form(self, request: Request, session: Session | None) -> dict[str, str]:
        """The fields of a posted form (first value of each), after checking its CSRF token: 403 when it
        is missing or not this session's."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("", "application/x-www-form-urlencoded"):
            raise PageError(415, "Forms are sent as application/x-www-form-urlencoded.")
        body = await request.body()
        try:
            fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items()}
        except UnicodeDecodeError:
            raise PageError(400, "The form is not UTF-8.") from None
        if session is None or not session.csrf_ok(fields.get("csrf")):
            raise PageError(403, "This form has expired or did not come from this site: reload the page and try again.")
        return fields

    def guard(
        self, handler: Callable[[Request, Viewer], Awaitable[Response]], *, admin: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` for logged-in users (others are sent to the login form), errors as pages."""

        async def run(request: Request) -> Response:
            viewer: Viewer | None = None
            try:
                viewer = await self.viewer(request)
                if viewer is None:
                    if request.method != "GET":
                        raise PageError(403, "Your session has ended: log in again.")
                    wanted = request.url.path.removeprefix(self.base(request)) or "/"
                    wanted += f"?{request.url.query}" if request.url.query else ""
                    return self.redirect(request, "/login", next=wanted)
                if admin and not viewer.admin:
                    raise PageError(403, "Only an admin can do this.")
                return await handler(request, viewer)
            except PageError as exc:
                return self.error_page(request, exc.status, exc.message, viewer)

        return run

    async def http_error(self, request: Request, exc: HTTPException) -> Response:
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return self.error_page(request, exc.status_code, message)

    async def crash(self, request: Request, exc: Exception) -> Response:
        log.error('{"event": "review_page_error", "path": %r, "exception": %r}', request.url.path, type(exc).__name__)
        return self.error_page(request, 500, "The page failed. The error is in the service log.")

    # ------------------------------------------------------------------ login

    async def login_form(self, request: Request) -> Response:
        if await self._logged_in(request):
            return self.redirect(request, "/")
        session = self.signer.load(request.cookies.get(COOKIE)) or Session.new(None, self.signer.now())
        return self.render(request, "login.html", session=session, next=_next(request.query_params.get("next")))

    async def _logged_in(self, request: Request) -> bool:
        try:
            return await self.viewer(request) is not None
        except PageError:
            return False

    async def login(self, request: Request) -> Response:
        session = self.signer.load(request.cookies.get(COOKIE))
        try:
            fields = await self.form(request, session)
        except PageError as exc:
            return self.error_page(request, exc.status, exc.message)
        assert session is not None
        name, password = fields.get("username", "").strip(), fields.get("password", "")
        target = _next(fields.get("next"))
        client = f"addr:{request.client.host if request.client else '-'}"
        wait = self.throttle.wait_s(client, f"user:{name}")
        if wait > 0:
            return self.error_page(request, 429, f"Too many failed logins: try again in {int(wait) + 1} seconds.")
        try:
            user = await self.call(lambda: self.store().check_password(name, password))
        except PageError as exc:
            return self.error_page(request, exc.status, exc.message)
        if user is None:
            self.throttle.failed(client, f"user:{name}")
            log.info('{"event": "review_login_failed"}')
            return self.render(
                request, "login.html", 401, session=session, next=target, error="Wrong user name or password."
            )
        self.throttle.succeeded(f"user:{name}")
        fresh = Session.new(user.name, self.signer.now())
        response = RedirectResponse(self.base(request) + target, status_code=303, headers=_HEADERS)
        self.set_cookie(request, response, fresh)
        return response

    async def logout(self, request: Request) -> Response:
        session = self.signer.load(request.cookies.get(COOKIE))
        try:
            await self.form(request, session)
        except PageError as exc:
            return self.error_page(request, exc.status, exc.message)
        assert session is not None
        self.signer.end(session)
        response = self.redirect(request, "/login", notice="logged_out")
        response.delete_cookie(COOKIE, path=(self.base(request) or "") + "/")
        return response

    # ------------------------------------------------------------------ the queue

    async def queue(self, request: Request) -> Response:
        return await self.guard(self._queue)(request)

    async def _queue(self, request: Request, viewer: Viewer) -> Response:
        page = _page(request)
        store = self.store()
        entries = await self.call(lambda: store.queue(PAGE_SIZE + 1, page * PAGE_SIZE))
        counts = await self.call(store.counts)
        return self.render(
            request,
            "queue.html",
            viewer=viewer,
            entries=entries[:PAGE_SIZE],
            counts=counts,
            page=page,
            more=len(entries) > PAGE_SIZE,
            redact=_redact,
        )

    async def next_item(self, request: Request) -> Response:
        return await self.guard(self._next_item)(request)

    async def _next_item(self, request: Request, viewer: Viewer) -> Response:
        fields = await self.form(request, viewer.session)
        store, name = self.store(), viewer.user.name
        after = _int(fields.get("after"))
        if after is not None:
            current = await self.call(lambda: store.item(after))
            if current.entry.status == "claimed" and current.entry.claimed_by == name:
                await self.call(lambda: store.release(after, name))
        return await self._go_next(request, viewer, after)

    async def _go_next(self, request: Request, viewer: Viewer, after: int | None) -> Response:
        store, name = self.store(), viewer.user.name
        found = await self.call(lambda: store.claim(name, exclude=() if after is None else (after,)))
        if found is None:
            return self.redirect(request, "/", notice="empty")
        return self.redirect(request, f"/items/{found.id}")

    async def item(self, request: Request) -> Response:
        return await self.guard(self._item)(request)

    async def _item(self, request: Request, viewer: Viewer) -> Response:
        item_id = int(request.path_params["item_id"])
        store, name = self.store(), viewer.user.name
        view = await self.call(lambda: store.item(item_id))
        status, refusal = 200, None
        if view.entry.status != "done" and not (view.entry.status == "claimed" and view.entry.claimed_by == name):
            try:
                claimed = await self.call(lambda: store.claim(name, item_id))
                view = claimed if claimed is not None else view
            except PageError as exc:
                status, refusal = exc.status, exc.message
                view = await self.call(lambda: store.item(item_id))
        mine = view.entry.status == "claimed" and view.entry.claimed_by == name
        show = request.query_params.get("pii") == "show" and mine and view.post.text_kept
        if show:
            await self.call(lambda: store.audit(name, "show_pii", item_id=item_id))
        cluster = await self.call(lambda: store.cluster(item_id)) if mine else []
        return self.render(
            request,
            "item.html",
            status,
            viewer=viewer,
            item=view,
            mine=mine,
            refusal=refusal,
            show_personal=show,
            body=_body(view, show),
            context=[(p, pieces(p.text, show_personal=show)) for p in view.thread],
            copies=[(p, pieces(p.text, show_personal=show)) for p in view.members],
            cluster=[e for e in cluster if e.status == "open" or e.claimed_by == name],
            guidelines=list(dict.fromkeys(m.guideline for m in view.decision.matches if m.guideline)),
            redact=_redact,
        )

    async def decide(self, request: Request) -> Response:
        return await self.guard(self._decide)(request)

    async def _decide(self, request: Request, viewer: Viewer) -> Response:
        item_id = int(request.path_params["item_id"])
        fields = await self.form(request, viewer.session)
        action, guideline, note = _verdict(fields)
        store, name = self.store(), viewer.user.name
        await self.call(lambda: store.decide(item_id, name, action, guideline=guideline, note=note))
        return await self._go_next(request, viewer, item_id)

    async def bulk(self, request: Request) -> Response:
        return await self.guard(self._bulk)(request)

    async def _bulk(self, request: Request, viewer: Viewer) -> Response:
        item_id = int(request.path_params["item_id"])
        fields = await self.form(request, viewer.session)
        action, guideline, note = _verdict(fields)
        store, name = self.store(), viewer.user.name
        cluster = await self.call(lambda: store.cluster(item_id))
        ids = [item_id, *(e.id for e in cluster if e.status == "open" or e.claimed_by == name)]
        await self.call(lambda: store.decide_bulk(ids, name, action, guideline=guideline, note=note))
        return await self._go_next(request, viewer, item_id)

    async def release(self, request: Request) -> Response:
        return await self.guard(self._release)(request)

    async def _release(self, request: Request, viewer: Viewer) -> Response:
        item_id = int(request.path_params["item_id"])
        await self.form(request, viewer.session)
        store, name = self.store(), viewer.user.name
        await self.call(lambda: store.release(item_id, name))
        return self.redirect(request, "/", notice="released")

    # ------------------------------------------------------------------ log, appeals, users

    async def log(self, request: Request) -> Response:
        return await self.guard(self._log)(request)

    async def _log(self, request: Request, viewer: Viewer) -> Response:
        page = _page(request)
        store = self.store()
        rows = await self.call(lambda: store.verdicts(limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE, newest_first=True))
        return self.render(
            request, "log.html", viewer=viewer, verdicts=rows[:PAGE_SIZE], page=page, more=len(rows) > PAGE_SIZE
        )

    async def appeals(self, request: Request) -> Response:
        return await self.guard(self._appeals)(request)

    async def _appeals(self, request: Request, viewer: Viewer) -> Response:
        status = request.query_params.get("status", "open")
        if status not in ("open", "granted", "denied", "all"):
            raise PageError(400, f"Unknown appeal status {status!r}: open, granted, denied or all.")
        page = _page(request)
        store = self.store()
        rows = await self.call(
            lambda: store.appeals(None if status == "all" else status, PAGE_SIZE + 1, page * PAGE_SIZE)
        )
        return self.render(
            request,
            "appeals.html",
            viewer=viewer,
            appeals=rows[:PAGE_SIZE],
            shown=status,
            page=page,
            more=len(rows) > PAGE_SIZE,
            post_id=request.query_params.get("post", ""),
        )

    async def file_appeal(self, request: Request) -> Response:
        return await self.guard(self._file_appeal)(request)

    async def _file_appeal(self, request: Request, viewer: Viewer) -> Response:
        fields = await self.form(request, viewer.session)
        post_id, appellant, text = (fields.get(k, "").strip() for k in ("post_id", "appellant", "text"))
        store, name = self.store(), viewer.user.name
        found = await self.call(lambda: store.appeal(post_id, appellant, text))
        await self.call(lambda: store.audit(name, "record_appeal", details={"appeal": found.id, "post_id": post_id}))
        return self.redirect(request, "/appeals", notice="appeal")

    async def resolve_appeal(self, request: Request) -> Response:
        return await self.guard(self._resolve_appeal, admin=True)(request)

    async def _resolve_appeal(self, request: Request, viewer: Viewer) -> Response:
        appeal_id = int(request.path_params["appeal_id"])
        fields = await self.form(request, viewer.session)
        outcome, resolution = fields.get("outcome", ""), fields.get("resolution", "").strip() or None
        store, name = self.store(), viewer.user.name
        await self.call(lambda: store.resolve_appeal(appeal_id, name, outcome, resolution))
        return self.redirect(request, "/appeals", notice="resolved")

    async def users(self, request: Request) -> Response:
        return await self.guard(self._users, admin=True)(request)

    async def _users(self, request: Request, viewer: Viewer) -> Response:
        rows = await self.call(self.store().users)
        return self.render(request, "users.html", viewer=viewer, users=rows)

    async def add_user(self, request: Request) -> Response:
        return await self.guard(self._add_user, admin=True)(request)

    async def _add_user(self, request: Request, viewer: Viewer) -> Response:
        fields = await self.form(request, viewer.session)
        name, password, role = fields.get("name", "").strip(), fields.get("password", ""), fields.get("role", "")
        store, by = self.store(), viewer.user.name
        await self.call(lambda: store.add_user(name, password, role=role, by=by))
        return self.redirect(request, "/users", notice="user")

    async def set_role(self, request: Request) -> Response:
        return await self.guard(self._set_role, admin=True)(request)

    async def _set_role(self, request: Request, viewer: Viewer) -> Response:
        name = str(request.path_params["name"])
        fields = await self.form(request, viewer.session)
        store, by = self.store(), viewer.user.name
        await self.call(lambda: store.set_role(name, fields.get("role", ""), by=by))
        return self.redirect(request, "/users", notice="user")

    async def static(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        if name not in _STATIC:
            return self.error_page(request, 404, "There is no such file.")
        data = (HERE / "static" / name).read_bytes()
        headers = {**_HEADERS, "Cache-Control": "public, max-age=3600"}
        return Response(data, media_type=_STATIC[name], headers=headers)


# ---------------------------------------------------------------------- helpers


def _verdict(fields: Mapping[str, str]) -> tuple[str, str | None, str | None]:
    action = fields.get("action", "")
    if action not in HUMAN_ACTIONS:
        raise PageError(400, f"Unknown action {action!r}: {', '.join(HUMAN_ACTIONS)}.")
    guideline = fields.get("guideline", "").strip() or None
    note = fields.get("note", "").strip() or None
    return action, guideline, note


def _body(view: ItemView, show: bool) -> list[Any]:
    pii = (view.decision.signals.get("pii") or {}).get("spans") or [] if view.post.text_kept else []
    return pieces(view.post.text, view.decision.matches, pii, show_personal=show or not view.post.text_kept)


def _redact(text: str | None) -> str:
    from safeguard.review.evidence import redact

    return redact(text) if text else ""


def _next(value: str | None) -> str:
    """A path inside the pages to go to after logging in (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        raise PageError(400, f"Not a number: {value!r}.") from None


def _page(request: Request) -> int:
    value = _int(request.query_params.get("page"))
    return max(0, value or 0)


def _when(value: Any) -> str:
    if value is None:
        return ""
    try:
        return str(value.strftime("%Y-%m-%d %H:%M:%S UTC"))
    except AttributeError:
        return str(value)
