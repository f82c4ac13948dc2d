"""Score a ruleset against moderators' labels: precision, recall and F1 per action and per rule.

Definitions (``label`` is the moderators' action for a post, ``predicted`` the ruleset's):

* **Per action, one-vs-rest.** For each action A (allow, hold, remove), a post is a positive when
  ``label == A`` and is predicted positive when ``predicted == A``. So
  ``precision(A) = #(predicted A and labelled A) / #(predicted A)`` and
  ``recall(A) = #(predicted A and labelled A) / #(labelled A)``; the three rows are the rows and
  columns of the confusion matrix read one action at a time.
* **At least an action** (``hold+``, ``remove+``): the same with "at least as severe", a post is a
  positive when ``label >= A`` and predicted positive when ``predicted >= A``. ``hold+`` answers
  "of the posts the rules act on, how many should have been acted on", whatever the exact action.
* **Per rule.** A rule that fires on a post is *right* when the post's label is at least as severe
  as the rule's action (a ``hold`` rule firing on a post labelled ``remove`` is right), *wrong*
  otherwise. ``precision(rule) = right fires / fires``; ``recall(rule) = right fires / #(posts
  labelled at least as severe as the rule's action)``: the share of such posts that this rule alone
  catches. Shadow rules are scored the same way from their would-have-fired matches.

Every proportion comes with its Wilson score 95% interval (:func:`wilson_interval`). A metric whose
denominator is zero (a rule that never fired has no precision) is ``None``, and a gate on it fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from safeguard.errors import ConfigError, SafeguardError
from safeguard.metrics import Metric, MetricName, ratio, round_metric, wilson_interval
from safeguard.policy.records import ACTIONS, KEPT_ERRORS, UnusableRecord, action_matrix, batched
from safeguard.types import Action, Post, lookup_path

__all__ = [
    "ACTIONS",
    "Evaluation",
    "Gate",
    "GateResult",
    "LabelError",
    "LabelReader",
    "Metric",
    "RuleMetric",
    "WrongFire",
    "evaluate",
    "label_action",
    "label_key",
    "parse_gate",
    "parse_label_map",
    "wilson_interval",
]

#: Targets of an "at least as severe" metric.
AT_LEAST = {"hold+": Action.HOLD, "remove+": Action.REMOVE}

#: Characters of post text kept in a wrong-fire example.
EXAMPLE_TEXT = 240


@dataclass(frozen=True)
class RuleMetric:
    """A rule's fires scored against the labels (see the module docstring)."""

    rule: str
    action: Action
    shadow: bool
    metric: Metric

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "action": self.action.value, "shadow": self.shadow, **self.metric.to_dict()}


@dataclass(frozen=True)
class Gate:
    """A minimum a metric must reach: ``--min-precision threat=0.9`` is ``Gate("precision", "threat", 0.9)``.

    ``target`` is an action (``allow``, ``hold``, ``remove``), an at-least level (``hold+``,
    ``remove+``) or a rule id.
    """

    metric: MetricName
    target: str
    minimum: float

    def __str__(self) -> str:
        return f"{self.metric}({self.target}) >= {self.minimum:g}"


@dataclass(frozen=True)
class GateResult:
    """A gate and the value it was checked against (``None`` when the metric is undefined)."""

    gate: Gate
    value: float | None

    @property
    def passed(self) -> bool:
        return self.value is not None and self.value >= self.gate.minimum

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.gate.metric,
            "target": self.gate.target,
            "minimum": self.gate.minimum,
            "value": round_metric(self.value),
            "passed": self.passed,
        }


@dataclass(frozen=True)
class WrongFire:
    """A post a rule fired on although its label is less severe than the rule's action."""

    post_id: str
    label: Action
    rule_action: Action
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "post_id": self.post_id,
            "label": self.label.value,
            "rule_action": self.rule_action.value,
            "text": self.text,
        }


class LabelError(SafeguardError):
    """Labels that do not map to an action. ``values`` counts every label value found."""

    def __init__(self, unmapped: Sequence[str], values: Mapping[str, int], label_field: str) -> None:
        self.unmapped = list(unmapped)
        self.values = dict(values)
        self.label_field = label_field
        shown = sorted(self.values.items(), key=lambda kv: (-kv[1], kv[0]))
        listed = ", ".join(f"{k!r} ({n})" for k, n in shown[:20])
        more = f" and {len(shown) - 20} more" if len(shown) > 20 else ""
        super().__init__(
            f"label value(s) {', '.join(map(repr, self.unmapped[:20]))} in field {label_field!r} map to no action; "
            f"values found: {listed}{more}. Map each to allow, hold or remove with a label map "
            f"of VALUE=ACTION pairs (for example spam=remove,ham=allow)"
        )


