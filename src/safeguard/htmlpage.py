"""What the project's HTML pages share: one stylesheet, escaping, and axis scales for inline SVG charts.

Pages are self-contained (inline CSS and SVG, no script, font or stylesheet from elsewhere) so they open
offline and can be attached to a ticket; every piece of input text goes through :func:`escape`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CSS", "escape", "nice_max", "stacked_columns"]

#: The stylesheet of every page.
CSS = """
:root { --fg: #1d232b; --muted: #5f6b7a; --line: #dde3ea; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); }
header { background: #22303f; color: #fff; padding: 20px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c8d3df; }
main { padding: 8px 32px 40px; max-width: 1240px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 12px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; }
.card { flex: 1 1 150px; border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
.card .n { font-size: 24px; font-weight: 600; }
.card .l { color: var(--muted); }
.allow { border-top: 4px solid #2e7d32; } .hold { border-top: 4px solid #f0a500; }
.remove { border-top: 4px solid #c62828; } .err { border-top: 4px solid #8c8c8c; }
.note { color: var(--muted); font-style: italic; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 11px; height: 11px; margin-right: 5px; vertical-align: -1px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(290px, 1fr)); gap: 12px; }
.grid figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; }
figcaption { font-weight: 600; font-size: 13px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 5px 8px; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.text { white-space: pre-wrap; word-break: break-word; max-width: 560px; }
code { font-size: 12px; word-break: break-all; }
svg text { font: 11px system-ui, sans-serif; fill: #3b4652; }
"""


def escape(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def nice_max(value: float) -> float:
    """The top of a chart axis: the smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= m * exp:
            return float(m * exp)
    return float(10 * exp)


def stacked_columns(
    chart_id: str,
    title: str,
    tips: Sequence[str],
    ticks: Sequence[str],
    series: Mapping[str, Sequence[int]],
    colors: Mapping[str, str],
    *,
    class_prefix: str,
    height: int = 240,
    bottom: int = 40,
    bar_share: float = 0.7,
    max_ticks: int = 14,
    caption: str | None = None,
    attrs: str = "",
) -> str:
    """An inline SVG of stacked columns over time: one column per period, one colour per series.

    ``tips`` names each column in its tooltips and ``ticks`` on the axis (at most ``max_ticks`` of them
    shown); ``series`` maps each series, stacked from the bottom in its order, to a count per column.
    Each segment is a ``rect`` of class ``class_prefix + name``. ``caption`` is written under the axis;
    ``attrs`` are extra attributes of the ``svg`` element. Text arguments are escaped here.
    """
    width, left, right, top = 1120, 48, 12, 12
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(1, len(tips))
    peak = nice_max(max((sum(s[i] for s in series.values()) for i in range(len(tips))), default=0))
    slot = plot_w / n
    bar = max(1.0, slot * bar_share)
    out = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img"{attrs} viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde3ea"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{peak * frac:g}</text>')
    every = max(1, math.ceil(n / max_ticks))
    for i, (tip, tick) in enumerate(zip(tips, ticks, strict=True)):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for name, values in series.items():
            count = values[i]
            if not count:
                continue
            h = plot_h * count / peak
            y -= h
            out.append(
                f'<rect class="{escape(class_prefix + name)}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colors[name]}"><title>{escape(tip)}: {count} {escape(name)}</title></rect>'
            )
        if i % every == 0:
            out.append(
                f'<text x="{left + i * slot + slot / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
                f"{escape(tick)}</text>"
            )
    if caption is not None:
        out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">{escape(caption)}</text>')
    out.append("</svg>")
    return "".join(out)
