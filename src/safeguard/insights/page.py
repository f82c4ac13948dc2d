"""The insights page: one self-contained HTML file drawn from the mapping :func:`~.summary.summarize` made.

Inline CSS and SVG only (no script, font or stylesheet from elsewhere), so the page opens offline and can
be mailed; every piece of text that came from the input (posts, titles, ids, topic terms, rule ids) is
escaped. The page reads nothing but the summary, so it shows exactly the numbers ``--json`` writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from safeguard.htmlpage import CSS, escape, stacked_columns

__all__ = ["render_page"]

KIND_COLORS = {
    "question": "#3b6fb6",
    "complaint": "#c62828",
    "praise": "#2e7d32",
    "suggestion": "#8e44ad",
    "answer": "#00897b",
    "other": "#9aa5b1",
}
ACTION_COLORS = {"hold": "#f0a500", "remove": "#c62828"}
_EXTRA_CSS = """
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; color: #fff; }
.emerging { background: #c62828; } .k { display: inline-block; padding: 0 6px; border-radius: 4px; color: #fff;
  font-size: 12px; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.two { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 16px; }
.quote { color: #3b4652; white-space: pre-wrap; word-break: break-word; }
"""
_W = 1120


def _date(iso: str | None) -> str:
    return escape(iso[:10]) if iso else ""


def _label(iso: str) -> str:
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return f"{months[int(iso[5:7]) - 1]} {int(iso[8:10])}"


def _columns(
    chart_id: str, title: str, labels: Sequence[str], series: Mapping[str, Sequence[int]], colors: Mapping[str, str]
) -> str:
    """Stacked columns, one per label (a week or a day), one colour per series."""
    ticks = [_label(label) for label in labels]
    return stacked_columns(chart_id, title, labels, ticks, series, colors, class_prefix="col-")


def _lines(chart_id: str, title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> str:
    """Lines over weeks on a -1..1 axis (sentiment) with shares drawn on the same scale (0..1)."""
    width, height, left, right, top, bottom = _W, 220, 48, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(1, len(labels))
    slot = plot_w / n
    colors = ("#22303f", "#c62828", "#2e7d32")

    def y_of(v: float) -> float:
        return top + plot_h * (1 - (v + 1) / 2)

    out = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for tick in (-1.0, -0.5, 0.0, 0.5, 1.0):
        y = y_of(tick)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde3ea"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for (name, values), color in zip(series.items(), colors, strict=False):
        points = [f"{left + i * slot + slot / 2:.1f},{y_of(v):.1f}" for i, v in enumerate(values) if v is not None]
        if points:
            out.append(
                f'<polyline class="line-{escape(name)}" fill="none" stroke="{color}" stroke-width="2.5" '
                f'points="{" ".join(points)}"><title>{escape(name)}</title></polyline>'
            )
        for i, v in enumerate(values):
            if v is not None:
                out.append(
                    f'<circle cx="{left + i * slot + slot / 2:.1f}" cy="{y_of(v):.1f}" r="3.5" fill="{color}">'
                    f"<title>{escape(labels[i])}: {escape(name)} {v:.2f}</title></circle>"
                )
    every = max(1, -(-n // 14))
    for i, label in enumerate(labels):
        if i % every == 0:
            out.append(
                f'<text x="{left + i * slot + slot / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                f"{escape(_label(label))}</text>"
            )
    out.append("</svg>")
    return "".join(out)


def _bars(chart_id: str, title: str, rows: Sequence[tuple[str, Mapping[str, int]]], colors: Mapping[str, str]) -> str:
    """Horizontal bars, one row per item, the series side by side."""
    row_h, left, right, top = 30, 170, 70, 6
    height = top + row_h * len(rows) + 8
    plot_w = _W - left - right
    peak = max((max(v.values(), default=0) for _, v in rows), default=0) or 1
    out = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {_W} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    k = max(1, len(colors))
    for i, (label, values) in enumerate(rows):
        y = top + i * row_h
        out.append(f'<text x="{left - 8}" y="{y + 19}" text-anchor="end">{escape(label)}</text>')
        for j, (name, color) in enumerate(colors.items()):
            count = values.get(name, 0)
            w = max(1.0, plot_w * count / peak) if count else 0.0
            yy = y + 3 + j * (row_h - 8) / k
            out.append(
                f'<rect class="bar-{escape(name)}" x="{left}" y="{yy:.1f}" width="{w:.1f}" '
                f'height="{(row_h - 8) / k - 1:.1f}" fill="{color}"><title>{escape(label)}: {count} '
                f"{escape(name)}</title></rect>"
            )
            if count:
                out.append(f'<text x="{left + w + 5:.1f}" y="{yy + (row_h - 8) / k - 3:.1f}">{count:,}</text>')
    out.append("</svg>")
    return "".join(out)


def _spark(values: Sequence[int]) -> str:
    """A tiny column chart of weekly counts for a table cell."""
    width, height = 120, 24
    peak = max(values, default=0) or 1
    slot = width / max(1, len(values))
    rects = "".join(
        f'<rect x="{i * slot:.1f}" y="{height - height * v / peak:.1f}" width="{max(1.0, slot - 1):.1f}" '
        f'height="{height * v / peak:.1f}" fill="#4a6fa5"/>'
        for i, v in enumerate(values)
        if v
    )
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{", ".join(str(v) for v in values)}</title>{rects}</svg>'
    )


def _kind(kind: str) -> str:
    return f'<span class="k" style="background:{KIND_COLORS.get(kind, "#9aa5b1")}">{escape(kind)}</span>'


def _quote(data: Mapping[str, Any], post_id: str) -> str:
    post = data["examples"].get(post_id)
    if post is None:
        return f"<code>{escape(post_id)}</code>"
    title = f"<strong>{escape(post['title'])}</strong><br>" if post.get("title") else ""
    return f'{title}<span class="quote">{escape(post["text"])}</span>'


def _legend(colors: Mapping[str, str]) -> str:
    return (
        '<p class="legend">'
        + "".join(f'<span><i style="background:{c}"></i>{escape(n)}</span>' for n, c in colors.items())
        + "</p>"
    )


def render_page(data: Mapping[str, Any], *, title: str = "Community insights") -> str:
    """The page for one summary (see :func:`~safeguard.insights.summary.summarize`)."""
    weeks: list[str] = data["weeks"]
    kinds = data["kinds"]
    threads = data["threads"]
    unanswered = threads["unanswered"]
    moderation = data.get("moderation")
    span = f"{_date(data['first'])} to {_date(data['last'])}" if data["first"] else "no dated posts"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}{_EXTRA_CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1><p>{data['posts']:,} posts, {span}"
        + (f" &middot; {data['errors']:,} input errors" if data["errors"] else "")
        + (f" &middot; kinds read by <code>{escape(data['kind_model'])}</code>" if data.get("kind_model") else "")
        + "</p></header><main>",
    ]

    # --- at a glance
    out.append('<section id="summary"><h2>At a glance</h2><div class="cards">')
    cards = [
        ("questions", kinds["question"]["total"], "question"),
        ("complaints", kinds["complaint"]["total"], "complaint"),
        ("praise", kinds["praise"]["total"], "praise"),
        ("suggestions", kinds["suggestion"]["total"], "suggestion"),
        (f"unanswered after {unanswered['hours']:g} h", unanswered["unanswered"], "complaint"),
        ("escalating threads", len(threads["escalating"]), "complaint"),
    ]
    if moderation:
        cards.append(("held for review", moderation["totals"]["hold"], "other"))
        cards.append(("removed", moderation["totals"]["remove"], "other"))
    for label, n, kind in cards:
        out.append(
            f'<div class="card" id="card-{escape(label.split()[0])}" style="border-top:4px solid {KIND_COLORS[kind]}">'
            f'<div class="n">{n:,}</div><div class="l">{escape(label)}</div></div>'
        )
    out.append("</div>")
    s = data["sentiment"]
    out.append(
        f'<p class="note">Mean sentiment {s["mean"]:+.2f} (VADER compound, -1 to 1). '
        + (f"{data['undated']:,} posts carry no date and appear in totals only. " if data["undated"] else "")
        + "Kinds and aspects are read from each post's words by the feedback classifier; they are estimates.</p>"
    )
    out.append("</section>")

    # --- what members talk about
    out.append('<section id="aspects"><h2>What members raise, by aspect</h2>')
    aspect_rows = [a for a in data["aspects"] if a["posts"]]
    if aspect_rows:
        colors = {"complaint": KIND_COLORS["complaint"], "question": KIND_COLORS["question"]}
        out.append(_legend(colors))
        out.append(
            _bars(
                "chart-aspects",
                "Complaints and questions per aspect",
                [(a["aspect"], a["kinds"]) for a in aspect_rows],
                colors,
            )
        )
        out.append(
            "<table><tr><th>aspect</th><th class='num'>posts</th><th class='num'>complaints</th>"
            "<th class='num'>questions</th><th class='num'>negative</th><th>complaints per week</th>"
            "<th>worst complaint</th></tr>"
        )
        for a in aspect_rows:
            example = _quote(data, a["examples"][0]) if a["examples"] else ""
            out.append(
                f"<tr><td>{escape(a['aspect'])}</td><td class='num'>{a['posts']:,}</td>"
                f"<td class='num'>{a['kinds']['complaint']:,}</td><td class='num'>{a['kinds']['question']:,}</td>"
                f"<td class='num'>{100 * a['negative_share']:.0f}%</td><td>{_spark(a['weekly_complaints'])}</td>"
                f"<td>{example}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append('<p class="note">No post named an aspect of shopping.</p>')
    out.append("</section>")

    # --- over time
    out.append('<section id="over-time"><h2>Week by week</h2>')
    if weeks:
        out.append(_legend(KIND_COLORS))
        out.append(
            _columns(
                "chart-kinds", "Posts per week by kind", weeks, {k: v["weekly"] for k, v in kinds.items()}, KIND_COLORS
            )
        )
        out.append(_legend({"mean sentiment": "#22303f", "negative share": "#c62828", "positive share": "#2e7d32"}))
        out.append(
            _lines(
                "chart-sentiment",
                "Sentiment per week",
                weeks,
                {
                    "mean sentiment": s["weekly_mean"],
                    "negative share": s["weekly_negative_share"],
                    "positive share": s["weekly_positive_share"],
                },
            )
        )
    else:
        out.append('<p class="note">No post carries <code>created_at</code>: nothing to draw over time.</p>')
    out.append("</section>")

    # --- products and stores
    for key, heading in (("products", "Products"), ("stores", "Stores")):
        out.append(f'<section id="{key}"><h2>{heading}</h2>')
        rows = data[key]
        if rows:
            out.append(
                f"<table><tr><th>{heading[:-1].lower()}</th><th class='num'>posts</th><th class='num'>complaints</th>"
                "<th class='num'>questions</th><th class='num'>praise</th><th class='num'>sentiment</th>"
                "<th>aspects</th><th>posts per week</th></tr>"
            )
            for r in rows:
                aspects = ", ".join(f"{escape(a)} {n}" for a, n in list(r["aspects"].items())[:4])
                out.append(
                    f"<tr><td>{escape(r['name'])} <code>{escape(r['id'])}</code></td>"
                    f"<td class='num'>{r['posts']:,}</td>"
                    f"<td class='num'>{r['kinds']['complaint']:,}</td><td class='num'>{r['kinds']['question']:,}</td>"
                    f"<td class='num'>{r['kinds']['praise']:,}</td><td class='num'>{r['sentiment']:+.2f}</td>"
                    f"<td>{aspects}</td><td>{_spark(r['weekly_posts'])}</td></tr>"
                )
            out.append("</table>")
        elif key == "products" and data["codes"]:
            out.append(
                '<p class="note">No gazetteer was given (<code>--gazetteer FILE</code>); model numbers found in '
                "posts:</p><table><tr><th>code</th><th class='num'>posts</th><th class='num'>complaints</th>"
                "<th class='num'>questions</th></tr>"
            )
            for c in data["codes"]:
                out.append(
                    f"<tr><td><code>{escape(c['code'])}</code></td><td class='num'>{c['posts']:,}</td>"
                    f"<td class='num'>{c['kinds']['complaint']:,}</td>"
                    f"<td class='num'>{c['kinds']['question']:,}</td></tr>"
                )
            out.append("</table>")
        else:
            out.append(
                f'<p class="note">No {key} named. Pass the retailer\'s gazetteer (<code>--gazetteer FILE</code>) '
                "to count them.</p>"
            )
        out.append("</section>")

    # --- topics
    topics = data["topics"].get("topics", [])
    out.append('<section id="topics"><h2>Topics</h2>')
    if topics:
        out.append(
            '<p class="note">Groups of posts that share distinctive words, named by those words. Growth is the '
            "last week against the mean of the weeks before; emerging topics grew past the stated factor.</p>"
            "<table><tr><th>topic</th><th class='num'>posts</th><th>per week</th><th class='num'>growth</th>"
            "<th>example</th></tr>"
        )
        for t in sorted(topics, key=lambda t: (not t["emerging"], -t["posts"], t["id"])):
            badge = ' <span class="badge emerging">emerging</span>' if t["emerging"] else ""
            weekly = [t["weekly"].get(w, 0) for w in weeks] if isinstance(t["weekly"], Mapping) else t["weekly"]
            example = _quote(data, t["examples"][0]) if t["examples"] else ""
            out.append(
                f"<tr class='topic'><td><strong>{escape(', '.join(t['terms']))}</strong>{badge}</td>"
                f"<td class='num'>{t['posts']:,}</td><td>{_spark(weekly)}</td>"
                f"<td class='num'>{t['growth']:.1f}x</td><td>{example}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append('<p class="note">Too few posts share distinctive words to form topics.</p>')
    out.append("</section>")

    # --- threads
    out.append(
        f'<section id="unanswered"><h2>Questions nobody answered within {unanswered["hours"]:g} hours</h2>'
        f'<p class="note">{unanswered["asked"]:,} questions opened threads; {unanswered["answered"]:,} got a reply '
        f"in time, {unanswered['waiting']:,} are too recent to tell.</p>"
    )
    if unanswered["questions"]:
        out.append("<table><tr><th>asked</th><th>question</th><th class='num'>hours open</th><th>since</th></tr>")
        for q in unanswered["questions"]:
            late = "late reply" if q["answered_late"] else "no reply yet"
            staff = ", staff replied" if q["staff_replied"] else ""
            out.append(
                f"<tr><td>{_date(q['created_at'])}</td><td>{_quote(data, q['post_id'])}</td>"
                f"<td class='num'>{q['hours_open']:,.0f}</td><td>{late}{staff}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append('<p class="note">Every question got a reply in time.</p>')
    out.append("</section>")

    out.append('<section id="escalating"><h2>Threads turning sour, no staff yet</h2>')
    if threads["escalating"]:
        out.append(
            "<table><tr><th>thread</th><th class='num'>posts</th><th class='num'>members</th>"
            "<th class='num'>negative early</th><th class='num'>negative late</th><th>last post</th></tr>"
        )
        for t in threads["escalating"]:
            out.append(
                f"<tr><td>{_quote(data, t['first_post_id'])}</td><td class='num'>{t['posts']}</td>"
                f"<td class='num'>{t['members']}</td><td class='num'>{100 * t['negative_early']:.0f}%</td>"
                f"<td class='num'>{100 * t['negative_late']:.0f}%</td><td>{_date(t['last_activity'])}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append('<p class="note">No thread is escalating without staff.</p>')
    out.append("</section>")

    out.append('<section id="faq"><h2>Questions members keep asking (FAQ candidates)</h2>')
    if threads["faq"]:
        out.append(
            "<table><tr><th class='num'>times</th><th class='num'>members</th><th>question</th><th>from</th></tr>"
        )
        for c in threads["faq"]:
            title = f"<strong>{escape(c['title'])}</strong><br>" if c.get("title") else ""
            out.append(
                f"<tr><td class='num'>{c['size']}</td><td class='num'>{c['authors']}</td>"
                f"<td>{title}<span class='quote'>{escape(c['snippet'])}</span></td>"
                f"<td>{_date(c['first_at'])} to {_date(c['last_at'])}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append('<p class="note">No question was asked three or more times by different members.</p>')
    out.append("</section>")

    # --- moderation load on the same time axis
    out.append('<section id="moderation"><h2>Moderation load</h2>')
    if moderation is None:
        out.append('<p class="note">This pass did not moderate (<code>--no-moderation</code>).</p>')
    else:
        if weeks:
            out.append(_legend(ACTION_COLORS))
            out.append(
                _columns(
                    "chart-moderation-weekly",
                    "Posts held and removed per week",
                    weeks,
                    {a: moderation["weekly"][a] for a in ACTION_COLORS},
                    ACTION_COLORS,
                )
            )
        if moderation["days"]:
            out.append(
                _columns(
                    "chart-moderation-daily",
                    "Posts held and removed per day",
                    moderation["days"],
                    {a: moderation["daily"][a] for a in ACTION_COLORS},
                    ACTION_COLORS,
                )
            )
        if moderation["rules"]:
            out.append("<h3>Rules that fired</h3><table><tr><th>rule</th><th class='num'>posts</th></tr>")
            for r in moderation["rules"][:20]:
                out.append(f"<tr><td><code>{escape(r['rule'])}</code></td><td class='num'>{r['posts']:,}</td></tr>")
            out.append("</table>")
    out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"
