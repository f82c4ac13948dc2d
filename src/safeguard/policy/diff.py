"""What a rule change does to real history: decide every post under both rulesets and compare.

The result is deterministic: the same rulesets and input give the same :meth:`PolicyDiff.to_dict`
byte for byte (no timings, examples are the first N of each transition in input order).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from safeguard.policy.records import ACTIONS, KEPT_ERRORS, UnusableRecord, action_matrix, batched
from safeguard.types import Action, Decision, Post

__all__ = ["DiffExample", "HoldQueue", "PolicyDiff", "RuleFires", "diff_rulesets"]

#: Characters of post text kept in an example.
EXAMPLE_TEXT = 240


@dataclass(frozen=True)
class DiffExample:
    """A post whose action changes: where it is, its text (shortened) and the rules on each side."""

    line: int | None
    post_id: str
    text: str
    before: Action
    after: Action
    rules_before: tuple[str, ...]
    rules_after: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "post_id": self.post_id,
            "text": self.text,
            "before": self.before.value,
            "after": self.after.value,
            "rules_before": list(self.rules_before),
            "rules_after": list(self.rules_after),
        }


@dataclass
class RuleFires:
    """How often one rule fired before and after, and on how many posts it started or stopped firing.

    ``mode_before``/``mode_after`` are ``"enforce"``, ``"shadow"`` (counts are would-have-fired
    matches) or ``None`` when the rule is not in that ruleset.
    """

    rule: str
    mode_before: str | None
    mode_after: str | None
    before: int = 0
    after: int = 0
    started: int = 0
    stopped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode_before": self.mode_before,
            "mode_after": self.mode_after,
            "before": self.before,
            "after": self.after,
            "delta": self.after - self.before,
            "started": self.started,
            "stopped": self.stopped,
        }


@dataclass
class HoldQueue:
    """Posts held for a human before and after; per day when posts carry ``created_at`` (UTC days).

    ``days`` spans the first to the last dated post, both included, so quiet days count as zero.
    """

    before: int = 0
    after: int = 0
    dated: int = 0
    undated: int = 0
    daily: dict[dt.date, list[int]] = field(default_factory=dict)

    @property
    def days(self) -> int:
        if not self.daily:
            return 0
        return (max(self.daily) - min(self.daily)).days + 1

    def per_day(self, side: int) -> float | None:
        """Mean holds per day among dated posts (``side`` 0 before, 1 after), or ``None`` with no dates."""
        if not self.days:
            return None
        return sum(v[side] for v in self.daily.values()) / self.days

    def peak(self, side: int) -> tuple[str, int] | None:
        """The busiest day and its holds (earliest on ties)."""
        if not self.daily:
            return None
        day = max(sorted(self.daily), key=lambda d: self.daily[d][side])
        return day.isoformat(), self.daily[day][side]

    def to_dict(self) -> dict[str, Any]:
        def side(i: int) -> dict[str, Any]:
            per_day = self.per_day(i)
            peak = self.peak(i)
            return {
                "holds": (self.before, self.after)[i],
                "per_day": None if per_day is None else round(per_day, 3),
                "peak_day": None if peak is None else {"date": peak[0], "holds": peak[1]},
            }

        return {
            "before": side(0),
            "after": side(1),
            "dated_posts": self.dated,
            "undated_posts": self.undated,
            "days": self.days,
            "first_day": min(self.daily).isoformat() if self.daily else None,
            "last_day": max(self.daily).isoformat() if self.daily else None,
            "daily": {d.isoformat(): {"before": v[0], "after": v[1]} for d, v in sorted(self.daily.items())},
        }


@dataclass
class PolicyDiff:
    """The result of :func:`diff_rulesets`."""

    old: Mapping[str, Any]
    new: Mapping[str, Any]
    posts: int = 0
    error_records: int = 0
    errors: list[UnusableRecord] = field(default_factory=list)  # the first KEPT_ERRORS
    transitions: dict[Action, dict[Action, int]] = field(
        default_factory=lambda: {a: dict.fromkeys(ACTIONS, 0) for a in ACTIONS}
    )
    rules: dict[str, RuleFires] = field(default_factory=dict)
    hold_queue: HoldQueue = field(default_factory=HoldQueue)
    examples: dict[tuple[Action, Action], list[DiffExample]] = field(default_factory=dict)
    classifier_errors: list[int] = field(default_factory=lambda: [0, 0])

    @property
    def changed(self) -> int:
        """Posts whose action differs between the two rulesets."""
        return sum(n for a, row in self.transitions.items() for b, n in row.items() if a is not b)

    def actions(self, side: int) -> dict[str, int]:
        """Posts per action before (``side`` 0) or after (1)."""
        if side == 0:
            return {a.value: sum(self.transitions[a].values()) for a in ACTIONS}
        return {b.value: sum(self.transitions[a][b] for a in ACTIONS) for b in ACTIONS}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and deterministic (dump it with ``sort_keys=True``)."""
        return {
            "old": dict(self.old),
            "new": dict(self.new),
            "posts": self.posts,
            "error_records": self.error_records,
            "errors": [e.to_dict() for e in self.errors[:20]],
            "changed": self.changed,
            "actions": {"before": self.actions(0), "after": self.actions(1)},
            "transitions": {a.value: {b.value: n for b, n in row.items()} for a, row in self.transitions.items()},
            "rules": {rule: fires.to_dict() for rule, fires in sorted(self.rules.items())},
            "hold_queue": self.hold_queue.to_dict(),
            "examples": {
                f"{a.value}->{b.value}": [e.to_dict() for e in exs]
                for (a, b), exs in sorted(self.examples.items(), key=_key)
            },
            "posts_with_classifier_errors": {"before": self.classifier_errors[0], "after": self.classifier_errors[1]},
        }

    def render(self, console: Console) -> None:
        """Print the diff as tables."""
        console.print(
            f"[bold]{self.old.get('name')}[/bold] ({self.old.get('hash')}) -> "
            f"[bold]{self.new.get('name')}[/bold] ({self.new.get('hash')}): "
            f"{self.posts:,} posts, [bold]{self.changed:,} changed[/bold]"
            + (f", {self.error_records:,} error records" if self.error_records else "")
        )
        matrix = action_matrix("transitions (rows: before, columns: after)", "before \\ after", self.transitions)
        after = self.actions(1)
        matrix.add_row("total", *(f"{after[b.value]:,}" for b in ACTIONS), f"{self.posts:,}", style="dim")
        console.print(matrix)
        if self.rules:
            rules = Table(title="rule fires (shadow: would-have-fired)", title_justify="left")
            for col in ("rule", "before", "after", "delta", "started", "stopped"):
                rules.add_column(col, justify="left" if col == "rule" else "right")
            for rule, f in sorted(self.rules.items()):
                rules.add_row(
                    rule,
                    _mode_count(f.mode_before, f.before),
                    _mode_count(f.mode_after, f.after),
                    f"{f.after - f.before:+,}",
                    f"{f.started:,}",
                    f"{f.stopped:,}",
                )
            console.print(rules)
        q = self.hold_queue
        line = f"hold queue: {q.before:,} -> {q.after:,} posts held"
        if q.days:
            line += f"; per day over {q.days} days: {q.per_day(0):.2f} -> {q.per_day(1):.2f}"
            peaks = q.peak(0), q.peak(1)
            if peaks[0] and peaks[1]:
                line += f" (busiest day {peaks[0][1]} on {peaks[0][0]} -> {peaks[1][1]} on {peaks[1][0]})"
            if q.undated:
                line += f"; {q.undated:,} posts have no created_at"
        else:
            line += " (no post carries created_at: no per-day load)"
        console.print(line)
        for (a, b), exs in sorted(self.examples.items(), key=_key):
            console.print(
                f"\n[bold]{a.value} -> {b.value}[/bold] ({self.transitions[a][b]:,} posts), first {len(exs)}:"
            )
            for e in exs:
                console.print(
                    f"  line {e.line} {e.post_id}: {e.text!r}\n"
                    f"    rules before: {', '.join(e.rules_before) or '-'}; after: {', '.join(e.rules_after) or '-'}",
                    markup=False,
                    highlight=False,
                )


