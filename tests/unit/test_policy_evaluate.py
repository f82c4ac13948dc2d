"""safeguard.policy.evaluate: hand-computed precision and recall, Wilson intervals, labels and gates."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguard import Action, ConfigError, Moderator
from safeguard.io import iter_posts, read_records
from safeguard.policy.evaluate import (
    Gate,
    LabelError,
    LabelReader,
    evaluate,
    label_action,
    parse_gate,
    parse_label_map,
    wilson_interval,
)
from safeguard.policy.records import UnusableRecord

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policy"
LABEL_MAP = parse_label_map(["ok=allow,flag=hold", "bad=remove"])


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    moderator = Moderator.from_file(FIXTURES / "eval_rules.yaml")
    reader = LabelReader("review.verdict", LABEL_MAP)
    items = reader(iter_posts(read_records(FIXTURES / "labelled.jsonl")))
    return evaluate(moderator, items, batch_size=4)


# The 16 lines of labelled.jsonl, worked out by hand (label -> what eval_rules.yaml decides):
#   e01 hold   -> hold   (insult)        e08 allow -> allow
#   e02 allow  -> hold   (insult)        e09 allow -> allow
#   e03 remove -> hold   (insult)        e10 hold  -> allow
#   e04 remove -> remove (threat)        e11 remove -> allow
#   e05 allow  -> remove (threat)        e12 allow -> allow (shouting fires in shadow)
#   e06 remove -> remove (spam)          e13 hold  -> allow (shouting fires in shadow)
#   e07 hold   -> remove (spam)          e14 no label: skipped; e15 broken JSON, e16 no text: error records
# Confusion (rows label, columns predicted; allow, hold, remove):
#   allow  [3, 1, 1]   hold [2, 1, 1]   remove [1, 1, 2]
def test_confusion_matrix_and_counts(result) -> None:  # type: ignore[no-untyped-def]
    a, h, r = Action.ALLOW, Action.HOLD, Action.REMOVE
    assert result.posts == 13 and result.unlabelled == 1 and len(result.errors) == 2
    assert [e.line for e in result.errors] == [15, 16]
    assert result.confusion == {a: {a: 3, h: 1, r: 1}, h: {a: 2, h: 1, r: 1}, r: {a: 1, h: 1, r: 2}}
    assert result.accuracy == pytest.approx(6 / 13)


@pytest.mark.parametrize(
    ("target", "tp", "fp", "fn", "precision", "recall", "f1"),
    [
        # allow: tp = 3 (e08, e09, e12); fp = predicted allow but labelled otherwise = 2 + 1 (e10, e13, e11);
        # fn = labelled allow, predicted otherwise = e02, e05. P = 3/6, R = 3/5, F1 = 2*.5*.6/1.1
        ("allow", 3, 3, 2, 0.5, 0.6, 0.6 / 1.1),
        # hold: tp = e01; fp = e02 (allow), e03 (remove); fn = e07, e10, e13. P = 1/3, R = 1/4, F1 = 2/7
        ("hold", 1, 2, 3, 1 / 3, 0.25, 2 / 7),
        # remove: tp = e04, e06; fp = e05, e07; fn = e03, e11. P = R = F1 = 1/2
        ("remove", 2, 2, 2, 0.5, 0.5, 0.5),
        # hold+: predicted >= hold = e01..e07 (7), of which labelled >= hold: e01 e03 e04 e06 e07 (5);
        # labelled >= hold: 8, so fn = 3 (e10, e11, e13). P = 5/7, R = 5/8, F1 = 2*(5/7)(5/8)/(5/7+5/8) = 2/3
        ("hold+", 5, 2, 3, 5 / 7, 5 / 8, 2 / 3),
        ("remove+", 2, 2, 2, 0.5, 0.5, 0.5),
        # threat (remove): fires e04 (remove: right), e05 (allow: wrong); 4 posts labelled remove -> fn 3
        ("threat", 1, 1, 3, 0.5, 0.25, 1 / 3),
        # insult (hold): fires e01 (hold: right), e02 (allow: wrong), e03 (remove >= hold: right);
        # 8 posts labelled hold or remove -> fn 6. P = 2/3, R = 2/8, F1 = 2*(2/3)(1/4)/(11/12) = 4/11
        ("insult", 2, 1, 6, 2 / 3, 0.25, 4 / 11),
        # spam (remove): fires e06 (right), e07 (hold < remove: wrong); fn = 4 - 1
        ("spam", 1, 1, 3, 0.5, 0.25, 1 / 3),
        # shouting (hold, shadow): would have fired on e12 (allow: wrong) and e13 (hold: right); fn = 8 - 1
        ("shouting", 1, 1, 7, 0.5, 0.125, 0.2),
    ],
)
def test_hand_computed_metrics(result, target, tp, fp, fn, precision, recall, f1) -> None:  # type: ignore[no-untyped-def]
    m = result.metric(target)
    assert (m.tp, m.fp, m.fn) == (tp, fp, fn)
    assert m.precision == pytest.approx(precision)
    assert m.recall == pytest.approx(recall)
    assert m.f1 == pytest.approx(f1)


def test_per_rule_entries_carry_action_and_shadow(result) -> None:  # type: ignore[no-untyped-def]
    rules = {rm.rule: (rm.action, rm.shadow) for rm in result.per_rule}
    assert rules == {
        "threat": (Action.REMOVE, False),
        "insult": (Action.HOLD, False),
        "spam": (Action.REMOVE, False),
        "shouting": (Action.HOLD, True),
    }


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # 8/10 by hand: z^2/n = 3.8415/10, centre = (0.8 + 0.19207)/1.38415 = 0.71674,
        # half = 1.96/1.38415 * sqrt(0.016 + 0.0096037) = 0.22658 -> (0.4902, 0.9433)
        (8, 10, 0.4902, 0.9433),
        # 0/n has lower bound 0 and upper bound (z^2/n)/(1 + z^2/n) = 0.38415/1.38415
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
        (1, 3, 0.0615, 0.7923),
    ],
)
def test_wilson_interval_known_values(successes: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, n)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=5e-5)
    assert interval[1] == pytest.approx(high, abs=5e-5)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(3, 2)


def test_metric_intervals_are_wilson_of_their_counts(result) -> None:  # type: ignore[no-untyped-def]
    hold = result.metric("hold")
    assert hold.precision_ci == wilson_interval(1, 3)
    assert hold.recall_ci == wilson_interval(1, 4)
    assert result.metric("remove").precision_ci is not None


@pytest.mark.parametrize(
    ("value", "mapping", "expected"),
    [
        ("spam", {"spam": Action.REMOVE}, Action.REMOVE),
        ("SPAM ", {"spam": Action.REMOVE}, Action.REMOVE),
        (1, {"1": Action.HOLD}, Action.HOLD),
        (1.0, {"1": Action.HOLD}, Action.HOLD),
        (True, {"true": Action.REMOVE}, Action.REMOVE),
        ("ham", {"spam": Action.REMOVE}, None),
        ("Hold", None, Action.HOLD),
        ("remove", None, Action.REMOVE),
        ("spam", None, None),
    ],
)
def test_label_action(value: object, mapping: dict[str, Action] | None, expected: Action | None) -> None:
    assert label_action(value, mapping) is expected


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["spam"], "expected VALUE=ACTION"),
        (["spam=delete"], "invalid action 'delete'"),
        (["spam=remove,spam=allow"], "already mapped to remove"),
        (["=remove"], "expected VALUE=ACTION"),
    ],
)
def test_parse_label_map_errors(specs: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_label_map(specs)


def test_unmapped_label_lists_every_value_found() -> None:
    reader = LabelReader("review.verdict", parse_label_map(["ok=allow"]))
    moderator = Moderator.from_file(FIXTURES / "eval_rules.yaml")
    with pytest.raises(LabelError) as info:
        evaluate(moderator, reader(iter_posts(read_records(FIXTURES / "labelled.jsonl"))))
    assert info.value.unmapped == ["flag", "bad"]
    assert info.value.values == {"ok": 6, "flag": 4, "bad": 4}
    assert "label map" in str(info.value) and "--" not in str(info.value) and "'flag' (4)" in str(info.value)


@pytest.mark.parametrize(
    ("metric", "spec", "expected"),
    [
        ("precision", "insult=0.6", Gate("precision", "insult", 0.6)),
        ("recall", "hold+ = 0.5", Gate("recall", "hold+", 0.5)),
        ("f1", "remove=1", Gate("f1", "remove", 1.0)),
    ],
)
def test_parse_gate(metric: str, spec: str, expected: Gate) -> None:
    assert parse_gate(metric, spec, ["insult", "threat"]) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch=0.9", "neither an action"),
        ("insult", "expected RULE=MIN"),
        ("insult=high", "not a number"),
        ("insult=1.5", "between 0 and 1"),
    ],
)
def test_parse_gate_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_gate("precision", spec, ["insult", "threat"])


@pytest.mark.parametrize(
    ("gate", "passed", "value"),
    [
        (Gate("precision", "insult", 0.6), True, 2 / 3),
        (Gate("precision", "insult", 0.7), False, 2 / 3),
        (Gate("recall", "hold+", 0.625), True, 0.625),
        (Gate("recall", "allow", 0.61), False, 0.6),
    ],
)
def test_gates(result, gate: Gate, passed: bool, value: float) -> None:  # type: ignore[no-untyped-def]
    (checked,) = result.check([gate])
    assert checked.passed is passed
    assert checked.value == pytest.approx(value)
    assert result.passed is passed


def test_gate_on_an_undefined_metric_fails() -> None:
    moderator = Moderator.from_file(FIXTURES / "eval_rules.yaml")
    from safeguard import Post

    items = [(Post(id="a", text="nice kettle"), Action.ALLOW), UnusableRecord(2, None, "bad")]
    result = evaluate(moderator, items, gates=[Gate("precision", "threat", 0.5)])
    assert result.metric("threat").precision is None
    assert result.gates[0].value is None and not result.passed
    assert result.to_dict()["rules"]["threat"]["precision"] is None


def test_wrong_fires_are_the_first_posts_labelled_less_severe(result) -> None:  # type: ignore[no-untyped-def]
    # from the table above: threat wrongly fired on e05, insult on e02, spam on e07, shouting on e12
    wrong = {rule: [(w.post_id, w.label) for w in ws] for rule, ws in result.wrong_fires.items()}
    assert wrong == {
        "threat": [("e05", Action.ALLOW)],
        "insult": [("e02", Action.ALLOW)],
        "spam": [("e07", Action.HOLD)],
        "shouting": [("e12", Action.ALLOW)],
    }
    assert result.to_dict()["wrong_fires"]["spam"] == [
        {"post_id": "e07", "label": "hold", "rule_action": "remove", "text": "pills for sale"}
    ]


def test_error_records_are_all_counted_and_the_first_kept() -> None:
    from safeguard.policy.records import KEPT_ERRORS

    moderator = Moderator.from_file(FIXTURES / "eval_rules.yaml")
    from safeguard import Post

    items = [UnusableRecord(i, None, "bad") for i in range(KEPT_ERRORS + 50)] + [(Post(id="a", text="x"), Action.ALLOW)]
    result = evaluate(moderator, items, examples=0)
    assert result.error_records == KEPT_ERRORS + 50 and len(result.errors) == KEPT_ERRORS
    assert result.to_dict()["error_records"] == KEPT_ERRORS + 50
    assert result.wrong_fires == {}
