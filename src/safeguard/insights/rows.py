"""The one row the insights pass keeps per post: what the thread, topic and trend views read.

A :class:`PostRow` is built once per input post from the post and its ``feedback`` signals (and the
moderation decision, when the pass moderates too); the views never see a :class:`~safeguard.types.Post`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from safeguard.classifiers.feedback.kinds import KINDS

__all__ = ["KINDS", "STAFF_ROLES", "PostRow", "week_of"]

#: Author roles that speak for the community's owner: a reply from one of them is a staff reply.
STAFF_ROLES: frozenset[str] = frozenset({"staff", "moderator", "admin"})


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
