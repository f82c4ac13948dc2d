"""Sessions of the review pages: signed cookies with a CSRF token, and a brake on password guessing.

A session is a small JSON object (the user's name, a CSRF token, when it was issued, an id) in a
cookie, signed with HMAC-SHA256 under the service's key: the browser can read it but not change it.
The cookie is ``HttpOnly`` and ``SameSite=Strict``, ``Secure`` over https, and expires after the
configured time. Logging out ends the session in this process at once (its id is refused until it
would have expired anyway); the user's role and whether they are disabled are read from the store on
every request, so a change there applies at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COOKIE", "LoginThrottle", "Session", "SessionSigner"]

#: Name of the session cookie.
COOKIE = "safeguard_review"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """A browser's session: ``user`` is ``None`` before logging in (the login form still needs a CSRF
    token). ``issued`` is a Unix time; ``sid`` identifies the session for logging out."""

    user: str | None
    csrf: str
    issued: int
    sid: str

    @classmethod
    def new(cls, user: str | None, now: float) -> Session:
        return cls(user, secrets.token_urlsafe(24), int(now), secrets.token_urlsafe(12))

    def csrf_ok(self, presented: str | None) -> bool:
        """Whether a form's token is this session's (constant-time comparison)."""
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())


class SessionSigner:
    """Signs sessions into cookie values and reads them back (refusing forged, expired or ended ones)."""

    def __init__(self, key: bytes, max_age_s: int, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 16:
            raise ValueError("the session key needs at least 16 bytes")
        if max_age_s <= 0:
            raise ValueError("sessions must last a positive number of seconds")
        self._key = hashlib.sha256(b"safeguard-review-session\0" + key).digest()
        self.max_age_s = max_age_s
        self._clock = clock
        self._ended: dict[str, float] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock()

    def dump(self, session: Session) -> str:
        payload = json.dumps(
            {"u": session.user, "c": session.csrf, "t": session.issued, "s": session.sid}, separators=(",", ":")
        ).encode("utf-8")
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return f"{_b64(payload)}.{_b64(mac)}"

    def load(self, value: str | None) -> Session | None:
        """The session in a cookie value, or ``None`` when it is missing, forged, expired or ended."""
        if not value or value.count(".") != 1 or len(value) > 4096:
            return None
        body, mac = value.split(".")
        try:
            payload, presented = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            return None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()
        if not hmac.compare_digest(presented, expected):
            return None
        try:
            data = json.loads(payload)
            session = Session(data["u"], str(data["c"]), int(data["t"]), str(data["s"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.user is not None and not isinstance(session.user, str):
            return None
        now = self.now()
        if not session.issued - 60 <= now < session.issued + self.max_age_s:
            return None
        with self._lock:
            if session.sid in self._ended:
                return None
        return session

    def end(self, session: Session) -> None:
        """Refuse this session from now on (logging out)."""
        now = self.now()
        with self._lock:
            self._ended = {sid: until for sid, until in self._ended.items() if until > now}
            self._ended[session.sid] = session.issued + self.max_age_s


class LoginThrottle:
    """At most ``attempts`` failed logins per ``window_s`` seconds for one client address and for one
    user name; past that, logins from there (or as that user) wait until the window has passed."""

    def __init__(self, attempts: int = 5, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        while found and found[0] <= now - self.window_s:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def wait_s(self, *keys: str) -> float:
        """Seconds to wait before another try for any of ``keys``; 0 when a try is allowed now."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                recent = self._recent(key, now)
                if len(recent) >= self.attempts:
                    wait = max(wait, recent[0] + self.window_s - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            if len(self._failures) > 100_000:  # a flood of names: forget the oldest half
                for key in list(self._failures)[:50_000]:
                    del self._failures[key]
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
