"""Progress on stderr: a bar on a terminal, plain lines elsewhere, the share and time left when known."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from safeguard.cli.progress import PostProgress, expected_records
from safeguard.io.readers import estimate_records, read_records


def test_without_a_terminal_a_line_says_how_far_and_how_long_is_left(capsys: pytest.CaptureFixture[str]) -> None:
    with PostProgress("moderating", show=None, total=1000, interval=0) as progress:
        progress.update(250)
    line = capsys.readouterr().err.strip()
    assert line.startswith("moderating: 250 of 1,000 posts (25%), ")
    assert line.endswith(" left")


def test_lines_come_at_most_once_an_interval_and_never_when_turned_off(capsys: pytest.CaptureFixture[str]) -> None:
    with PostProgress("reading", show=None, interval=3600) as progress:
        for n in range(1, 100):
            progress.update(n)
    assert capsys.readouterr().err == ""
    with PostProgress("reading", show=False, interval=0) as progress:
        progress.update(5)
    assert capsys.readouterr().err == ""
    with PostProgress("reading", show=None, interval=0) as progress:
        progress.update(7)
    assert capsys.readouterr().err.startswith("reading: 7 posts, ")


def test_a_resumed_run_counts_its_rate_from_where_it_starts() -> None:
    progress = PostProgress("moderating", show=False, total=100, start=40)
    assert progress.line(70, 10.0, 3.0) == "moderating: 70 of 100 posts (70%), 3/s, 10.0 s, about 10.0 s left"
    assert progress.line(70, 150.0, 0.4).endswith("2.5 min, about 75.0 s left")


def test_the_estimate_matches_what_is_read(tmp_path: Path) -> None:
    rows = [{"id": str(i), "text": f"post {i}"} for i in range(57)]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    no_end = tmp_path / "b.jsonl"
    no_end.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    csv = tmp_path / "c.csv"
    csv.write_text("id,text\n" + "".join(f"{r['id']},{r['text']}\n" for r in rows), encoding="utf-8")
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (jsonl, no_end, csv, parquet):
        assert estimate_records(path) == len(list(read_records(path))) == 57, path
    assert expected_records([str(jsonl), str(parquet)], [None, None]) == 114

    packed = tmp_path / "e.jsonl.gz"
    packed.write_bytes(gzip.compress(jsonl.read_bytes()))
    assert estimate_records(packed) is None and estimate_records("-") is None
    assert estimate_records(tmp_path / "missing.jsonl") is None
    assert expected_records([str(jsonl), str(packed)], [None, None]) is None
