"""One pass over a dump for the insights page: the ``feedback`` signals of every post, and the
moderation decision beside them.

Posts stream through in batches. The feedback classifier runs in ``workers`` processes (it depends on
each post alone); the moderation, when the pass moderates, runs through the :class:`Moderator` and its
own workers, batch for batch in step with it, so a dump is read once. Only a small :class:`PostRow` per
post is kept. A post the feedback classifier fails on, like a record that is not a post, becomes an
error entry (counted, the first ones kept) and never a row with made-up signals.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from safeguard.classifiers.feedback import FeedbackClassifier
from safeguard.insights.rows import PostRow, utc
from safeguard.rules.engine import Failure, isolated
from safeguard.types import Decision, Post

__all__ = ["KEPT_ERRORS", "Collected", "collect", "row_of"]

#: Error entries kept for the page (all are counted).
KEPT_ERRORS = 20
#: A moderation outcome: the action and the acting rules that fired.
Outcome = tuple[str, tuple[str, ...]]

_worker: FeedbackClassifier | None = None


def _start(options: dict[str, Any]) -> None:
    global _worker
    _worker = FeedbackClassifier(**options)
    _worker.load()


def _classify(posts: list[Post]) -> list[dict[str, Any] | str]:
    assert _worker is not None
    return classify_isolated(_worker, posts)


def classify_isolated(classifier: FeedbackClassifier, posts: Sequence[Post]) -> list[dict[str, Any] | str]:
    """Signals per post, or the error message of a post the classifier failed on, isolated as the engine
    isolates a classifier (:func:`~safeguard.rules.engine.isolated`: one bad post costs only itself)."""
    results = isolated(classifier.classify, list(posts))
    return [
        f"post {post.id!r}: feedback failed: {r.message}" if isinstance(r, Failure) else r
        for post, r in zip(posts, results, strict=True)
    ]


@dataclass
class Collected:
    """What one pass kept: the rows, and the inputs that gave no row."""

    rows: list[PostRow] = field(default_factory=list)
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    outside: int = 0  # posts outside --since/--until (or undated while a range was asked for)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.first_errors) < KEPT_ERRORS:
            self.first_errors.append(message)


def _outcome(decision: Decision) -> Outcome:
    return decision.action.value, tuple(decision.rules)


def row_of(post: Post, signals: Mapping[str, Any], outcome: Outcome | None = None) -> PostRow:
    """The row of one post from its feedback signals and, when moderated, its outcome."""
    created = utc(post.created_at) if post.created_at is not None else None
    author = post.author
    return PostRow(
        id=post.id,
        text=post.text,
        title=post.title,
        thread_id=post.thread_id,
        parent_id=post.parent_id,
        created_at=created,
        author_id=author.id if author is not None else None,
        role=author.role if author is not None else None,
        kind=signals["kind"],
        sentiment=float(signals["sentiment"]),
        aspects=tuple(signals["aspects"]),
        products=tuple(signals["products"]),
        stores=tuple(signals["stores"]),
        codes=tuple(signals["codes"]),
        action=outcome[0] if outcome else None,
        rules=outcome[1] if outcome else (),
    )


def _in_range(post: Post, since: datetime | None, until: datetime | None) -> bool:
    if since is None and until is None:
        return True
    if post.created_at is None:
        return False
    created = utc(post.created_at)
    return (since is None or created >= since) and (until is None or created < until)


def collect(
    items: Iterable[tuple[Post | None, str | None]],
    *,
    feedback: Mapping[str, Any] | None = None,
    moderator: Any = None,
    outcomes: Mapping[str, Outcome] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    workers: int = 1,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> Collected:
    """Read ``items`` (``(post, None)`` or ``(None, error message)``) once into rows.

    ``feedback``: options of the feedback classifier (a gazetteer, aspects). ``moderator``: a
    :class:`~safeguard.Moderator` to decide each post with, or ``outcomes``: decisions made before,
    by post id (posts without one get no action). ``since``/``until``: keep posts created in
    ``[since, until)``. ``workers``: processes for the feedback classifier.
    """
    options = dict(feedback or {})
    result = Collected()
    seen = 0

    def batches() -> Iterator[list[Post]]:
        nonlocal seen
        batch: list[Post] = []
        for post, error in items:
            seen += 1
            if post is None:
                result.error(error or "unreadable record")
            elif not _in_range(post, since, until):
                result.outside += 1
            else:
                batch.append(post)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
            if progress is not None and seen % batch_size == 0:
                progress(seen)
        if batch:
            yield batch

    local = FeedbackClassifier(**options) if workers <= 1 else None
    pool = ProcessPoolExecutor(workers, initializer=_start, initargs=(options,)) if workers > 1 else None
    pending: deque[tuple[list[Post], Future[list[dict[str, Any] | str]] | None]] = deque()

    def submitted() -> Iterator[list[Post]]:
        for batch in batches():
            pending.append((batch, pool.submit(_classify, batch) if pool is not None else None))
            # without a moderator to pace the stream, keep at most two batches per worker in flight
            if moderator is None and len(pending) > 2 * max(1, workers):
                yield pending[0][0]
            elif moderator is not None:
                yield batch
        if moderator is None:
            while pending:
                yield pending[0][0]

    try:
        decided: Iterator[list[Decision] | None] = (
            moderator.decide_batches(submitted()) if moderator is not None else (None for _ in submitted())
        )
        for decisions in decided:
            batch, future = pending.popleft()
            signals = future.result() if future is not None else classify_isolated(local, batch)  # type: ignore[arg-type]
            for i, (post, s) in enumerate(zip(batch, signals, strict=True)):
                if isinstance(s, str):
                    result.error(s)
                    continue
                if decisions is not None:
                    outcome: Outcome | None = _outcome(decisions[i])
                else:
                    outcome = outcomes.get(post.id) if outcomes is not None else None
                result.rows.append(row_of(post, s, outcome))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if progress is not None:
        progress(seen)
    return result
