"""The numbers of an insights page: volumes by kind, aspect, product and store per week, sentiment
trends, topics, threads, and the moderation load on the same time axis.

:func:`summarize` turns the rows of one pass into one JSON-ready mapping (schema
``safeguard.insights/1``). The HTML page is drawn from that mapping alone, so the page and ``--json``
cannot disagree. Every weekly series is a list aligned with ``weeks`` (Mondays, UTC, gaps filled).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from safeguard.insights.rows import KINDS, PostRow, iso, week_of
from safeguard.insights.threads import thread_insights
from safeguard.insights.topics import find_topics

__all__ = ["SCHEMA", "SNIPPET", "InsightsOptions", "summarize"]

SCHEMA = "safeguard.insights/1"
#: Characters of a post's text kept for the page's examples.
SNIPPET = 280
#: The sentiment below which a post counts as negative, above which positive (VADER's own convention).
NEGATIVE, POSITIVE = -0.05, 0.05
ACTIONS = ("allow", "hold", "remove")


@dataclass(frozen=True)
class InsightsOptions:
    """Knobs of the views; the defaults suit a forum of a few thousand posts a week."""

    hours: float = 24.0  # a question with no reply from someone else for this long is unanswered
    top: int = 15  # rows in the product, store and code tables
    examples: int = 3  # example posts per aspect and topic
    max_topics: int = 20
    emerging_factor: float = 2.0
    faq_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not (self.hours > 0):
            raise ValueError(f"hours must be positive, got {self.hours!r}")
        for name in ("top", "examples", "max_topics"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (self.emerging_factor > 1):
            raise ValueError(f"emerging_factor must be above 1, got {self.emerging_factor!r}")
        if not (0 < self.faq_threshold <= 1):
            raise ValueError(f"faq_threshold must be in (0, 1], got {self.faq_threshold!r}")


def _weeks(rows: Sequence[PostRow], now: datetime | None) -> list[date]:
    dated = [r.created_at for r in rows if r.created_at is not None]
    if not dated:
        return []
    first, last = week_of(min(dated)), week_of(max([*dated, now] if now else dated))
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


class _Series:
    """Counts per week, written out aligned with the page's weeks."""

    def __init__(self, weeks: Sequence[date]) -> None:
        self.index = {w: i for i, w in enumerate(weeks)}
        self.n = len(weeks)

    def new(self) -> list[int]:
        return [0] * self.n

    def at(self, row: PostRow) -> int | None:
        return self.index.get(week_of(row.created_at)) if row.created_at is not None else None


def _group_table(
    rows: Sequence[PostRow], key: str, series: _Series, names: Mapping[str, str], top: int
) -> list[dict[str, Any]]:
    """Posts per product or store (``key``): volume by kind, mean sentiment, aspects, weekly complaints."""
    stats: dict[str, dict[str, Any]] = {}
    for r in rows:
        for ident in getattr(r, key):
            s = stats.get(ident)
            if s is None:
                s = stats[ident] = {
                    "id": ident,
                    "name": names.get(ident, ident),
                    "posts": 0,
                    "kinds": Counter(),
                    "sentiment": 0.0,
                    "aspects": Counter(),
                    "weekly_complaints": series.new(),
                    "weekly_posts": series.new(),
                }
            s["posts"] += 1
            s["kinds"][r.kind] += 1
            s["sentiment"] += r.sentiment
            s["aspects"].update(r.aspects)
            i = series.at(r)
            if i is not None:
                s["weekly_posts"][i] += 1
                if r.kind == "complaint":
                    s["weekly_complaints"][i] += 1
    ranked = sorted(stats.values(), key=lambda s: (-s["posts"], s["id"]))[:top]
    for s in ranked:
        s["sentiment"] = round(s["sentiment"] / s["posts"], 4)
        s["kinds"] = {k: s["kinds"].get(k, 0) for k in KINDS}
        s["aspects"] = dict(sorted(s["aspects"].items(), key=lambda kv: (-kv[1], kv[0])))
    return ranked


def _snippet(row: PostRow) -> dict[str, Any]:
    text = row.text if len(row.text) <= SNIPPET else row.text[: SNIPPET - 3] + "..."
    return {
        "title": row.title,
        "text": text,
        "created_at": iso(row.created_at),
        "thread_id": row.thread_id,
        "author": row.author_id,
        "kind": row.kind,
        "sentiment": round(row.sentiment, 4),
    }


