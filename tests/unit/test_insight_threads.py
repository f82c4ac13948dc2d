"""Thread insights: unanswered questions, escalating threads and FAQ candidates."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from _bounded import finishes

from safeguard.insights.rows import PostRow
from safeguard.insights.threads import (
    SNIPPET_CHARS,
    ThreadInsights,
    escalating_threads,
    faq_candidates,
    thread_insights,
    unanswered_questions,
)

T0 = datetime(2026, 10, 1, 8, 0, tzinfo=timezone.utc)


def row(
    pid: str,
    *,
    thread: str | None = "t1",
    parent: str | None = None,
    at: float | None = 0.0,
    author: str | None = "u1",
    role: str | None = "member",
    kind: str = "other",
    sentiment: float = 0.0,
    text: str = "A post about an order.",
    title: str | None = None,
) -> PostRow:
    """A post ``at`` hours after T0 (undated when ``at`` is None)."""
    return PostRow(
        id=pid,
        text=text,
        title=title,
        thread_id=thread,
        parent_id=parent,
        created_at=None if at is None else T0 + timedelta(hours=at),
        author_id=author,
        role=role,
        kind=kind,
        sentiment=sentiment,
    )


def ask(pid: str, thread: str | None, at: float | None, author: str | None = "asker", **kw: Any) -> PostRow:
    return row(pid, thread=thread, at=at, author=author, kind="question", **kw)


def reply(pid: str, thread: str, at: float, author: str | None, **kw: Any) -> PostRow:
    return row(pid, thread=thread, parent=thread + "-q", at=at, author=author, kind="answer", **kw)


# -- unanswered questions -----------------------------------------------------------------------------


def test_a_question_answered_within_the_window_is_not_listed() -> None:
    rows = [ask("q", "a", 0), reply("r", "a", 23.5, "answerer"), row("late", thread="z", at=100)]
    report = unanswered_questions(rows)
    assert report.questions == ()
    assert (report.asked, report.answered, report.waiting) == (1, 1, 0)


def test_a_question_answered_late_is_listed_with_the_late_reply() -> None:
    rows = [ask("q", "a", 0), reply("r", "a", 30, "answerer"), row("end", thread="z", at=100)]
    (item,) = unanswered_questions(rows).questions
    assert item.post_id == "q" and item.thread_id == "a" and item.author_id == "asker"
    assert item.answered_late and item.late_reply_at == T0 + timedelta(hours=30)
    assert item.hours_open == pytest.approx(30.0)  # until the reply, not until now
    assert item.staff_replied is False


def test_a_question_answered_only_by_its_asker_is_listed() -> None:
    rows = [ask("q", "a", 0), reply("bump", "a", 2, "asker"), reply("bump2", "a", 10, "asker")]
    rows.append(row("end", thread="z", at=48))
    (item,) = unanswered_questions(rows).questions
    assert item.post_id == "q" and not item.answered_late
    assert item.hours_open == pytest.approx(48.0)  # open until now: the latest post in the data


def test_a_reply_after_a_run_of_the_askers_own_posts_still_counts() -> None:
    rows = [ask("q", "a", 0), reply("b1", "a", 1, "asker"), reply("b2", "a", 2, "asker"), reply("r", "a", 3, "x")]
    rows.append(row("end", thread="z", at=48))
    assert unanswered_questions(rows).answered == 1


def test_a_question_too_recent_to_judge_is_waiting() -> None:
    rows = [ask("old", "a", 0), ask("new", "b", 90), row("end", thread="z", at=100)]
    report = unanswered_questions(rows)
    assert [q.post_id for q in report.questions] == ["old"]
    assert report.waiting == 1 and report.asked == 2
    assert report.now == T0 + timedelta(hours=100)


def test_now_can_be_given_and_posts_after_it_are_not_seen() -> None:
    rows = [ask("q", "a", 0), reply("r", "a", 30, "answerer")]
    report = unanswered_questions(rows, now=T0 + timedelta(hours=28))
    (item,) = report.questions
    assert not item.answered_late and item.hours_open == pytest.approx(28.0)
    assert unanswered_questions(rows, now=T0 + timedelta(hours=10)).waiting == 1


def test_staff_replies_are_detected() -> None:
    rows = [
        ask("q1", "a", 0),
        reply("s", "a", 40, "rob", role="staff"),
        ask("q2", "b", 1),
        reply("m", "b", 40, "member7"),
        ask("q3", "c", 2, author="mod1", role="moderator"),
        reply("own", "c", 40, "mod1", role="moderator"),  # a moderator answering themself is no staff reply
        row("end", thread="z", at=100),
    ]
    staff = {q.post_id: q.staff_replied for q in unanswered_questions(rows).questions}
    assert staff == {"q1": True, "q2": False, "q3": False}


def test_a_staff_reply_counts_when_two_staff_members_post() -> None:
    rows = [
        ask("q", "a", 0, author="mod1", role="moderator"),
        reply("own", "a", 30, "mod1", role="moderator"),
        reply("other", "a", 31, "admin2", role="admin"),
        row("end", thread="z", at=100),
    ]
    (item,) = unanswered_questions(rows).questions
    assert item.staff_replied and item.late_reply_at == T0 + timedelta(hours=31)


def test_undated_questions_are_counted_as_skipped() -> None:
    rows = [ask("q", "a", None), ask("q2", "b", None), ask("q3", "c", 0), row("end", thread="z", at=50)]
    report = unanswered_questions(rows)
    assert report.undated == 2 and report.asked == 1
    assert [q.post_id for q in report.questions] == ["q3"]


def test_a_post_with_an_unknown_author_counts_as_a_reply() -> None:
    rows = [ask("q", "a", 0, author="asker"), reply("r", "a", 1, None), row("end", thread="z", at=50)]
    assert unanswered_questions(rows).answered == 1
    rows = [ask("q", "a", 0, author=None), reply("r", "a", 1, None), row("end", thread="z", at=50)]
    assert unanswered_questions(rows).answered == 1


def test_questions_asked_in_replies_count_only_when_asked_for() -> None:
    rows = [
        row("open", thread="a", at=0, author="u1", kind="praise"),
        row("inner", thread="a", parent="open", at=1, author="u2", kind="question"),
        row("end", thread="z", at=50),
    ]
    assert unanswered_questions(rows).asked == 0
    (item,) = unanswered_questions(rows, include_replies=True).questions
    assert item.post_id == "inner"


def test_replies_without_a_thread_id_join_their_parents_thread() -> None:
    rows = [
        ask("q", "a", 0),
        row("r1", thread=None, parent="q", at=1, author="u2", kind="answer"),
        row("r2", thread=None, parent="r1", at=2, author="u3"),
        ask("lone", None, 0),
        row("end", thread="z", at=50),
    ]
    report = unanswered_questions(rows)
    assert report.answered == 1
    assert [(q.post_id, q.thread_id) for q in report.questions] == [("lone", "lone")]


def test_long_threads_and_deep_reply_chains_stay_linear() -> None:
    n = 20_000
    # One member asking in a run of replies: a scan per question for the next other author would be quadratic.
    run = [
        row(f"p{i}", thread="big", parent=None if i == 0 else f"p{i - 1}", at=i / 100, author="same", kind="question")
        for i in range(n)
    ]
    report = finishes(lambda: unanswered_questions(run, include_replies=True), 10.0)
    assert report.asked == n and report.answered == 0
    # A chain of replies with no thread ids, newest first: each ancestor walk is done once.
    chain = [row(f"c{i}", thread=None, parent=None if i == 0 else f"c{i - 1}", at=i / 100) for i in range(n)][::-1]
    assert finishes(lambda: thread_insights(chain), 10.0).threads == 1


def test_unanswered_questions_are_sorted_oldest_first() -> None:
    rows = [ask("c", "c", 5), ask("a", "a", 1), ask("b", "b", 3), row("end", thread="z", at=100)]
    assert [q.post_id for q in unanswered_questions(rows).questions] == ["a", "b", "c"]


# -- escalating threads -------------------------------------------------------------------------------

CALM = 0.4
ANGRY = -0.7


def heated_thread(thread: str = "hot", *, staff_at: int | None = None) -> list[PostRow]:
    """Four calm posts, then five angry ones from five members."""
    rows = [row(f"{thread}{i}", thread=thread, at=i, author=f"m{i % 2}", sentiment=CALM) for i in range(4)]
    rows[0] = row(f"{thread}0", thread=thread, at=0, author="m0", sentiment=CALM, title="Delivery slot moved again")
    rows += [row(f"{thread}{i}", thread=thread, at=i, author=f"m{i}", sentiment=ANGRY) for i in range(4, 9)]
    if staff_at is not None:
        rows.append(row(f"{thread}s", thread=thread, at=staff_at, author="rob", role="staff", sentiment=CALM))
    return rows


def test_a_thread_turning_angry_with_many_members_and_no_staff_escalates() -> None:
    (item,) = escalating_threads(heated_thread())
    assert item.thread_id == "hot" and item.first_post_id == "hot0"
    assert item.title == "Delivery slot moved again"
    assert (item.posts, item.members) == (9, 7)
    assert item.negative_early == 0.0 and item.negative_late == 1.0
    assert item.last_activity == T0 + timedelta(hours=8)
    assert item.score > 0


def test_the_same_thread_with_a_staff_post_does_not_escalate() -> None:
    assert escalating_threads(heated_thread(staff_at=2)) == ()
    undated_staff = [*heated_thread(), row("s", thread="hot", at=None, author="rob", role="admin")]
    assert escalating_threads(undated_staff) == ()


def test_a_flat_thread_does_not_escalate() -> None:
    # One negative post in every four, early and late alike.
    rows = [row(f"f{i}", thread="f", at=i, author=f"m{i}", sentiment=ANGRY if i % 4 == 0 else CALM) for i in range(12)]
    assert escalating_threads(rows) == ()


def test_a_thread_angry_throughout_escalates_without_a_rise() -> None:
    rows = [row(f"a{i}", thread="a", at=i, author=f"m{i}", sentiment=ANGRY) for i in range(6)]
    (item,) = escalating_threads(rows)
    assert item.negative_early == item.negative_late == 1.0


def test_two_members_arguing_do_not_escalate() -> None:
    rows = [
        row(f"r{i}", thread="r", at=i, author="m1" if i % 2 else "m2", sentiment=CALM if i < 3 else ANGRY)
        for i in range(6)
    ]
    assert escalating_threads(rows) == ()
    assert len(escalating_threads(rows, min_members=2)) == 1


def test_a_rise_equal_to_the_option_escalates_despite_rounding() -> None:
    # Early half 2/10 negative, later half 3/10: 0.3 - 0.2 is 0.09999999999999998 in floating point.
    sentiments = [ANGRY if i in (0, 1, 10, 11, 12) else CALM for i in range(20)]
    rows = [row(f"e{i}", thread="e", at=i, author=f"m{i}", sentiment=s) for i, s in enumerate(sentiments)]
    (item,) = escalating_threads(rows, rise=0.1)
    assert (item.negative_early, item.negative_late) == (0.2, 0.3)
    assert escalating_threads(rows, rise=0.11) == ()


def test_short_threads_are_left_out_and_results_sort_by_score() -> None:
    short = [row(f"s{i}", thread="s", at=i, author=f"m{i}", sentiment=ANGRY) for i in range(3)]
    small = [row(f"b{i}", thread="b", at=i, author=f"m{i}", sentiment=ANGRY) for i in range(4)]
    found = escalating_threads([*short, *small, *heated_thread()])
    assert [t.thread_id for t in found] == ["hot", "b"]
    # three posts have a later half of one: a single angry reply is not a trend (MIN_NEGATIVE_LATE)
    assert escalating_threads(short, min_posts=2) == ()
    assert (
        len(escalating_threads([*short, row("s3", thread="s", at=3, author="m3", sentiment=ANGRY)], min_posts=2)) == 1
    )


# -- FAQ candidates -----------------------------------------------------------------------------------

REFUND = [
    (
        "Refund after in-store return?",
        "How long does a refund take after returning an item to the store? It's been days.",
    ),
    ("How long do refunds take?", "How long does it take for a refund to arrive after returning an item in store?"),
    (
        "Refund time for store returns",
        "Returned an item to the store last week, how long does the refund take?",
    ),
    ("Refund timing", "How long does a refund take to come through after I return something in store?"),
]
GIFT_CARDS = [
    ("Two gift cards on one order?", "Can I use two gift cards on the same online order? Checkout only shows one box."),
    ("Using more than one gift card", "Is it possible to use two gift cards on one online order?"),
    ("Multiple gift cards at checkout", "Can you pay for an online order with two gift cards? I can only enter one."),
]
PASSWORD = [
    (
        "Can't reset loyalty password",
        "How do I reset the password on my loyalty card account? Email never arrives.",
    ),
    ("Loyalty account password reset", "How can I reset my loyalty card account password? No reset email arrives."),
    ("Password reset email not arriving", "Trying to reset my loyalty account password, the email never arrives."),
]
UNRELATED = [
    ("Air fryer for five?", "Which air fryer is best for a family of five on a budget?"),
    ("Price match on TVs", "Do you price match other retailers for TVs during the sales?"),
    ("Delivery cancelled", "Why was my delivery cancelled the evening before without any reason?"),
    ("Bank holiday hours", "Is the Leeds store open on bank holiday Monday, and until when?"),
    ("TV wall mount", "What size extension lead do I need for a 65 inch TV wall mount?"),
    ("Cat tower", "Does the XL cat tower hold a Maine Coon? Ours is 8kg and the cheap one wobbled."),
    ("Air fryer manual", "Where can I find the manual for the Vortex 5.7L dual basket air fryer?"),
    ("Dishwasher fitting", "Has anyone had their dishwasher installed by the store's own fitters?"),
    ("Heated airer: worth it?", "Thinking of a heated airer to avoid running the dryer. Are they any good?"),
    ("Garden furniture: worth it?", "Thinking about the Aldwych 6 seater rattan set. Does it survive winter?"),
]


def questions(name: str, texts: list[tuple[str, str]], start: float, authors: list[str] | None = None) -> list[PostRow]:
    return [
        ask(
            f"{name}{i}", f"{name}{i}", start + 7 * i, author=authors[i] if authors else f"{name}-u{i}", title=t, text=x
        )
        for i, (t, x) in enumerate(texts)
    ]


def faq_rows() -> list[PostRow]:
    return [
        *questions("refund", REFUND, 0),
        *questions("gift", GIFT_CARDS, 1),
        *questions("pw", PASSWORD, 2, authors=["same"] * 3),
        *questions("other", UNRELATED, 3),
        row("answer", thread="refund0", at=5, author="x", kind="answer", text=REFUND[0][1]),  # not a question
    ]


def test_paraphrased_questions_from_different_members_cluster_and_unrelated_ones_do_not() -> None:
    found = faq_candidates(faq_rows())
    assert [c.post_ids for c in found] == [
        ("refund0", "refund1", "refund2", "refund3"),
        ("gift0", "gift1", "gift2"),
    ]
    # Not even two of the unrelated questions pair up, though two of them share "worth it?" and a topic word.
    clustered = {pid for c in faq_candidates(faq_rows(), min_size=2) for pid in c.post_ids}
    assert not any(pid.startswith("other") for pid in clustered)
    refund = found[0]
    assert (refund.id, refund.size, refund.authors) == (1, 4, 4)
    assert refund.representative_id == "refund0" and refund.title == REFUND[0][0]
    assert refund.snippet == REFUND[0][1]
    assert refund.first_at == T0 and refund.last_at == T0 + timedelta(hours=21)


def test_a_cluster_from_one_member_only_is_dropped() -> None:
    found = faq_candidates(faq_rows())
    assert not any(c.representative_id.startswith("pw") for c in found)
    # The same questions from three members are a cluster: the texts did cluster, the author rule dropped them.
    spread = questions("pw", PASSWORD, 2, authors=["a", "b", "c"])
    assert [c.post_ids for c in faq_candidates(spread)] == [("pw0", "pw1", "pw2")]


def test_min_size_and_threshold_shape_the_clusters() -> None:
    pair = questions("gift", GIFT_CARDS[:2], 0)
    assert faq_candidates(pair) == ()
    assert len(faq_candidates(pair, min_size=2)) == 1
    assert faq_candidates(questions("refund", REFUND, 0), threshold=0.95) == ()


def test_the_snippet_is_short_and_flat() -> None:
    long_text = "How long does a refund take?\n\n" + "It has been weeks and nobody answers the phone. " * 20
    rows = [ask(f"q{i}", f"t{i}", i, author=f"u{i}", text=long_text) for i in range(3)]
    (cand,) = faq_candidates(rows)
    assert len(cand.snippet) <= SNIPPET_CHARS and cand.snippet.endswith("…")
    assert "\n" not in cand.snippet and "  " not in cand.snippet


# -- all of it ----------------------------------------------------------------------------------------


def dump() -> list[PostRow]:
    return [
        *faq_rows(),
        *heated_thread(),
        ask("q", "a", 0.5, text="Is the Leeds store car park free on Sundays?"),
        reply("r", "a", 40, "rob", role="staff"),
        ask("undated", "u", None),
        row("end", thread="z", at=120),
    ]


def test_thread_insights_runs_every_view() -> None:
    found = thread_insights(dump())
    assert isinstance(found, ThreadInsights)
    assert found.posts == len(dump())
    assert [t.thread_id for t in found.escalating] == ["hot"]
    assert [c.representative_id for c in found.faq] == ["refund0", "gift0"]
    assert "q" in {q.post_id for q in found.unanswered.questions}
    assert found.unanswered.undated == 1


def test_to_dict_is_json_ready_and_deterministic() -> None:
    rows = dump()
    first = thread_insights(rows).to_dict()
    text = json.dumps(first, sort_keys=False)
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    assert json.dumps(thread_insights(shuffled).to_dict()) == text
    assert json.loads(text) == first
    unanswered = first["unanswered"]
    assert unanswered["now"] == "2026-10-06T08:00:00Z"
    q = next(item for item in unanswered["questions"] if item["post_id"] == "q")
    assert q == {
        "post_id": "q",
        "thread_id": "a",
        "created_at": "2026-10-01T08:30:00Z",
        "author_id": "asker",
        "hours_open": 39.5,
        "answered_late": True,
        "late_reply_at": "2026-10-03T00:00:00Z",
        "staff_replied": True,
    }
    assert first["escalating"][0]["last_activity"] == "2026-10-01T16:00:00Z"
    assert first["faq"][0]["first_at"] == "2026-10-01T08:00:00Z"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hours": 0}, "hours must be a positive number"),
        ({"hours": float("nan")}, "hours must be a positive number"),
        ({"hours": True}, "hours must be a positive number"),
        ({"now": T0.replace(tzinfo=None)}, "now must be timezone-aware"),
        ({"now": "2026-10-01"}, "now must be a datetime"),
        ({"include_replies": 1}, "include_replies must be True or False"),
        ({"min_posts": 1}, "min_posts must be an integer of at least 2"),
        ({"min_posts": 4.0}, "min_posts must be an integer"),
        ({"rise": 0}, r"rise must be a number in \(0, 1\]"),
        ({"rise": 1.5}, r"rise must be a number in \(0, 1\]"),
        ({"min_members": 0}, "min_members must be a positive integer"),
        ({"threshold": 0}, r"threshold must be a number in \(0, 1\]"),
        ({"min_size": 1}, "min_size must be an integer of at least 2"),
    ],
)
def test_options_are_validated(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        thread_insights([], **options)


def test_each_view_validates_its_own_options_and_its_rows() -> None:
    with pytest.raises(ValueError, match="hours"):
        unanswered_questions([], hours=-1)
    with pytest.raises(ValueError, match="rise"):
        escalating_threads([], rise=2)
    with pytest.raises(ValueError, match="threshold"):
        faq_candidates([], threshold=1.2)
    with pytest.raises(ValueError, match="rows must be PostRow values"):
        thread_insights([{"id": "x"}])  # type: ignore[list-item]


def test_an_empty_dump_gives_empty_views() -> None:
    found = thread_insights([])
    assert found.to_dict() == {
        "posts": 0,
        "threads": 0,
        "unanswered": {
            "now": None,
            "hours": 24.0,
            "asked": 0,
            "answered": 0,
            "waiting": 0,
            "unanswered": 0,
            "undated": 0,
            "questions": [],
        },
        "escalating": [],
        "faq": [],
    }
