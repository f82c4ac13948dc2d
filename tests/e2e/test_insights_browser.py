"""The insights page in a real browser: headless Chromium renders every chart, runs no injected script,
and paints the kind colours. Skips when /usr/bin/chromium is absent (CI installs it)."""

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
HOSTILE = "<img src=x onerror=\"document.body.innerHTML='pwned'\"> refund timing"
# question (blue) and complaint (red) columns of the week-by-week chart
KIND_RGB = [(0x3B, 0x6F, 0xB6), (0xC6, 0x28, 0x28)]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed (/usr/bin/chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("insights-browser")
    dump = tmp / "dump.jsonl"
    # a question nobody answers: the page lists it with its title
    text = "Does anyone know how many days a refund takes to reach a credit card?"
    hostile = {"id": "x1", "thread_id": "tx", "title": HOSTILE, "text": text, "created_at": "2026-10-09T10:00:00Z"}
    dump.write_text(DUMP.read_text(encoding="utf-8") + json.dumps(hostile) + "\n", encoding="utf-8")
    html = tmp / "insights.html"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "safeguard",
            "insights",
            str(dump),
            "-o",
            str(html),
            "--gazetteer",
            str(ROOT / "examples" / "gazetteer.csv"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return html


def test_every_chart_is_in_the_rendered_dom_and_no_injected_script_ran(page: Path) -> None:
    result = chromium("--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    dom = result.stdout.decode("utf-8")
    for element in ('id="chart-aspects"', 'id="chart-kinds"', 'id="chart-sentiment"', 'id="chart-moderation-daily"'):
        assert element in dom, element
    assert dom.count('class="col-complaint"') >= 3 and dom.count('class="spark"') >= 5
    assert "&lt;img src=x onerror=" in dom and "<img" not in dom and "pwned" not in dom.split("&lt;img")[0]
    assert "<body>pwned" not in dom


def test_screenshot_is_a_readable_page_with_the_kind_colours(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "insights.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr.decode(errors="replace")[-2000:]
    width, height, rows = decode_png(shot.read_bytes(), max_rows=2400)
    assert (width, height) == (1280, 2400)
    bpp = len(rows[0]) // width
    colours = {row[i : i + 3] for row in rows for i in range(0, len(row), bpp * 2)}
    assert len(colours) >= 30, len(colours)
    for rgb in KIND_RGB:
        assert bytes(rgb) in colours, f"no pixel of #{bytes(rgb).hex()}: the charts did not paint"
