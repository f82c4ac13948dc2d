"""What moderators' verdicts say about the rules: precision per rule, time to decision, queue load, recall.

* **Per rule**: of the decided items a rule held (each item once, however many copies joined it), the
  share moderators removed ("upheld"), with a Wilson 95% interval. Approve counts as not upheld.
* **Time**: median time from entering the queue to the verdict, and median time moderators spent.
* **Load per day** (UTC): items that entered, items decided, and items still open at the end of the day.
* **Recall**, from the sampled allows: the share moderators removed is the estimated miss rate among
  allowed posts. Each removed sample stands for ``1 / sample_rate`` allowed posts, so the estimated
  recall is ``caught / (caught + missed)``, where caught counts the posts the rules removed and the
  holds moderators upheld.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from safeguard.metrics import wilson_interval
from safeguard.review.store import ReviewStore
from safeguard.review.views import ReviewedPost

__all__ = ["review_stats"]


def _share(k: int, n: int) -> dict[str, Any]:
    interval = wilson_interval(k, n)
    return {
        "n": n,
        "upheld": k,
        "share": round(k / n, 4) if n else None,
        "interval": [round(interval[0], 4), round(interval[1], 4)] if interval else None,
    }


def review_stats(store: ReviewStore) -> dict[str, Any]:
    """Every figure above as plain JSON data (see the module docstring)."""
    reviewed = list(store.reviewed())
    holds = [r for r in reviewed if not r.sampled]
    samples = [r for r in reviewed if r.sampled]

    per_item: dict[int, tuple[str, set[str]]] = {}
    for r in holds:
        outcome, rules = per_item.setdefault(r.item_id, (r.outcome, set()))
        rules.update(m.rule for m in r.decision.matches if m.action != "allow")
    fired: Counter[str] = Counter()
    upheld: Counter[str] = Counter()
    for outcome, rules in per_item.values():
        for rule in rules:
            fired[rule] += 1
            upheld[rule] += outcome == "remove"
    rules_out = []
    for rule in sorted(fired, key=lambda x: (-fired[x], x)):
        entry = _share(upheld[rule], fired[rule])
        rules_out.append({"rule": rule, "decided": entry.pop("n"), **entry})
    items_upheld = sum(1 for outcome, _ in per_item.values() if outcome == "remove")

    sampled_items: dict[int, ReviewedPost] = {}
    for r in samples:
        sampled_items.setdefault(r.item_id, r)
    missed = [r for r in sampled_items.values() if r.outcome == "remove"]
    miss = _share(len(missed), len(sampled_items))
    estimated_missed = sum(1 / r.sample_rate for r in missed if r.sample_rate)
    removed_by_rules = store.decision_counts().get("remove", 0)
    caught = removed_by_rules + items_upheld
    recall = {
        "sampled_decided": miss["n"],
        "sampled_removed": miss["upheld"],
        "miss_rate": miss["share"],
        "interval": miss["interval"],
        "removed_by_rules": removed_by_rules,
        "upheld_holds": items_upheld,
        "estimated_missed": round(estimated_missed, 1),
        "estimated_recall": round(caught / (caught + estimated_missed), 4) if sampled_items and caught else None,
    }

    decided_items = {r.item_id: r for r in reviewed}.values()
    waits = [(r.decided_at - r.entered_at).total_seconds() for r in decided_items]
    spent = [r.seconds for r in decided_items if r.seconds is not None]
    verdicts = Counter(v.action for v in _all_verdicts(store))
    hold_share = _share(items_upheld, len(per_item))
    return {
        "items": store.counts(),
        "verdicts": {a: verdicts.get(a, 0) for a in ("approve", "remove", "escalate", "skip")},
        "holds": {
            "decided": hold_share["n"],
            "upheld": items_upheld,
            "share": hold_share["share"],
            "interval": hold_share["interval"],
        },
        "rules": rules_out,
        "time_to_decision_seconds": {"median": _median(waits), "n": len(waits)},
        "seconds_spent": {"median": _median(spent), "n": len(spent)},
        "days": _days(store.items_timeline()),
        "recall": recall,
    }


def _all_verdicts(store: ReviewStore) -> Iterable[Any]:
    offset = 0
    while True:
        page = store.verdicts(limit=1000, offset=offset)
        yield from page
        if len(page) < 1000:
            return
        offset += len(page)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _days(timeline: list[tuple[datetime, datetime | None, bool]]) -> list[dict[str, Any]]:
    entered: Counter[date] = Counter(a.date() for a, _, _ in timeline)
    decided: Counter[date] = Counter(b.date() for _, b, _ in timeline if b is not None)
    if not entered:
        return []
    first, last = min(entered), max([*entered, *decided])
    out = []
    waiting = 0
    day = first
    while day <= last:
        waiting += entered[day] - decided[day]
        out.append({"day": day.isoformat(), "entered": entered[day], "decided": decided[day], "open": waiting})
        day += timedelta(days=1)
    return out
