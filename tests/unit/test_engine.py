"""The engine's semantics as tables: precedence, exempt, unless, shadow, planning, fail-closed."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import pytest

from safeguard import Action, Moderator, Post, StaticClassifier
from safeguard.classifiers.base import Classifier, Cost, register

RULES = """
ruleset: engine-test
version: 1
classifiers:
  tox: {kind: static, signals: {insult: 0.0, threat: 0.0}, cost: model}
lists:
  insults: [idiot, moron]
exempt: post.author.role in ["staff", "moderator"]
rules:
  - id: threat
    when: tox.threat >= 0.7
    action: remove
    reason: Threatening another member
  - id: insult
    when: tox.insult >= 0.8 || size(lists.insults) > 0
    unless: post.text.contains("not an idiot")
    action: hold
  - id: newbie-links
    when: post.author.trust_level == 0 && post.text.contains("http")
    action: hold
  - id: low-trust
    when: post.author.trust_level < 1 && post.text.contains("deal")
    action: hold
  - id: caps
    when: text.caps_ratio > 0.8 && text.length > 10
    action: remove
    mode: shadow
"""


def make(signals: dict[str, dict[str, Any]] | None = None, rules: str = RULES) -> Moderator:
    moderator = Moderator.from_yaml(rules)
    if signals is not None:
        tox = moderator.ruleset.classifiers["tox"]
        assert isinstance(tox, StaticClassifier)
        tox.by_id = signals
    return moderator


@pytest.mark.parametrize(
    ("post", "signals", "action", "rules"),
    [
        ({"id": "a", "text": "Great blender, works fine"}, {}, "allow", []),
        ({"id": "a", "text": "you idiot"}, {}, "hold", ["insult"]),
        ({"id": "a", "text": "you are not an idiot"}, {}, "allow", []),
        ({"id": "a", "text": "meet me"}, {"a": {"threat": 0.9}}, "remove", ["threat"]),
        # the most severe firing rule wins; every acting rule that fired is listed
        ({"id": "a", "text": "you moron"}, {"a": {"threat": 0.9, "insult": 0.9}}, "remove", ["insult", "threat"]),
        ({"id": "a", "text": "x", "author": {"trust_level": 0}}, {"a": {"insult": 0.95}}, "hold", ["insult"]),
        ({"id": "a", "text": "see http://x.io", "author": {"trust_level": 0}}, {}, "hold", ["newbie-links"]),
        ({"id": "a", "text": "see http://x.io", "author": {"trust_level": 2}}, {}, "allow", []),
        # no author data: not a new member, trust rules do not fire (neither == nor <)
        ({"id": "a", "text": "see http://x.io great deal"}, {}, "allow", []),
        ({"id": "a", "text": "great deal", "author": {"trust_level": 0}}, {}, "hold", ["low-trust"]),
        # staff are exempt from everything
        ({"id": "a", "text": "you idiot", "author": {"role": "staff"}}, {"a": {"threat": 0.99}}, "allow", []),
    ],
)
def test_decision_table(post: dict[str, Any], signals: dict[str, Any], action: str, rules: list[str]) -> None:
    decision = make(signals).moderate(post)
    assert decision.action is Action(action)
    assert sorted(decision.rules) == sorted(rules)


def test_shadow_rule_is_recorded_and_never_acts() -> None:
    decision = make().moderate({"id": "s", "text": "THIS IS ALL CAPS TEXT"})
    assert decision.action is Action.ALLOW
    assert [m.rule for m in decision.shadow] == ["caps"]
    assert decision.rules == []


def test_exempt_posts_run_no_classifier() -> None:
    moderator = make()
    decision = moderator.moderate({"id": "e", "text": "idiot", "author": {"role": "moderator"}})
    assert decision.exempt and decision.action is Action.ALLOW
    assert decision.signals == {}
    assert set(decision.skipped) == {"tox", "lists", "text"}


def test_match_records_values_reason_and_ruleset() -> None:
    decision = make({"p": {"threat": 0.91}}).moderate({"id": "p", "text": "hi"})
    match = decision.matches[0]
    assert match.values == {"tox.threat": 0.91}
    assert match.reason == "Threatening another member"
    assert decision.ruleset["name"] == "engine-test"
    assert decision.ruleset["hash"].startswith("sha256:")


def test_planning_skips_costly_classifier_once_decided() -> None:
    # 'lists' (cheap) settles remove first; the model-tier classifier never runs for that post.
    rules = """
ruleset: plan
classifiers:
  slow: {kind: static, signals: {score: 0.0}, cost: model}
lists:
  banned: [scamcoin]
rules:
  - id: banned-term
    when: size(lists.banned) > 0
    action: remove
  - id: slow-score
    when: slow.score > 0.5
    action: hold
"""
    moderator = Moderator.from_yaml(rules)
    slow = moderator.ruleset.classifiers["slow"]
    assert isinstance(slow, StaticClassifier)
    decisions = moderator.moderate_batch(
        [{"id": "1", "text": "buy scamcoin now"}, {"id": "2", "text": "nice kettle"}, {"id": "3", "text": "scamcoin"}]
    )
    assert [d.action for d in decisions] == [Action.REMOVE, Action.ALLOW, Action.REMOVE]
    assert slow.posts_seen == 1  # only post 2 needed it
    assert "slow" in decisions[0].skipped and "slow" not in decisions[1].skipped


def test_unreferenced_classifier_never_runs() -> None:
    rules = """
