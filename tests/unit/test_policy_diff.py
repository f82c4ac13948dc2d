"""safeguard.policy.diff: exactly the posts whose action changes, the same on every run."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from safeguard import Action, Moderator, Post
from safeguard.policy.diff import diff_rulesets
from safeguard.policy.records import UnusableRecord

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "community.yaml"
DUMP = ROOT / "examples" / "community_dump.jsonl"
VALID = ROOT / "tests" / "fixtures" / "rules" / "valid.yaml"


def changed_policy() -> Moderator:
    """The shipped policy with three edits: insults removed, shouting enforced, new members' links allowed."""
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    rules = []
    for rule in data["rules"]:
        if rule["id"] == "personal-insult":
            rule["action"] = "remove"
        elif rule["id"] == "shouting-long-post":
            rule.pop("mode")
        elif rule["id"] == "new-member-links":
            continue
        rules.append(rule)
    data["rules"] = rules
    return Moderator.from_yaml(yaml.safe_dump(data, sort_keys=False), base_dir=RULES.parent)


def dump_posts() -> list[Post]:
    lines = DUMP.read_text(encoding="utf-8").splitlines()
    return [Post.from_mapping(json.loads(line)) for line in lines if line.strip()]


@pytest.fixture
def moderators() -> tuple[Moderator, Moderator]:
    # Fresh per test: stateful classifiers (spam's author window) remember the posts they have seen.
    return Moderator.from_file(RULES), changed_policy()


def test_diff_reports_exactly_the_posts_whose_action_changes(moderators: tuple[Moderator, Moderator]) -> None:
    old, new = moderators
    posts = dump_posts()
    # brute force: one post at a time through each moderator
    expected = {}
    for p in posts:
        a, b = old.moderate(p).action, new.moderate(p).action
        if a is not b:
            expected[p.id] = (a, b)
    assert len(expected) >= 5  # the edits do change something
    # fresh moderators: the stateful classifiers (author window, near-duplicate window) saw the posts above
    result = diff_rulesets(Moderator.from_file(RULES), changed_policy(), posts, examples=len(posts), batch_size=37)
    found = {e.post_id: (e.before, e.after) for exs in result.examples.values() for e in exs}
    assert found == expected
    assert result.changed == len(expected)
    assert result.posts == len(posts)
    for (a, b), exs in result.examples.items():
        assert a is not b and result.transitions[a][b] == len(exs)
    unchanged = sum(result.transitions[a][a] for a in Action)
    assert unchanged == len(posts) - len(expected)


def test_rule_fires_before_and_after(moderators: tuple[Moderator, Moderator]) -> None:
    old, new = moderators
    posts = dump_posts()
    result = diff_rulesets(old, new, posts)
    fires = result.rules
    # brute-force counts for the three edited rules
    before_links = sum("new-member-links" in old.moderate(p).rules for p in posts)
    shout_before = sum(any(m.rule == "shouting-long-post" for m in old.moderate(p).shadow) for p in posts)
    assert fires["new-member-links"].before == before_links > 0
    assert (fires["new-member-links"].after, fires["new-member-links"].mode_after) == (0, None)
    assert fires["new-member-links"].stopped == before_links
    assert (fires["shouting-long-post"].mode_before, fires["shouting-long-post"].mode_after) == ("shadow", "enforce")
    assert fires["shouting-long-post"].before == fires["shouting-long-post"].after == shout_before
    assert fires["personal-insult"].before == fires["personal-insult"].after
    assert result.to_dict()["rules"]["new-member-links"]["delta"] == -before_links


def test_diff_json_is_identical_across_runs_and_batch_sizes() -> None:
    texts = {
        json.dumps(
            diff_rulesets(Moderator.from_file(RULES), changed_policy(), dump_posts(), batch_size=size).to_dict(),
            sort_keys=True,
        )
        for size in (1, 64, 256, 256)
    }
    assert len(texts) == 1


def test_examples_are_the_first_n_in_input_order(moderators: tuple[Moderator, Moderator]) -> None:
    old, new = moderators
    posts = dump_posts()
    full = diff_rulesets(old, new, posts, examples=1000)
    two = diff_rulesets(old, new, posts, examples=2)
    for key, exs in full.examples.items():
        assert [e.post_id for e in two.examples[key]] == [e.post_id for e in exs[:2]]
    assert diff_rulesets(old, new, posts, examples=0).examples == {}


def post(pid: str, text: str, day: int | None) -> Post:
    created = datetime(2026, 3, day, 12, tzinfo=timezone.utc) if day else None
    return Post(id=pid, text=text, created_at=created)


def test_hold_queue_per_day_and_error_records() -> None:
    old = Moderator.from_yaml("ruleset: empty\nrules: []\n")
    new = Moderator.from_file(VALID)  # holds posts with a listed insult
    items = [
        (1, post("a", "you idiot", 1)),
        (2, post("b", "what a moron", 1)),
        (3, post("c", "lovely kettle", 2)),
        (4, post("d", "clown", 3)),
        UnusableRecord(5, "e", "invalid JSON"),
        (6, post("f", "idiot", None)),
    ]
    result = diff_rulesets(old, new, items)
    q = result.hold_queue
    assert (q.before, q.after, q.dated, q.undated, q.days) == (0, 4, 4, 1, 3)
    assert q.per_day(0) == 0 and q.per_day(1) == pytest.approx(3 / 3)
    assert q.peak(1) == ("2026-03-01", 2)
    assert result.changed == 4 and result.transitions[Action.ALLOW][Action.HOLD] == 4
    assert [e.to_dict() for e in result.errors] == [{"line": 5, "id": "e", "error": "invalid JSON"}]
    assert [e.line for e in result.examples[(Action.ALLOW, Action.HOLD)]] == [1, 2, 4, 6]
    d = result.to_dict()
    assert d["hold_queue"]["daily"] == {
        "2026-03-01": {"before": 0, "after": 2},
        "2026-03-02": {"before": 0, "after": 0},
        "2026-03-03": {"before": 0, "after": 1},
    }
    assert d["error_records"] == 1


def test_no_timestamps_means_no_per_day_load() -> None:
    m = Moderator.from_file(VALID)
    result = diff_rulesets(m, m, [post("a", "idiot", None)])
    assert result.changed == 0
    assert result.hold_queue.per_day(1) is None
    assert result.to_dict()["hold_queue"]["after"] == {"holds": 1, "per_day": None, "peak_day": None}


def test_error_records_are_all_counted_and_the_first_kept() -> None:
    from safeguard.policy.records import KEPT_ERRORS

    m = Moderator.from_file(VALID)
    result = diff_rulesets(m, m, [UnusableRecord(i, None, "bad") for i in range(KEPT_ERRORS + 7)])
    assert result.error_records == KEPT_ERRORS + 7 and len(result.errors) == KEPT_ERRORS
    assert result.to_dict()["error_records"] == KEPT_ERRORS + 7 and len(result.to_dict()["errors"]) == 20
