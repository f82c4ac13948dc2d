"""The readers against hostile dumps: stray CSV quotes, over-long lines, endless lines, compression
bombs, truncated compressed streams, damaged Parquet row groups and a closed stdin."""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import os
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from safeguard.errors import InputError
from safeguard.io import Record, read_records
from safeguard.io.readers import MAX_CSV_RECORD_LINES, MAX_RECORD_BYTES, MAX_SKIP_FACTOR


def lines_of(records: list[Record]) -> list[int]:
    return [r.line for r in records]


def errors_of(records: list[Record]) -> dict[int, str]:
    return {r.line: r.error for r in records if r.error is not None}


def jsonl(n: int, start: int = 1) -> bytes:
    return b"".join(b'{"id": %d, "text": "post %d"}\n' % (i, i) for i in range(start, start + n))


def csv_rows(first: int, last: int) -> bytes:
    """Rows for lines ``first`` to ``last``: each row's id is its line number."""
    return b"".join(b"%d,post on line %d\n" % (i, i) for i in range(first, last + 1))


def test_max_record_bytes_is_exported() -> None:
    assert MAX_RECORD_BYTES == 4 * 1024 * 1024
    from safeguard.io import readers

    assert {"MAX_RECORD_BYTES", "MAX_SKIP_FACTOR", "MAX_CSV_RECORD_LINES"} <= set(readers.__all__)


# --- CSV quoting -----------------------------------------------------------------------------------


def test_csv_unterminated_quote_resynchronises(tmp_path: Path) -> None:
    data = b"id,text\n" + csv_rows(2, 2) + b'3,"a quote that never closes\n' + csv_rows(4, 1001)
    path = tmp_path / "dump.csv"
    path.write_bytes(data)
    records = list(read_records(path))
    assert lines_of(records) == list(range(2, 1002))  # one record per row, true line numbers
    assert errors_of(records) == {
        3: "unterminated quote: the record starting on line 3 "
        f"is still inside quotes after {MAX_CSV_RECORD_LINES} lines"
    }
    for r in records:
        if r.line != 3:
            assert r.data == {"id": str(r.line), "text": f"post on line {r.line}"}


def test_csv_unterminated_quote_at_end_of_input(tmp_path: Path) -> None:
    data = b"id,text\n" + csv_rows(2, 3) + b'4,"open\n' + csv_rows(5, 7)
    path = tmp_path / "dump.csv"
    path.write_bytes(data)
    records = list(read_records(path))
    assert lines_of(records) == [2, 3, 4, 5, 6, 7]
    assert errors_of(records) == {
        4: "unterminated quote: the record starting on line 4 is still inside quotes at the end of the input"
    }
    assert records[-1].data == {"id": "7", "text": "post on line 7"}


def test_csv_legitimate_multiline_fields_still_parse(tmp_path: Path) -> None:
    long_text = "\n".join(f"paragraph {i}" for i in range(MAX_CSV_RECORD_LINES - 1))
    data = (
        b"id,text\n"
        + b'2,"two\nlines"\n'
        + b'4,"'
        + long_text.encode()
        + b'"\n'  # a record of exactly the line limit: lines 4-202
        + csv_rows(203, 204)
    )
    path = tmp_path / "dump.csv"
    path.write_bytes(data)
    records = list(read_records(path))
    assert [(r.line, r.error) for r in records] == [(2, None), (4, None), (203, None), (204, None)]
    assert records[0].data == {"id": "2", "text": "two\nlines"}
    assert records[1].data == {"id": "4", "text": long_text}


def test_csv_record_over_the_byte_limit(tmp_path: Path) -> None:
    data = (
        b"id,text\n"
        + b"2,"
        + b"x" * 200
        + b"\n"  # one long line
        + csv_rows(3, 3)
        + b'4,"'
        + b"y\n" * 150
        + b'",done\n'  # a quoted record of 300 bytes over lines 4-154
        + csv_rows(155, 156)
    )
    path = tmp_path / "dump.csv"
    path.write_bytes(data)
    records = list(read_records(path, max_record_bytes=100))
    errors = errors_of(records)
    assert errors[2] == errors[4] == "record is over the 100-byte limit"
    # reading resumes on line 5: the rest of the quoted text becomes rows of its own, then the
    # stray closing quote on line 154 opens a quote that the end of the input leaves open
    assert records[-3].line == 154 and "unterminated quote" in (records[-3].error or "")
    assert [(r.line, r.data) for r in records[-2:]] == [
        (155, {"id": "155", "text": "post on line 155"}),
        (156, {"id": "156", "text": "post on line 156"}),
    ]
    assert records[1].data == {"id": "3", "text": "post on line 3"}


def test_csv_reader_that_fails_without_reading_ends_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*_: object, **__: object) -> Iterator[list[str]]:
        raise csv.Error("broken")
        yield []

    monkeypatch.setattr(csv, "reader", failing)
    path = tmp_path / "dump.csv"
    path.write_bytes(b"id,text\n1,a\n")
    assert [(r.line, r.error) for r in read_records(path)] == [(1, "invalid CSV: broken")]


