"""The data that flows through safeguard: posts in, decisions out.

Every type here is an immutable value with an exact JSON round trip
(``Decision.from_dict(d.to_dict()) == d``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from safeguard.errors import InputError

__all__ = [
    "EARLIEST",
    "LATEST",
    "Action",
    "Author",
    "Decision",
    "Post",
    "RuleMatch",
    "Signals",
    "dig",
    "lookup_path",
    "parse_id",
    "safe_text",
]

#: Signals of one post: classifier name -> signal name -> value.
Signals = dict[str, dict[str, Any]]

#: The range of ``created_at`` a post may have; a timestamp outside it is an input error, not a date.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


def safe_text(value: str) -> str:
    """``value`` with every lone surrogate (``"\\udc00"``: valid in JSON, not in Unicode) replaced by U+FFFD;
    a high and a low surrogate side by side become the one character they encode.

    Posts pass their text, title, id and author fields through this when they are built, so nothing
    downstream (the rule runtime, writers, encoders) ever meets a string that cannot be encoded.
    """
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Through UTF-16, a high surrogate followed by a low one is the character they encode together.
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


class Action(enum.Enum):
    """What happens to a post. Ordered by severity: ``ALLOW < HOLD < REMOVE``."""

    ALLOW = "allow"
    HOLD = "hold"
    REMOVE = "remove"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.severity < other.severity

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.severity <= other.severity

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.severity > other.severity

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Action):
            return NotImplemented
        return self.severity >= other.severity

    @classmethod
    def parse(cls, value: str | Action) -> Action:
        """``Action.parse("hold")``; raises ``ValueError`` naming the valid actions."""
        if isinstance(value, Action):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(f"invalid action {value!r}: expected allow, hold or remove") from None


_SEVERITY = {Action.ALLOW: 0, Action.HOLD: 1, Action.REMOVE: 2}

ROLES = ("member", "staff", "moderator")


@dataclass(frozen=True)
class Author:
    """Who wrote a post. Unknown fields are ``None``: an author we know nothing about is not a new member.

    ``trust_level`` follows forum convention: 0 new .. 4 staff.
    """

    id: str | None = None
    trust_level: int | None = None
    role: str | None = None
    account_age_days: float | None = None
    post_count: int | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("id", "role"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, safe_text(value))
        if self.trust_level is not None and not (0 <= self.trust_level <= 4):
            raise InputError(f"author.trust_level must be 0..4, got {self.trust_level}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | str | None) -> Author:
        """Build from a mapping (unknown keys go to ``meta``), a bare author id, or ``None``."""
        if data is None:
            return cls()
        if isinstance(data, (str, int)):
            return cls(id=str(data))
        if not isinstance(data, Mapping):
            raise InputError(f"author must be a mapping or an id, got {type(data).__name__}")
        known = {"id", "trust_level", "role", "account_age_days", "post_count", "meta"}
        meta = dict(data.get("meta") or {})
        meta.update({k: v for k, v in data.items() if k not in known})
        return cls(
            id=_opt_str(data.get("id")),
            trust_level=_opt_int(data.get("trust_level"), "author.trust_level"),
            role=_opt_str(data.get("role")),
            account_age_days=_opt_float(data.get("account_age_days"), "author.account_age_days"),
            post_count=_opt_int(data.get("post_count"), "author.post_count"),
            meta=meta,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trust_level": self.trust_level,
            "role": self.role,
            "account_age_days": self.account_age_days,
            "post_count": self.post_count,
            "meta": dict(self.meta),
        }


@dataclass(frozen=True)
class Post:
    """One forum post. Build it directly, or from any mapping with :meth:`from_mapping`.

    Text fields are made safe when the post is built: lone surrogates become U+FFFD (see
    :func:`safe_text`). ``id_generated`` says the input had no id and ``id`` was made up
    (by :func:`safeguard.io.readers.iter_posts`, from the input's name and line).
    """

    id: str
    text: str
    title: str | None = None
    author: Author = field(default_factory=Author)
    created_at: datetime | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    id_generated: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InputError(f"post text must be a string, got {type(self.text).__name__}")
        if not isinstance(self.id, str):
            raise InputError(f"post id must be a string, got {type(self.id).__name__}")
        for name in ("id", "text", "title", "thread_id", "parent_id"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, safe_text(value))
        if self.created_at is not None:
            _check_range(self.created_at)

    @property
    def full_text(self) -> str:
        """The title and the body as one text: how every classifier that reads the title reads it.

        The title, when there is one, comes first on a line of its own and ends a sentence (a full
        stop is added when it ends in none), so that normalisation, which folds line breaks into
        spaces, does not run it into the body's first sentence. The ``text`` classifier (its
        signals describe the body: shouting, links, language) and the near-duplicate classifier
        (replies share their thread's title) read the body alone; PII reads the title and the body
        apart, so that its offsets and redacted text stay the body's.
        """
        if not self.title:
            return self.text
        title = self.title.rstrip()
        return f"{title}{'' if title[-1:] in '.!?' else '.'}\n{self.text}"

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], field_map: Mapping[str, str] | None = None, *, default_id: str = ""
    ) -> Post:
        """Build a post from a mapping, such as one record of a dump.

        ``field_map`` maps post fields (``text``, ``id``, ``author.id`` ...) to source keys, which may
        be dotted paths into nested records: ``{"text": "body", "author.id": "user.id"}``. Keys of the
        record that are not post fields go to ``meta``. Raises :class:`InputError` when there is no text.
        """
        if not isinstance(data, Mapping):
            raise InputError(f"a post must be a JSON object, got {type(data).__name__}")
        fmap = dict(field_map or {})
        values: dict[str, Any] = {}
        used: set[str] = set()
        for target in _POST_FIELDS:
            source = fmap.get(target, target)
            found, value = lookup_path(data, source)
            if found:
                values[target] = value
                used.add(source.split(".", 1)[0])
        author_data = values.get("author")
        author_fields: dict[str, Any] = {}
        for target, source in fmap.items():
            if target.startswith("author."):
                found, value = lookup_path(data, source)
                if found:
                    author_fields[target[len("author.") :]] = value
                    used.add(source.split(".", 1)[0])
        if author_fields:
            base = dict(author_data) if isinstance(author_data, Mapping) else {}
            if isinstance(author_data, (str, int)):
                base["id"] = author_data
            base.update(author_fields)
            author_data = base
        if "author" not in values and not author_fields:
            for alias in ("author_id", "user_id"):
                if data.get(alias) is not None:
                    author_data = {"id": data[alias]}
                    used.add(alias)
                    break
        text = values.get("text")
        if text is None:
            where = fmap.get("text", "text")
            raise InputError(f"record has no text (looked for field {where!r})")
        if not isinstance(text, str):
            raise InputError(f"text must be a string, got {type(text).__name__}")
        post_id = parse_id(values.get("id"), fmap.get("id", "id"))
        meta = dict(values.get("meta") or {}) if isinstance(values.get("meta"), Mapping) else {}
        meta.update({k: v for k, v in data.items() if k not in used and k not in _POST_FIELDS})
        return cls(
            id=post_id if post_id is not None else default_id,
            text=text,
            title=_opt_str(values.get("title")),
            author=Author.from_mapping(author_data),
            created_at=_opt_datetime(values.get("created_at")),
            thread_id=_opt_str(values.get("thread_id")),
            parent_id=_opt_str(values.get("parent_id")),
            meta=meta,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "title": self.title,
            "author": self.author.to_dict(),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "thread_id": self.thread_id,
            "parent_id": self.parent_id,
            "meta": dict(self.meta),
        }


_POST_FIELDS = ("id", "text", "title", "author", "created_at", "thread_id", "parent_id", "meta")


@dataclass(frozen=True)
class RuleMatch:
    """A rule that fired: what it asks for, why, and the values that made it fire."""

    rule: str
    action: Action
    reason: str | None = None
    guideline: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "action": self.action.value,
            "reason": self.reason,
            "guideline": self.guideline,
            "values": dict(self.values),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleMatch:
        return cls(
            rule=data["rule"],
            action=Action.parse(data["action"]),
            reason=data.get("reason"),
            guideline=data.get("guideline"),
            values=dict(data.get("values") or {}),
        )


@dataclass(frozen=True)
class Decision:
    """The outcome for one post.

    ``action`` is the most severe action among the ``matches`` (acting rules that fired), or the
    ruleset's ``on_error`` action when a classifier failed. ``shadow`` lists shadow-mode rules that
    would have fired. ``signals`` holds what the classifiers that ran returned; ``skipped`` names the
    configured classifiers this post did not need. ``ruleset`` is ``{"name", "version", "hash"}``.
    """

    post_id: str
    action: Action
    matches: tuple[RuleMatch, ...] = ()
    shadow: tuple[RuleMatch, ...] = ()
    signals: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    errors: tuple[Mapping[str, str], ...] = ()
    exempt: bool = False
    ruleset: Mapping[str, Any] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    @property
    def rules(self) -> list[str]:
        """Ids of the acting rules that fired."""
        return [m.rule for m in self.matches]

    @property
    def reasons(self) -> list[str]:
        """The reasons of the acting rules that fired (each once, in order), falling back to the rule id."""
        return list(dict.fromkeys(m.reason or m.rule for m in self.matches))

    def to_dict(self) -> dict[str, Any]:
        return {
            "post_id": self.post_id,
            "action": self.action.value,
            "matches": [m.to_dict() for m in self.matches],
            "shadow": [m.to_dict() for m in self.shadow],
            "signals": {k: dict(v) for k, v in self.signals.items()},
            "skipped": list(self.skipped),
            "errors": [dict(e) for e in self.errors],
            "exempt": self.exempt,
            "ruleset": dict(self.ruleset),
            "elapsed_ms": self.elapsed_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(
            post_id=data["post_id"],
            action=Action.parse(data["action"]),
            matches=tuple(RuleMatch.from_dict(m) for m in data.get("matches", ())),
            shadow=tuple(RuleMatch.from_dict(m) for m in data.get("shadow", ())),
            signals={k: dict(v) for k, v in (data.get("signals") or {}).items()},
            skipped=tuple(data.get("skipped", ())),
            errors=tuple(dict(e) for e in data.get("errors", ())),
            exempt=bool(data.get("exempt", False)),
            ruleset=dict(data.get("ruleset") or {}),
            elapsed_ms=float(data.get("elapsed_ms", 0.0)),
        )

    @staticmethod
    def json_schema() -> dict[str, Any]:
        """The JSON schema a serialised decision (``to_dict``) conforms to."""
        return DECISION_SCHEMA


_MATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["rule", "action", "reason", "guideline", "values"],
    "additionalProperties": False,
    "properties": {
        "rule": {"type": "string"},
        "action": {"enum": ["allow", "hold", "remove"]},
        "reason": {"type": ["string", "null"]},
        "guideline": {"type": ["string", "null"]},
        "values": {"type": "object"},
    },
}

DECISION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "safeguard decision",
    "type": "object",
    "required": [
        "post_id",
        "action",
        "matches",
        "shadow",
        "signals",
        "skipped",
        "errors",
        "exempt",
        "ruleset",
        "elapsed_ms",
    ],
    "additionalProperties": False,
    "properties": {
        "post_id": {"type": "string"},
        "action": {"enum": ["allow", "hold", "remove"]},
        "matches": {"type": "array", "items": _MATCH_SCHEMA},
        "shadow": {"type": "array", "items": _MATCH_SCHEMA},
        "signals": {"type": "object", "additionalProperties": {"type": "object"}},
        "skipped": {"type": "array", "items": {"type": "string"}},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["source", "error"],
                "properties": {"source": {"type": "string"}, "error": {"type": "string"}},
            },
        },
        "exempt": {"type": "boolean"},
        "ruleset": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "version": {"type": ["integer", "string", "null"]},
                "hash": {"type": "string"},
            },
        },
        "elapsed_ms": {"type": "number", "minimum": 0},
        "line": {"type": "integer", "minimum": 1, "description": "the input line (added by the CLI)"},
        "id_generated": {
            "const": True,
            "description": "present when the input record had no id and post_id was made from its input and line",
        },
    },
}


def lookup_path(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """``(True, value)`` at a key or a dotted path into nested mappings, else ``(False, None)``."""
    if path in data:
        return True, data[path]
    return dig(data, path.split("."))


def dig(root: Any, parts: Sequence[str]) -> tuple[bool, Any]:
    """``(True, value)`` at the keys ``parts`` into nested mappings, else ``(False, None)``."""
    cur = root
    for part in parts:
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return False, None
    return True, cur


def _opt_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _opt_int(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an integer, got {value!r}") from None


def _opt_float(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None


def parse_id(value: Any, where: str = "id") -> str | None:
    """A post id from a record: a string or a finite number; ``None`` when missing (``None`` or ``""``).

    Anything else (an object, a list, NaN, a boolean) raises :class:`InputError`: a post id is
    never the repr of a structure.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    kind = "a non-finite number" if isinstance(value, float) else f"a {type(value).__name__}"
    raise InputError(f"id (field {where!r}) must be a string or a number, got {kind}")


def _check_range(value: datetime) -> datetime:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if not (EARLIEST <= aware <= LATEST):
        raise InputError(f"created_at {value.isoformat()} is outside {EARLIEST.year}..{LATEST.year}")
    return value


#: Unix timestamps up to this are seconds; a larger one is taken for milliseconds only to say so.
_MAX_SECONDS = LATEST.timestamp()


def _opt_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _check_range(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        if not (0 <= seconds <= _MAX_SECONDS):
            hint = " (it looks like milliseconds: divide by 1000)" if 0 < seconds / 1000 <= _MAX_SECONDS else ""
            raise InputError(
                f"created_at {value!r} is not a Unix timestamp between {EARLIEST.year} and {LATEST.year}{hint}"
            )
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return _check_range(parsed)
    raise InputError(f"created_at must be an ISO 8601 date-time or a Unix timestamp, got {value!r}")
