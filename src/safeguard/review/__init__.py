"""The human review loop: a queue of held posts, moderators' verdicts, appeals, labels and users.

::

    from safeguard.review import ReviewStore

    store = ReviewStore.open("review.db")            # a SQLite file, or "postgresql://user@host/db"
    store.enqueue(zip(posts, decisions))             # every hold (and a sample of allows) enters the queue
    item = store.claim("alice")                      # atomic: two moderators never get the same item
    store.decide(item.id, "alice", "remove", guideline="1.2 Be respectful")

Needs SQLAlchemy and Alembic (core dependencies); PostgreSQL also needs psycopg 3
(``pip install 'safeguard-moderation[postgres]'``). :mod:`safeguard.review.stats` computes what the verdicts say
about the rules; :mod:`safeguard.review.export` turns them into labels and rule tests.
"""

from safeguard.errors import ReviewError
from safeguard.review.store import DEFAULT_PRIORITY, HUMAN_ACTIONS, ROLES, ReviewStore, database_url
from safeguard.review.views import (
    AppealView,
    DecisionView,
    EnqueueReport,
    EventView,
    ItemView,
    LabelView,
    MatchView,
    PostView,
    QueueEntry,
    ReviewedPost,
    UserInfo,
    VerdictView,
)

__all__ = [
    "DEFAULT_PRIORITY",
    "HUMAN_ACTIONS",
    "ROLES",
    "AppealView",
    "DecisionView",
    "EnqueueReport",
    "EventView",
    "ItemView",
    "LabelView",
    "MatchView",
    "PostView",
    "QueueEntry",
    "ReviewError",
    "ReviewStore",
    "ReviewedPost",
    "UserInfo",
    "VerdictView",
    "database_url",
]