def test_csv_unterminated_quote_in_header_is_fatal(tmp_path: Path) -> None:
    path = tmp_path / "dump.csv"
    path.write_bytes(b'id,"text\n1,a\n')
    with pytest.raises(InputError, match="invalid CSV header: unterminated quote"):
        list(read_records(path))


# --- record size -----------------------------------------------------------------------------------


def test_jsonl_line_over_the_limit_is_one_error_record(tmp_path: Path) -> None:
    exact = b'{"text": "' + b"a" * 88 + b'"}'  # exactly 100 bytes
    assert len(exact) == 100
    data = jsonl(1) + b'{"text": "' + b"b" * 5000 + b'"}\n' + exact + b"\r\n" + b"\n" + jsonl(1, start=5)
    path = tmp_path / "dump.jsonl"
    path.write_bytes(data)
    records = list(read_records(path, max_record_bytes=100))
    assert [(r.line, r.error) for r in records] == [
        (1, None),
        (2, "record is over the 100-byte limit"),
        (3, "record is over the 100-byte limit"),  # the carriage return counts
        (5, None),
    ]
    records = list(read_records(path, max_record_bytes=101))
    assert records[2].data == {"text": "a" * 88}


def test_dev_zero_ends_quickly() -> None:
    started = time.perf_counter()
    records = list(read_records("/dev/zero", format="jsonl", max_record_bytes=4096))
    assert time.perf_counter() - started < 10
    assert [(r.line, r.error) for r in records] == [
        (1, "record is over the 4,096-byte limit"),
        (
            2,
            f"no line end within {MAX_SKIP_FACTOR * 4096:,} bytes after the start of line 1: "
            "stopped reading this input",
        ),
    ]


