"""The HTML report in a real browser: headless Chromium renders every chart, runs no injected script,
and paints a page that is not blank. Skips when /usr/bin/chromium is absent (CI installs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _chromium import CHROMIUM, chromium, decode_png

ROOT = Path(__file__).resolve().parents[2]
DUMP = ROOT / "examples" / "community_dump.jsonl"
HOSTILE = "<script>document.body.innerHTML='pwned'</script> you absolute idiot"
# action colours of the report (allow, hold, remove), drawn as solid bars in the actions-over-time chart
ACTION_RGB = [(0x2E, 0x7D, 0x32), (0xF0, 0xA5, 0x00), (0xC6, 0x28, 0x28)]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed (/usr/bin/chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    dump = tmp / "dump.jsonl"
    hostile = {
        "id": "x1",
        "text": HOSTILE,
        "created_at": "2026-10-09T10:00:00Z",
        "author": {"id": "u9", "trust_level": 1, "role": "member"},
    }
    dump.write_text(DUMP.read_text(encoding="utf-8") + json.dumps(hostile) + "\n", encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    decisions, html = tmp / "decisions.jsonl", tmp / "report.html"
    for args in (
        ["moderate", str(dump), "-o", str(decisions), "--no-progress"],
        ["report", str(decisions), "-o", str(html), "--posts", str(dump), "--examples", "50"],
    ):
        done = subprocess.run([sys.executable, "-m", "safeguard", *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
    return html


def test_every_chart_is_in_the_rendered_dom_and_no_injected_script_ran(page: Path) -> None:
    result = chromium("--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    dom = result.stdout.decode("utf-8")
    for element in (
        'id="chart-actions-over-time"',
        'id="chart-top-rules"',
        'id="chart-score-text-caps_ratio"',
        'id="chart-score-text-length"',
        'id="examples"',
    ):
        assert element in dom, element
    assert dom.count("<svg") >= 4 and dom.count('class="bar-hold"') > 0 and dom.count('class="rule-bar"') >= 10
    # the hostile post is shown as text in its rule's examples, and its script never ran
    assert "&lt;script&gt;document.body.innerHTML='pwned'&lt;/script&gt; you absolute idiot" in dom
    assert "<script" not in dom and "<body>pwned" not in dom


def test_screenshot_is_a_valid_non_blank_page_with_the_action_colours(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr.decode(errors="replace")[-2000:]
    # the header, the decision cards and the actions-over-time chart fill the top 800 rows
    width, height, rows = decode_png(shot.read_bytes(), max_rows=800)
    assert (width, height) == (1280, 2000)
    bpp = len(rows[0]) // width
    colours = {row[i : i + 3] for row in rows for i in range(0, len(row), bpp * 2)}
    assert len(colours) >= 20, len(colours)  # text, cards, bars: far from a blank page
    for rgb in ACTION_RGB:
        assert bytes(rgb) in colours, f"no pixel of #{bytes(rgb).hex()}: the actions chart did not paint"