ruleset: unused
classifiers:
  idle: {kind: static, signals: {score: 1.0}}
rules:
  - id: long
    when: text.length > 5000
    action: hold
"""
    moderator = Moderator.from_yaml(rules)
    idle = moderator.ruleset.classifiers["idle"]
    moderator.moderate("short")
    assert isinstance(idle, StaticClassifier) and idle.calls == 0


@pytest.mark.parametrize(("on_error", "expected"), [(None, "hold"), ("remove", "remove"), ("allow", "allow")])
def test_failing_classifier_fails_closed(on_error: str | None, expected: str) -> None:
    rules = RULES if on_error is None else RULES.replace("version: 1", f"version: 1\non_error: {on_error}")
    moderator = make(rules=rules)
    tox = moderator.ruleset.classifiers["tox"]
    assert isinstance(tox, StaticClassifier)
    tox.fail_on = {"bad"}
    decisions = moderator.moderate_batch([{"id": "ok", "text": "hello"}, {"id": "bad", "text": "hello"}])
    assert decisions[0].action is Action.ALLOW and decisions[0].errors == ()
    assert decisions[1].action is Action(expected)
    assert decisions[1].errors[0]["source"] == "classifier:tox"
    assert "fail on post 'bad'" in decisions[1].errors[0]["error"]


class _Exploding(Classifier):
    kind = "exploding_test"
    outputs: ClassVar[dict[str, type]] = {"score": float}
    cost = Cost.MODEL

    def classify(self, posts: Any) -> list[dict[str, Any]]:
        raise RuntimeError("model crashed")


def test_classifier_that_always_raises_holds_everything_it_was_needed_for() -> None:
    register(_Exploding)
    rules = """
ruleset: boom
classifiers:
  boom: {kind: exploding_test}
lists:
  banned: [scamcoin]
rules:
  - id: banned
    when: size(lists.banned) > 0
    action: remove
  - id: boom
    when: boom.score > 0.5
    action: remove
"""
    decisions = Moderator.from_yaml(rules).moderate_batch(["scamcoin here", "ok", "fine"])
    assert [d.action for d in decisions] == [Action.REMOVE, Action.HOLD, Action.HOLD]
    assert decisions[0].errors == ()
    assert all(d.errors[0]["error"] == "model crashed" for d in decisions[1:])


def test_condition_that_is_not_boolean_is_an_error_not_an_allow() -> None:
    rules = """
ruleset: nonbool
rules:
  - id: weird
    when: post.meta.flag
    action: remove
"""
    decision = Moderator.from_yaml(rules).moderate({"id": "1", "text": "x", "meta": {"flag": "yes"}})
    assert decision.action is Action.HOLD
    assert decision.errors[0]["source"] == "rule:weird"


def test_moderate_many_streams_in_order_in_batches() -> None:
    moderator = make()
    posts = ({"id": str(i), "text": "you idiot" if i % 3 == 0 else "fine"} for i in range(50))
    decisions = list(moderator.moderate_many(posts, batch_size=7))
    assert [d.post_id for d in decisions] == [str(i) for i in range(50)]
    assert [d.action for d in decisions] == [Action.HOLD if i % 3 == 0 else Action.ALLOW for i in range(50)]


def test_moderate_is_thread_safe() -> None:
    moderator = make()
    results: dict[int, str] = {}

    def work(i: int) -> None:
        text = "you idiot" if i % 2 else "lovely"
        results[i] = moderator.moderate(Post(id=str(i), text=text)).action.value

    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: ("hold" if i % 2 else "allow") for i in range(40)}


def test_amoderate() -> None:
    import asyncio

    decision = asyncio.run(make().amoderate("you moron"))
    assert decision.action is Action.HOLD


def test_decision_json_round_trip_is_exact_and_matches_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import json

    from safeguard import Decision

    decision = make({"r": {"threat": 0.75}}).moderate(
        {"id": "r", "text": "you idiot", "author": {"trust_level": 0}, "created_at": "2026-10-01T10:00:00Z"}
    )
    data = json.loads(json.dumps(decision.to_dict()))
    assert Decision.from_dict(data) == decision
    jsonschema.validate(data, Decision.json_schema())


def test_a_fast_path_that_fails_other_than_by_deferring_is_not_hidden_behind_cel() -> None:
    """Only :class:`Unsupported` hands a condition to CEL; any other exception is a bug and surfaces."""
    from safeguard.rules.engine import Engine
    from safeguard.rules.loader import parse_ruleset
    from safeguard.types import Post

    ruleset = parse_ruleset(
        "ruleset: t\nclassifiers:\n  text: {}\nrules:\n  - {id: shout, when: 'text.caps_ratio > 0.5', action: hold}\n"
    )
    engine = Engine(ruleset)
    (plan,) = engine._plans  # type: ignore[attr-defined]
    assert plan.when.fast is not None

    def broken(env: object) -> bool:
        raise ZeroDivisionError("a bug in the fast path")

    plan.when.fast = broken
    with pytest.raises(ZeroDivisionError):
        engine.decide([Post(id="p", text="LOUD NOISES")])
