"""What the project's HTML pages share: one stylesheet, escaping, and axis scales for inline SVG charts.

Pages are self-contained (inline CSS and SVG, no script, font or stylesheet from elsewhere) so they open
offline and can be attached to a ticket; every piece of input text goes through :func:`escape`.
"""

from __future__ import annotations

import html
import math
from typing import Any

__all__ = ["CSS", "escape", "nice_max"]

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