def _key(item: tuple[tuple[Action, Action], Any]) -> tuple[int, int]:
    return item[0][0].severity, item[0][1].severity


def _mode_count(mode: str | None, n: int) -> str:
    if mode is None:
        return "(absent)"
    return f"{n:,}" + (" (shadow)" if mode == "shadow" else "")


def _modes(ruleset: Any) -> dict[str, str]:
    return {r.id: "shadow" if r.shadow else "enforce" for r in ruleset.rules}


def diff_rulesets(
    old: Any,
    new: Any,
    items: Iterable[Post | tuple[int | None, Post] | UnusableRecord],
    *,
    examples: int = 5,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> PolicyDiff:
    """Decide every post under the ``old`` and ``new`` moderators and compare the decisions.

    ``items`` are posts, ``(line, post)`` pairs (the line is shown in examples), or
    :class:`UnusableRecord` for input records that are not posts (counted and reported). Posts are read
    once, in batches of ``batch_size``; each batch goes through both moderators. ``examples`` is the
    most examples kept per transition (the first ones in input order). ``progress`` is called with
    the number of items read after each batch.
    """
    if examples < 0:
        raise ValueError(f"examples must be at least 0, got {examples}")
    modes_old, modes_new = _modes(old.ruleset), _modes(new.ruleset)
    result = PolicyDiff(old=old.ruleset.identity, new=new.ruleset.identity)
    for rule in sorted(set(modes_old) | set(modes_new)):
        result.rules[rule] = RuleFires(rule, modes_old.get(rule), modes_new.get(rule))
    seen = 0
    for batch in batched(items, batch_size):
        lines: list[int | None] = []
        posts: list[Post] = []
        for item in batch:
            if isinstance(item, UnusableRecord):
                result.error_records += 1
                if len(result.errors) < KEPT_ERRORS:
                    result.errors.append(item)
            elif isinstance(item, Post):
                lines.append(None)
                posts.append(item)
            else:
                lines.append(item[0])
                posts.append(item[1])
        if posts:
            before = old.moderate_batch(posts)
            after = new.moderate_batch(posts)
            for line, post, d0, d1 in zip(lines, posts, before, after, strict=True):
                _add(result, line, post, d0, d1, examples)
        seen += len(batch)
        if progress is not None:
            progress(seen)
    return result


def _fired(decision: Decision) -> set[str]:
    return {m.rule for m in decision.matches} | {m.rule for m in decision.shadow}


def _add(result: PolicyDiff, line: int | None, post: Post, d0: Decision, d1: Decision, examples: int) -> None:
    result.posts += 1
    a, b = d0.action, d1.action
    result.transitions[a][b] += 1
    f0, f1 = _fired(d0), _fired(d1)
    for rule in f0 | f1:
        fires = result.rules.get(rule)
        if fires is None:  # not declared in either ruleset (a custom engine): count it anyway
            fires = result.rules[rule] = RuleFires(rule, None, None)
        if rule in f0:
            fires.before += 1
        if rule in f1:
            fires.after += 1
        if rule in f1 and rule not in f0:
            fires.started += 1
        elif rule in f0 and rule not in f1:
            fires.stopped += 1
    q = result.hold_queue
    held = (a is Action.HOLD, b is Action.HOLD)
    q.before += held[0]
    q.after += held[1]
    if post.created_at is not None:
        q.dated += 1
        created = post.created_at
        day = (created.astimezone(dt.timezone.utc) if created.tzinfo else created).date()
        counts = q.daily.setdefault(day, [0, 0])
        counts[0] += held[0]
        counts[1] += held[1]
    else:
        q.undated += 1
    result.classifier_errors[0] += bool(d0.errors)
    result.classifier_errors[1] += bool(d1.errors)
    if a is not b and examples:
        kept = result.examples.setdefault((a, b), [])
        if len(kept) < examples:
            text = post.text if len(post.text) <= EXAMPLE_TEXT else post.text[: EXAMPLE_TEXT - 3] + "..."
            kept.append(
                DiffExample(
                    line=line,
                    post_id=post.id,
                    text=text,
                    before=a,
                    after=b,
                    rules_before=tuple(m.rule for m in d0.matches),
                    rules_after=tuple(m.rule for m in d1.matches),
                )
            )
