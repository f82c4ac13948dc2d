"""Thread views of a forum dump: questions nobody answered, threads turning sour with no staff in sight,
and questions members keep asking.

Every view reads :class:`~safeguard.insights.rows.PostRow` values, groups them by thread once and
sorts each thread by ``created_at``, so the work grows with the number of posts (plus a sort per
thread), never with pairs of posts.

Conventions shared by the views:

* A post's thread is its ``thread_id``; a reply without one takes its parent's thread, and a post
  with neither is a thread of its own (its id is the thread id).
* A post without an author id is taken to be by someone other than every other post: a dump that
  drops author ids still shows replies, members and distinct askers instead of nothing.
* A post without ``created_at`` cannot be placed in a thread's timeline: timelines leave it out, and
  the unanswered view counts the questions it skips for that.
* Naive datetimes are read as UTC, so a stray naive timestamp never stops the whole pass.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from safeguard import checks
from safeguard.insights.rows import PostRow, iso, utc

__all__ = [
    "ANGRY_SHARE",
    "FAQ_BANDS",
    "FAQ_MIN_CHARS",
    "FAQ_NUM_PERM",
    "FAQ_SHINGLE",
    "MIN_NEGATIVE_LATE",
    "NEGATIVE_SENTIMENT",
    "SNIPPET_CHARS",
    "EscalatingThread",
    "FaqCandidate",
    "ThreadInsights",
    "UnansweredQuestion",
    "UnansweredReport",
    "escalating_threads",
    "faq_candidates",
    "thread_insights",
    "unanswered_questions",
]

#: A post at or below this sentiment counts as negative. VADER's own cut-off (-0.05) calls a post
#: negative for one mildly negative word; a thread "turning sour" needs posts that are clearly so.
NEGATIVE_SENTIMENT = -0.3
#: Negative posts the later half of a thread needs before it can be escalating: one angry reply is not a trend.
MIN_NEGATIVE_LATE = 2
#: A later half at least this negative escalates whatever the earlier half was: a thread that opened
#: angry and stayed angry needs someone as much as one that turned.
ANGRY_SHARE = 0.6
#: Hashing of the FAQ clustering. Reworded questions share about 40% of their 3-character shingles and
#: unrelated ones under 15%; bands of three rows make the first a candidate pair ~88% of the time and the
#: second ~10%, and the ratio check rejects most of those. Measured on six groups of reworded questions
#: mixed into the example dump's 76 questions, over twelve hash seeds: this found 84% of the reworded pairs
#: with under one wrong link per run; 4-character shingles or bands of two rows found 97-100% but made three
#: to four wrong links per run ("Garden furniture: worth it?" joined "Heated airer: worth it?"); the
#: classifier's defaults for copies (5-character shingles, bands of four rows) found 14%.
FAQ_SHINGLE = 3
FAQ_NUM_PERM = 96
FAQ_BANDS = 32
#: Shorter normalised questions ("price?") say too little to be matched with anything.
FAQ_MIN_CHARS = 20
#: The most characters of a representative question shown in a FAQ candidate.
SNIPPET_CHARS = 200

#: Questions handed to the duplicate classifier per call: it is stateful, so batches go in time order.
_FAQ_BATCH = 1024
#: Slack for comparing shares: 0.7 - 0.5 is 0.19999999999999996 in floating point, and is a rise of 0.2.
_EPSILON = 1e-9
_SPACE_RE = re.compile(r"\s+")
#: Sorts undated clusters' missing first date (they come after the dated ones anyway).
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# -- results ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnansweredQuestion:
    """A question that no one else replied to within the window.

    ``hours_open`` runs to ``late_reply_at`` when a reply came after the window, else to the report's
    ``now``: how long the asker waited, which is what the community team weighs.
    """

    post_id: str
    thread_id: str
    created_at: datetime
    author_id: str | None
    hours_open: float
    late_reply_at: datetime | None
    staff_replied: bool

    @property
    def answered_late(self) -> bool:
        return self.late_reply_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "post_id": self.post_id,
            "thread_id": self.thread_id,
            "created_at": iso(self.created_at),
            "author_id": self.author_id,
            "hours_open": round(self.hours_open, 2),
            "answered_late": self.answered_late,
            "late_reply_at": iso(self.late_reply_at),
            "staff_replied": self.staff_replied,
        }


@dataclass(frozen=True, slots=True)
class UnansweredReport:
    """The unanswered questions (oldest first) and what became of the other questions.

    ``asked`` counts the dated questions up to ``now``: ``answered`` within the window, ``waiting``
    (posted less than ``hours`` before ``now``, so too early to tell) and the listed ``questions``.
    ``undated`` questions are not in ``asked``: without a date there is no window to miss.
    """

    questions: tuple[UnansweredQuestion, ...]
    asked: int
    answered: int
    waiting: int
    undated: int
    hours: float
    now: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": iso(self.now),
            "hours": self.hours,
            "asked": self.asked,
            "answered": self.answered,
            "waiting": self.waiting,
            "unanswered": len(self.questions),
            "undated": self.undated,
            "questions": [q.to_dict() for q in self.questions],
        }


@dataclass(frozen=True, slots=True)
class EscalatingThread:
    """A thread getting more negative with several members in it and no staff post yet.

    ``negative_early`` and ``negative_late`` are the shares of negative posts in the earlier and the
    later half of its dated posts; ``score`` (``negative_late * log(1 + posts)``) ranks a long angry
    thread above a short one.
    """

    thread_id: str
    first_post_id: str
    title: str | None
    posts: int
    members: int
    negative_early: float
    negative_late: float
    last_activity: datetime
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "first_post_id": self.first_post_id,
            "title": self.title,
            "posts": self.posts,
            "members": self.members,
            "negative_early": round(self.negative_early, 4),
            "negative_late": round(self.negative_late, 4),
            "last_activity": iso(self.last_activity),
            "score": round(self.score, 4),
        }


@dataclass(frozen=True, slots=True)
class FaqCandidate:
    """Questions asked again and again in near-identical words: a candidate for the FAQ.

    ``id`` is the candidate's rank (1 is the largest). The representative is the earliest question of
    the cluster; ``snippet`` is its text, whitespace collapsed, at most :data:`SNIPPET_CHARS` characters.
    ``post_ids`` are in time order (undated questions last).
    """

    id: int
    size: int
    authors: int
    representative_id: str
    title: str | None
    snippet: str
    post_ids: tuple[str, ...]
    first_at: datetime | None
    last_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "size": self.size,
            "authors": self.authors,
            "representative_id": self.representative_id,
            "title": self.title,
            "snippet": self.snippet,
            "post_ids": list(self.post_ids),
            "first_at": iso(self.first_at),
            "last_at": iso(self.last_at),
        }


@dataclass(frozen=True, slots=True)
class ThreadInsights:
    """All three thread views of one dump; ``posts`` and ``threads`` say how much was read."""

    posts: int
    threads: int
    unanswered: UnansweredReport
    escalating: tuple[EscalatingThread, ...]
    faq: tuple[FaqCandidate, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and deterministic: the same rows give the same dict, datetimes as ISO 8601 ``Z``."""
        return {
            "posts": self.posts,
            "threads": self.threads,
            "unanswered": self.unanswered.to_dict(),
            "escalating": [t.to_dict() for t in self.escalating],
            "faq": [c.to_dict() for c in self.faq],
        }


