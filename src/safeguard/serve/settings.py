"""Settings of the HTTP service and its API keys (no web framework needed to read them)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from safeguard.errors import ConfigError

__all__ = [
    "ADMIN_KEYS_ENV",
    "API_KEYS_ENV",
    "HOOK_FORUMS",
    "HOOK_SECRETS_ENV",
    "REVIEW_DB_ENV",
    "REVIEW_SECRET_ENV",
    "KeyRing",
    "ServeSettings",
    "hook_secrets",
]

#: Environment variables holding keys: entries as in a key file, separated by commas or newlines.
API_KEYS_ENV = "SAFEGUARD_API_KEYS"
ADMIN_KEYS_ENV = "SAFEGUARD_ADMIN_KEYS"
#: Environment variable holding webhook secrets: ``forum=SECRET`` entries separated by commas or newlines.
HOOK_SECRETS_ENV = "SAFEGUARD_HOOK_SECRETS"
#: Environment variable naming the review store (as ``--db``): a SQLite file path or a postgresql:// URL.
REVIEW_DB_ENV = "SAFEGUARD_REVIEW_DB"
#: Environment variable holding the key that signs the review page's session cookies. Without it a key is
#: made when the service starts, and sessions end when it stops.
REVIEW_SECRET_ENV = "SAFEGUARD_REVIEW_SECRET"
#: The forums with a webhook endpoint (``POST /v1/hooks/{forum}``).
HOOK_FORUMS = ("discourse", "nodebb", "vanilla")

_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def digest(key: str) -> bytes:
    """The SHA-256 digest a key is stored and compared as."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class KeyRing:
    """API keys, held as SHA-256 digests with a name each (the name appears in access logs).

    An entry is ``name:sha256hex`` (the digest of the key, as ``sha256sum`` prints it) or a plain key,
    hashed when it is read and named after where it came from (``keys.txt:3``).
    """

    entries: tuple[tuple[str, bytes], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, key: str) -> str | None:
        """The name of the entry ``key`` hashes to, or None. Compares every digest in constant time."""
        presented = digest(key)
        found: str | None = None
        for name, stored in self.entries:
            if hmac.compare_digest(presented, stored) and found is None:
                found = name
        return found

    @classmethod
    def parse(cls, lines: Iterable[str], source: str) -> KeyRing:
        entries: list[tuple[str, bytes]] = []
        for number, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, hexdigest = line.rpartition(":")
            if sep and name and _HEX_DIGEST.fullmatch(hexdigest):
                entries.append((name, bytes.fromhex(hexdigest)))
            else:
                entries.append((f"{source}:{number}", digest(line)))
        return cls(tuple(entries))

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        """Read a key file; raises :class:`ConfigError` when it cannot be read or holds no key."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read key file: {getattr(exc, 'strerror', None) or exc}", str(p)) from None
        ring = cls.parse(text.splitlines(), p.name)
        if not ring:
            raise ConfigError("key file holds no key", str(p))
        return ring

    @classmethod
    def from_env(cls, name: str, environ: dict[str, str] | None = None) -> KeyRing:
        value = (environ if environ is not None else os.environ).get(name, "")
        return cls.parse(re.split(r"[,\n]", value), name)

    def __add__(self, other: KeyRing) -> KeyRing:
        return KeyRing(self.entries + other.entries)

    def to_json(self) -> list[list[str]]:
        return [[name, stored.hex()] for name, stored in self.entries]

    @classmethod
    def from_json(cls, data: list[list[str]]) -> KeyRing:
        return cls(tuple((name, bytes.fromhex(hexdigest)) for name, hexdigest in data))


def hook_secrets(options: Iterable[str] = (), environ: dict[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """Webhook secrets from ``forum=FILE`` options (the file holds the secret) and ``forum=SECRET``
    entries of :data:`HOOK_SECRETS_ENV`; an option wins over the environment for the same forum.

    Raises :class:`ConfigError` for an unknown forum, an unreadable file or an empty secret; the
    messages never quote a secret.
    """
    found: dict[str, str] = {}
    value = (environ if environ is not None else os.environ).get(HOOK_SECRETS_ENV, "")
    for number, entry in enumerate(re.split(r"[,\n]", value), 1):
        if entry.strip():
            forum, secret = _hook_entry(entry, f"{HOOK_SECRETS_ENV} entry {number}")
            found[forum] = secret
    for option in options:
        forum, path = _hook_entry(option, "--hook-secret")
        try:
            secret = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read hook secret file: {getattr(exc, 'strerror', None) or exc}", path) from None
        if not secret:
            raise ConfigError("hook secret file is empty", path)
        found[forum] = secret
    return tuple(sorted(found.items()))


def _hook_entry(entry: str, source: str) -> tuple[str, str]:
    forum, sep, value = entry.strip().partition("=")
    forum = forum.strip().lower()
    if not sep or forum not in HOOK_FORUMS:
        raise ConfigError(f"{source}: expected FORUM=VALUE with FORUM one of {', '.join(HOOK_FORUMS)}", source)
    if not value.strip():
        raise ConfigError(f"{source}: empty value for {forum}", source)
    return forum, value.strip()


@dataclass(frozen=True)
class ServeSettings:
    """How the service runs. The defaults are safe for a service on a private network."""

    api_keys: KeyRing = field(default_factory=KeyRing)
    admin_keys: KeyRing = field(default_factory=KeyRing)
    #: Largest request body; a larger one is refused with 413 before it is read.
    max_body_bytes: int = 1 << 20
    #: Most posts in one request (``{"posts": [...]}``, a list ``input``).
    max_batch: int = 256
    #: Seconds a request may spend moderating; past it every post gets the ruleset's ``on_error`` action.
    timeout_s: float = 10.0
    #: Where ``comments:suggestscore`` appends the suggestions it receives (JSON Lines); None: not stored.
    labels_path: Path | None = None
    #: Origins allowed by CORS; empty (the default): no CORS headers at all.
    cors_origins: tuple[str, ...] = ()
    #: ``(forum, secret)`` pairs: each forum here gets ``POST /v1/hooks/{forum}``, signed with its secret.
    hook_secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    #: Where each webhook decision is POSTed in the background; None: nowhere.
    hook_callback: str | None = None
    #: The review store (a SQLite path or a postgresql:// URL): holds are queued there, suggestscore
    #: requests stored as labels, and the moderators' pages served under ``/review``. None: none of it.
    review_db: str | None = field(default=None, repr=False)
    #: The key signing the review pages' session cookies; None: a random key made when the app starts.
    review_secret: str | None = field(default=None, repr=False)
    #: Seconds a review session lasts after logging in.
    review_session_s: int = 8 * 3600

    def hook_secret(self, forum: str) -> str | None:
        return dict(self.hook_secrets).get(forum)

    def to_json(self) -> str:
        return json.dumps(
            {
                "api_keys": self.api_keys.to_json(),
                "admin_keys": self.admin_keys.to_json(),
                "max_body_bytes": self.max_body_bytes,
                "max_batch": self.max_batch,
                "timeout_s": self.timeout_s,
                "labels_path": str(self.labels_path) if self.labels_path else None,
                "cors_origins": list(self.cors_origins),
                "hook_secrets": [list(pair) for pair in self.hook_secrets],
                "hook_callback": self.hook_callback,
                "review_db": self.review_db,
                "review_secret": self.review_secret,
                "review_session_s": self.review_session_s,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        data: dict[str, Any] = json.loads(text)
        return replace(
            cls(),
            api_keys=KeyRing.from_json(data.get("api_keys", [])),
            admin_keys=KeyRing.from_json(data.get("admin_keys", [])),
            max_body_bytes=int(data.get("max_body_bytes", 1 << 20)),
            max_batch=int(data.get("max_batch", 256)),
            timeout_s=float(data.get("timeout_s", 10.0)),
            labels_path=Path(data["labels_path"]) if data.get("labels_path") else None,
            cors_origins=tuple(data.get("cors_origins", ())),
            hook_secrets=tuple((str(forum), str(secret)) for forum, secret in data.get("hook_secrets", [])),
            hook_callback=data.get("hook_callback") or None,
            review_db=data.get("review_db") or None,
            review_secret=data.get("review_secret") or None,
            review_session_s=int(data.get("review_session_s", 8 * 3600)),
        )
