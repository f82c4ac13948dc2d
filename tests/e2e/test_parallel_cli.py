"""``safeguard moderate --workers``: the same records as one process, in input order."""

from __future__ import annotations

import json
from pathlib import Path

from _moderate_cli import DUMP, moderate, records


def test_two_workers_write_the_records_of_one(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    lines = DUMP.read_text(encoding="utf-8").splitlines()
    lines.insert(5, "{not json")  # an error record keeps its place
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    a = moderate(str(dump), "-o", str(one), "--batch-size", "40", "--no-progress")
    b = moderate(str(dump), "-o", str(two), "--batch-size", "40", "--no-progress", "--workers", "2")
    assert a.returncode == b.returncode == 3, (a.stderr, b.stderr)
    assert records(one) == records(two)
    assert len(records(two)) == len(lines)
    # The summary is the same apart from its timings.
    summary = [line for line in b.stderr.splitlines() if "allow" in line]
    assert summary and summary == [line for line in a.stderr.splitlines() if "allow" in line]


def test_bad_worker_counts_are_usage_errors(tmp_path: Path) -> None:
    for value in ("0", "many"):
        result = moderate(str(DUMP), "-o", str(tmp_path / "out.jsonl"), "--workers", value)
        assert result.returncode == 2
        assert "--workers" in result.stderr and "Traceback" not in result.stderr


def test_two_workers_write_the_csv_and_parquet_of_one(tmp_path: Path) -> None:
    """Workers encode the records for the writer: CSV rows and Parquet rows come out as one process writes them."""
    import pyarrow.parquet as pq

    for name in ("out.csv", "out.parquet"):
        one, two = tmp_path / f"one-{name}", tmp_path / f"two-{name}"
        a = moderate(str(DUMP), "-o", str(one), "--batch-size", "50", "--no-progress")
        b = moderate(str(DUMP), "-o", str(two), "--batch-size", "50", "--no-progress", "--workers", "2")
        assert a.returncode == b.returncode == 0, (a.stderr, b.stderr)
        if name.endswith(".csv"):  # no timings in CSV: the same bytes
            assert one.read_bytes() == two.read_bytes()
            assert one.read_text(encoding="utf-8").count("\n") == 1 + len(DUMP.read_text(encoding="utf-8").splitlines())
        else:
            rows = [pq.read_table(p).to_pylist() for p in (one, two)]
            for table in rows:
                for row in table:  # the whole record as JSON, with its elapsed_ms
                    decision = json.loads(row["decision"])
                    assert decision.pop("elapsed_ms") >= 0
                    row["decision"] = decision
            assert rows[0] == rows[1] and len(rows[0]) == 364