@dataclass
class Evaluation:
    """The result of :func:`evaluate`: counts, the confusion matrix and every metric."""

    ruleset: Mapping[str, Any]
    posts: int
    unlabelled: int
    error_records: int
    errors: list[UnusableRecord]  # the first KEPT_ERRORS
    confusion: dict[Action, dict[Action, int]]
    per_action: dict[Action, Metric]
    at_least: dict[str, Metric]
    per_rule: list[RuleMetric]
    gates: list[GateResult] = field(default_factory=list)
    wrong_fires: dict[str, list[WrongFire]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Every gate passed (true when there are none)."""
        return all(g.passed for g in self.gates)

    @property
    def accuracy(self) -> float | None:
        right = sum(self.confusion[a][a] for a in ACTIONS)
        return ratio(right, self.posts)

    def metric(self, target: str) -> Metric:
        """The metric of an action, an at-least level (``hold+``) or a rule id; ``KeyError`` otherwise."""
        if target in AT_LEAST:
            return self.at_least[target]
        for action in ACTIONS:
            if action.value == target:
                return self.per_action[action]
        for rm in self.per_rule:
            if rm.rule == target:
                return rm.metric
        raise KeyError(target)

    def check(self, gates: Iterable[Gate]) -> list[GateResult]:
        """Check ``gates`` against this evaluation; the results are also kept in ``self.gates``."""
        self.gates = [GateResult(g, self.metric(g.target).value(g.metric)) for g in gates]
        return self.gates

    def to_dict(self) -> dict[str, Any]:
        """Deterministic, JSON-ready: sorted keys when dumped with ``sort_keys``; no timings."""
        return {
            "ruleset": dict(self.ruleset),
            "posts": self.posts,
            "unlabelled": self.unlabelled,
            "error_records": self.error_records,
            "errors": [e.to_dict() for e in self.errors[:20]],
            "accuracy": round_metric(self.accuracy),
            "confusion": {
                "rows": "label",
                "columns": "predicted",
                "matrix": {lab.value: {pre.value: n for pre, n in row.items()} for lab, row in self.confusion.items()},
            },
            "actions": {a.value: m.to_dict() for a, m in self.per_action.items()},
            "at_least": {k: m.to_dict() for k, m in self.at_least.items()},
            "rules": {rm.rule: rm.to_dict() for rm in self.per_rule},
            "gates": [g.to_dict() for g in self.gates],
            "passed": self.passed,
            "wrong_fires": {rule: [w.to_dict() for w in ws] for rule, ws in sorted(self.wrong_fires.items())},
        }

    def render(self, console: Console) -> None:
        """Print the evaluation as tables."""
        name = self.ruleset.get("name", "?")
        console.print(
            f"[bold]{name}[/bold] ({self.ruleset.get('hash', '')}): {self.posts:,} labelled posts"
            + (f", {self.unlabelled:,} without a label (skipped)" if self.unlabelled else "")
            + (f", {self.error_records:,} error records" if self.error_records else "")
        )
        cm = action_matrix("confusion matrix (rows: label, columns: predicted)", "label \\ predicted", self.confusion)
        console.print(cm)
        acts = Table(title="per action (one-vs-rest; + = at least as severe)", title_justify="left")
        _metric_columns(acts, "action")
        for a, m in self.per_action.items():
            acts.add_row(a.value, *_metric_cells(m))
        for k, m in self.at_least.items():
            acts.add_row(k, *_metric_cells(m))
        console.print(acts)
        rules = Table(title="per rule (right when the label is at least the rule's action)", title_justify="left")
        _metric_columns(rules, "rule")
        for rm in self.per_rule:
            label = f"{rm.rule} ({rm.action.value}{', shadow' if rm.shadow else ''})"
            rules.add_row(label, *_metric_cells(rm.metric))
        console.print(rules)
        for rule, ws in sorted(self.wrong_fires.items()):
            console.print(f"[bold]{rule}[/bold] fired on posts labelled less severe, first {len(ws)}:")
            for w in ws:
                console.print(f"  {w.post_id} (label {w.label.value}): {w.text!r}", markup=False, highlight=False)
        for g in self.gates:
            shown = "undefined" if g.value is None else f"{g.value:.3f}"
            verdict = "[green]pass[/green]" if g.passed else "[red]FAIL[/red]"
            console.print(f"{verdict} {g.gate}: {shown}")


def _metric_columns(table: Table, first: str) -> None:
    table.add_column(first, style="bold")
    for col in ("tp", "fp", "fn", "precision", "95% CI", "recall", "95% CI", "F1"):
        table.add_column(col, justify="right", no_wrap=True)


def _metric_cells(m: Metric) -> list[str]:
    return [
        f"{m.tp:,}",
        f"{m.fp:,}",
        f"{m.fn:,}",
        _fmt(m.precision),
        _fmt_ci(m.precision_ci),
        _fmt(m.recall),
        _fmt_ci(m.recall_ci),
        _fmt(m.f1),
    ]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _fmt_ci(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"{ci[0]:.3f}-{ci[1]:.3f}"


# --- labels ----------------------------------------------------------------------------------------


def label_key(value: Any) -> str:
    """The text a label value is matched on: ``True`` -> ``"true"``, ``1.0`` -> ``"1"``, casefolded."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().casefold()


def parse_label_map(specs: Sequence[str], *, option: str = "label map") -> dict[str, Action]:
    """Parse ``VALUE=ACTION`` pairs (comma-separated, repeatable) into ``{label_key(VALUE): Action}``.

    Raises :class:`~safeguard.errors.ConfigError` for a malformed pair, an invalid action or a
    value mapped twice to different actions.
    """
    if isinstance(specs, str):
        specs = [specs]
    result: dict[str, Action] = {}
    for spec in specs:
        for pair in spec.split(","):
            if not pair.strip():
                continue
            value, sep, action = pair.partition("=")
            value, action = value.strip(), action.strip()
            if not sep or not value or not action:
                raise ConfigError(
                    f"invalid label mapping {pair!r}: expected VALUE=ACTION, for example spam=remove,ham=allow",
                    file=option,
                )
            try:
                act = Action.parse(action)
            except ValueError as exc:
                raise ConfigError(f"invalid label mapping {pair!r}: {exc}", file=option) from None
            key = label_key(value)
            if result.get(key, act) is not act:
                raise ConfigError(
                    f"invalid label mapping {pair!r}: {value!r} is already mapped to {result[key].value}", file=option
                )
            result[key] = act
    return result


def label_action(value: Any, label_map: Mapping[str, Action] | None = None) -> Action | None:
    """The action a label value stands for, or ``None`` when it maps to none.

    With a ``label_map`` (from :func:`parse_label_map`) only its values map; without one, a label
    must itself be an action name (``allow``, ``hold``, ``remove``, any case).
    """
    key = label_key(value)
    if label_map:
        return label_map.get(key)
    try:
        return Action(key)
    except ValueError:
        return None


class LabelReader:
    """Turns ``(record, post, error)`` triples (from :func:`safeguard.io.iter_posts`) into evaluation items.

    Yields ``(post, action)``, ``(post, None)`` for a record with no label (missing or null field), or a
    :class:`UnusableRecord`. At the first label that maps to no action it stops yielding posts, reads
    the rest of the input for its label values only, and raises :class:`LabelError` listing them all.
    """

    def __init__(
        self,
        label_field: str,
        label_map: Mapping[str, Action] | None = None,
        *,
        field_map: Mapping[str, str] | None = None,
    ) -> None:
        self.label_field = label_field
        self.label_map = dict(label_map or {})
        #: Where the post id is (``{"id": "post_id"}``), to name records that are not posts.
        self.id_field = (field_map or {}).get("id", "id")
        self.values: Counter[str] = Counter()

    def __call__(self, triples: Iterable[tuple[Any, Post | None, str | None]]) -> Iterator[Item]:
        unmapped: dict[str, None] = {}
        for record, post, error in triples:
            data = getattr(record, "data", None)
            found, value = lookup_path(data, self.label_field) if isinstance(data, Mapping) else (False, None)
            if found and value is not None and value != "":
                self.values[label_key(value)] += 1
                action = label_action(value, self.label_map)
                if action is None:
                    unmapped.setdefault(label_key(value))
            else:
                action = None
            if unmapped:
                continue
            if post is None:
                yield UnusableRecord(getattr(record, "line", None), self._record_id(data), error or "unreadable record")
            else:
                yield post, action
        if unmapped:
            raise LabelError(list(unmapped), self.values, self.label_field)

    def _record_id(self, data: Any) -> str | None:
        if not isinstance(data, Mapping):
            return None
        found, value = lookup_path(data, self.id_field)
        return str(value) if found and value not in (None, "") else None


def parse_gate(metric: MetricName, spec: str, rule_ids: Iterable[str], *, option: str | None = None) -> Gate:
    """Parse ``TARGET=MIN`` for ``metric``; TARGET is an action, ``hold+``/``remove+`` or a rule id.

    Raises :class:`~safeguard.errors.ConfigError` for a malformed spec, a minimum outside [0, 1]
    or a target that is neither an action nor a rule of the ruleset (listing the valid ones).
    """
    option = option or f"minimum {metric}"
    target, sep, raw = spec.partition("=")
    target, raw = target.strip(), raw.strip()
    if not sep or not target or not raw:
        raise ConfigError(
            f"invalid gate {spec!r}: expected RULE=MIN or ACTION=MIN, for example threat=0.9", file=option
        )
    try:
        minimum = float(raw)
    except ValueError:
        raise ConfigError(f"invalid gate {spec!r}: {raw!r} is not a number", file=option) from None
    if not 0.0 <= minimum <= 1.0:
        raise ConfigError(f"invalid gate {spec!r}: the minimum must be between 0 and 1", file=option)
    rules = sorted(rule_ids)
    targets = [a.value for a in ACTIONS] + list(AT_LEAST)
    if target not in targets and target not in rules:
        raise ConfigError(
            f"invalid gate {spec!r}: {target!r} is neither an action ({', '.join(targets)}) "
            f"nor a rule of the ruleset ({', '.join(rules) or 'none'})",
            file=option,
        )
    return Gate(metric, target, minimum)


# --- evaluation ------------------------------------------------------------------------------------

#: One evaluation input: a labelled post (label ``None`` = unlabelled) or a record that is not a post.
Item = tuple[Post, Action | None] | UnusableRecord


def evaluate(
    moderator: Any,
    items: Iterable[Item],
    *,
    gates: Iterable[Gate] = (),
    examples: int = 3,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Moderate labelled posts with ``moderator`` and score its decisions against the labels.

    ``items`` are ``(post, label)`` pairs (label ``None``: counted as unlabelled, not moderated) or
    :class:`UnusableRecord` for input records that are not posts (counted, reported). ``gates`` are
    checked at the end (see :attr:`Evaluation.gates`). ``examples`` is the most wrong fires kept per
    rule (the first in input order, text shortened), for seeing what a rule gets wrong. ``progress``
    is called with the number of items read after each batch.
    """
    ruleset = moderator.ruleset
    rules = [(r.id, r.action, r.shadow) for r in ruleset.rules]
    confusion = {lab: dict.fromkeys(ACTIONS, 0) for lab in ACTIONS}
    labelled = Counter[Action]()
    right: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    errors: list[UnusableRecord] = []
    error_records = 0
    wrong_fires: dict[str, list[WrongFire]] = {}
    unlabelled = 0
    seen = 0
    for batch in batched(items, batch_size):
        posts: list[Post] = []
        labels: list[Action] = []
        for item in batch:
            if isinstance(item, UnusableRecord):
                error_records += 1
                if len(errors) < KEPT_ERRORS:
                    errors.append(item)
            elif item[1] is None:
                unlabelled += 1
            else:
                posts.append(item[0])
                labels.append(item[1])
        if posts:
            for post, decision, label in zip(posts, moderator.moderate_batch(posts), labels, strict=True):
                confusion[label][decision.action] += 1
                labelled[label] += 1
                for m in (*decision.matches, *decision.shadow):
                    if label >= m.action:
                        right[m.rule] += 1
                        continue
                    wrong[m.rule] += 1
                    kept = wrong_fires.setdefault(m.rule, [])
                    if len(kept) < examples:
                        text = post.text if len(post.text) <= EXAMPLE_TEXT else post.text[: EXAMPLE_TEXT - 3] + "..."
                        kept.append(WrongFire(post.id, label, m.action, text))
        seen += len(batch)
        if progress is not None:
            progress(seen)
    total = sum(labelled.values())
    per_action = {
        a: Metric(
            tp=confusion[a][a],
            fp=sum(confusion[lab][a] for lab in ACTIONS if lab is not a),
            fn=sum(confusion[a][p] for p in ACTIONS if p is not a),
        )
        for a in ACTIONS
    }
    at_least = {}
    for key, level in AT_LEAST.items():
        tp = sum(confusion[lab][p] for lab in ACTIONS for p in ACTIONS if lab >= level and p >= level)
        predicted = sum(confusion[lab][p] for lab in ACTIONS for p in ACTIONS if p >= level)
        support = sum(labelled[lab] for lab in ACTIONS if lab >= level)
        at_least[key] = Metric(tp=tp, fp=predicted - tp, fn=support - tp)
    per_rule = []
    for rule_id, action, shadow in rules:
        support = sum(labelled[lab] for lab in ACTIONS if lab >= action)
        tp = right[rule_id]
        per_rule.append(RuleMetric(rule_id, action, shadow, Metric(tp=tp, fp=wrong[rule_id], fn=support - tp)))
    result = Evaluation(
        ruleset=ruleset.identity,
        posts=total,
        unlabelled=unlabelled,
        error_records=error_records,
        errors=errors,
        confusion=confusion,
        per_action=per_action,
        at_least=at_least,
        per_rule=per_rule,
        wrong_fires={rule: ws for rule, ws in wrong_fires.items() if ws},
    )
    result.check(gates)
    return result
