"""The review store: the queue of held posts, moderators' verdicts, appeals, labels, users and the audit log.

::

    from safeguard.review import ReviewStore

    store = ReviewStore.open("review.db")                # or "postgresql://user@host/db"
    store.enqueue(zip(posts, decisions), priorities=moderator.ruleset.priorities)
    store.add_user("alice", role="moderator", password="...")
    item = store.claim("alice")                          # atomic: no two moderators get the same item
    store.decide(item.id, "alice", "remove", note="insult")

A plain path (``review.db``) is a SQLite file; ``sqlite:///FILE`` and ``postgresql://...`` URLs are
taken as they are (PostgreSQL through psycopg 3: ``pip install 'safeguard-moderation[postgres]'``). Opening a
store creates or upgrades its tables with the migrations shipped in the package.

Every change is one transaction and is written to the audit log with who made it; decisions and
verdicts are never updated, only appended.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, create_engine, event, exists, func, or_, select, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from safeguard.errors import InputError, ReviewError, install_hint
from safeguard.review import evidence
from safeguard.review.models import (
    Appeal,
    DecisionRow,
    Event,
    ItemPost,
    Label,
    PostRow,
    QueueItem,
    Setting,
    User,
    Verdict,
)
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
from safeguard.types import Decision, Post

__all__ = [
    "DEFAULT_PRIORITY",
    "HUMAN_ACTIONS",
    "ROLES",
    "ReviewStore",
    "database_url",
]

#: What a moderator can do with an item.
HUMAN_ACTIONS = ("approve", "remove", "escalate", "skip")
#: Roles of users: a moderator works the queue; an admin also manages users and decides escalated items.
ROLES = ("moderator", "admin")
#: Queue priority of a held post by the action of a rule that fired, when the rule sets no ``priority``.
DEFAULT_PRIORITY = {"remove": 80, "hold": 50, "allow": 10}
#: Priority of a post held because a classifier failed (no rule fired), of an escalated item, of a sampled allow.
ERROR_PRIORITY, ESCALATED_PRIORITY, SAMPLED_PRIORITY = 60, 100, 0
APPEAL_OUTCOMES = ("granted", "denied")

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_EXCERPT = 160


def database_url(url_or_path: str | os.PathLike[str]) -> URL:
    """The SQLAlchemy URL of a store: a plain path is a SQLite file, ``postgresql://`` uses psycopg 3.

    Raises :class:`ReviewError` (``invalid``) for any other scheme or a malformed URL.
    """
    raw = os.fspath(url_or_path)
    if not raw.strip():
        raise ReviewError("the review store needs a database: a file path or a URL", code="invalid")
    if "://" not in raw:
        return URL.create("sqlite", database=str(Path(raw).expanduser()))
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ReviewError(f"cannot read database URL {_hide(raw)!r}", code="invalid") from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return url
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return url.set(drivername="postgresql+psycopg")
    raise ReviewError(
        f"unsupported database URL {_hide(raw)!r}: use a file path, sqlite:///FILE or postgresql://USER@HOST/DB",
        code="invalid",
    )


def _hide(raw: str) -> str:
    try:
        return make_url(raw).render_as_string(hide_password=True)
    except ArgumentError:
        return raw.split("://", 1)[0] + "://..."


def _now_utc() -> datetime:
    return datetime.now(timezone.utc)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$SALT$HASH`` (hex) of ``password`` with a new random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant-time comparison)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got, expected)


class ReviewStore:
    """The review queue and everything around it, in SQLite or PostgreSQL. Thread-safe: every call
    opens its own session; several processes may share one database.

    Build it with :meth:`open`. ``claim_timeout`` is how long a claim holds before the item returns to
    the queue; ``clock`` (for tests) returns the current UTC time.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        claim_timeout: timedelta = timedelta(minutes=15),
        clock: Callable[[], datetime] = _now_utc,
    ) -> None:
        self.engine = engine
        self.claim_timeout = claim_timeout
        self._clock = clock
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.where = engine.url.render_as_string(hide_password=True)

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        url_or_path: str | os.PathLike[str],
        *,
        keep_text: bool | None = None,
        keep_context: bool | None = None,
        claim_timeout: timedelta = timedelta(minutes=15),
        clock: Callable[[], datetime] = _now_utc,
    ) -> ReviewStore:
        """Open (creating or upgrading) the store at a path or URL.

        ``keep_text=False`` makes the store keep only the SHA-256 and a redacted copy of each post's
        text from now on; ``keep_context=False`` stops it keeping the allowed posts it is shown as
        thread context. Both are settings of the store, recorded in it, so every writer obeys them;
        ``None`` leaves them as they are (by default both are on).

        Raises :class:`ReviewError`: ``invalid`` for a bad URL, ``unavailable`` when the database cannot
        be reached or psycopg is missing for PostgreSQL.
        """
        url = database_url(url_or_path)
        if url.get_backend_name() == "postgresql":
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise ReviewError(
                    f"a PostgreSQL review store needs the psycopg package: {install_hint('postgres')}",
                    code="unavailable",
                ) from None
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            parent = Path(url.database).parent
            if not parent.is_dir():
                raise ReviewError(
                    f"cannot open review store {url.database}: directory {parent} does not exist", code="unavailable"
                )
        store = cls(_engine(url), claim_timeout=claim_timeout, clock=clock)
        store._migrate()
        changes = {k: v for k, v in (("keep_text", keep_text), ("keep_context", keep_context)) if v is not None}
        if changes:
            with store._write() as s:
                for key, value in changes.items():
                    row = s.get(Setting, key)
                    if row is None or row.value.get("value") != value:
                        s.merge(Setting(key=key, value={"value": value}))
                        store._event(s, None, "open", "setting", details={key: value})
        return store

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(immediate=True)
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7311027)")
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise self._unavailable(exc) from None

    def _unavailable(self, exc: BaseException) -> ReviewError:
        detail = getattr(exc, "orig", None) or exc
        message = str(detail).strip().splitlines()[0] if str(detail).strip() else type(detail).__name__
        return ReviewError(f"review store {self.where}: {message}", code="unavailable")

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction (on SQLite ``BEGIN IMMEDIATE``, so writers queue instead of failing)."""
        with self._sessions() as session:
            try:
                session.connection(execution_options={"immediate": True})
                yield session
                session.commit()
            except ReviewError:
                session.rollback()
                raise
            except IntegrityError as exc:
                session.rollback()
                detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else "integrity error"
                raise ReviewError(f"conflicting change in {self.where}: {detail}", code="conflict") from None
            except SQLAlchemyError as exc:
                session.rollback()
                raise self._unavailable(exc) from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with self._sessions() as session:
            try:
                yield session
            except SQLAlchemyError as exc:
                session.rollback()
                raise self._unavailable(exc) from None

    def setting(self, key: str) -> Any:
        """A setting of the store: ``keep_text`` or ``keep_context`` (both true unless changed)."""
        with self._read() as s:
            row = s.get(Setting, key)
        return True if row is None else row.value.get("value")

    # ------------------------------------------------------------------ filling the queue

    def enqueue(
        self,
        decisions_and_posts: Iterable[tuple[Post | Mapping[str, Any], Decision | Mapping[str, Any]]],
        *,
        priorities: Mapping[str, int] | None = None,
        sample_allows: float = 0.0,
        seed: int = 0,
        models: Mapping[str, Any] | None = None,
        due_in: timedelta | None = timedelta(hours=24),
        actor: str = "enqueue",
    ) -> EnqueueReport:
        """Record a batch of posts and their decisions, in one transaction; queue what a human must see.

        * Every ``hold`` enters the queue. Its priority is the highest among the rules that fired:
          the rule's ``priority`` from ``priorities`` (rule id to 0..100, as ``Ruleset.priorities``
          gives), else :data:`DEFAULT_PRIORITY` of the rule's action; a hold no rule made (a classifier
          failed) gets :data:`ERROR_PRIORITY`.
        * A hold whose post is a near-copy of a post already waiting (the same normalised text, the
          duplicate classifier's ``duplicate.of`` or ``duplicate.cluster``) joins that item instead.
        * A share ``sample_allows`` of the allows, picked by a hash of ``seed`` and the post id (the
          same posts whatever the batching), enters with ``sampled`` set and priority 0: what
          moderators decide on them estimates what the rules miss.
        * A post already in an item is not queued again; its new decision is still recorded.
        * Other allowed posts are kept as thread context (unless the store's ``keep_context`` is off);
          removed posts are recorded with their decision.

        ``models`` (classifier name to what it ran, e.g. ``Classifier.describe()``) is recorded with each
        decision. Raises :class:`ReviewError` and records nothing of the batch when the store fails;
        :class:`~safeguard.errors.InputError` for an item that is not a post and a decision.
        """
        if not 0.0 <= sample_allows <= 1.0:
            raise ReviewError(f"sample_allows must be between 0 and 1, got {sample_allows}", code="invalid")
        prio = dict(priorities or {})
        now = self._clock()
        report = EnqueueReport()
        pairs = [(_to_post(p), _to_decision(d)) for p, d in decisions_and_posts]
        if not pairs:
            return report
        keep_text = self.setting("keep_text") is not False
        keep_context = self.setting("keep_context") is not False
        with self._write() as s:
            known = {
                row.post_id: row
                for row in s.scalars(select(PostRow).where(PostRow.post_id.in_({p.id for p, _ in pairs})))
            }
            for post, decision in pairs:
                report.posts += 1
                action = decision.action.value
                sampled = action == "allow" and sample_allows > 0 and _sampled(post.id, seed, sample_allows)
                wanted = action != "allow" or sampled
                row = known.get(post.id)
                if row is None:
                    if not wanted and not (keep_context and post.thread_id):
                        continue
                    row = _post_row(post, decision, keep_text, now)
                    s.add(row)
                    s.flush()
                    known[post.id] = row
                if not wanted:
                    report.context += 1
                    continue
                drow = _decision_row(row, post, decision, models or {}, now)
                s.add(drow)
                s.flush()
                if action == "remove":
                    continue
                if s.scalar(select(ItemPost.id).where(ItemPost.post_ref == row.id).limit(1)) is not None:
                    report.already += 1
                    continue
                cluster = _cluster_key(decision, row)
                if not sampled:
                    target = self._join_target(s, decision, cluster)
                    if target is not None:
                        target.priority = max(target.priority, _priority(decision, prio))
                        s.add(ItemPost(item_ref=target.id, post_ref=row.id, decision_ref=drow.id, joined_at=now))
                        report.joined += 1
                        self._event(s, None, actor, "join", item_id=target.id, post_id=post.id)
                        continue
                item = QueueItem(
                    post_ref=row.id,
                    decision_ref=drow.id,
                    status="open",
                    priority=SAMPLED_PRIORITY if sampled else _priority(decision, prio),
                    sampled=sampled,
                    sample_rate=sample_allows if sampled else None,
                    escalated=False,
                    cluster_key=None if sampled else cluster,
                    due=now + due_in if due_in is not None else None,
                    created_at=now,
                )
                s.add(item)
                s.flush()
                s.add(ItemPost(item_ref=item.id, post_ref=row.id, decision_ref=drow.id, joined_at=now))
                report.item_ids.append(item.id)
                if sampled:
                    report.sampled += 1
                else:
                    report.queued += 1
                self._event(
                    s,
                    None,
                    actor,
                    "enqueue",
                    item_id=item.id,
                    post_id=post.id,
                    details={"priority": item.priority, "sampled": sampled},
                )
        return report

    def _join_target(self, s: Session, decision: Decision, cluster: str) -> QueueItem | None:
        waiting = QueueItem.status.in_(("open", "claimed")) & ~QueueItem.sampled
        of = (decision.signals.get("duplicate") or {}).get("of")
        if isinstance(of, str) and of:
            target = s.scalars(
                select(QueueItem)
                .join(ItemPost, ItemPost.item_ref == QueueItem.id)
                .join(PostRow, PostRow.id == ItemPost.post_ref)
                .where(PostRow.post_id == of, waiting)
                .limit(1)
            ).first()
            if target is not None:
                return target
        return s.scalars(select(QueueItem).where(QueueItem.cluster_key == cluster, waiting).limit(1)).first()

    # ------------------------------------------------------------------ working the queue

    def queue(
        self, limit: int = 50, offset: int = 0, *, status: str | Sequence[str] = ("open", "claimed")
    ) -> list[QueueEntry]:
        """Items by priority (highest first), then age (oldest first). ``status``: open, claimed, done."""
        statuses = [status] if isinstance(status, str) else list(status)
        bad = [x for x in statuses if x not in ("open", "claimed", "done")]
        if bad:
            raise ReviewError(f"unknown status {bad[0]!r}: expected open, claimed or done", code="invalid")
        with self._read() as s:
            items = s.scalars(
                select(QueueItem)
                .where(QueueItem.status.in_(statuses))
                .order_by(QueueItem.priority.desc(), QueueItem.created_at, QueueItem.id)
                .limit(max(0, limit))
                .offset(max(0, offset))
            ).all()
            return [self._entry(s, item) for item in items]

    def counts(self) -> dict[str, int]:
        """Items by status (``open``, ``claimed``, ``done``), and ``escalated`` among those waiting."""
        with self._read() as s:
            rows = s.execute(select(QueueItem.status, func.count()).group_by(QueueItem.status)).all()
            escalated = s.scalar(select(func.count()).where(QueueItem.escalated, QueueItem.status != "done"))
        out = {"open": 0, "claimed": 0, "done": 0}
        out.update({str(k): int(v) for k, v in rows})
        out["escalated"] = int(escalated or 0)
        return out

    def claim(self, user: str, item_id: int | None = None, *, exclude: Collection[int] = ()) -> ItemView | None:
        """Claim an item for ``user``: the one named, else the user's own unexpired claim, else the first
        open item by priority and age that the user has not skipped (an escalated one only for an admin).
        Items in ``exclude`` are passed over (not their own claims, nor open ones): "the next item after
        this one" without recording a skip.

        Atomic across threads, processes and hosts: the claim is a conditional update
        (``... WHERE status = 'open'``) whose row count says who won, so two moderators never get the
        same item. A claim older than ``claim_timeout`` lapses and the item is open again. Returns
        ``None`` when nothing is left; raises :class:`ReviewError` for an unknown item (``not_found``)
        or one claimed by someone else or decided (``conflict``).
        """
        now = self._clock()
        with self._write() as s:
            uid, role = self._active_user(s, user)
            self._expire(s, now)
        if item_id is not None:
            with self._write() as s:
                item = s.get(QueueItem, item_id)
                if item is None:
                    raise ReviewError(f"no item {item_id}", code="not_found")
                if item.escalated and role != "admin":
                    raise ReviewError(f"item {item_id} was escalated: an admin reviews it", code="forbidden")
                won = s.execute(
                    update(QueueItem)
                    .where(
                        QueueItem.id == item_id,
                        or_(
                            QueueItem.status == "open",
                            and_(QueueItem.status == "claimed", QueueItem.claimed_by == uid),
                        ),
                    )
                    .values(status="claimed", claimed_by=uid, claimed_at=now)
                    .execution_options(synchronize_session=False)
                )
                if won.rowcount != 1:  # type: ignore[attr-defined]
                    raise self._refusal(s, item_id)
                self._event(s, uid, user, "claim", item_id=item_id, post_id=self._post_id(s, item.post_ref))
            return self.item(item_id)
        passed = sorted({int(i) for i in exclude})
        with self._read() as s:
            mine = s.scalar(
                select(QueueItem.id)
                .where(QueueItem.status == "claimed", QueueItem.claimed_by == uid, QueueItem.id.not_in(passed))
                .order_by(QueueItem.claimed_at)
                .limit(1)
            )
        if mine is not None:
            return self.item(mine)
        skipped = exists(
            select(Verdict.id).where(
                Verdict.item_ref == QueueItem.id, Verdict.user_ref == uid, Verdict.action == "skip"
            )
        )
        for _ in range(20):
            with self._read() as s:
                query = select(QueueItem.id).where(QueueItem.status == "open", ~skipped, QueueItem.id.not_in(passed))
                if role != "admin":
                    query = query.where(~QueueItem.escalated)
                candidates = s.scalars(
                    query.order_by(QueueItem.priority.desc(), QueueItem.created_at, QueueItem.id).limit(10)
                ).all()
            if not candidates:
                return None
            for candidate in candidates:
                with self._write() as s:
                    won = s.execute(
                        update(QueueItem)
                        .where(QueueItem.id == candidate, QueueItem.status == "open")
                        .values(status="claimed", claimed_by=uid, claimed_at=now)
                        .execution_options(synchronize_session=False)
                    )
                    if won.rowcount == 1:  # type: ignore[attr-defined]
                        item = s.get(QueueItem, candidate)
                        assert item is not None
                        self._event(s, uid, user, "claim", item_id=candidate, post_id=self._post_id(s, item.post_ref))
                        claimed = candidate
                        break
            else:
                continue
            return self.item(claimed)
        return None

    def release(self, item_id: int, user: str) -> None:
        """Give a claimed item back to the queue (its claimant or an admin)."""
        with self._write() as s:
            uid, role = self._active_user(s, user)
            item = s.get(QueueItem, item_id)
            if item is None:
                raise ReviewError(f"no item {item_id}", code="not_found")
            if item.status != "claimed":
                raise ReviewError(f"item {item_id} is not claimed (it is {item.status})", code="conflict")
            if item.claimed_by != uid and role != "admin":
                raise ReviewError(
                    f"item {item_id} is claimed by {self._user_name(s, item.claimed_by)}", code="conflict"
                )
            s.execute(
                update(QueueItem)
                .where(QueueItem.id == item_id, QueueItem.status == "claimed")
                .values(status="open", claimed_by=None, claimed_at=None)
                .execution_options(synchronize_session=False)
            )
            self._event(s, uid, user, "release", item_id=item_id)

    def decide(
        self,
        item_id: int,
        user: str,
        action: str,
        *,
        guideline: str | None = None,
        note: str | None = None,
        seconds: float | None = None,
    ) -> VerdictView:
        """Record what ``user`` does with an item: ``approve`` (the post stays up) or ``remove`` close it;
        ``escalate`` sends it back to the queue for an admin, at the top; ``skip`` gives it back for
        someone else (this user is not offered it again).

        The item must be open or claimed by ``user`` (or by a claim that lapsed). ``seconds`` (time spent)
        defaults to the time since the user claimed it. Raises :class:`ReviewError`: ``not_found``,
        ``conflict`` (claimed by someone else, already decided), ``forbidden`` (an escalated item and a
        user who is not an admin), ``invalid`` (an unknown action).
        """
        with self._write() as s:
            return self._decide(s, item_id, user, action, guideline, note, seconds)

    def decide_bulk(
        self,
        item_ids: Sequence[int],
        user: str,
        action: str,
        *,
        guideline: str | None = None,
        note: str | None = None,
    ) -> list[VerdictView]:
        """:meth:`decide` for several items (a cluster of copies, a page of spam) in one transaction:
        every item gets the verdict, or none does and the first refusal is raised."""
        with self._write() as s:
            return [self._decide(s, i, user, action, guideline, note, None) for i in dict.fromkeys(item_ids)]

    def _decide(
        self,
        s: Session,
        item_id: int,
        user: str,
        action: str,
        guideline: str | None,
        note: str | None,
        seconds: float | None,
    ) -> VerdictView:
        if action not in HUMAN_ACTIONS:
            raise ReviewError(f"unknown action {action!r}: expected {', '.join(HUMAN_ACTIONS)}", code="invalid")
        if seconds is not None and not (seconds >= 0):
            raise ReviewError(f"seconds must be a non-negative number, got {seconds!r}", code="invalid")
        now = self._clock()
        uid, role = self._active_user(s, user)
        item = s.get(QueueItem, item_id)
        if item is None:
            raise ReviewError(f"no item {item_id}", code="not_found")
        lapsed = item.claimed_at is not None and item.claimed_at < now - self.claim_timeout
        if item.status == "done":
            raise ReviewError(f"item {item_id} was already decided ({item.outcome})", code="conflict")
        if item.status == "claimed" and item.claimed_by != uid and not lapsed:
            raise ReviewError(f"item {item_id} is claimed by {self._user_name(s, item.claimed_by)}", code="conflict")
        if item.escalated and role != "admin" and action != "skip":
            raise ReviewError(f"item {item_id} was escalated: an admin decides it", code="forbidden")
        if seconds is None and item.claimed_by == uid and item.claimed_at is not None:
            seconds = max(0.0, (now - item.claimed_at).total_seconds())
        values: dict[str, Any]
        if action in ("approve", "remove"):
            values = {"status": "done", "outcome": action, "decided_at": now}
        elif action == "escalate":
            values = {"status": "open", "escalated": True, "priority": ESCALATED_PRIORITY}
        else:
            values = {"status": "open"}
        if action in ("escalate", "skip"):
            values.update(claimed_by=None, claimed_at=None)
        guard = [QueueItem.id == item_id, QueueItem.status == item.status]
        guard.append(
            QueueItem.claimed_by.is_(None) if item.claimed_by is None else QueueItem.claimed_by == item.claimed_by
        )
        done = s.execute(update(QueueItem).where(*guard).values(**values).execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise ReviewError(f"item {item_id} changed while it was being decided: look again", code="conflict")
        verdict = Verdict(
            item_ref=item_id,
            user_ref=uid,
            action=action,
            guideline=guideline,
            note=note,
            seconds=seconds,
            decided_at=now,
        )
        s.add(verdict)
        s.flush()
        details: dict[str, Any] = {"action": action}
        if guideline:
            details["guideline"] = guideline
        self._event(s, uid, user, "decide", item_id=item_id, post_id=self._post_id(s, item.post_ref), details=details)
        return VerdictView(verdict.id, item_id, user, action, guideline, note, seconds, now)

    def item(self, item_id: int, *, thread_limit: int = 50) -> ItemView:
        """An item with its post, the rules' decision and evidence spans, its near-copies, up to
        ``thread_limit`` other posts of its thread, its verdicts, appeals and outside labels."""
        with self._read() as s:
            item = s.get(QueueItem, item_id)
            if item is None:
                raise ReviewError(f"no item {item_id}", code="not_found")
            post = s.get(PostRow, item.post_ref)
            drow = s.get(DecisionRow, item.decision_ref)
            assert post is not None and drow is not None
            member_rows = s.scalars(
                select(PostRow)
                .join(ItemPost, ItemPost.post_ref == PostRow.id)
                .where(ItemPost.item_ref == item_id, PostRow.id != post.id)
                .order_by(ItemPost.id)
            ).all()
            thread: list[PostRow] = []
            if post.thread_id is not None:
                thread = list(
                    s.scalars(
                        select(PostRow)
                        .where(PostRow.thread_id == post.thread_id, PostRow.id != post.id)
                        .order_by(PostRow.created_at, PostRow.id)
                        .limit(max(0, thread_limit))
                    ).all()
                )
            verdicts = s.execute(
                select(Verdict, User.name)
                .join(User, User.id == Verdict.user_ref)
                .where(Verdict.item_ref == item_id)
                .order_by(Verdict.id)
            ).all()
            appeals = self._appeal_views(s, select(Appeal).where(Appeal.post_ref == post.id).order_by(Appeal.id))
            labels = s.scalars(select(Label).where(Label.post_id == post.post_id).order_by(Label.id)).all()
            return ItemView(
                entry=self._entry(s, item),
                post=_post_view(post),
                decision=_decision_view(drow),
                members=[_post_view(m) for m in member_rows],
                thread=[_post_view(t) for t in thread],
                verdicts=[
                    VerdictView(v.id, item_id, name, v.action, v.guideline, v.note, v.seconds, v.decided_at)
                    for v, name in verdicts
                ],
                appeals=appeals,
                labels=[LabelView(x.id, x.post_id, x.source, dict(x.label), x.received_at) for x in labels],
            )

    def cluster(self, item_id: int) -> list[QueueEntry]:
        """The other waiting items (open or claimed) of an item's copy-paste cluster, by priority and age:
        those with the same cluster key (the same normalised text, or the same ``duplicate.cluster``), or
        holding a post whose normalised text is that of one of this item's posts. Raises
        :class:`ReviewError` ``not_found`` for an unknown item."""
        with self._read() as s:
            item = s.get(QueueItem, item_id)
            if item is None:
                raise ReviewError(f"no item {item_id}", code="not_found")
            digests = (
                select(PostRow.normalized_sha256)
                .join(ItemPost, ItemPost.post_ref == PostRow.id)
                .where(ItemPost.item_ref == item_id)
            )
            sharing = exists(
                select(ItemPost.id)
                .join(PostRow, PostRow.id == ItemPost.post_ref)
                .where(ItemPost.item_ref == QueueItem.id, PostRow.normalized_sha256.in_(digests))
            )
            same = or_(QueueItem.cluster_key == item.cluster_key, sharing) if item.cluster_key else sharing
            rows = s.scalars(
                select(QueueItem)
                .where(QueueItem.id != item_id, QueueItem.status.in_(("open", "claimed")), same)
                .order_by(QueueItem.priority.desc(), QueueItem.created_at, QueueItem.id)
            ).all()
            return [self._entry(s, row) for row in rows]

    def reviewed(self, *, sampled: bool | None = None) -> Iterator[ReviewedPost]:
        """Every post of every decided item, with the item's final verdict, in the order items were
        decided. ``sampled`` keeps only sampled allows (``True``) or only holds (``False``)."""
        with self._read() as s:
            query = (
                select(QueueItem, ItemPost, PostRow, DecisionRow)
                .join(ItemPost, ItemPost.item_ref == QueueItem.id)
                .join(PostRow, PostRow.id == ItemPost.post_ref)
                .join(DecisionRow, DecisionRow.id == ItemPost.decision_ref)
                .where(QueueItem.status == "done")
                .order_by(QueueItem.decided_at, QueueItem.id, ItemPost.id)
            )
            if sampled is not None:
                query = query.where(QueueItem.sampled == sampled)
            rows = s.execute(query).all()
            last: dict[int, tuple[str | None, float | None]] = {}
            for verdict, name in s.execute(
                select(Verdict, User.name)
                .join(User, User.id == Verdict.user_ref)
                .where(Verdict.action.in_(("approve", "remove")))
                .order_by(Verdict.id)
            ).all():
                last[verdict.item_ref] = (name, verdict.seconds)
        for item, _link, post, drow in rows:
            who, seconds = last.get(item.id, (None, None))
            assert item.outcome is not None and item.decided_at is not None
            yield ReviewedPost(
                item_id=item.id,
                post=_post_view(post),
                decision=_decision_view(drow),
                outcome=item.outcome,
                user=who,
                sampled=item.sampled,
                sample_rate=item.sample_rate,
                entered_at=item.created_at,
                decided_at=item.decided_at,
                seconds=seconds,
            )

    def items_timeline(self) -> list[tuple[datetime, datetime | None, bool]]:
        """``(entered, decided or None, sampled)`` of every item, for queue load figures."""
        with self._read() as s:
            rows = s.execute(select(QueueItem.created_at, QueueItem.decided_at, QueueItem.sampled)).all()
        return [(a, b, bool(c)) for a, b, c in rows]

    def decision_counts(self) -> dict[str, int]:
        """Posts with a recorded decision, by the action of their latest decision."""
        with self._read() as s:
            latest = select(func.max(DecisionRow.id)).group_by(DecisionRow.post_ref).scalar_subquery()
            rows = s.execute(
                select(DecisionRow.action, func.count()).where(DecisionRow.id.in_(latest)).group_by(DecisionRow.action)
            ).all()
        return {str(a): int(n) for a, n in rows}

    def verdicts(self, *, limit: int = 1000, offset: int = 0, newest_first: bool = False) -> list[VerdictView]:
        """Every verdict, oldest first (newest first with ``newest_first``)."""
        with self._read() as s:
            rows = s.execute(
                select(Verdict, User.name)
                .join(User, User.id == Verdict.user_ref)
                .order_by(Verdict.id.desc() if newest_first else Verdict.id)
                .limit(max(0, limit))
                .offset(max(0, offset))
            ).all()
        return [
            VerdictView(v.id, v.item_ref, n, v.action, v.guideline, v.note, v.seconds, v.decided_at) for v, n in rows
        ]

    # ------------------------------------------------------------------ audit log

    def log(self, limit: int = 100, offset: int = 0, *, item_id: int | None = None) -> list[EventView]:
        """The audit log, newest first (of one item when ``item_id`` is given)."""
        with self._read() as s:
            query = select(Event).order_by(Event.id.desc()).limit(max(0, limit)).offset(max(0, offset))
            if item_id is not None:
                query = query.where(Event.item_ref == item_id)
            rows = s.scalars(query).all()
        return [EventView(e.id, e.at, e.actor, e.what, e.item_ref, e.post_id, dict(e.details)) for e in rows]

    def audit(
        self, user: str, what: str, *, item_id: int | None = None, details: Mapping[str, Any] | None = None
    ) -> EventView:
        """Write a line to the audit log for something ``user`` looked at or did outside the queue's own
        operations (``show_pii``: the personal data of an item's post was shown). ``what`` is a short
        word (at most 40 characters). Raises :class:`ReviewError`: ``not_found`` for an unknown user,
        ``forbidden`` for a disabled one, ``invalid`` for an empty or long ``what``."""
        if not what.strip() or len(what) > 40:
            raise ReviewError("an audit event needs a short name (1 to 40 characters)", code="invalid")
        now = self._clock()
        with self._write() as s:
            uid, _ = self._active_user(s, user)
            post_id = None
            if item_id is not None:
                item = s.get(QueueItem, item_id)
                if item is None:
                    raise ReviewError(f"no item {item_id}", code="not_found")
                post_id = self._post_id(s, item.post_ref)
            row = self._event(s, uid, user, what, item_id=item_id, post_id=post_id, details=details)
            s.flush()
            return EventView(row.id, now, user, what, item_id, post_id, dict(details or {}))

    # ------------------------------------------------------------------ appeals and labels

    def appeal(self, post_id: str, appellant: str, text: str) -> AppealView:
        """Record a member's appeal about a stored post."""
        if not appellant.strip() or not text.strip():
            raise ReviewError("an appeal needs who appeals and what they say", code="invalid")
        now = self._clock()
        with self._write() as s:
            post = self._post(s, post_id)
            row = Appeal(post_ref=post.id, appellant=appellant, text=text, status="open", created_at=now)
            s.add(row)
            s.flush()
            self._event(s, None, appellant, "appeal", post_id=post_id, details={"appeal": row.id})
            return AppealView(row.id, post_id, appellant, text, "open", None, None, now, None)

    def appeals(self, status: str | None = "open", limit: int = 100, offset: int = 0) -> list[AppealView]:
        """Appeals, oldest first: ``status`` open, granted, denied, or ``None`` for all."""
        if status is not None and status not in ("open", *APPEAL_OUTCOMES):
            raise ReviewError(f"unknown appeal status {status!r}: expected open, granted or denied", code="invalid")
        with self._read() as s:
            query = select(Appeal).order_by(Appeal.id).limit(max(0, limit)).offset(max(0, offset))
            if status is not None:
                query = query.where(Appeal.status == status)
            return self._appeal_views(s, query)

    def resolve_appeal(self, appeal_id: int, user: str, outcome: str, resolution: str | None = None) -> AppealView:
        """Close an appeal: ``granted`` (the appellant is right; the action on the post is reversed) or
        ``denied`` (the action stands). ``resolution`` says why, in words the appellant can read."""
        if outcome not in APPEAL_OUTCOMES:
            raise ReviewError(f"unknown appeal outcome {outcome!r}: expected granted or denied", code="invalid")
        now = self._clock()
        with self._write() as s:
            uid, _ = self._active_user(s, user)
            row = s.get(Appeal, appeal_id)
            if row is None:
                raise ReviewError(f"no appeal {appeal_id}", code="not_found")
            if row.status != "open":
                raise ReviewError(f"appeal {appeal_id} was already resolved ({row.status})", code="conflict")
            row.status, row.resolution, row.resolved_by, row.resolved_at = outcome, resolution, uid, now
            post_id = self._post_id(s, row.post_ref) or ""
            self._event(
                s, uid, user, "resolve_appeal", post_id=post_id, details={"appeal": appeal_id, "outcome": outcome}
            )
            s.flush()
            return AppealView(row.id, post_id, row.appellant, row.text, outcome, resolution, user, row.created_at, now)

    def add_label(
        self,
        post_id: str,
        source: str,
        label: Mapping[str, Any],
        *,
        received_at: datetime | None = None,
    ) -> LabelView:
        """Record a label from outside (``source`` such as ``perspective-suggestscore`` or ``webhook``)
        for a post, stored or not."""
        if not source.strip():
            raise ReviewError("a label needs its source", code="invalid")
        if not isinstance(label, Mapping):
            raise ReviewError("a label must be a JSON object", code="invalid")
        when = received_at or self._clock()
        with self._write() as s:
            row = Label(post_id=post_id, source=source, label=dict(label), received_at=when)
            s.add(row)
            s.flush()
            self._event(s, None, source, "label", post_id=post_id, details={"label": row.id})
            return LabelView(row.id, post_id, source, dict(label), when)

    def labels(self, post_id: str) -> list[LabelView]:
        """Outside labels of a post, oldest first."""
        with self._read() as s:
            rows = s.scalars(select(Label).where(Label.post_id == post_id).order_by(Label.id)).all()
        return [LabelView(x.id, x.post_id, x.source, dict(x.label), x.received_at) for x in rows]

    # ------------------------------------------------------------------ users

    def add_user(self, name: str, password: str, *, role: str = "moderator", by: str | None = None) -> UserInfo:
        """Add a user. ``by`` (an admin) is who adds it; ``None`` is the operator at the command line."""
        name = name.strip()
        if not name or len(name) > 200 or any(c.isspace() for c in name):
            raise ReviewError(f"invalid user name {name!r}: 1 to 200 characters, no spaces", code="invalid")
        _check_role(role)
        if len(password) < 8:
            raise ReviewError("a password needs at least 8 characters", code="invalid")
        now = self._clock()
        with self._write() as s:
            by_id = self._admin(s, by)
            if s.scalar(select(User.id).where(User.name == name)) is not None:
                raise ReviewError(f"user {name!r} exists", code="conflict")
            row = User(name=name, role=role, password=hash_password(password), created_at=now, disabled=False)
            s.add(row)
            s.flush()
            self._event(s, by_id, by or "command line", "add_user", details={"user": name, "role": role})
            return _user_info(row)

    def check_password(self, name: str, password: str) -> UserInfo | None:
        """The user when ``password`` is theirs and they are not disabled, else ``None``."""
        with self._read() as s:
            row = s.scalars(select(User).where(User.name == name)).first()
        if row is None:
            verify_password(password, hash_password("timing"))  # the same work for a name that is unknown
            return None
        if not verify_password(password, row.password) or row.disabled:
            return None
        return _user_info(row)

    def set_role(self, name: str, role: str, *, by: str | None = None) -> UserInfo:
        """Change a user's role (``moderator`` or ``admin``)."""
        _check_role(role)
        with self._write() as s:
            by_id = self._admin(s, by)
            row = self._user_row(s, name)
            row.role = role
            self._event(s, by_id, by or "command line", "set_role", details={"user": name, "role": role})
            return _user_info(row)

    def set_password(self, name: str, password: str, *, by: str | None = None) -> UserInfo:
        """Change a user's password (the user themselves, an admin, or the operator when ``by`` is ``None``)."""
        if len(password) < 8:
            raise ReviewError("a password needs at least 8 characters", code="invalid")
        with self._write() as s:
            by_id = None if by == name else self._admin(s, by)
            row = self._user_row(s, name)
            row.password = hash_password(password)
            self._event(
                s, by_id if by != name else row.id, by or "command line", "set_password", details={"user": name}
            )
            return _user_info(row)

    def disable_user(self, name: str, *, disabled: bool = True, by: str | None = None) -> UserInfo:
        """Disable (or enable again) a user: a disabled user cannot log in, claim or decide."""
        with self._write() as s:
            by_id = self._admin(s, by)
            row = self._user_row(s, name)
            row.disabled = disabled
            if disabled:
                s.execute(
                    update(QueueItem)
                    .where(QueueItem.status == "claimed", QueueItem.claimed_by == row.id)
                    .values(status="open", claimed_by=None, claimed_at=None)
                    .execution_options(synchronize_session=False)
                )
            self._event(
                s, by_id, by or "command line", "disable_user" if disabled else "enable_user", details={"user": name}
            )
            return _user_info(row)

    def users(self) -> list[UserInfo]:
        """Every user, by name."""
        with self._read() as s:
            return [_user_info(u) for u in s.scalars(select(User).order_by(User.name)).all()]

    def user(self, name: str) -> UserInfo:
        """One user; :class:`ReviewError` ``not_found`` when unknown."""
        with self._read() as s:
            return _user_info(self._user_row(s, name))

    # ------------------------------------------------------------------ internals

    def _event(
        self,
        s: Session,
        user_ref: int | None,
        actor: str,
        what: str,
        *,
        item_id: int | None = None,
        post_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Event:
        row = Event(
            at=self._clock(),
            user_ref=user_ref,
            actor=actor,
            what=what,
            item_ref=item_id,
            post_id=post_id,
            details=dict(details or {}),
        )
        s.add(row)
        return row

    def _user_row(self, s: Session, name: str) -> User:
        row = s.scalars(select(User).where(User.name == name)).first()
        if row is None:
            raise ReviewError(f"no user {name!r}", code="not_found")
        return row

    def _active_user(self, s: Session, name: str) -> tuple[int, str]:
        row = self._user_row(s, name)
        if row.disabled:
            raise ReviewError(f"user {name!r} is disabled", code="forbidden")
        return row.id, row.role

    def _admin(self, s: Session, by: str | None) -> int | None:
        if by is None:
            return None
        uid, role = self._active_user(s, by)
        if role != "admin":
            raise ReviewError(f"{by!r} is not an admin", code="forbidden")
        return uid

    def _user_name(self, s: Session, uid: int | None) -> str:
        if uid is None:
            return "nobody"
        return s.scalar(select(User.name).where(User.id == uid)) or f"user {uid}"

    def _post(self, s: Session, post_id: str) -> PostRow:
        row = s.scalars(select(PostRow).where(PostRow.post_id == post_id)).first()
        if row is None:
            raise ReviewError(f"no post {post_id!r} in the review store", code="not_found")
        return row

    def _post_id(self, s: Session, post_ref: int) -> str | None:
        return s.scalar(select(PostRow.post_id).where(PostRow.id == post_ref))

    def _expire(self, s: Session, now: datetime) -> None:
        s.execute(
            update(QueueItem)
            .where(QueueItem.status == "claimed", QueueItem.claimed_at < now - self.claim_timeout)
            .values(status="open", claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        )

    def _refusal(self, s: Session, item_id: int) -> ReviewError:
        s.expire_all()
        item = s.get(QueueItem, item_id)
        if item is None:
            return ReviewError(f"no item {item_id}", code="not_found")
        if item.status == "done":
            return ReviewError(f"item {item_id} was already decided ({item.outcome})", code="conflict")
        return ReviewError(f"item {item_id} is claimed by {self._user_name(s, item.claimed_by)}", code="conflict")

    def _entry(self, s: Session, item: QueueItem) -> QueueEntry:
        post = s.get(PostRow, item.post_ref)
        drow = s.get(DecisionRow, item.decision_ref)
        assert post is not None and drow is not None
        members = s.scalar(select(func.count()).where(ItemPost.item_ref == item.id)) or 1
        shown = post.text if post.text is not None else (post.redacted or "")
        excerpt = " ".join(shown.split())
        if len(excerpt) > _EXCERPT:
            excerpt = excerpt[: _EXCERPT - 1] + "…"
        matches = list(drow.matches)
        return QueueEntry(
            id=item.id,
            post_id=post.post_id,
            status=item.status,
            priority=item.priority,
            sampled=item.sampled,
            escalated=item.escalated,
            action=drow.action,
            rules=[m["rule"] for m in matches],
            reasons=list(dict.fromkeys(m.get("reason") or m["rule"] for m in matches)),
            excerpt=excerpt,
            posts=int(members),
            claimed_by=self._user_name(s, item.claimed_by) if item.claimed_by is not None else None,
            claimed_at=item.claimed_at,
            due=item.due,
            created_at=item.created_at,
            decided_at=item.decided_at,
            outcome=item.outcome,
        )

    def _appeal_views(self, s: Session, query: Any) -> list[AppealView]:
        out = []
        for row in s.scalars(query).all():
            out.append(
                AppealView(
                    row.id,
                    self._post_id(s, row.post_ref) or "",
                    row.appellant,
                    row.text,
                    row.status,
                    row.resolution,
                    self._user_name(s, row.resolved_by) if row.resolved_by is not None else None,
                    row.created_at,
                    row.resolved_at,
                )
            )
        return out


# ---------------------------------------------------------------------- module helpers


def _engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get("immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ReviewError(f"unknown role {role!r}: expected {' or '.join(ROLES)}", code="invalid")


def _user_info(row: User) -> UserInfo:
    return UserInfo(row.id, row.name, row.role, row.created_at, bool(row.disabled))


def _to_post(value: Post | Mapping[str, Any]) -> Post:
    if isinstance(value, Post):
        return value
    if isinstance(value, Mapping):
        return Post.from_mapping(value)
    raise InputError(f"enqueue needs (post, decision) pairs, got a {type(value).__name__} for a post")


def _to_decision(value: Decision | Mapping[str, Any]) -> Decision:
    if isinstance(value, Decision):
        return value
    if isinstance(value, Mapping):
        try:
            return Decision.from_dict(value)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a decision record: {exc}") from None
    raise InputError(f"enqueue needs (post, decision) pairs, got a {type(value).__name__} for a decision")


def _sampled(post_id: str, seed: int, share: float) -> bool:
    digest = hashlib.sha256(f"{seed}\0{post_id}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _priority(decision: Decision, priorities: Mapping[str, int]) -> int:
    acting = [m for m in decision.matches if m.action.value != "allow"]
    if not acting:
        return ERROR_PRIORITY if decision.errors else DEFAULT_PRIORITY[decision.action.value]
    return max(priorities.get(m.rule, DEFAULT_PRIORITY[m.action.value]) for m in acting)


def _cluster_key(decision: Decision, row: PostRow) -> str:
    duplicate = decision.signals.get("duplicate") or {}
    for key in ("cluster", "cluster_id"):
        value = duplicate.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return f"cluster:{value}"[:80]
    return f"text:{row.normalized_sha256}"


def _post_row(post: Post, decision: Decision, keep_text: bool, now: datetime) -> PostRow:
    normalized = (decision.signals.get("text") or {}).get("normalized")
    pii_spans = (decision.signals.get("pii") or {}).get("spans") or []
    return PostRow(
        post_id=post.id,
        thread_id=post.thread_id,
        parent_id=post.parent_id,
        author_id=post.author.id,
        author=post.author.to_dict() if keep_text else {k: v for k, v in post.author.to_dict().items() if k != "meta"},
        created_at=post.created_at,
        title=post.title if keep_text else (evidence.redact(post.title) if post.title else None),
        text=post.text if keep_text else None,
        redacted=None if keep_text else evidence.redact(post.text, pii_spans),
        text_sha256=evidence.text_digest(post.text),
        normalized_sha256=evidence.normalized_digest(post.text, normalized if isinstance(normalized, str) else None),
        text_kept=keep_text,
        meta=_json_safe(dict(post.meta)) if keep_text else {},
        stored_at=now,
    )


def _decision_row(
    row: PostRow, post: Post, decision: Decision, models: Mapping[str, Any], now: datetime
) -> DecisionRow:
    shown = row.text if row.text is not None else (row.redacted or "")
    signals = _json_safe({k: dict(v) for k, v in decision.signals.items()})
    if not row.text_kept:
        signals = _without_text(signals)
    span_signals = signals if row.text_kept else {}

    def match(m: Any) -> dict[str, Any]:
        d = m.to_dict()
        d["spans"] = evidence.evidence_spans(shown, d, span_signals)
        if not row.text_kept:
            d["values"] = _without_text(d["values"])
        return dict(_json_safe(d))

    version = decision.ruleset.get("version")
    return DecisionRow(
        post_ref=row.id,
        action=decision.action.value,
        matches=[match(m) for m in decision.matches],
        shadow=[match(m) for m in decision.shadow],
        signals=signals,
        errors=[dict(e) for e in decision.errors],
        ruleset_name=decision.ruleset.get("name"),
        ruleset_version=None if version is None else str(version),
        ruleset_hash=decision.ruleset.get("hash"),
        models=dict(_json_safe(dict(models))),
        decided_at=now,
    )


def _without_text(data: Any) -> Any:
    """Signals or match values without the copies of a post's text they hold (``text.normalized``,
    ``post.text``, ``pii.redacted``), for a store that keeps no text."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in ("normalized", "redacted", "text.normalized", "post.text", "post.title", "pii.redacted"):
                continue
            out[key] = _without_text(value) if isinstance(value, dict) else value
        return out
    return data


def _json_safe(value: Any) -> Any:
    """``value`` as plain JSON data (NaN and infinities as ``None``, other objects as strings)."""
    import math

    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _post_view(row: PostRow) -> PostView:
    return PostView(
        post_id=row.post_id,
        thread_id=row.thread_id,
        parent_id=row.parent_id,
        author=dict(row.author),
        created_at=row.created_at,
        title=row.title,
        text=row.text if row.text is not None else (row.redacted or ""),
        text_kept=bool(row.text_kept),
        text_sha256=row.text_sha256,
    )


def _match_view(d: Mapping[str, Any]) -> MatchView:
    return MatchView(
        rule=d["rule"],
        action=d["action"],
        reason=d.get("reason"),
        guideline=d.get("guideline"),
        values=dict(d.get("values") or {}),
        spans=list(d.get("spans") or []),
    )


def _decision_view(row: DecisionRow) -> DecisionView:
    return DecisionView(
        id=row.id,
        action=row.action,
        matches=[_match_view(m) for m in row.matches],
        shadow=[_match_view(m) for m in row.shadow],
        signals=dict(row.signals),
        errors=list(row.errors),
        ruleset={"name": row.ruleset_name, "version": row.ruleset_version, "hash": row.ruleset_hash},
        models=dict(row.models),
        decided_at=row.decided_at,
    )
