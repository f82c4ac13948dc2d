"""What the review store hands out: immutable views of its rows, each with ``to_dict()`` for JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "AppealView",
    "DecisionView",
    "EnqueueReport",
    "EventView",
    "ItemView",
    "LabelView",
    "MatchView",
    "PostView",
    "QueueEntry",
    "ReviewedPost",
    "UserInfo",
    "VerdictView",
]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _View:
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: timestamps as ISO 8601 strings."""
        return {f.name: _plain(_as_data(getattr(self, f.name))) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def _as_data(value: Any) -> Any:
    if isinstance(value, _View):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_as_data(v) for v in value]
    return value


@dataclass(frozen=True)
class UserInfo(_View):
    """A moderator or admin (never the password hash)."""

    id: int
    name: str
    role: str
    created_at: datetime
    disabled: bool


@dataclass(frozen=True)
class PostView(_View):
    """A stored post. ``text`` is the post's text, or its redacted copy when the store keeps no text
    (``text_kept`` is then false)."""

    post_id: str
    thread_id: str | None
    parent_id: str | None
    author: dict[str, Any]
    created_at: datetime | None
    title: str | None
    text: str
    text_kept: bool
    text_sha256: str


@dataclass(frozen=True)
class MatchView(_View):
    """A rule that fired, with its evidence spans in ``PostView.text``: ``[{"start", "end", "evidence"}]``."""

    rule: str
    action: str
    reason: str | None
    guideline: str | None
    values: dict[str, Any]
    spans: list[dict[str, Any]]


@dataclass(frozen=True)
class DecisionView(_View):
    """The rules' decision on a post, as recorded."""

    id: int
    action: str
    matches: list[MatchView]
    shadow: list[MatchView]
    signals: dict[str, Any]
    errors: list[dict[str, Any]]
    ruleset: dict[str, Any]
    models: dict[str, Any]
    decided_at: datetime

    @property
    def rules(self) -> list[str]:
        return [m.rule for m in self.matches]


@dataclass(frozen=True)
class QueueEntry(_View):
    """One line of the queue."""

    id: int
    post_id: str
    status: str
    priority: int
    sampled: bool
    escalated: bool
    action: str
    rules: list[str]
    reasons: list[str]
    excerpt: str
    posts: int
    claimed_by: str | None
    claimed_at: datetime | None
    due: datetime | None
    created_at: datetime
    decided_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class VerdictView(_View):
    """What a moderator did with an item."""

    id: int
    item_id: int
    user: str
    action: str
    guideline: str | None
    note: str | None
    seconds: float | None
    decided_at: datetime


@dataclass(frozen=True)
class AppealView(_View):
    """A member's appeal against what happened to a post. ``status``: open, upheld or overturned."""

    id: int
    post_id: str
    appellant: str
    text: str
    status: str
    resolution: str | None
    resolved_by: str | None
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class LabelView(_View):
    """A label received from outside the store."""

    id: int
    post_id: str
    source: str
    label: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True)
class EventView(_View):
    """One line of the audit log."""

    id: int
    at: datetime
    actor: str
    what: str
    item_id: int | None
    post_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class ItemView(_View):
    """Everything a moderator needs to judge an item: the queue line, the post and the rules' decision,
    the near-copies that joined it (``members``, the first post excluded), the other stored posts of its
    thread (oldest first), the verdicts so far, appeals and outside labels of the post."""

    entry: QueueEntry
    post: PostView
    decision: DecisionView
    members: list[PostView] = field(default_factory=list)
    thread: list[PostView] = field(default_factory=list)
    verdicts: list[VerdictView] = field(default_factory=list)
    appeals: list[AppealView] = field(default_factory=list)
    labels: list[LabelView] = field(default_factory=list)

    @property
    def id(self) -> int:
        return self.entry.id


@dataclass(frozen=True)
class ReviewedPost(_View):
    """A post of a decided item with its final verdict: ``outcome`` is ``approve`` or ``remove``.

    Every post of an item (its near-copies too) carries the item's verdict.
    """

    item_id: int
    post: PostView
    decision: DecisionView
    outcome: str
    user: str | None
    sampled: bool
    sample_rate: float | None
    entered_at: datetime
    decided_at: datetime
    seconds: float | None


@dataclass
class EnqueueReport(_View):
    """What :meth:`ReviewStore.enqueue` did with a batch.

    ``queued``: new items; ``joined``: posts that joined an item as near-copies; ``sampled``: allows
    queued for recall estimation; ``already``: posts already in an item (their decision is recorded);
    ``context``: posts kept only as thread context.
    """

    posts: int = 0
    queued: int = 0
    joined: int = 0
    sampled: int = 0
    already: int = 0
    context: int = 0
    item_ids: list[int] = field(default_factory=list)

    def add(self, other: EnqueueReport) -> None:
        for f in ("posts", "queued", "joined", "sampled", "already", "context"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.item_ids.extend(other.item_ids)
