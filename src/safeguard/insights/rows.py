"""The one row the insights pass keeps per post: what the thread, topic and trend views read.

A :class:`PostRow` is built once per input post from the post and its ``feedback`` signals (and the
moderation decision, when the pass moderates too); the views never see a :class:`~safeguard.types.Post`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from safeguard.classifiers.feedback.kinds import KINDS, STAFF_ROLES

__all__ = ["KINDS", "STAFF_ROLES", "PostRow", "iso", "utc", "week_of"]


@dataclass(frozen=True, slots=True)
class PostRow:
    """One post as the insights views see it. ``created_at`` is timezone-aware UTC or None."""

    id: str
    text: str
    title: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    created_at: datetime | None = None
    author_id: str | None = None
    role: str | None = None
    kind: str = "other"
    sentiment: float = 0.0  # VADER compound, -1 (negative) .. 1 (positive)
    aspects: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()  # model numbers and SKUs found by pattern
    action: str | None = None  # the moderation decision, when the pass moderated
    rules: tuple[str, ...] = ()  # the rules that fired (acting ones)

    @property
    def staff(self) -> bool:
        return self.role in STAFF_ROLES


def week_of(moment: datetime | date) -> date:
    """The Monday that starts the (ISO, UTC) week of ``moment``."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is read as UTC already, so a stray one never stops a pass."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def iso(value: datetime | date | None) -> str | None:
    """How the insights JSON writes a moment (ISO 8601 in UTC, ``Z``) or a day (``YYYY-MM-DD``)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return utc(value).isoformat().replace("+00:00", "Z")
    return value.isoformat()
