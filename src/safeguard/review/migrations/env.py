"""Alembic environment of the review store: runs on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from safeguard.review.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the review store's migrations run through safeguard.review.ReviewStore.open")
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
