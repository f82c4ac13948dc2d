"""The HTML report in a real browser: headless Chromium renders every chart, runs no injected script,
and paints a page that is not blank. Skips when /usr/bin/chromium is absent (CI installs it)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DUMP = ROOT / "examples" / "community_dump.jsonl"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "<script>document.body.innerHTML='pwned'</script> you absolute idiot"
# action colours of the report (allow, hold, remove), drawn as solid bars in the actions-over-time chart
ACTION_RGB = [(0x2E, 0x7D, 0x32), (0xF0, 0xA5, 0x00), (0xC6, 0x28, 0x28)]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed (/usr/bin/chromium)")


def chromium(*args: str) -> subprocess.CompletedProcess[bytes]:
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, timeout=120
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


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


def decode_png(data: bytes, max_rows: int) -> tuple[int, int, list[bytes]]:
    """Width, height and up to ``max_rows`` decoded RGB(A) rows of an 8-bit PNG (zlib and the five filters)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6), (depth, color)
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * max_rows)  # rows depend only on the row above
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(min(height, max_rows)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


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
