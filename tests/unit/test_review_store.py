"""The review store, on SQLite and on a PostgreSQL cluster started for the tests."""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _postgres import binaries, cluster, database

from safeguard import Action, Author, Decision, Post, ReviewError, RuleMatch
from safeguard.errors import ConfigError
from safeguard.review import ReviewStore, database_url
from safeguard.review.evidence import evidence_spans, redact
from safeguard.review.stats import review_stats
from safeguard.rules.loader import parse_ruleset

PG_BIN = binaries()


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[str]:
    if PG_BIN is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'safeguard-moderation[postgres]'")
    with cluster() as url:
        yield url


_counter = iter(range(10**6))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "review.db")
        return
    base = request.getfixturevalue("pg_cluster")
    with database(base, f"t{next(_counter)}") as db_url:
        yield db_url


class Clock:
    """A settable clock for the store."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[ReviewStore]:
    s = ReviewStore.open(url, clock=clock, claim_timeout=timedelta(minutes=10))
    s.add_user("alice", "alice-password")
    s.add_user("bob", "bob-password")
    s.add_user("root", "root-password", role="admin")
    yield s
    s.close()


def post(pid: str, text: str, *, thread: str | None = "t1", minute: int = 0, author: str = "u1") -> Post:
    return Post(
        id=pid,
        text=text,
        thread_id=thread,
        author=Author(id=author, trust_level=1),
        created_at=datetime(2026, 11, 1, 8, minute, tzinfo=timezone.utc),
    )


def decision(
    pid: str, action: str, *rules: tuple[str, str], signals: dict[str, Any] | None = None, **kw: Any
) -> Decision:
    matches = tuple(
        RuleMatch(rule=r, action=Action.parse(a), reason=f"because {r}", guideline="1.1", values=kw.get(r, {}))
        for r, a in rules
    )
    return Decision(
        post_id=pid,
        action=Action.parse(action),
        matches=matches,
        signals=signals or {},
        errors=tuple(kw.get("errors", ())),
        ruleset={"name": "test", "version": 1, "hash": "sha256:abc"},
    )


def test_database_url_reads_paths_and_urls() -> None:
    assert database_url("review.db").drivername == "sqlite"
    assert database_url("review.db").database == "review.db"
    assert database_url("sqlite:///x.db").database == "x.db"
    assert database_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert database_url("postgres://u:secret@h/db").drivername == "postgresql+psycopg"
    for bad in ("mysql://u@h/db", "postgresql+psycopg2://u@h/db", ""):
        with pytest.raises(ReviewError) as info:
            database_url(bad)
        assert info.value.code == "invalid"
    with pytest.raises(ReviewError) as info:
        database_url("mysql://u:hunter2@h/db")
    assert "hunter2" not in str(info.value)


def test_a_missing_directory_and_a_missing_driver_are_clear_errors(tmp_path: Path, monkeypatch: Any) -> None:
    with pytest.raises(ReviewError, match="does not exist") as info:
        ReviewStore.open(tmp_path / "nowhere" / "review.db")
    assert info.value.code == "unavailable"
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(ReviewError, match=r"pip install 'safeguard-moderation\[postgres\]'") as info:
        ReviewStore.open("postgresql://u@localhost/db")
    assert info.value.code == "unavailable"


def test_opening_migrates_to_head_and_the_tables_match_the_models(url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from safeguard.review.models import Base

    first = ReviewStore.open(url)
    first.close()
    again = ReviewStore.open(url)  # a second open finds the store at head and changes nothing
    with again.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == "0001"
        assert compare_metadata(context, Base.metadata) == []
    again.close()


def test_holds_enter_the_queue_with_priorities_removes_and_allows_do_not(store: ReviewStore) -> None:
    pairs = [
        (post("p1", "you absolute clown", minute=1), decision("p1", "hold", ("insult", "hold"))),
        (post("p2", "call me on 0123", minute=2), decision("p2", "hold", ("contact", "hold"))),
        (post("p3", "buy crypto at scam.xyz", minute=3), decision("p3", "remove", ("scam", "remove"))),
        (post("p4", "lovely kettle", minute=4), decision("p4", "allow")),
        (post("p5", "model failed", minute=5), decision("p5", "hold", errors=[{"source": "toxicity", "error": "x"}])),
        (post("p6", "no thread here", thread=None, minute=6), decision("p6", "allow")),
    ]
    report = store.enqueue(pairs, priorities={"contact": 75})
    assert (report.posts, report.queued, report.context, report.sampled) == (6, 3, 1, 0)
    entries = store.queue()
    assert [(e.post_id, e.priority) for e in entries] == [("p2", 75), ("p5", 60), ("p1", 50)]
    assert entries[0].rules == ["contact"] and entries[0].reasons == ["because contact"]
    assert store.decision_counts() == {"hold": 3, "remove": 1}
    assert store.counts() == {"open": 3, "claimed": 0, "done": 0, "escalated": 0}
    again = store.enqueue(pairs, priorities={"contact": 75})
    assert (again.queued, again.already) == (0, 3)
    assert len(store.queue()) == 3


def test_copies_join_the_waiting_item(store: ReviewStore) -> None:
    text = "Join our Telegram for restocks: t.me/deals"
    first = store.enqueue([(post("c1", text), decision("c1", "hold", ("contact", "hold")))])
    joined = store.enqueue(
        [
            (
                post("c2", "  JOIN our telegram for RESTOCKS: t.me/deals", author="u2"),
                decision("c2", "hold", ("contact", "hold"), ("flood", "remove")),
            ),
            (
                post("c3", "different words entirely", author="u3"),
                decision("c3", "hold", ("contact", "hold"), signals={"duplicate": {"of": "c1"}}),
            ),
        ],
        priorities={"flood": 90},
    )
    assert (joined.joined, joined.queued) == (2, 0)
    (entry,) = store.queue()
    assert entry.id == first.item_ids[0] and entry.posts == 3 and entry.priority == 90
    item = store.item(entry.id)
    assert [m.post_id for m in item.members] == ["c2", "c3"]
    store.decide(entry.id, "alice", "remove")
    later = store.enqueue([(post("c4", text, author="u4"), decision("c4", "hold", ("contact", "hold")))])
    assert later.queued == 1, "a decided item takes no new copies: they form a new item"


def test_sampled_allows_are_deterministic_flagged_and_last(store: ReviewStore, tmp_path: Path) -> None:
    pairs = [(post(f"a{i}", f"fine post number {i}"), decision(f"a{i}", "allow")) for i in range(400)]
    pairs.append((post("h1", "you clown"), decision("h1", "hold", ("insult", "hold"))))
    report = store.enqueue(pairs, sample_allows=0.1, seed=7)
    expected = {
        f"a{i}"
        for i in range(400)
        if int.from_bytes(hashlib.sha256(f"7\0a{i}".encode()).digest()[:8], "big") / 2**64 < 0.1
    }
    assert report.sampled == len(expected) and 20 < len(expected) < 70
    entries = store.queue(limit=1000)
    assert entries[0].post_id == "h1"
    assert {e.post_id for e in entries if e.sampled} == expected
    assert all(e.priority == 0 for e in entries if e.sampled)
    other = ReviewStore.open(tmp_path / "other.db")
    assert other.enqueue(pairs[:200], sample_allows=0.1, seed=7).sampled + other.enqueue(
        pairs[200:], sample_allows=0.1, seed=7
    ).sampled == len(expected), "the sample does not depend on batching"
    with pytest.raises(ReviewError, match="between 0 and 1"):
        store.enqueue(pairs, sample_allows=1.5)


def _fill(store: ReviewStore, n: int) -> list[int]:
    pairs = [
        (post(f"p{i}", f"held post {i}", minute=i % 60), decision(f"p{i}", "hold", ("r", "hold"))) for i in range(n)
    ]
    return store.enqueue(pairs).item_ids


def test_claims_are_exclusive_lapse_and_resume(store: ReviewStore, clock: Clock) -> None:
    ids = _fill(store, 3)
    a = store.claim("alice")
    assert a is not None and a.id == ids[0] and a.entry.claimed_by == "alice"
    assert store.claim("alice").id == a.id, "a moderator's own claim comes back first"  # type: ignore[union-attr]
    b = store.claim("bob")
    assert b is not None and b.id == ids[1]
    with pytest.raises(ReviewError, match="claimed by alice") as info:
        store.claim("bob", a.id)
    assert info.value.code == "conflict"
    with pytest.raises(ReviewError) as info:
        store.claim("bob", 99999)
    assert info.value.code == "not_found"
    with pytest.raises(ReviewError, match="no user 'mallory'"):
        store.claim("mallory")
    clock.advance(minutes=11)
    assert store.claim("bob", a.id).entry.claimed_by == "bob", "a lapsed claim is free again"
    store.release(a.id, "bob")
    assert store.queue()[0].status == "open"
    with pytest.raises(ReviewError, match="not claimed"):
        store.release(a.id, "bob")


def test_decisions_close_items_and_refuse_what_they_must(store: ReviewStore, clock: Clock) -> None:
    ids = _fill(store, 4)
    item = store.claim("alice")
    assert item is not None
    with pytest.raises(ReviewError, match="claimed by alice"):
        store.decide(item.id, "bob", "approve")
    with pytest.raises(ReviewError, match="unknown action 'delete'"):
        store.decide(item.id, "alice", "delete")
    clock.advance(seconds=42)
    verdict = store.decide(item.id, "alice", "remove", guideline="1.2", note="insult")
    assert verdict.seconds == pytest.approx(42.0)
    with pytest.raises(ReviewError, match="already decided") as info:
        store.decide(item.id, "bob", "approve")
    assert info.value.code == "conflict"
    assert store.queue(status="done")[0].outcome == "remove"
    # skip: back to the queue, not offered to the same moderator again
    nxt = store.claim("alice")
    assert nxt is not None and nxt.id == ids[1]
    store.decide(nxt.id, "alice", "skip")
    assert store.claim("alice").id == ids[2]  # type: ignore[union-attr]
    assert store.claim("bob").id == ids[1]  # type: ignore[union-attr]
    # escalate: to the top, for an admin only
    store.decide(ids[1], "bob", "escalate")
    assert store.queue()[0].id == ids[1] and store.queue()[0].escalated and store.queue()[0].priority == 100
    with pytest.raises(ReviewError, match="escalated") as info:
        store.decide(ids[1], "alice", "approve")
    assert info.value.code == "forbidden"
    assert store.claim("root").id == ids[1]  # type: ignore[union-attr]
    store.decide(ids[1], "root", "approve")
    # bulk: all or nothing
    with pytest.raises(ReviewError, match="already decided"):
        store.decide_bulk([ids[3], ids[0]], "root", "remove")
    assert store.queue(status="open")[0].id == ids[3], "the failed bulk decision changed nothing"
    assert [v.item_id for v in store.decide_bulk([ids[3]], "root", "remove")] == [ids[3]]
    actions = [(e.actor, e.what, e.item_id) for e in store.log(100)]
    assert ("alice", "decide", ids[0]) in actions and ("root", "decide", ids[3]) in actions
    assert all(e.actor for e in store.log(100))


def test_an_item_shows_its_thread_spans_and_history(store: ReviewStore) -> None:
    signals = {"pii": {"spans": [{"type": "PHONE_NUMBER", "start": 14, "end": 26, "score": 0.9}]}}
    store.enqueue(
        [
            (post("t0", "Kettle leaks, any fix?", minute=0), decision("t0", "allow")),
            (
                post("t1", "Reply idiot. call me 07700 900874", minute=5, author="u9"),
                decision(
                    "t1",
                    "hold",
                    ("insult", "hold"),
                    ("contact", "hold"),
                    signals=signals,
                    insult={"lists.insults": ["idiot"]},
                    contact={"pii.entities": ["PHONE_NUMBER"]},
                ),
            ),
            (post("x0", "other thread", thread="t2", minute=1), decision("x0", "allow")),
        ]
    )
    (entry,) = store.queue()
    store.add_label("t1", "webhook", {"flagged_by": "member"})
    store.appeal("t1", "u9", "I was joking")
    item = store.item(entry.id)
    assert [p.post_id for p in item.thread] == ["t0"]
    insult, contact = item.decision.matches
    assert insult.spans == [{"start": 6, "end": 11, "evidence": "idiot"}]
    assert item.post.text[6:11] == "idiot"
    assert contact.spans == [{"start": 14, "end": 26, "evidence": "PHONE_NUMBER"}]
    assert item.labels[0].label == {"flagged_by": "member"} and item.appeals[0].text == "I was joking"
    assert item.to_dict()["post"]["author"]["id"] == "u9"
    with pytest.raises(ReviewError) as info:
        store.item(12345)
    assert info.value.code == "not_found"


def test_a_store_without_text_keeps_digests_and_redacted_copies(url: str) -> None:
    store = ReviewStore.open(url, keep_text=False)
    text = "mail me at a.person@example.com or call +44 7700 900215, idiot"
    signals = {"text": {"normalized": text.lower()}, "pii": {"redacted": "x", "spans": []}}
    store.enqueue(
        [
            (
                post("s1", text),
                decision(
                    "s1",
                    "hold",
                    ("insult", "hold"),
                    signals=signals,
                    insult={"lists.insults": ["idiot"], "text.normalized": text},
                ),
            )
        ]
    )
    item = store.item(store.queue()[0].id)
    assert not item.post.text_kept
    assert item.post.text_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert "example.com" not in item.post.text and "7700" not in item.post.text
    assert "<EMAIL>" in item.post.text and "<NUMBER>" in item.post.text
    assert "normalized" not in item.decision.signals.get("text", {})
    assert "text.normalized" not in item.decision.matches[0].values
    span = item.decision.matches[0].spans[0]
    assert item.post.text[span["start"] : span["end"]] == "idiot"
    assert ReviewStore.open(url).setting("keep_text") is False, "the setting stays with the store"
    store.close()


def test_users_passwords_and_roles(store: ReviewStore) -> None:
    assert store.check_password("alice", "alice-password").role == "moderator"  # type: ignore[union-attr]
    assert store.check_password("alice", "wrong-password") is None
    assert store.check_password("nobody", "alice-password") is None
    with pytest.raises(ReviewError, match="exists") as info:
        store.add_user("alice", "another-password")
    assert info.value.code == "conflict"
    with pytest.raises(ReviewError, match="at least 8"):
        store.add_user("carol", "short")
    with pytest.raises(ReviewError, match="unknown role"):
        store.add_user("carol", "carol-password", role="owner")
    with pytest.raises(ReviewError, match="not an admin") as info:
        store.set_role("bob", "admin", by="alice")
    assert info.value.code == "forbidden"
    assert store.set_role("bob", "admin", by="root").role == "admin"
    store.disable_user("alice", by="root")
    assert store.check_password("alice", "alice-password") is None
    with pytest.raises(ReviewError, match="disabled"):
        store.claim("alice")
    from sqlalchemy import select

    from safeguard.review.models import User

    with store.engine.connect() as conn:
        hashes = dict(conn.execute(select(User.name, User.password)).all())
    assert all(h.startswith("scrypt$16384$8$1$") for h in hashes.values())
    assert len({h.split("$")[4] for h in hashes.values()}) == len(hashes), "every user has their own salt"
    assert ("root", "set_role") in [(e.actor, e.what) for e in store.log()]


def test_appeals_are_resolved_once(store: ReviewStore) -> None:
    store.enqueue([(post("r1", "scam.xyz"), decision("r1", "remove", ("scam", "remove")))])
    appeal = store.appeal("r1", "u1", "it is my own shop")
    assert [a.id for a in store.appeals()] == [appeal.id]
    done = store.resolve_appeal(appeal.id, "alice", "denied", "the domain is a known scam")
    assert (done.status, done.resolved_by) == ("denied", "alice")
    assert store.appeals() == [] and store.appeals("denied")[0].resolution == "the domain is a known scam"
    with pytest.raises(ReviewError, match="already resolved"):
        store.resolve_appeal(appeal.id, "bob", "granted")
    with pytest.raises(ReviewError) as info:
        store.appeal("unknown", "u1", "why")
    assert info.value.code == "not_found"


def test_stats_count_upheld_holds_per_rule_with_wilson_intervals(store: ReviewStore, clock: Clock) -> None:
    pairs = [(post(f"h{i}", f"held {i}"), decision(f"h{i}", "hold", ("insult", "hold"))) for i in range(5)]
    pairs += [(post("g1", "group"), decision("g1", "hold", ("group", "hold"), ("insult", "hold")))]
    pairs += [(post(f"a{i}", f"allowed post {i}"), decision(f"a{i}", "allow")) for i in range(200)]
    pairs += [(post("r1", "scam"), decision("r1", "remove", ("scam", "remove")))]
    store.enqueue(pairs, sample_allows=0.05, seed=3)
    verdicts = {"h0": "remove", "h1": "remove", "h2": "remove", "h3": "approve", "h4": "approve", "g1": "remove"}
    ids = {e.post_id: e.id for e in store.queue(limit=1000)}
    sampled = [pid for pid in ids if pid.startswith("a")]
    assert len(sampled) >= 3
    clock.advance(minutes=30)
    for pid, action in verdicts.items():
        store.decide(ids[pid], "alice", action, seconds=10)
    store.decide(ids[sampled[0]], "bob", "remove", seconds=20)
    for pid in sampled[1:3]:
        store.decide(ids[pid], "bob", "approve", seconds=20)
    figures = review_stats(store)
    rules = {r["rule"]: r for r in figures["rules"]}
    assert (rules["insult"]["decided"], rules["insult"]["upheld"]) == (6, 4)
    assert rules["insult"]["share"] == pytest.approx(4 / 6, abs=1e-4)
    lo, hi = rules["insult"]["interval"]
    assert lo == pytest.approx(0.3000, abs=2e-3) and hi == pytest.approx(0.9032, abs=2e-3)
    assert (rules["group"]["decided"], rules["group"]["upheld"]) == (1, 1)
    assert figures["holds"]["decided"] == 6 and figures["holds"]["upheld"] == 4
    assert figures["time_to_decision_seconds"]["median"] == pytest.approx(1800.0)
    assert figures["seconds_spent"]["median"] == pytest.approx(10.0)
    assert figures["verdicts"] == {"approve": 4, "remove": 5, "escalate": 0, "skip": 0}
    recall = figures["recall"]
    assert (recall["sampled_decided"], recall["sampled_removed"]) == (3, 1)
    assert recall["estimated_missed"] == pytest.approx(20.0)
    assert recall["estimated_recall"] == pytest.approx(5 / 25, abs=1e-4)  # 1 removed + 4 upheld, 20 missed
    (day,) = figures["days"]
    assert day["entered"] == 6 + len(sampled) and day["decided"] == 9 and day["open"] == len(sampled) - 3


def test_concurrent_claims_never_share_an_item(url: str) -> None:
    setup = ReviewStore.open(url)
    for i in range(6):
        setup.add_user(f"m{i}", "moderator-password")
    ids = _fill(setup, 60)
    setup.close()
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work(name: str) -> None:
        mine: list[int] = []
        own = ReviewStore.open(url)  # a separate engine and sessions per moderator
        try:
            barrier.wait()
            while True:
                item = own.claim(name)
                if item is None:
                    break
                mine.append(item.id)
                own.decide(item.id, name, "approve", seconds=0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            claimed[name] = mine
            own.close()

    threads = [threading.Thread(target=work, args=(f"m{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    got = [i for mine in claimed.values() for i in mine]
    assert len(got) == len(set(got)), "an item was claimed twice"
    assert sorted(got) == sorted(ids)
    assert sum(1 for mine in claimed.values() if mine) >= 2, "the moderators did work side by side"


def test_evidence_helpers() -> None:
    match = {"values": {"lists.insults": ["idiot", "1d10t"], "text.normalized": "x"}}
    assert evidence_spans("An idiot, IDIOT! idiotic", match, {}) == [
        {"start": 3, "end": 8, "evidence": "idiot"},
        {"start": 10, "end": 15, "evidence": "idiot"},
    ]
    assert redact("write to me@x.org, see https://a.b/c or @handle") == "write to <EMAIL>, see <URL> or <HANDLE>"
    assert redact("call 07700 900874", [{"type": "PHONE_NUMBER", "start": 5, "end": 17}]) == "call <PHONE_NUMBER>"


def test_rule_priority_is_validated_and_exposed() -> None:
    base = "ruleset: t\nrules:\n  - id: a\n    when: text.length > 1\n    action: hold\n"
    assert parse_ruleset(base + "    priority: 90\n").priorities == {"a": 90}
    assert parse_ruleset(base).priorities == {}
    for bad, message in (
        ("101", "less than or equal to 100"),
        ("-1", "greater than or equal to 0"),
        ('"high"', "valid integer"),
    ):
        with pytest.raises(ConfigError, match=message) as info:
            parse_ruleset(base + f"    priority: {bad}\n")
        assert info.value.problems[0].line == 6


def test_claim_passes_over_excluded_items(store: ReviewStore) -> None:
    report = store.enqueue(
        [(post(f"x{i}", f"post number {i}"), decision(f"x{i}", "hold", ("r", "hold"))) for i in range(3)]
    )
    first, second, third = report.item_ids
    assert (got := store.claim("alice")) is not None and got.id == first
    again = store.claim("alice")
    assert again is not None and again.id == first, "without exclude the user's own claim comes back"
    after = store.claim("alice", exclude=[first])
    assert after is not None and after.id == second, "the own claim is passed over, the next open item taken"
    store.release(second, "alice")
    later = store.claim("alice", exclude=[first, second])
    assert later is not None and later.id == third
    assert store.claim("alice", exclude=[first, second, third]) is None


def test_cluster_finds_the_other_waiting_items_of_the_same_text(store: ReviewStore) -> None:
    text = "Win a free phone: claim at prize-desk.example"
    a = store.enqueue(
        [(post("k1", text), decision("k1", "hold", ("r", "hold"), signals={"duplicate": {"cluster": 1}}))]
    )
    b = store.enqueue(
        [
            (
                post("k2", text.upper(), author="u2"),
                decision("k2", "hold", ("r", "hold"), signals={"duplicate": {"cluster": 2}}),
            )
        ]
    )
    c = store.enqueue(
        [
            (
                post("k3", "other words", author="u3"),
                decision("k3", "hold", ("r", "hold"), signals={"duplicate": {"cluster": 2}}),
            )
        ]
    )
    d = store.enqueue([(post("k4", "unrelated post"), decision("k4", "hold", ("r", "hold")))])
    assert c.joined == 1 and b.queued == 1 and a.queued == 1
    (item_a,), (item_b,), (item_d,) = a.item_ids, b.item_ids, d.item_ids
    assert [e.id for e in store.cluster(item_a)] == [item_b]
    assert [e.id for e in store.cluster(item_b)] == [item_a]
    assert store.cluster(item_d) == []
    store.decide(item_b, "alice", "remove")
    assert store.cluster(item_a) == [], "a decided item is no longer waiting"
    with pytest.raises(ReviewError) as info:
        store.cluster(99999)
    assert info.value.code == "not_found"


def test_audit_events_and_newest_verdicts_first(store: ReviewStore) -> None:
    report = store.enqueue([(post(f"v{i}", f"text {i}"), decision(f"v{i}", "hold", ("r", "hold"))) for i in range(2)])
    one, two = report.item_ids
    event = store.audit("alice", "show_pii", item_id=one, details={"why": "check"})
    assert (event.actor, event.what, event.item_id, event.post_id) == ("alice", "show_pii", one, "v0")
    assert store.log(1)[0].what == "show_pii" and store.log(1)[0].id == event.id
    for bad in ("", "x" * 41):
        with pytest.raises(ReviewError) as info:
            store.audit("alice", bad)
        assert info.value.code == "invalid"
    with pytest.raises(ReviewError) as info:
        store.audit("nobody-here", "show_pii")
    assert info.value.code == "not_found"
    store.decide(one, "alice", "approve")
    store.decide(two, "bob", "remove")
    assert [v.user for v in store.verdicts()] == ["alice", "bob"]
    assert [v.user for v in store.verdicts(newest_first=True)] == ["bob", "alice"]
    assert [v.user for v in store.verdicts(limit=1, offset=1, newest_first=True)] == ["alice"]


def test_personal_spans_cover_what_redact_replaces() -> None:
    from safeguard.review.evidence import personal_spans, redact

    text = "Mail bob@example.com or call +44 7700 900874, see www.deals.shop and ask @bobby"
    spans = personal_spans(text, [{"start": 0, "end": 4, "type": "PERSON"}])
    assert [(text[s["start"] : s["end"]], s["type"]) for s in spans] == [
        ("Mail", "PERSON"),
        ("bob@example.com", "EMAIL"),
        ("+44 7700 900874", "NUMBER"),
        ("www.deals.shop", "URL"),
        ("@bobby", "HANDLE"),
    ]
    rebuilt, last = [], 0
    for s in spans:
        rebuilt += [text[last : s["start"]], f"<{s['type']}>"]
        last = s["end"]
    assert "".join([*rebuilt, text[last:]]) == redact(text, [{"start": 0, "end": 4, "type": "PERSON"}])
