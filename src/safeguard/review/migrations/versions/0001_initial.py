"""The review store: posts, decisions, queue items, verdicts, appeals, labels, users, events.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "review_settings",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("value", JSON, nullable=False),
    )
    op.create_table(
        "review_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password", sa.String(400), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "review_posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Text, nullable=False, unique=True),
        sa.Column("thread_id", sa.Text, nullable=True),
        sa.Column("parent_id", sa.Text, nullable=True),
        sa.Column("author_id", sa.Text, nullable=True),
        sa.Column("author", JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=True),
        sa.Column("title", sa.Text, nullable=True),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("redacted", sa.Text, nullable=True),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("normalized_sha256", sa.String(64), nullable=False),
        sa.Column("text_kept", sa.Boolean, nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("stored_at", WHEN, nullable=False),
    )
    op.create_index("ix_review_posts_thread_id", "review_posts", ["thread_id"])
    op.create_index("ix_review_posts_author_id", "review_posts", ["author_id"])
    op.create_index("ix_review_posts_normalized_sha256", "review_posts", ["normalized_sha256"])
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_ref", sa.Integer, sa.ForeignKey("review_posts.id"), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("matches", JSON, nullable=False),
        sa.Column("shadow", JSON, nullable=False),
        sa.Column("signals", JSON, nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("ruleset_name", sa.Text, nullable=True),
        sa.Column("ruleset_version", sa.Text, nullable=True),
        sa.Column("ruleset_hash", sa.String(80), nullable=True),
        sa.Column("models", JSON, nullable=False),
        sa.Column("decided_at", WHEN, nullable=False),
    )
    op.create_index("ix_review_decisions_post_ref", "review_decisions", ["post_ref"])
    op.create_index("ix_review_decisions_ruleset_hash", "review_decisions", ["ruleset_hash"])
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_ref", sa.Integer, sa.ForeignKey("review_posts.id"), nullable=False),
        sa.Column("decision_ref", sa.Integer, sa.ForeignKey("review_decisions.id"), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("sampled", sa.Boolean, nullable=False),
        sa.Column("sample_rate", sa.Float, nullable=True),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("cluster_key", sa.String(80), nullable=True),
        sa.Column("claimed_by", sa.Integer, sa.ForeignKey("review_users.id"), nullable=True),
        sa.Column("claimed_at", WHEN, nullable=True),
        sa.Column("due", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("outcome", sa.String(10), nullable=True),
    )
    op.create_index("ix_review_items_post_ref", "review_items", ["post_ref"])
    op.create_index("ix_review_items_cluster_key", "review_items", ["cluster_key"])
    op.create_index("ix_review_items_queue", "review_items", ["status", "priority", "created_at"])
    op.create_table(
        "review_item_posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_ref", sa.Integer, sa.ForeignKey("review_items.id"), nullable=False),
        sa.Column("post_ref", sa.Integer, sa.ForeignKey("review_posts.id"), nullable=False),
        sa.Column("decision_ref", sa.Integer, sa.ForeignKey("review_decisions.id"), nullable=False),
        sa.Column("joined_at", WHEN, nullable=False),
    )
    op.create_index("ix_review_item_posts_item_ref", "review_item_posts", ["item_ref"])
    op.create_index("ix_review_item_posts_post_ref", "review_item_posts", ["post_ref"])
    op.create_table(
        "review_verdicts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_ref", sa.Integer, sa.ForeignKey("review_items.id"), nullable=False),
        sa.Column("user_ref", sa.Integer, sa.ForeignKey("review_users.id"), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("guideline", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("decided_at", WHEN, nullable=False),
    )
    op.create_index("ix_review_verdicts_item_ref", "review_verdicts", ["item_ref"])
    op.create_table(
        "review_appeals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_ref", sa.Integer, sa.ForeignKey("review_posts.id"), nullable=False),
        sa.Column("appellant", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.Column("resolved_by", sa.Integer, sa.ForeignKey("review_users.id"), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("resolved_at", WHEN, nullable=True),
    )
    op.create_index("ix_review_appeals_post_ref", "review_appeals", ["post_ref"])
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Text, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("label", JSON, nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
    )
    op.create_index("ix_review_labels_post_id", "review_labels", ["post_id"])
    op.create_table(
        "review_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", WHEN, nullable=False),
        sa.Column("user_ref", sa.Integer, sa.ForeignKey("review_users.id"), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("what", sa.String(40), nullable=False),
        sa.Column("item_ref", sa.Integer, nullable=True),
        sa.Column("post_id", sa.Text, nullable=True),
        sa.Column("details", JSON, nullable=False),
    )
    op.create_index("ix_review_events_at", "review_events", ["at"])


def downgrade() -> None:
    for table in (
        "review_events",
        "review_labels",
        "review_appeals",
        "review_verdicts",
        "review_item_posts",
        "review_items",
        "review_decisions",
        "review_posts",
        "review_users",
        "review_settings",
    ):
        op.drop_table(table)
