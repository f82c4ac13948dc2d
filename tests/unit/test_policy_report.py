"""safeguard.policy.report: counts, the join with posts, escaping, and a page with no outside resources."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from safeguard import Moderator, Post
from safeguard.policy.records import UnusableRecord
from safeguard.policy.report import build_report, render_html

VALID = Path(__file__).resolve().parents[1] / "fixtures" / "rules" / "valid.yaml"
HOSTILE = "<script>document.title='pwned'</script> you idiot & <img src=x onerror=alert(1)>"


def posts() -> list[Post]:
    day = lambda d: datetime(2026, 5, d, 9, tzinfo=timezone.utc)  # noqa: E731
    return [
        Post(id="p1", text="lovely kettle", created_at=day(1)),
        Post(id="p2", text=HOSTILE, created_at=day(1)),
        Post(id="p3", text="what a moron", created_at=day(3)),
        Post(id="p4", text="THIS KETTLE IS BROKEN AGAIN AND AGAIN", created_at=day(3)),
    ]


@pytest.fixture(scope="module")
def decisions() -> list[dict[str, object]]:
    moderator = Moderator.from_file(VALID)
    out: list[dict[str, object]] = [
        {"line": i, **d.to_dict()} for i, d in enumerate(moderator.moderate_batch(posts()), 1)
    ]
    return [*out, {"line": 5, "id": None, "error": "invalid JSON"}]


def test_counts_fires_signals_and_join(decisions: list[dict[str, object]]) -> None:
    report = build_report([*decisions, UnusableRecord(9, None, "invalid UTF-8")], posts(), examples=1)
    assert report.decisions == 4 and report.error_records == 1 and len(report.unreadable) == 1
    assert dict(report.actions) == {"allow": 2, "hold": 2}
    assert report.fires == {"insult-list": [2, 0], "caps": [0, 1]}
    assert [e.post_id for e in report.examples["insult-list"]] == ["p2"]  # the first, in input order
    assert report.examples["insult-list"][0].text == HOSTILE
    assert report.posts_joined == 4 and report.posts_dated == 4
    assert {d.isoformat(): c for d, c in report.timeline.items()} == {
        "2026-05-01": [1, 1, 0],
        "2026-05-03": [1, 1, 0],
    }
    # valid.yaml's static toxicity classifier runs only for posts not already decided by cheaper rules
    assert {"text.caps_ratio", "text.length", "toxicity.threat"} <= set(report.signals)
    assert len(report.signals["text.length"]) == 4


def test_html_escapes_every_input_text(decisions: list[dict[str, object]]) -> None:
    page = render_html(build_report(decisions, posts()))
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt; you idiot &amp; &lt;img" in page
    evil = {"post_id": "<b>x</b>", "action": "hold", "matches": [{"rule": "r<1>", "action": "hold", "reason": "<i>"}]}
    page = render_html(build_report([evil]), title="<title>")
    assert "<b>x</b>" not in page and "r<1>" not in page and "<i>" not in page and "<title><title>" not in page
    assert "r&lt;1&gt;" in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_page_is_self_contained(decisions: list[dict[str, object]]) -> None:
    page = render_html(build_report(decisions, posts()))
    tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append((tag, attrs))

    Collect().feed(page)
    assert {t for t, _ in tags} & {"script", "link", "iframe", "object", "embed", "img"} == set()
    assert [(t, a) for t, attrs in tags for a, _ in attrs if a in ("src", "href") or a.startswith("on")] == []
    assert "@import" not in page and "url(" not in page
    # the only URL is the SVG namespace, which is a name, not a fetch
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}


@pytest.mark.parametrize(
    ("with_posts", "present", "absent"),
    [
        (True, ["chart-actions-over-time", "chart-top-rules", "chart-score-text-length"], ["no-timeline"]),
        (False, ["no-timeline", "chart-top-rules", "chart-score-text-caps_ratio"], ["chart-actions-over-time"]),
    ],
)
def test_charts_and_notes(
    decisions: list[dict[str, object]], with_posts: bool, present: list[str], absent: list[str]
) -> None:
    page = render_html(build_report(decisions, posts() if with_posts else None))
    for element_id in present:
        assert f'id="{element_id}"' in page, element_id
    for element_id in absent:
        assert f'id="{element_id}"' not in page, element_id


def test_parquet_style_records_and_non_decisions_are_handled() -> None:
    import json

    packed = {"line": 1, "decision": json.dumps({"post_id": "a", "action": "remove", "matches": []})}
    report = build_report([packed, {"line": 2, "foo": 1}, {"line": 3, "decision": "{not json"}])
    assert report.decisions == 1 and dict(report.actions) == {"remove": 1}
    assert [r.line for r in report.unreadable] == [2, 3]
    assert 'id="no-signals"' in render_html(report)


@pytest.mark.parametrize(
    ("days", "unit", "bars"),
    [
        ([1], "day", 1),
        ([1, 3], "day", 3),  # quiet days are drawn as empty slots: a gap of one day
        ([1, 200], "week", 29),  # beyond 92 days, weeks starting on Monday: 2026-01-01 (Thu) is in week 0
    ],
)
def test_timeline_buckets(days: list[int], unit: str, bars: int) -> None:
    from datetime import timedelta

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    items = [Post(id=f"p{d}", text="x", created_at=start + timedelta(days=d - 1)) for d in days]
    decisions = [{"post_id": p.id, "action": "hold", "matches": []} for p in items]
    page = render_html(build_report(decisions, items))
    assert f"<title>Actions per {unit}</title>" in page
    svg = page.split('id="chart-actions-over-time"', 1)[1].split("</svg>", 1)[0]
    assert svg.count('class="bar-hold"') == len(days)
    labels = re.findall(r"<text[^>]*text-anchor=\"middle\">(\w{3} \d\d)</text>", svg)
    assert labels[0] == ("Jan 01" if unit == "day" else "Dec 29")
    assert f'data-buckets="{bars}"' in page


def test_non_finite_and_huge_signals_are_reported_without_error() -> None:
    values = [float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 1.7e308, 0.5]
    records = [
        {"post_id": f"p{i}", "action": "allow", "signals": {"toxicity": {"toxicity": v, "same": 1e308}}}
        for i, v in enumerate(values)
    ]
    report = build_report(records)
    assert report.to_dict()["signals"]["toxicity.toxicity"] == {"count": 4, "min": -1e308, "max": 1.7e308}
    page = render_html(report)
    assert 'id="chart-score-toxicity-toxicity"' in page and 'id="chart-score-toxicity-same"' in page
