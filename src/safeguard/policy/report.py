"""A one-page HTML report of a moderation run, from the decisions ``safeguard moderate`` wrote.

The page is self-contained: inline CSS and SVG charts drawn here, no script, font or stylesheet
from anywhere else, so it opens offline and can be attached to a ticket. Charts: actions over time
(when the original posts, with ``created_at``, are joined), the rules that fired most, and the
distribution of every numeric signal found in the decisions. Then examples per rule. Every piece of
text from the input (post text, rule ids, reasons) is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from safeguard.htmlpage import CSS, escape, stacked_columns
from safeguard.policy.records import KEPT_ERRORS, UnusableRecord
from safeguard.types import Post

__all__ = ["Report", "ReportExample", "build_report", "render_html"]

ACTIONS: tuple[str, ...] = ("allow", "hold", "remove")
COLORS = {"allow": "#2e7d32", "hold": "#f0a500", "remove": "#c62828", "shadow": "#8c8c8c"}
#: Most numeric signals drawn as histograms.
MAX_SIGNALS = 24
#: Most rules in the top-rules chart.
MAX_RULES = 20
#: Bins of a score histogram.
BINS = 20
#: Characters of post text shown in an example.
EXAMPLE_TEXT = 600
#: Beyond this many days, actions over time are drawn per week.
DAILY_LIMIT = 92


@dataclass(frozen=True)
class ReportExample:
    """A post a rule fired on: its decision, and the post's text when the posts were joined."""

    post_id: str
    action: str
    shadow: bool
    reason: str | None
    values: str
    text: str | None = None
    created_at: str | None = None