def _gzip_bomb(path: Path, before: bytes, zeros: int, after: bytes) -> int:
    """Write ``before``, ``zeros`` zero bytes and ``after`` gzipped to ``path``; its size."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    with path.open("wb") as fh:
        fh.write(comp.compress(before))
        for _ in range(zeros // len(block)):
            fh.write(comp.compress(block))
        fh.write(comp.compress(after))
        fh.write(comp.flush())
    return path.stat().st_size


def test_gzip_bomb_is_read_in_bounded_memory(tmp_path: Path) -> None:
    limit = 64 * 1024
    inflated = 128 << 20  # 2,048 times the limit, without a line end
    path = tmp_path / "bomb.jsonl.gz"
    size = _gzip_bomb(path, jsonl(2), inflated, b"\n" + jsonl(1, start=4))
    assert size < 1 << 20
    tracemalloc.start()
    try:
        started = time.perf_counter()
        records = list(read_records(path, max_record_bytes=limit))
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(r.line, r.error) for r in records] == [
        (1, None),
        (2, None),
        (3, "record is over the 65,536-byte limit"),
        (
            4,
            f"no line end within {MAX_SKIP_FACTOR * limit:,} bytes after the start of line 3: "
            "stopped reading this input",
        ),
    ]
    assert peak < 16 * limit, peak  # a few buffers, not the inflated line
    assert elapsed < 20


def test_long_line_within_the_skip_budget_is_skipped(tmp_path: Path) -> None:
    limit = 64 * 1024
    path = tmp_path / "long.jsonl.gz"
    _gzip_bomb(path, jsonl(1), 2 << 20, b"\n" + jsonl(2, start=3))  # a line of 2 MiB, then 2 more
    tracemalloc.start()
    try:
        records = list(read_records(path, max_record_bytes=limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(r.line, r.error) for r in records] == [
        (1, None),
        (2, "record is over the 65,536-byte limit"),
        (3, None),
        (4, None),
    ]
    assert records[3].data == {"id": 4, "text": "post 4"}
    assert peak < 16 * limit, peak


def test_parquet_row_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "dump.parquet"
    texts = ["short", "x" * 10_000, "also short"]
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": texts}), path)
    records = list(read_records(path, max_record_bytes=1000))
    assert [(r.line, r.error) for r in records] == [(1, None), (2, "record is over the 1,000-byte limit"), (3, None)]
    assert records[2].data == {"id": "c", "text": "also short"}


# --- inputs that end early -------------------------------------------------------------------------


COMPRESSORS = [
    (gzip.compress, "gzip"),
    (partial(bz2.compress, compresslevel=1), "bzip2"),  # 100 kB blocks: half a file holds whole ones
    (lzma.compress, "xz"),
]


@pytest.mark.parametrize(("compress", "kind"), COMPRESSORS)
def test_truncated_compressed_input_keeps_what_was_read(
    tmp_path: Path, compress: Callable[[bytes], bytes], kind: str
) -> None:
    data = compress(jsonl(20_000))
    path = tmp_path / "dump.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    records = list(read_records(path))
    *good, last = records
    n = len(good)
    assert 0 < n < 20_000
    assert [(r.line, r.data) for r in good] == [(i, {"id": i, "text": f"post {i}"}) for i in range(1, n + 1)]
    assert last.line == n + 1
    assert last.error == f"input ends early: truncated {kind} stream after line {n}"


def test_truncated_gzip_csv_and_next_input(tmp_path: Path) -> None:
    data = gzip.compress(b"id,text\n" + csv_rows(2, 20_000))
    path = tmp_path / "dump.csv.gz"
    path.write_bytes(data[: len(data) // 3])
    records = list(read_records(path))
    *good, last = records
    assert lines_of(good) == list(range(2, len(good) + 2))
    assert last.line == len(good) + 2
    assert last.error == f"input ends early: truncated gzip stream after line {len(good) + 1}"
    # the caller goes on with its next input
    other = tmp_path / "next.jsonl"
    other.write_bytes(jsonl(2))
    assert [r.data for r in read_records(other)] == [{"id": 1, "text": "post 1"}, {"id": 2, "text": "post 2"}]


def test_corrupt_gzip_ends_with_an_error_record(tmp_path: Path) -> None:
    path = tmp_path / "dump.jsonl.gz"
    data = gzip.compress(jsonl(1000))
    path.write_bytes(data[:-8] + b"\x00" * 8)  # a wrong checksum and length
    records = list(read_records(path))
    assert lines_of(records) == list(range(1, 1002))
    assert records[-1].error is not None
    assert records[-1].error.startswith("input ends early: corrupt gzip stream after line 1000: CRC check failed")


def test_not_gzip_after_the_magic_bytes(tmp_path: Path) -> None:
    path = tmp_path / "dump.jsonl.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    (record,) = read_records(path)
    assert record.line == 1
    assert record.error is not None and record.error.startswith(
        "input ends early: corrupt gzip stream before the end of line 1"
    )


def test_parquet_damaged_row_group_costs_only_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "dump.parquet"
    table = pa.table({"id": [f"p{i}" for i in range(1, 301)], "text": [f"post {i}" for i in range(1, 301)]})
    pq.write_table(table, path, row_group_size=100)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    offset = meta.row_group(1).column(1).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\xff" * 16  # the page header of row group 2's text column
    path.write_bytes(bytes(data))
    records = list(read_records(path))
    assert lines_of(records) == [*range(1, 102), *range(201, 301)]
    error = errors_of(records)
    assert list(error) == [101]
    assert error[101].startswith("cannot read Parquet rows 101-200 (row group 2): ")
    assert records[99].data == {"id": "p100", "text": "post 100"}
    assert records[101].data == {"id": "p201", "text": "post 201"}
    assert records[-1].data == {"id": "p300", "text": "post 300"}


# --- stdin -----------------------------------------------------------------------------------------


def test_closed_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(InputError) as caught:
        read_records("-")
    assert str(caught.value) == "cannot read <stdin>: standard input is closed"


def test_closed_stdin_in_a_process() -> None:
    code = (
        "from safeguard.io import read_records\n"
        "from safeguard.errors import InputError\n"
        "try:\n    read_records('-')\nexcept InputError as exc:\n    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        stdin=None,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        preexec_fn=lambda: os.close(0),  # stdin closed, as with `<&-`
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cannot read <stdin>: standard input is closed"


def test_parquet_with_invalid_utf8_metadata_is_an_input_error() -> None:
    # Found by the parquet fuzz target: pyarrow raised UnicodeDecodeError from the column paths.

    found = Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "parquet" / "invalid-utf8-metadata.parquet"
    with pytest.raises(InputError, match="not a readable Parquet file"):
        list(read_records(found))


def test_damaged_row_groups_that_claim_no_rows_still_get_distinct_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the parquet fuzz target: two damaged row groups whose metadata counts no rows were both
    # reported on line 1.
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": ["a", "b"]}), path, row_group_size=1)

    class Lying:
        def __init__(self, real: Any) -> None:
            self._real = real
            self.schema_arrow = real.schema_arrow

        @property
        def metadata(self) -> Any:
            meta = self._real.metadata

            class Meta:
                num_row_groups = meta.num_row_groups

                @staticmethod
                def row_group(i: int) -> Any:
                    return type("RowGroup", (), {"num_rows": 0})()

            return Meta

        def iter_batches(self, **kwargs: Any) -> Iterator[Any]:  # lazy, as pyarrow's is
            raise pa.ArrowInvalid("damaged page")
            yield

        def close(self) -> None:
            self._real.close()

    real_file = pq.ParquetFile
    monkeypatch.setattr(pq, "ParquetFile", lambda name: Lying(real_file(name)))
    records = list(read_records(path))
    assert [r.line for r in records] == [1, 2]
    assert all(r.error and "damaged page" in r.error for r in records)