# -- the views ----------------------------------------------------------------------------------------


def unanswered_questions(
    rows: Iterable[PostRow],
    *,
    hours: float = 24.0,
    now: datetime | None = None,
    include_replies: bool = False,
) -> UnansweredReport:
    """Questions that got no reply from anyone else within ``hours`` of being posted.

    A question is a post of kind ``"question"`` that opens a thread (no ``parent_id``); with
    ``include_replies`` questions asked inside a thread count too. A reply is a later post in the same
    thread by a different author: the asker's own follow-ups ("bump", "anyone?") answer nothing.
    ``now`` (default: the latest ``created_at`` in ``rows``) is when the dump is read: posts after it
    are not seen, and a question younger than ``hours`` is waiting rather than unanswered, since its
    window has not closed yet. ``staff_replied`` says whether staff replied at any time up to ``now``.
    """
    hours = checks.number("hours", hours, 0.0, low_open=True)
    now = _check_now(now)
    include_replies = _check_bool("include_replies", include_replies)
    return _unanswered(_index(rows), hours=hours, now=now, include_replies=include_replies)


def escalating_threads(
    rows: Iterable[PostRow],
    *,
    min_posts: int = 4,
    rise: float = 0.2,
    min_members: int = 3,
) -> tuple[EscalatingThread, ...]:
    """Threads turning negative with several members in them and no staff post: where staff should look next.

    A thread's dated posts, in time order, are split into an earlier and a later half (the middle post of
    an odd count belongs to neither, so both halves weigh the same number of posts). The thread escalates
    when the later half's share of negative posts (sentiment <= :data:`NEGATIVE_SENTIMENT`) is at least
    ``rise`` above the earlier half's, or at least :data:`ANGRY_SHARE` on its own; when at least
    ``min_members`` distinct authors posted, so one member's rant stays out; and when no staff member
    (a role in :data:`~safeguard.insights.rows.STAFF_ROLES`) has posted in it, since a thread staff are
    already in is being handled. Sorted by score, highest first, then by thread id.
    """
    min_posts, rise, min_members = _check_escalation(min_posts, rise, min_members)
    return _escalating(_index(rows), min_posts=min_posts, rise=rise, min_members=min_members)