@dataclass
class Report:
    """What :func:`build_report` gathered; :func:`render_html` draws it."""

    decisions: int = 0
    error_records: int = 0
    unreadable_records: int = 0
    unreadable: list[UnusableRecord] = field(default_factory=list)  # the first KEPT_ERRORS
    actions: Counter[str] = field(default_factory=Counter)
    rulesets: Counter[str] = field(default_factory=Counter)
    fires: dict[str, list[int]] = field(default_factory=dict)  # rule -> [acting, shadow]
    rule_actions: dict[str, str] = field(default_factory=dict)
    signals: dict[str, array[float]] = field(default_factory=dict)
    examples: dict[str, list[ReportExample]] = field(default_factory=dict)
    timeline: dict[dt.date, list[int]] = field(default_factory=dict)  # day -> [allow, hold, remove]
    posts_joined: int | None = None  # None: no posts were given
    posts_dated: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (counts, fires, signal ranges); deterministic."""
        return {
            "decisions": self.decisions,
            "error_records": self.error_records,
            "unreadable_records": self.unreadable_records,
            "actions": {a: self.actions.get(a, 0) for a in ACTIONS},
            "rulesets": dict(sorted(self.rulesets.items())),
            "rules": {r: {"fired": f[0], "shadow": f[1]} for r, f in sorted(self.fires.items())},
            "signals": {
                k: {"count": len(v), "min": min(v), "max": max(v)} for k, v in sorted(self.signals.items()) if len(v)
            },
            "posts_joined": self.posts_joined,
            "posts_dated": self.posts_dated,
            "days": len(self.timeline),
        }


def build_report(
    decisions: Iterable[Mapping[str, Any] | UnusableRecord],
    posts: Iterable[Post] | None = None,
    *,
    examples: int = 5,
) -> Report:
    """Gather counts, fires, numeric signals and examples from decision records.

    ``decisions`` are records as ``safeguard moderate`` writes them (``Decision.to_dict()``, or an
    error record ``{"line", "id", "error"}``), or :class:`UnusableRecord` for unreadable lines. Records
    with a ``decision`` key holding JSON text (the Parquet output) are unpacked. ``posts``, when
    given, are joined by id (the first post of each id) for timestamps and example texts; they are
    read after the decisions, keeping only the texts examples need. ``examples`` is the most kept
    per rule, the first in input order.

    Memory grows with the input: every numeric signal value is kept (8 bytes each) for the
    histograms, and every post id with its action while the posts are joined.
    """
    report = Report()
    wanted: dict[str, list[int]] = {}  # post id -> [action index], for the timeline
    need_text: set[str] = set()
    for record in decisions:
        if isinstance(record, UnusableRecord):
            _unreadable(report, record)
            continue
        data: Mapping[str, Any] = record
        if isinstance(data.get("decision"), str):
            try:
                data = json.loads(data["decision"])
            except json.JSONDecodeError as exc:
                _unreadable(report, UnusableRecord(_int(record.get("line")), None, f"invalid decision JSON: {exc}"))
                continue
        if "error" in data and "action" not in data:
            report.error_records += 1
            continue
        action = data.get("action")
        if action not in ACTIONS or not isinstance(data.get("post_id"), str):
            _unreadable(
                report, UnusableRecord(_int(data.get("line")), None, "not a decision record (needs post_id and action)")
            )
            continue
        _add_decision(report, data, examples, need_text)
        wanted.setdefault(data["post_id"], [ACTIONS.index(action)])
    if posts is not None:
        _join_posts(report, posts, wanted, need_text)
    return report


def _unreadable(report: Report, record: UnusableRecord) -> None:
    report.unreadable_records += 1
    if len(report.unreadable) < KEPT_ERRORS:
        report.unreadable.append(record)


def _add_decision(report: Report, data: Mapping[str, Any], examples: int, need_text: set[str]) -> None:
    report.decisions += 1
    report.actions[data["action"]] += 1
    ruleset = data.get("ruleset") or {}
    if isinstance(ruleset, Mapping) and ruleset.get("name"):
        report.rulesets[f"{ruleset.get('name')} ({ruleset.get('hash', '?')})"] += 1
    for key, shadow in (("matches", False), ("shadow", True)):
        for match in data.get(key) or ():
            if not isinstance(match, Mapping) or not isinstance(match.get("rule"), str):
                continue
            rule = match["rule"]
            report.fires.setdefault(rule, [0, 0])[int(shadow)] += 1
            report.rule_actions.setdefault(rule, str(match.get("action", "")))
            kept = report.examples.setdefault(rule, [])
            if len(kept) < examples:
                kept.append(
                    ReportExample(
                        post_id=data["post_id"],
                        action=data["action"],
                        shadow=shadow,
                        reason=match.get("reason") if isinstance(match.get("reason"), str) else None,
                        values=_values(match.get("values")),
                    )
                )
                need_text.add(data["post_id"])
    signals = data.get("signals") or {}
    if isinstance(signals, Mapping):
        for classifier, values in signals.items():
            if not isinstance(values, Mapping):
                continue
            for name, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    report.signals.setdefault(f"{classifier}.{name}", array("d")).append(float(value))


def _join_posts(report: Report, posts: Iterable[Post], wanted: dict[str, list[int]], need_text: set[str]) -> None:
    report.posts_joined = 0
    texts: dict[str, tuple[str, str | None]] = {}
    for post in posts:
        slot = wanted.get(post.id)
        if slot is None or len(slot) > 1:  # unknown, or already joined
            continue
        slot.append(1)
        report.posts_joined += 1
        created = post.created_at
        if created is not None:
            report.posts_dated += 1
            day = (created.astimezone(dt.timezone.utc) if created.tzinfo else created).date()
            report.timeline.setdefault(day, [0, 0, 0])[slot[0]] += 1
        if post.id in need_text:
            texts[post.id] = (post.text, created.isoformat() if created else None)
    for rule, kept in report.examples.items():
        report.examples[rule] = [
            ReportExample(e.post_id, e.action, e.shadow, e.reason, e.values, *texts.get(e.post_id, (None, None)))
            for e in kept
        ]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _values(values: Any) -> str:
    if not isinstance(values, Mapping):
        return ""
    parts = []
    for k, v in values.items():
        text = f"{v:.3f}" if isinstance(v, float) else json.dumps(v, ensure_ascii=False, default=str)
        parts.append(f"{k}={text if len(text) <= 120 else text[:117] + '...'}")
    return ", ".join(parts)


# --- HTML ------------------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]+", "-", name).strip("-") or "signal"


def _timeline_svg(report: Report) -> str:
    days = sorted(report.timeline)
    first, last = days[0], days[-1]
    weekly = (last - first).days + 1 > DAILY_LIMIT
    buckets: dict[dt.date, list[int]] = {}
    step = 7 if weekly else 1
    start = first - dt.timedelta(days=first.weekday()) if weekly else first
    day = start
    while day <= last:
        buckets[day] = [0, 0, 0]
        day += dt.timedelta(days=step)
    for d, counts in report.timeline.items():
        key = d - dt.timedelta(days=d.weekday()) if weekly else d
        for i in range(3):
            buckets[key][i] += counts[i]
    periods = sorted(buckets)
    return stacked_columns(
        "chart-actions-over-time",
        f"Actions per {'week' if weekly else 'day'}",
        [d.isoformat() for d in periods],
        [d.strftime("%b %d") for d in periods],
        {action: [buckets[d][k] for d in periods] for k, action in enumerate(ACTIONS)},
        {action: COLORS[action] for action in ACTIONS},
        class_prefix="bar-",
        height=280,
        bottom=42,
        bar_share=0.8,
        max_ticks=12,
        caption=f"{'week starting' if weekly else 'day'} (UTC)",
        attrs=f' data-buckets="{len(periods)}"',
    )


def _rules_svg(report: Report) -> str:
    ranked = sorted(report.fires.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))[:MAX_RULES]
    row, left, right, top = 26, 230, 70, 6
    width = 1120
    height = top + row * len(ranked) + 8
    plot_w = width - left - right
    top_value = max(max(f[0], f[1]) for _, f in ranked) or 1
    parts = [
        f'<svg id="chart-top-rules" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>Rules by posts fired on</title>'
    ]
    for i, (rule, (acting, shadow)) in enumerate(ranked):
        y = top + i * row
        shadow_only = acting == 0
        count = shadow if shadow_only else acting
        color = COLORS["shadow"] if shadow_only else COLORS.get(report.rule_actions.get(rule, ""), "#4a6fa5")
        label = rule + (" (shadow)" if shadow_only else "")
        w = max(2.0, plot_w * count / top_value)
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{escape(label)}</text>')
        parts.append(
            f'<rect class="rule-bar" x="{left}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{color}">'
            f"<title>{escape(label)}: {count}</title></rect>"
        )
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 16}">{count:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _histogram_svg(name: str, values: array[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]  # build_report keeps only finite values; be safe anyway
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0
    elif hi == lo:
        hi = lo + max(1.0, abs(lo) * 1e-9) if abs(lo) < 1e300 else lo
    counts = [0] * BINS
    # halves, so that the span of values near the float limits (-1e308 .. 1e308) does not overflow
    half = hi / 2 - lo / 2
    for v in finite:
        counts[min(BINS - 1, max(0, int((v / 2 - lo / 2) / half * BINS))) if half > 0 else 0] += 1
    width, height, left, bottom, top = 300, 150, 46, 22, 8
    plot_w, plot_h = width - left - 6, height - bottom - top
    peak = max(counts)
    # a log scale: scores pile up near 0, and a linear scale would hide the tail moderators care about
    scale = math.log1p(peak)
    bar = plot_w / BINS
    parts = [
        f'<svg id="chart-score-{escape(_slug(name))}" class="chart histogram" role="img" '
        f'viewBox="0 0 {width} {height}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(name)}</title>',
        f'<line x1="{left}" x2="{width - 6}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#9aa5b1"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{peak:,}</text>',
    ]
    for i, c in enumerate(counts):
        if not c:
            continue
        h = max(1.0, plot_h * math.log1p(c) / scale) if scale else 0.0
        x = left + i * bar
        a, b = lo + half * i / BINS + half * i / BINS, lo + half * (i + 1) / BINS + half * (i + 1) / BINS
        parts.append(
            f'<rect x="{x + 0.5:.1f}" y="{top + plot_h - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" '
            f'fill="#4a6fa5"><title>{_num(a)} to {_num(b)}: {c:,}</title></rect>'
        )
    parts.append(f'<text x="{left}" y="{height - 6}">{_num(lo)}</text>')
    parts.append(f'<text x="{width - 6}" y="{height - 6}" text-anchor="end">{_num(hi)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: Report, *, title: str = "safeguard moderation report") -> str:
    """The report as one self-contained HTML page (inline CSS and SVG; no scripts, no external resources)."""
    total = max(1, report.decisions)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><p>{report.decisions:,} decisions"
        + (f" &middot; ruleset {', '.join(escape(r) for r in sorted(report.rulesets))}" if report.rulesets else "")
        + "</p></header><main>",
        '<section id="summary"><h2>Decisions</h2><div class="cards">',
    ]
    for a in ACTIONS:
        n = report.actions.get(a, 0)
        out.append(
            f'<div class="card {a}"><div class="n">{n:,}</div><div class="l">{a} ({100 * n / total:.1f}%)</div></div>'
        )
    out.append(
        f'<div class="card err"><div class="n">{report.error_records + report.unreadable_records:,}</div>'
        f'<div class="l">error records</div></div></div>'
    )
    if report.posts_joined is not None:
        out.append(
            f'<p class="note">{report.posts_joined:,} of {report.decisions:,} decisions joined to their posts; '
            f"{report.posts_dated:,} posts carry created_at.</p>"
        )
    out.append("</section>")

    out.append('<section id="actions-over-time"><h2>Actions over time</h2>')
    if report.timeline:
        out.append(
            '<p class="legend">'
            + "".join(f'<span><i style="background:{COLORS[a]}"></i>{a}</span>' for a in ACTIONS)
            + "</p>"
        )
        out.append(_timeline_svg(report))
    elif report.posts_joined is None:
        out.append(
            '<p class="note" id="no-timeline">Decisions carry no timestamps: pass the original posts with '
            "<code>--posts DUMP</code> to draw actions over time.</p>"
        )
    else:
        out.append('<p class="note" id="no-timeline">None of the joined posts carries <code>created_at</code>.</p>')
    out.append("</section>")

    out.append('<section id="top-rules"><h2>Top rules</h2>')
    if report.fires:
        out.append(
            '<p class="legend">'
            + "".join(f'<span><i style="background:{COLORS[a]}"></i>{a} rule</span>' for a in ("hold", "remove"))
            + f'<span><i style="background:{COLORS["shadow"]}"></i>shadow only (would have fired)</span></p>'
        )
        out.append(_rules_svg(report))
        shadows = [(r, f[1]) for r, f in sorted(report.fires.items()) if f[1] and f[0]]
        if shadows:
            out.append(
                '<p class="note">Also fired in shadow mode: '
                + ", ".join(f"{escape(r)} ({n:,})" for r, n in shadows)
                + "</p>"
            )
    else:
        out.append('<p class="note">No rule fired.</p>')
    out.append("</section>")

    out.append('<section id="score-distributions"><h2>Score distributions</h2>')
    signals = [(k, v) for k, v in sorted(report.signals.items()) if len(v)][:MAX_SIGNALS]
    if signals:
        out.append(
            '<p class="note">Numeric signals found in the decisions (only the classifiers that ran for a post '
            'report signals). Bar heights on a log scale.</p><div class="grid">'
        )
        for name, values in signals:
            out.append(
                f'<figure><figcaption>{escape(name)} <span class="note">({len(values):,} posts)</span></figcaption>'
                f"{_histogram_svg(name, values)}</figure>"
            )
        out.append("</div>")
    else:
        out.append(
            '<p class="note" id="no-signals">The decisions carry no numeric signals '
            "(written with <code>--no-signals</code>?).</p>"
        )
    out.append("</section>")

    out.append('<section id="examples"><h2>Examples per rule</h2>')
    if not report.examples:
        out.append('<p class="note">No rule fired.</p>')
    for rule in sorted(report.examples):
        acting, shadow = report.fires[rule]
        out.append(
            f'<h3 id="rule-{escape(_slug(rule))}">{escape(rule)} <span class="note">'
            f"({acting:,} fired{f', {shadow:,} shadow' if shadow else ''})</span></h3>"
        )
        out.append("<table><tr><th>post</th><th>decision</th><th>reason</th><th>text</th><th>values</th></tr>")
        for e in report.examples[rule]:
            text = e.text
            if text is not None and len(text) > EXAMPLE_TEXT:
                text = text[: EXAMPLE_TEXT - 3] + "..."
            shown = escape(text) if text is not None else '<span class="note">(pass --posts for the text)</span>'
            out.append(
                f"<tr><td>{escape(e.post_id)}"
                + (f'<br><span class="note">{escape(e.created_at)}</span>' if e.created_at else "")
                + f"</td><td>{escape(e.action)}{' (shadow)' if e.shadow else ''}</td><td>{escape(e.reason or '')}</td>"
                f'<td class="text">{shown}</td><td><code>{escape(e.values)}</code></td></tr>'
            )
        out.append("</table>")
    out.append("</section>")
    if report.unreadable:
        out.append('<section id="unreadable"><h2>Unreadable records</h2><table><tr><th>line</th><th>error</th></tr>')
        for r in report.unreadable[:50]:
            out.append(f"<tr><td>{escape(r.line)}</td><td>{escape(r.error)}</td></tr>")
        out.append("</table></section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"
