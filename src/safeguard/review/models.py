"""Tables of the review store (SQLAlchemy 2 declarative models).

The schema is created and upgraded by the Alembic migrations in ``safeguard/review/migrations``;
these classes describe it for queries. Every timestamp is stored in UTC and read back as an aware
``datetime``; JSON columns are ``JSON`` on SQLite and ``JSONB`` on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Appeal",
    "Base",
    "DecisionRow",
    "Event",
    "ItemPost",
    "Label",
    "PostRow",
    "QueueItem",
    "Setting",
    "User",
    "Verdict",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back with ``tzinfo=timezone.utc``."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


#: JSON on SQLite, JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


class Setting(Base):
    """A setting of the store itself (``keep_text``, ``keep_context``), kept so every writer obeys it."""

    __tablename__ = "review_settings"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[dict[str, Any]]


class User(Base):
    """A moderator or an admin. ``password`` is ``scrypt$n$r$p$salt$hash`` (hex)."""

    __tablename__ = "review_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime]
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class PostRow(Base):
    """A post as the store keeps it: its text, or only the text's digest and a redacted copy."""

    __tablename__ = "review_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[str] = mapped_column(Text, unique=True)
    thread_id: Mapped[str | None] = mapped_column(Text, index=True)
    parent_id: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(Text, index=True)
    author: Mapped[dict[str, Any]]
    created_at: Mapped[datetime | None]
    title: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    redacted: Mapped[str | None] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64))
    normalized_sha256: Mapped[str] = mapped_column(String(64), index=True)
    text_kept: Mapped[bool] = mapped_column(Boolean)
    meta: Mapped[dict[str, Any]]
    stored_at: Mapped[datetime]


class DecisionRow(Base):
    """One decision of the rules on a post (append-only)."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_ref: Mapped[int] = mapped_column(ForeignKey("review_posts.id"), index=True)
    action: Mapped[str] = mapped_column(String(10))
    matches: Mapped[list[Any]]
    shadow: Mapped[list[Any]]
    signals: Mapped[dict[str, Any]]
    errors: Mapped[list[Any]]
    ruleset_name: Mapped[str | None] = mapped_column(Text)
    ruleset_version: Mapped[str | None] = mapped_column(Text)
    ruleset_hash: Mapped[str | None] = mapped_column(String(80), index=True)
    models: Mapped[dict[str, Any]]
    decided_at: Mapped[datetime]


class QueueItem(Base):
    """An item of the review queue: one post, and the near-copies that joined it."""

    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_queue", "status", "priority", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_ref: Mapped[int] = mapped_column(ForeignKey("review_posts.id"), index=True)
    decision_ref: Mapped[int] = mapped_column(ForeignKey("review_decisions.id"))
    status: Mapped[str] = mapped_column(String(10))
    priority: Mapped[int] = mapped_column(Integer)
    sampled: Mapped[bool] = mapped_column(Boolean, default=False)
    sample_rate: Mapped[float | None] = mapped_column(Float)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    cluster_key: Mapped[str | None] = mapped_column(String(80), index=True)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("review_users.id"))
    claimed_at: Mapped[datetime | None]
    due: Mapped[datetime | None]
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(10))


class ItemPost(Base):
    """A post that belongs to an item: its own first post, and each near-copy that joined it."""

    __tablename__ = "review_item_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_ref: Mapped[int] = mapped_column(ForeignKey("review_items.id"), index=True)
    post_ref: Mapped[int] = mapped_column(ForeignKey("review_posts.id"), index=True)
    decision_ref: Mapped[int] = mapped_column(ForeignKey("review_decisions.id"))
    joined_at: Mapped[datetime]


class Verdict(Base):
    """What a moderator did with an item (append-only)."""

    __tablename__ = "review_verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_ref: Mapped[int] = mapped_column(ForeignKey("review_items.id"), index=True)
    user_ref: Mapped[int] = mapped_column(ForeignKey("review_users.id"))
    action: Mapped[str] = mapped_column(String(10))
    guideline: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float | None] = mapped_column(Float)
    decided_at: Mapped[datetime]


class Appeal(Base):
    """A member's appeal against what happened to a post."""

    __tablename__ = "review_appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_ref: Mapped[int] = mapped_column(ForeignKey("review_posts.id"), index=True)
    appellant: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("review_users.id"))
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class Label(Base):
    """A label from outside the store (a Perspective suggestion, a forum webhook ...)."""

    __tablename__ = "review_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[str] = mapped_column(Text, index=True)
    source: Mapped[str] = mapped_column(String(200))
    label: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]


class Event(Base):
    """The audit log: who did what, when. ``user_ref`` is empty for changes made by a program
    (``actor`` then names it, such as ``safeguard moderate``)."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_ref: Mapped[int | None] = mapped_column(ForeignKey("review_users.id"))
    actor: Mapped[str] = mapped_column(String(200))
    what: Mapped[str] = mapped_column(String(40))
    item_ref: Mapped[int | None] = mapped_column(Integer)
    post_id: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