def faq_candidates(
    rows: Iterable[PostRow],
    *,
    threshold: float = 0.5,
    min_size: int = 3,
) -> tuple[FaqCandidate, ...]:
    """Clusters of near-identical questions (title and text) that several members asked.

    The questions go through the project's own near-duplicate classifier
    (:class:`~safeguard.classifiers.duplicate.DuplicateClassifier`) rather than a similarity of their
    own: it is the one definition of "similar text" in the project, with the normalisation every
    lexical check shares (case, accents, look-alikes, masked URLs), a rapidfuzz check that is tested and
    benchmarked, and MinHash LSH that keeps it near-linear. A second similarity would drift from the one
    moderators see, and would need its own tests and tuning. Only the threshold (0.8 for copies, a
    looser ``threshold`` here) and the hashing (:data:`FAQ_SHINGLE`, :data:`FAQ_NUM_PERM`,
    :data:`FAQ_BANDS`) differ, so that reworded questions become candidate pairs.

    Questions are fed in time order in a window that holds them all; each one that is a near-copy of an
    earlier one joins that one's cluster (single linkage, so a chain of rewordings is one cluster).
    Clusters of at least ``min_size`` questions from at least two distinct authors are kept: one member
    asking again is a bump, not a frequently asked question. Sorted by size, largest first.
    """
    threshold, min_size = _check_faq(threshold, min_size)
    return _faq(_index(rows), threshold=threshold, min_size=min_size)