def summarize(
    rows: Sequence[PostRow],
    *,
    aspects: Sequence[str],
    moderated: bool,
    now: datetime | None = None,
    names: Mapping[str, Mapping[str, str]] | None = None,
    errors: int = 0,
    options: InsightsOptions | None = None,
) -> dict[str, Any]:
    """Everything the insights page shows, as one JSON-ready mapping.

    ``aspects``: the aspect names in the order to list them; ``moderated``: whether the rows carry
    moderation decisions; ``now``: the moment the page speaks of (default: the latest post);
    ``names``: display names of products and stores by id (``{"products": {...}, "stores": {...}}``);
    ``errors``: input records that were not posts.
    """
    opts = options or InsightsOptions()
    names = names or {}
    dated = [r.created_at for r in rows if r.created_at is not None]
    now = now or (max(dated) if dated else None)
    weeks = _weeks(rows, now)
    series = _Series(weeks)

    kinds: dict[str, dict[str, Any]] = {k: {"total": 0, "weekly": series.new()} for k in KINDS}
    sentiment_sum = [0.0] * len(weeks)
    negative, positive, dated_posts = series.new(), series.new(), series.new()
    aspect_stats: dict[str, dict[str, Any]] = {
        a: {
            "aspect": a,
            "posts": 0,
            "kinds": Counter(),
            "negative": 0,
            "weekly_complaints": series.new(),
            "weekly_questions": series.new(),
            "examples": [],
        }
        for a in aspects
    }
    codes: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        kinds[r.kind]["total"] += 1
        i = series.at(r)
        if i is not None:
            kinds[r.kind]["weekly"][i] += 1
            sentiment_sum[i] += r.sentiment
            dated_posts[i] += 1
            negative[i] += r.sentiment <= NEGATIVE
            positive[i] += r.sentiment >= POSITIVE
        for a in r.aspects:
            s = aspect_stats.get(a)
            if s is None:
                continue
            s["posts"] += 1
            s["kinds"][r.kind] += 1
            s["negative"] += r.sentiment <= NEGATIVE
            if i is not None and r.kind in ("complaint", "question"):
                s[f"weekly_{r.kind}s"][i] += 1
        for c in r.codes:
            codes[c][r.kind] += 1

    # examples: the most negative complaints per aspect, so the page shows what hurts
    by_aspect: dict[str, list[PostRow]] = defaultdict(list)
    for r in rows:
        if r.kind == "complaint":
            for a in r.aspects:
                by_aspect[a].append(r)
    example_ids: set[str] = set()
    for a, s in aspect_stats.items():
        chosen = sorted(by_aspect.get(a, ()), key=lambda r: (r.sentiment, r.id))[: opts.examples]
        s["examples"] = [r.id for r in chosen]
        example_ids.update(s["examples"])
        s["kinds"] = {k: s["kinds"].get(k, 0) for k in KINDS}
        s["negative_share"] = round(s["negative"] / s["posts"], 4) if s["posts"] else 0.0
        del s["negative"]
    aspect_rows = sorted(
        aspect_stats.values(), key=lambda s: (-(s["kinds"]["complaint"] + s["kinds"]["question"]), s["aspect"])
    )

    # what members talk about: staff replies would add their own vocabulary ("team", "sorry") to every topic
    members = [r for r in rows if not r.staff]
    topics = find_topics(members, max_topics=opts.max_topics, emerging_factor=opts.emerging_factor, now=now).to_dict()
    topics.pop("assigned", None)  # one entry per post: too much for a page's numbers
    for t in topics.get("topics", ()):
        t["examples"] = list(t.get("examples", ()))[: opts.examples]
        example_ids.update(t["examples"])
    threads = thread_insights(rows, hours=opts.hours, now=now, threshold=opts.faq_threshold).to_dict()
    example_ids.update(_ids_in(threads))

    moderation: dict[str, Any] | None = None
    if moderated:
        days_of = {}
        if dated:
            first_day = min(dated).date()
            last_day = max(d.date() for d in ([*dated, now] if now else dated))
            days_of = {first_day + timedelta(days=i): i for i in range((last_day - first_day).days + 1)}
        daily = {a: [0] * len(days_of) for a in ACTIONS}
        weekly = {a: series.new() for a in ACTIONS}
        totals: Counter[str] = Counter()
        fired: Counter[str] = Counter()
        rule_action: dict[str, str] = {}
        for r in rows:
            if r.action is None:
                continue
            totals[r.action] += 1
            for rule in r.rules:
                fired[rule] += 1
                rule_action.setdefault(rule, r.action)
            if r.created_at is not None:
                daily[r.action][days_of[r.created_at.date()]] += 1
                i = series.at(r)
                if i is not None:
                    weekly[r.action][i] += 1
        moderation = {
            "days": [iso(d) for d in days_of],
            "daily": daily,
            "weekly": weekly,
            "totals": {a: totals.get(a, 0) for a in ACTIONS},
            "rules": [{"rule": k, "posts": n} for k, n in sorted(fired.items(), key=lambda kv: (-kv[1], kv[0]))],
        }

    by_id = {r.id: r for r in rows}
    return {
        "schema": SCHEMA,
        "posts": len(rows),
        "errors": errors,
        "undated": len(rows) - len(dated),
        "first": iso(min(dated)) if dated else None,
        "last": iso(max(dated)) if dated else None,
        "now": iso(now),
        "weeks": [iso(w) for w in weeks],
        "kinds": kinds,
        "sentiment": {
            "mean": round(sum(r.sentiment for r in rows) / len(rows), 4) if rows else 0.0,
            "weekly_mean": [round(s / n, 4) if n else None for s, n in zip(sentiment_sum, dated_posts, strict=True)],
            "weekly_negative_share": [
                round(x / n, 4) if n else None for x, n in zip(negative, dated_posts, strict=True)
            ],
            "weekly_positive_share": [
                round(x / n, 4) if n else None for x, n in zip(positive, dated_posts, strict=True)
            ],
            "weekly_posts": dated_posts,
        },
        "aspects": aspect_rows,
        "products": _group_table(rows, "products", series, names.get("products", {}), opts.top),
        "stores": _group_table(rows, "stores", series, names.get("stores", {}), opts.top),
        "codes": [
            {"code": c, "posts": sum(k.values()), "kinds": {x: k.get(x, 0) for x in KINDS}}
            for c, k in sorted(codes.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[: opts.top]
        ],
        "topics": topics,
        "threads": threads,
        "moderation": moderation,
        "examples": {i: _snippet(by_id[i]) for i in sorted(example_ids) if i in by_id},
    }


def _ids_in(threads: Mapping[str, Any]) -> set[str]:
    """Post ids the thread views refer to, so the page can quote them."""
    found: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key in ("post_id", "first_post_id", "representative", "representative_id"):
            found.add(value)

    walk(threads)
    return found
