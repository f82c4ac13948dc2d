"""Worker processes decide exactly as one process does: stateful classifiers advance in input order."""

from __future__ import annotations

import functools
import json
import os
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from safeguard import Moderator
from safeguard.errors import SafeguardError
from safeguard.parallel import Workers, resolve_workers
from safeguard.rules.engine import Engine, Failure, isolated
from safeguard.rules.loader import parse_ruleset
from safeguard.types import Post

ROOT = Path(__file__).resolve().parents[2]

#: Reads both stateful classifiers (duplicate window, spam author counts) and stateless ones.
RULES = """\
ruleset: parallel
version: 1
classifiers:
  duplicate: {threshold: 0.8, window: 50}
  spam: {author_window_seconds: 600}
rules:
  - id: flood
    when: spam.author_recent_posts >= 4
    action: hold
  - id: campaign
    when: duplicate.cluster_size >= 3 && !duplicate.same_author
    action: remove
  - id: spammy
    when: spam.score >= 0.9
    action: hold
  - id: loud
    when: text.caps_ratio > 0.8 && text.length > 20
    action: hold
"""

CAMPAIGN = "Huge discount on designer kettles today only, visit our shop and use code KETTLE50 for half off"


def stream(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """Forum-like posts with copy-paste campaigns spanning many batches and authors who flood."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    words = [
        "kettle",
        "lid",
        "handle",
        "delivery",
        "refund",
        "store",
        "staff",
        "boils",
        "fast",
        "slow",
        "great",
        "awful",
        "price",
        "order",
    ]
    posts: list[dict[str, Any]] = []
    for i in range(n):
        kind = rng.random()
        if kind < 0.15:
            text = CAMPAIGN + rng.choice(["", "!", " now", " !!"])
        elif kind < 0.2:
            text = "WHY IS THE DELIVERY SO LATE AGAIN " * 2
        else:
            text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 30)))
        author = f"u{rng.randint(1, 6) if kind < 0.3 else rng.randint(1, 400)}"
        ts = start + timedelta(seconds=i * 10 + rng.randint(0, 9))
        posts.append({"id": f"p{i}", "text": text, "author": {"id": author}, "created_at": ts.isoformat()})
    return posts


def decided(moderator: Moderator, items: list[Any], batch_size: int) -> list[dict[str, Any]]:
    out = []
    for d in moderator.moderate_many(items, batch_size=batch_size):
        row = d.to_dict()
        row.pop("elapsed_ms", None)
        out.append(row)
    return out


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "parallel.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


def test_two_workers_decide_as_one_process(rules: Path) -> None:
    items: list[Any] = stream(900)
    items.insert(17, {"id": "bad", "text": 42})  # an input error keeps its place
    items.insert(400, {"text": ""})
    with Moderator.from_file(rules) as one:
        expected = decided(one, items, 64)
    with Moderator.from_file(rules, workers=2) as two:
        got = decided(two, items, 64)
    assert len(got) == len(items)
    assert got == expected
    # The stream exercised both windows across batch boundaries.
    fired = {m["rule"] for row in expected for m in row["matches"]}
    assert {"flood", "campaign"} <= fired, fired
    assert any(row.get("errors") for row in expected)


def test_shipped_policy_with_workers_matches_one_process() -> None:
    dump = ROOT / "examples" / "community_dump.jsonl"
    posts = [json.loads(line) for line in dump.read_text(encoding="utf-8").splitlines() if line.strip()]
    with Moderator.from_file(ROOT / "rules" / "community.yaml") as one:
        expected = decided(one, posts, 50)
    with Moderator.from_file(ROOT / "rules" / "community.yaml", workers=2) as two:
        got = decided(two, posts, 50)
    assert got == expected
    assert {row["action"] for row in expected} == {"allow", "hold", "remove"}


def where_decided(posts: list[Post], decisions: list[Any]) -> list[tuple[int, str, str]]:
    """A ``finish``: the process that decided each post, with its id and action."""
    return [(os.getpid(), p.id, d.action.value) for p, d in zip(posts, decisions, strict=True)]


def test_finish_runs_where_the_batch_was_decided(rules: Path) -> None:
    items = stream(300)
    batches = [items[i : i + 40] for i in range(0, len(items), 40)]
    with Moderator.from_file(rules) as one:
        here = [row for rows in one.decide_batches(batches, finish=where_decided) for row in rows]
    with Moderator.from_file(rules, workers=2) as two:
        there = [row for rows in two.decide_batches(batches, finish=where_decided) for row in rows]
    assert [(i, a) for _, i, a in here] == [(i, a) for _, i, a in there]
    assert [i for _, i, _ in here] == [item["id"] for item in items]
    assert {a for _, _, a in here} == {"allow", "hold", "remove"}
    assert {pid for pid, _, _ in here} == {os.getpid()}
    assert os.getpid() not in {pid for pid, _, _ in there}


def test_encoded_records_from_workers_equal_one_process(rules: Path) -> None:
    from safeguard.io.writers import JsonlWriter, decision_records

    items = stream(300)
    batches = [items[i : i + 64] for i in range(0, len(items), 64)]
    finish = functools.partial(decision_records, encode=JsonlWriter.encode, signals=False)

    def lines(moderator: Moderator) -> list[dict[str, Any]]:
        out = []
        for records in moderator.decide_batches(batches, finish=finish):
            for record in records:
                row = json.loads(record.record)
                assert row.pop("elapsed_ms") >= 0 and row["signals"] == {}
                out.append((record.action, record.rules, row))
        return out

    with Moderator.from_file(rules) as one, Moderator.from_file(rules, workers=2) as two:
        assert lines(two) == lines(one)
    kept = functools.partial(decision_records, encode=JsonlWriter.encode, keep=True)
    with Moderator.from_file(rules, workers=2) as two:
        records = [r for rs in two.decide_batches(batches, finish=kept) for r in rs]
    assert [r.decision.post_id for r in records if r.decision] == [item["id"] for item in items]
    assert all(r.decision and r.decision.action.value == r.action for r in records)


def test_the_parent_loads_only_the_stateful_classifiers(rules: Path) -> None:
    with Moderator.from_file(rules, workers=2) as moderator:
        moderator.load()
        loaded = {name for name, c in moderator.ruleset.classifiers.items() if c.loaded}
        assert loaded == set(moderator.stateful) == {"duplicate", "spam"}
        assert moderator.moderate_batch(stream(3))  # this process still decides on its own


def test_a_worker_that_cannot_load_fails_at_load(tmp_path: Path) -> None:
    """A list file that changes after the parent read the ruleset: the workers read another ruleset."""
    terms = tmp_path / "terms.txt"
    terms.write_text("kettle\n", encoding="utf-8")
    path = tmp_path / "rules.yaml"
    path.write_text(
        "ruleset: t\nversion: 1\nlists:\n  words: terms.txt\nrules:\n"
        "  - id: word\n    when: size(lists.words) > 0\n    action: hold\n",
        encoding="utf-8",
    )
    moderator = Moderator.from_file(path, workers=2)
    terms.write_text("teapot\n", encoding="utf-8")
    with pytest.raises(SafeguardError, match=r"could not load the ruleset.*a file it reads changed"):
        moderator.load()
    with pytest.raises(SafeguardError, match="a file it reads changed"):  # not loaded first: on the first batch
        list(moderator.moderate_many([{"id": "a", "text": "kettle"}]))
    moderator.close()


def test_workers_refuse_a_ruleset_without_its_text(rules: Path) -> None:
    ruleset = parse_ruleset(RULES, base_dir=rules.parent)
    ruleset.text = None
    with pytest.raises(SafeguardError, match="from its text"):
        Workers(ruleset, 2)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), ("3", 3), (" 2 ", 2), ("auto", None), ("AUTO", None)],
)
def test_resolve_workers(value: Any, expected: int | None) -> None:
    n = resolve_workers(value)
    assert n == expected if expected is not None else n >= 1


@pytest.mark.parametrize("value", [0, -1, "0", "two", "1.5", True, None, ""])
def test_resolve_workers_refuses(value: Any) -> None:
    with pytest.raises(ValueError, match="positive integer or 'auto'"):
        resolve_workers(value)


@pytest.mark.parametrize("value", [0, True, 1.0])
def test_moderator_refuses_bad_worker_counts(value: Any) -> None:
    with pytest.raises(ValueError, match="workers"):
        Moderator.from_yaml(RULES, workers=value)


def test_isolated_fails_only_the_items_it_fails_on() -> None:
    def run(items: list[int]) -> list[int]:
        if 3 in items:
            raise RuntimeError("three")
        return [i * 10 for i in items]

    assert isolated(run, [1, 2, 3, 4]) == [10, 20, Failure("three"), 40]
    assert isolated(run, []) == []
    assert isolated(lambda items: [], [1]) == [Failure("returned 0 results for 1 posts")]


def test_advanced_results_stand_in_for_the_stateful_classifiers(rules: Path) -> None:
    """The engine takes given results where it would have run a stateful classifier; a Failure makes
    that post fail with the ruleset's on_error action, like a classifier that raised."""
    engine = Engine(parse_ruleset(RULES, base_dir=rules.parent))
    posts = [Post(id=f"p{i}", text="a quiet post about a kettle") for i in range(3)]
    spam = {"score": 0.0, "author_recent_posts": 9, **{k: 0 for k in ("links", "length")}}
    dup = {"similarity": 0.0, "of": "", "of_author": "", "same_author": False, "cluster_size": 1, "authors": 1}
    advanced = {"spam": [spam, Failure("window broke"), spam], "duplicate": [dup, dup, dup]}
    out = engine.decide(posts, advanced=advanced)
    assert [d.action.value for d in out] == ["hold", "hold", "hold"]
    assert out[0].rules == ["flood"] and out[2].rules == ["flood"]
    assert out[1].errors == ({"source": "classifier:spam", "error": "window broke"},)
    with pytest.raises(SafeguardError, match="exactly the stateful"):
        engine.decide(posts, advanced={"spam": advanced["spam"]})
    with pytest.raises(SafeguardError, match="2 rows for 3 posts"):
        engine.decide(posts, advanced={"spam": advanced["spam"][:2], "duplicate": advanced["duplicate"]})


def test_a_worker_uses_its_share_of_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from safeguard import cpus
    from safeguard.classifiers.toxicity.backend import cpu_count

    monkeypatch.setattr(cpus, "_share", None)
    every = cpus.available()
    cpus.share(every)
    assert cpus.available() == cpu_count() == 1
    cpus.share(1)
    assert cpus.available() == every