def thread_insights(
    rows: Iterable[PostRow],
    *,
    now: datetime | None = None,
    hours: float = 24.0,
    include_replies: bool = False,
    min_posts: int = 4,
    rise: float = 0.2,
    min_members: int = 3,
    threshold: float = 0.5,
    min_size: int = 3,
) -> ThreadInsights:
    """All three views over ``rows``, grouped by thread once; the options are those of
    :func:`unanswered_questions`, :func:`escalating_threads` and :func:`faq_candidates`.

    ``now`` bounds the unanswered view only; the other two read every post. Every option is checked
    before any work, so a bad one fails fast rather than after the clustering.
    """
    hours = checks.number("hours", hours, 0.0, low_open=True)
    now = _check_now(now)
    include_replies = _check_bool("include_replies", include_replies)
    min_posts, rise, min_members = _check_escalation(min_posts, rise, min_members)
    threshold, min_size = _check_faq(threshold, min_size)
    index = _index(rows)
    return ThreadInsights(
        posts=len(index.rows),
        threads=len(index.threads),
        unanswered=_unanswered(index, hours=hours, now=now, include_replies=include_replies),
        escalating=_escalating(index, min_posts=min_posts, rise=rise, min_members=min_members),
        faq=_faq(index, threshold=threshold, min_size=min_size),
    )


# -- grouping -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Thread:
    key: str
    dated: list[PostRow]  # in time order (input order among equal times)
    times: list[datetime]  # their created_at, in UTC
    undated: list[PostRow]


@dataclass(slots=True)
class _Index:
    rows: list[PostRow]
    threads: list[_Thread]  # in order of first appearance
    latest: datetime | None


def _index(rows: Iterable[PostRow]) -> _Index:
    rows = list(rows)
    for row in rows:
        if not isinstance(row, PostRow):
            raise ValueError(f"rows must be PostRow values, got {type(row).__name__}")
    keys = _thread_keys(rows)
    dated: dict[str, list[tuple[datetime, int, PostRow]]] = {}
    undated: dict[str, list[PostRow]] = {}
    latest: datetime | None = None
    for i, (row, key) in enumerate(zip(rows, keys, strict=True)):
        dated.setdefault(key, [])
        undated.setdefault(key, [])
        if row.created_at is None:
            undated[key].append(row)
            continue
        at = utc(row.created_at)
        dated[key].append((at, i, row))
        if latest is None or at > latest:
            latest = at
    threads = []
    for key, entries in dated.items():
        entries.sort(key=lambda e: (e[0], e[1]))
        threads.append(_Thread(key, [e[2] for e in entries], [e[0] for e in entries], undated[key]))
    return _Index(rows, threads, latest)


def _thread_keys(rows: Sequence[PostRow]) -> list[str]:
    """Each row's thread: its ``thread_id``, else its nearest ancestor's, else the root of its reply chain.

    Chains are walked once each (every id on a walked path is remembered), so this stays linear.
    """
    by_id: dict[str, PostRow] = {}
    for row in rows:
        by_id.setdefault(row.id, row)
    known: dict[str, str] = {}
    out: list[str] = []
    for row in rows:
        if row.thread_id is not None:
            out.append(row.thread_id)
            continue
        path: list[str] = []
        seen: set[str] = set()
        cur = row
        while True:
            if cur.thread_id is not None:
                key = cur.thread_id
                break
            if cur.id in known:
                key = known[cur.id]
                break
            if cur.parent_id is None or cur.id in seen:
                key = cur.id
                break
            parent = by_id.get(cur.parent_id)
            if parent is None:
                # Replies to a post missing from the dump still belong together: the missing post names them.
                key = cur.parent_id
                break
            seen.add(cur.id)
            path.append(cur.id)
            cur = parent
        for pid in path:
            known[pid] = key
        out.append(key)
    return out


# -- unanswered ---------------------------------------------------------------------------------------


