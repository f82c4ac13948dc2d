"""Moderators' verdicts as data the rest of safeguard reads: labels and rule tests.

* :func:`label_records`: one record per reviewed post, a dump record (``id``, ``text``, ``title``,
  ``author`` ...) with ``label`` ``remove`` or ``allow``: the labels that policy evaluation scores a
  ruleset against, and that training reads (``remove`` is the positive class).
* :func:`test_file`: a ``*.test.yaml`` file that ``safeguard test`` runs, one case per reviewed post.
  A post moderators removed must be held or removed as the rules did then (a sampled allow they
  removed must at least be held); a post they approved must be allowed. Where the rules and the
  moderators disagreed, the case is marked ``xfail`` with the reason (unless ``strict``), so the file
  passes today and reports the cases the rules get right once they are fixed. Signals of stateful
  classifiers (a duplicate window, per-author counts), which a lone post cannot reproduce, are stubbed
  with the values recorded when the post was decided.

Posts whose text the store does not keep cannot become labels or cases; they are counted as skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from safeguard.review.store import ReviewStore
from safeguard.review.views import ReviewedPost
from safeguard.rules.shipped import policy_name, ruleset_path

__all__ = ["ExportReport", "label_records", "test_file"]


@dataclass
class ExportReport:
    """How many reviewed posts were exported, and how many were skipped for want of their text."""

    exported: int = 0
    skipped: int = 0
    disagreements: int = 0


def _post_record(r: ReviewedPost) -> dict[str, Any]:
    p = r.post
    record: dict[str, Any] = {"id": p.post_id, "text": p.text}
    if p.title is not None:
        record["title"] = p.title
    if p.thread_id is not None:
        record["thread_id"] = p.thread_id
    if p.parent_id is not None:
        record["parent_id"] = p.parent_id
    if p.created_at is not None:
        record["created_at"] = p.created_at.isoformat()
    author = {k: v for k, v in p.author.items() if v not in (None, {}, [])}
    if author:
        record["author"] = author
    return record


def label_records(store: ReviewStore, report: ExportReport | None = None) -> Iterator[dict[str, Any]]:
    """Dump records of every reviewed post with ``label`` (``remove`` or ``allow``) and ``review``
    (item, moderator, rules' action and rules, sampled, when)."""
    report = report if report is not None else ExportReport()
    for r in store.reviewed():
        if not r.post.text_kept:
            report.skipped += 1
            continue
        report.exported += 1
        yield {
            **_post_record(r),
            "label": "remove" if r.outcome == "remove" else "allow",
            "review": {
                "item": r.item_id,
                "user": r.user,
                "rules_action": r.decision.action,
                "rules": r.decision.rules,
                "sampled": r.sampled,
                "decided_at": r.decided_at.isoformat(),
            },
        }


def test_file(
    store: ReviewStore,
    rules: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    strict: bool = False,
    report: ExportReport | None = None,
) -> str:
    """The YAML text of a rule test file for ``rules``, to be written at ``output`` (its ``rules:`` path
    is relative to that file). Loads the ruleset to know its stateful classifiers; raises
    :class:`~safeguard.errors.ConfigError` when it is invalid."""
    from safeguard.rules.loader import load_ruleset

    report = report if report is not None else ExportReport()
    rules = ruleset_path(rules)
    ruleset = load_ruleset(rules)
    stateful = {name: c for name, c in ruleset.classifiers.items() if c.stateful}
    cases = []
    for r in store.reviewed():
        if not r.post.text_kept:
            report.skipped += 1
            continue
        report.exported += 1
        rules_action = r.decision.action
        fired = ", ".join(r.decision.rules) or "a classifier error"
        xfail = None
        if r.outcome == "remove":
            expected = rules_action if rules_action != "allow" else "hold"
            if rules_action == "allow":
                xfail = "moderators removed it; the rules allowed it"
        else:
            expected = "allow"
            if rules_action != "allow":
                xfail = f"moderators approved it; the rules held it ({fired})"
        report.disagreements += xfail is not None
        case: dict[str, Any] = {
            "name": f"review item {r.item_id}, post {r.post.post_id}: {r.outcome}d by {r.user or 'a moderator'}",
            "post": _post_record(r),
        }
        stubs = {
            name: {k: v for k, v in (r.decision.signals.get(name) or {}).items() if k in c.outputs}
            for name, c in stateful.items()
        }
        if stubs:
            case["signals"] = stubs
        case["expect"] = {"action": expected}
        if xfail and not strict:
            case["xfail"] = xfail
        cases.append(case)
    target = Path(output).resolve().parent
    # A shipped policy is named, so the file works wherever the package is installed.
    relative = policy_name(rules) or os.path.relpath(Path(rules).resolve(), target)
    header = "# Regression cases from moderators' verdicts in a safeguard review store.\n"
    return header + yaml.safe_dump({"rules": relative, "cases": cases}, sort_keys=False, allow_unicode=True, width=100)