def _unanswered(index: _Index, *, hours: float, now: datetime | None, include_replies: bool) -> UnansweredReport:
    if now is None:
        now = index.latest
    window = timedelta(hours=hours)
    found: list[UnansweredQuestion] = []
    asked = answered = waiting = undated = 0

    def wanted(row: PostRow) -> bool:
        return row.kind == "question" and (include_replies or row.parent_id is None)

    for thread in index.threads:
        undated += sum(1 for row in thread.undated if wanted(row))
        if now is None:
            continue
        end = bisect_right(thread.times, now)
        posts, times = thread.dated[:end], thread.times[:end]
        asks = [i for i, row in enumerate(posts) if wanted(row)]
        if not asks:
            continue
        following = _next_other_author(posts)
        staff_later = _staff_reply_after(posts)
        for i in asks:
            asked += 1
            row, at = posts[i], times[i]
            reply_at = times[following[i]] if following[i] < len(posts) else None
            if reply_at is not None and reply_at - at <= window:
                answered += 1
                continue
            if now - at < window:
                waiting += 1
                continue
            until = reply_at if reply_at is not None else now
            found.append(
                UnansweredQuestion(
                    post_id=row.id,
                    thread_id=thread.key,
                    created_at=at,
                    author_id=row.author_id,
                    hours_open=(until - at).total_seconds() / 3600.0,
                    late_reply_at=reply_at,
                    staff_replied=staff_later[i],
                )
            )
    found.sort(key=lambda q: (q.created_at, q.post_id))
    return UnansweredReport(tuple(found), asked, answered, waiting, undated, hours, now)


def _different(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a != b


def _next_other_author(posts: Sequence[PostRow]) -> list[int]:
    """For each post, the index of the first later post by someone else (``len(posts)`` when none).

    Walked backwards: when the next post is by the same author, its answer is this post's answer too,
    so a long run of one member's posts costs one step each, not one step per pair.
    """
    n = len(posts)
    out = [n] * n
    for i in range(n - 2, -1, -1):
        out[i] = i + 1 if _different(posts[i].author_id, posts[i + 1].author_id) else out[i + 1]
    return out


def _staff_reply_after(posts: Sequence[PostRow]) -> list[bool]:
    """For each post, whether a staff member other than its author posted after it.

    Two distinct staff ids are enough to know: at least one of them is not the author.
    """
    out = [False] * len(posts)
    staff_ids: list[str] = []
    anonymous_staff = False
    for i in range(len(posts) - 1, -1, -1):
        author = posts[i].author_id
        out[i] = anonymous_staff or any(_different(author, s) for s in staff_ids)
        if posts[i].staff:
            if author is None:
                anonymous_staff = True
            elif author not in staff_ids and len(staff_ids) < 2:
                staff_ids.append(author)
    return out


# -- escalation ---------------------------------------------------------------------------------------


def _escalating(index: _Index, *, min_posts: int, rise: float, min_members: int) -> tuple[EscalatingThread, ...]:
    found: list[EscalatingThread] = []
    for thread in index.threads:
        posts = thread.dated
        n = len(posts)
        if n < min_posts:
            continue
        if any(row.staff for row in posts) or any(row.staff for row in thread.undated):
            continue
        members = _distinct_authors(posts)
        if members < min_members:
            continue
        half = n // 2
        early = _negative_share(posts[:half])
        late = _negative_share(posts[n - half :])
        if not (late - early >= rise - _EPSILON or late >= ANGRY_SHARE - _EPSILON):
            continue
        if round(late * half) < MIN_NEGATIVE_LATE:
            continue
        found.append(
            EscalatingThread(
                thread_id=thread.key,
                first_post_id=posts[0].id,
                title=next((row.title for row in posts if row.title), None),
                posts=n,
                members=members,
                negative_early=early,
                negative_late=late,
                last_activity=thread.times[-1],
                score=late * math.log1p(n),
            )
        )
    found.sort(key=lambda t: (-t.score, t.thread_id))
    return tuple(found)


def _negative_share(posts: Sequence[PostRow]) -> float:
    return sum(1 for row in posts if row.sentiment <= NEGATIVE_SENTIMENT) / len(posts) if posts else 0.0


def _distinct_authors(posts: Iterable[PostRow]) -> int:
    known: set[str] = set()
    unknown = 0
    for row in posts:
        if row.author_id is None:
            unknown += 1
        else:
            known.add(row.author_id)
    return len(known) + unknown


# -- FAQ candidates -----------------------------------------------------------------------------------


def _faq(index: _Index, *, threshold: float, min_size: int) -> tuple[FaqCandidate, ...]:
    from safeguard.classifiers.duplicate import DuplicateClassifier
    from safeguard.types import Author, Post

    # Time order, so the earliest asking represents a cluster; undated questions follow in input order.
    dated: list[tuple[datetime, int, PostRow]] = []
    undated: list[PostRow] = []
    for i, row in enumerate(index.rows):
        if row.kind != "question":
            continue
        if row.created_at is None:
            undated.append(row)
        else:
            dated.append((utc(row.created_at), i, row))
    dated.sort(key=lambda e: (e[0], e[1]))
    questions: list[tuple[datetime | None, PostRow]] = [(at, row) for at, _, row in dated]
    questions += [(None, row) for row in undated]
    if not questions:
        return ()
    classifier = DuplicateClassifier(
        threshold=threshold,
        window=len(questions),
        min_chars=FAQ_MIN_CHARS,
        shingle=FAQ_SHINGLE,
        num_perm=FAQ_NUM_PERM,
        bands=FAQ_BANDS,
    )
    # Positions, not post ids, name the posts: a dump with a repeated id must not link the wrong question.
    posts = [
        Post(id=str(k), text=_question_text(row), author=Author(id=row.author_id, role=row.role))
        for k, (_, row) in enumerate(questions)
    ]
    root = list(range(len(posts)))
    for start in range(0, len(posts), _FAQ_BATCH):
        batch = posts[start : start + _FAQ_BATCH]
        for k, signals in enumerate(classifier.classify(batch), start):
            if signals["of"]:
                # ``of`` always names an earlier question, whose root is already final.
                root[k] = root[int(signals["of"])]
    members: dict[int, list[int]] = {}
    for k, r in enumerate(root):
        members.setdefault(r, []).append(k)
    found: list[FaqCandidate] = []
    for ks in members.values():
        if len(ks) < min_size:
            continue
        rows = [questions[k][1] for k in ks]
        authors = _distinct_authors(rows)
        if authors < 2:
            continue
        times = [at for at, _ in (questions[k] for k in ks) if at is not None]
        first = rows[0]
        found.append(
            FaqCandidate(
                id=0,
                size=len(ks),
                authors=authors,
                representative_id=first.id,
                title=first.title,
                snippet=_snippet(first.text),
                post_ids=tuple(row.id for row in rows),
                first_at=min(times) if times else None,
                last_at=max(times) if times else None,
            )
        )
    found.sort(key=lambda c: (-c.size, -c.authors, c.first_at is None, c.first_at or _EPOCH, c.representative_id))
    return tuple(replace(c, id=rank) for rank, c in enumerate(found, 1))


def _question_text(row: PostRow) -> str:
    # The duplicate classifier compares ``text`` only; a question's title is often most of what it asks.
    return f"{row.title}\n{row.text}" if row.title else row.text


def _snippet(text: str) -> str:
    flat = _SPACE_RE.sub(" ", text).strip()
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 1].rstrip() + "…"


# -- options and dates --------------------------------------------------------------------------------


def _check_now(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"now must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError("now must be timezone-aware (posts carry UTC times), got a naive datetime")
    return value.astimezone(timezone.utc)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _check_escalation(min_posts: Any, rise: Any, min_members: Any) -> tuple[int, float, int]:
    # Two posts are the fewest that have an earlier and a later half.
    return (
        checks.integer("min_posts", min_posts, 2),
        checks.number("rise", rise, 0.0, 1.0, low_open=True),
        checks.integer("min_members", min_members),
    )


def _check_faq(threshold: Any, min_size: Any) -> tuple[float, int]:
    # A cluster of one is every question that was asked once.
    return checks.number("threshold", threshold, 0.0, 1.0, low_open=True), checks.integer("min_size", min_size, 2)
