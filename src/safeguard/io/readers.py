"""Streaming readers for post dumps: JSON Lines, CSV/TSV and Parquet.

Every reader yields one :class:`Record` per input record, in input order, with bounded memory.
A record that cannot be parsed (truncated JSON, invalid UTF-8, a CSV row with too many cells ...)
becomes a :class:`Record` with ``error`` set instead of stopping the stream; only a file that cannot
be opened at all (or a CSV header that cannot be used) raises :class:`~safeguard.errors.InputError`.

Hostile input is bounded:

* A record over :data:`MAX_RECORD_BYTES` (a line of JSON Lines or of compressed text, a CSV
  record, a Parquet row) becomes one error record, and reading goes on with the next record. An
  over-long line is skipped without being held in memory; if no line end comes within
  :data:`MAX_SKIP_FACTOR` times the limit (``/dev/zero``, a compressed file that inflates to
  gigabytes of one line), reading that input stops with a final error record saying so.
* A CSV record still inside quotes after :data:`MAX_CSV_RECORD_LINES` lines, or at the end of the
  input, is an error record ("unterminated quote") on the line where it starts; reading starts
  again from the next line, so the rows after a stray quote keep their own records and line numbers.
* A truncated or corrupt compressed stream (or an I/O error) ends the input early: every complete
  record before the damage is yielded, then one final error record ("input ends early: truncated
  gzip stream after line N"), and the iterator returns normally. A damaged Parquet row group is one
  error record naming its rows, and reading goes on with the next row group.

JSON Lines and CSV may be compressed with gzip, bzip2 or xz (detected from the file's first bytes).
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import dataclasses
import gzip
import io
import json
import lzma
import os
import sys
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguard.errors import ConfigError, InputError
from safeguard.io.formats import COMPRESSED, FORMATS, TABLE, detect_format, normalize_format
from safeguard.types import Post, lookup_path, parse_id

__all__ = [
    "FORMATS",
    "MAX_CSV_RECORD_LINES",
    "MAX_RECORD_BYTES",
    "MAX_SKIP_FACTOR",
    "Record",
    "detect_format",
    "estimate_records",
    "generated_id",
    "iter_posts",
    "normalize_format",
    "read_jsonl_range",
    "read_records",
    "record_id",
]

#: Rows per batch read from Parquet files.
PARQUET_BATCH_SIZE = 1024
#: Largest CSV field accepted (the csv module's default of 128 KiB is too small for long posts).
CSV_FIELD_LIMIT = 16 * 1024 * 1024
#: Largest record :func:`read_records` accepts by default, in bytes (a line without its line end,
#: a CSV record, a Parquet row); a larger one becomes an error record.
MAX_RECORD_BYTES = 4 * 1024 * 1024
#: After a line over the record limit, how many times the limit is skipped looking for its end
#: before reading that input stops.
MAX_SKIP_FACTOR = 64
#: Most lines one CSV record may span; a record still inside quotes after that is an unterminated
#: quote (at most this many lines are kept to read again).
MAX_CSV_RECORD_LINES = 200

_STDIN_NAME = "<stdin>"
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Record:
    """One input record: its parsed ``data``, or the ``error`` that kept it from being parsed.

    Exactly one of ``data`` and ``error`` is set. ``line`` is the 1-based line on which the record
    starts (JSON Lines, CSV) or its 1-based row number (Parquet); ``source`` names the input.
    """

    source: str
    line: int
    data: dict[str, Any] | None
    error: str | None

    def __post_init__(self) -> None:
        if (self.data is None) == (self.error is None):
            raise ValueError("a Record has exactly one of data and error")


def read_records(
    path: str | Path, *, format: str | None = None, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[Record]:
    """Stream the records of ``path`` (``"-"`` for stdin) in order, one :class:`Record` each.

    ``format`` is one of :data:`FORMATS` (or an alias); by default it is detected from the
    extension (stdin defaults to JSON Lines). The file is checked when this is called: a missing or
    unreadable file (or a closed stdin) raises :class:`~safeguard.errors.InputError` naming the
    path, and a bad format raises :class:`~safeguard.errors.ConfigError`. Records themselves never
    raise: they carry ``error``. Reading stops with ``InputError`` only if a CSV header is unusable
    (duplicate column names, invalid UTF-8, an unterminated quote).

    A record over ``max_record_bytes`` is an error record and reading goes on after it, in memory
    bounded by about that size. An input that ends early (a truncated or corrupt compressed
    stream, an I/O error, a line with no end within :data:`MAX_SKIP_FACTOR` times the limit) ends
    with one error record, numbered after the last line read, saying where and why it stopped; the
    iterator then returns normally. A CSV record still inside quotes after
    :data:`MAX_CSV_RECORD_LINES` lines or at the end of the input is an error record on its first
    line, and reading resumes on the line after it. A Parquet row group that cannot be read is one
    error record (on its first unread row) naming its rows; reading goes on with the next group.

    JSON Lines: blank lines are skipped; each other line is a record that must be a JSON object.
    CSV/TSV: the first row is the header; values stay strings, empty cells become ``None``.
    Parquet: rows become dicts (structs become dicts, timestamps ``datetime``).
    """
    name = str(path)
    stdin = name == "-"
    if format is not None:
        fmt = normalize_format(format)
    elif stdin:
        fmt = "jsonl"
    else:
        fmt = detect_format(name)
    if max_record_bytes < 1:
        raise ConfigError(f"max_record_bytes must be at least 1, got {max_record_bytes}")
    if stdin:
        if not TABLE[fmt].text:
            raise ConfigError(f"{TABLE[fmt].title} cannot be read from stdin: pass a file path", file=_STDIN_NAME)
        if sys.stdin is None:
            raise InputError(f"cannot read {_STDIN_NAME}: standard input is closed")
        return _read_text(_STDIN_NAME, _stdin_lines(max_record_bytes), fmt, max_record_bytes)
    _check_readable(name)
    if not TABLE[fmt].text:
        _check_parquet(name)
        return _read_parquet(name, max_record_bytes)
    return _read_text(name, _file_lines(name, max_record_bytes), fmt, max_record_bytes)


def estimate_records(path: str | Path, format: str | None = None) -> int | None:
    """About how many records :func:`read_records` will yield for ``path``, for a progress display;
    None when that cannot be told without decoding it (standard input, a compressed file, an
    unreadable one). Parquet: the row count its footer states. JSON Lines: its lines (blank lines
    make it an upper bound). CSV and TSV: its lines but the header (a quoted field spanning lines
    makes it an upper bound)."""
    name = str(path)
    try:
        fmt = normalize_format(format) if format is not None else detect_format(name)
    except ConfigError:
        return None
    if name == "-" or name.lower().endswith(COMPRESSED):
        return None
    try:
        if not TABLE[fmt].text:
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(name).metadata.num_rows)
        lines, last = 0, b"\n"
        with open(name, "rb") as fh:
            while chunk := fh.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, ValueError, ImportError):
        return None
    lines += last != b"\n"
    return max(0, lines - (TABLE[fmt].delimiter is not None))


def read_jsonl_range(
    source: str, fh: Any, size: int, *, first_line: int, at_start: bool, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[Record]:
    """The records of ``size`` bytes of uncompressed JSON Lines read from ``fh`` (positioned where
    they start, on a line start), numbered from ``first_line``: one part of ``source``, read as
    :func:`read_records` reads the whole (``at_start``: the part opens the input)."""
    return _read_jsonl(
        source,
        _bounded_lines(_Ranged(fh, size), max_record_bytes, None, at_start=at_start),
        max_record_bytes,
        first_line,
    )


class _Ranged:
    """``readline`` of a binary stream that ends after ``size`` bytes."""

    def __init__(self, fh: Any, size: int) -> None:
        self._fh = fh
        self._left = size

    def readline(self, size: int) -> bytes:
        if self._left <= 0:
            return b""
        line: bytes = self._fh.readline(min(size, self._left))
        self._left -= len(line)
        return line


def record_id(record: Record, field_map: Mapping[str, str] | None = None) -> str | None:
    """The post id a record carries (following ``field_map``), or ``None``; for error records."""
    if record.data is None:
        return None
    source = (field_map or {}).get("id", "id")
    found, value = lookup_path(record.data, source)
    if not found:
        return None
    try:
        return parse_id(value, source)
    except InputError:
        return None


def iter_posts(
    records: Iterable[Record], field_map: Mapping[str, str] | None = None
) -> Iterator[tuple[Record, Post | None, str | None]]:
    """Turn each record into ``(record, post, None)``, or ``(record, None, error)``; never raises.

    Posts are built with :meth:`Post.from_mapping` and ``field_map``. A post without an id (missing,
    ``null`` or empty) gets :func:`generated_id`, and ``post.id_generated`` is set. The error is the
    record's own error or why it is not a valid post.
    """
    for record in records:
        if record.data is None:
            yield record, None, record.error or "unreadable record"
            continue
        default = generated_id(record)
        try:
            post = Post.from_mapping(record.data, field_map, default_id=default)
        except InputError as exc:
            yield record, None, str(exc)
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
            yield record, None, f"invalid record: {exc}"
        else:
            if post.id == default and record_id(record, field_map) is None:
                post = dataclasses.replace(post, id_generated=True)
            yield record, post, None


def generated_id(record: Record) -> str:
    """The id a record without one gets: ``"<input name>:<line>"``, stable from run to run.

    Input names hold a ``:`` and a line number that real post ids rarely share; a run that still
    meets the same id twice counts it as a duplicate.
    """
    return f"{record.source}:{record.line}"


# --- opening ---------------------------------------------------------------------------------------


def _check_readable(name: str) -> None:
    try:
        if os.path.isdir(name):
            raise InputError(f"cannot read {name}: is a directory")
        with open(name, "rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None


def _decompressing(fh: io.BufferedReader) -> tuple[Any, str | None]:
    """``fh`` itself, or a decompressing reader over it if its first bytes say it is compressed,
    with the name of the compression (``None`` for none)."""
    magic = fh.peek(6)[:6]
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb"), "gzip"
    if magic[:3] == b"BZh":
        return bz2.BZ2File(fh, "rb"), "bzip2"
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(fh, "rb"), "xz"
    return fh, None


def _file_lines(name: str, limit: int) -> Iterator[_Line]:
    try:
        raw = open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        try:
            fh, compression = _decompressing(raw)
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
        yield from _bounded_lines(fh, limit, compression)
    finally:
        raw.close()


def _stdin_lines(limit: int) -> Iterator[_Line]:
    stream: Any = sys.stdin
    buffer = getattr(stream, "buffer", None)
    # a text stream without a binary buffer (e.g. io.StringIO in tests) is read as UTF-8
    yield from _bounded_lines(buffer if buffer is not None else _EncodedText(stream), limit, None)


class _EncodedText:
    """``readline`` of a text stream, as UTF-8 bytes."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def readline(self, size: int) -> bytes:
        line: str = self._stream.readline(size)
        return line.encode("utf-8", "surrogatepass")


# --- lines -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Overlong:
    """A line over the record size limit, skipped (it still counts as a line)."""


@dataclass(frozen=True)
class _Stop:
    """The input ends here, early: ``reason`` says why (the last item of a stream)."""

    reason: str


#: What a line stream yields: a line (with its line end), or a marker.
_Line = bytes | _Overlong | _Stop

_SKIP_CHUNK = 1 << 20


def _bounded_lines(fh: Any, limit: int, compression: str | None, *, at_start: bool = True) -> Iterator[_Line]:
    """The lines of ``fh``, none longer than ``limit`` bytes (not counting the line end).

    A longer line is skipped in chunks and yields :class:`_Overlong`; if no line end comes within
    :data:`MAX_SKIP_FACTOR` times ``limit`` bytes after it, or reading fails (a truncated or corrupt
    compressed stream, an I/O error), the stream ends with a :class:`_Stop`. A byte-order mark
    opening the first line is dropped when ``fh`` reads from the start of its input (``at_start``).
    """
    lineno = 0
    what = f"{compression} stream" if compression else "input"
    readline = fh.readline
    try:
        while True:
            line = readline(limit + 1)
            if not line:
                return
            lineno += 1
            if len(line) <= limit or line[-1:] == b"\n":
                yield line[len(_BOM) :] if at_start and lineno == 1 and line.startswith(_BOM) else line
                continue
            yield _Overlong()
            budget = MAX_SKIP_FACTOR * limit
            skipped = 0
            chunk = line
            while not chunk.endswith(b"\n"):
                if skipped > budget:
                    yield _Stop(
                        f"no line end within {budget:,} bytes after the start of line {lineno}: "
                        "stopped reading this input"
                    )
                    return
                chunk = fh.readline(min(_SKIP_CHUNK, limit + 1))
                if not chunk:
                    return
                skipped += len(chunk)
    except EOFError:
        yield _Stop(f"input ends early: truncated {what} {_after(lineno)}")
    except (OSError, zlib.error, lzma.LZMAError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        if compression:
            yield _Stop(f"input ends early: corrupt {what} {_after(lineno)}: {reason}")
        else:
            yield _Stop(f"input ends early: cannot read {_after(lineno)}: {reason}")


def _after(lineno: int) -> str:
    return f"after line {lineno}" if lineno else "before the end of line 1"


def _over(limit: int) -> str:
    return f"record is over the {limit:,}-byte limit"


# --- text formats ----------------------------------------------------------------------------------


def _read_text(source: str, lines: Iterator[_Line], fmt: str, limit: int) -> Iterator[Record]:
    delimiter = TABLE[fmt].delimiter
    if delimiter is None:
        return _read_jsonl(source, lines, limit)
    return _read_csv(source, lines, delimiter=delimiter, limit=limit)


_JSON_TYPES = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _read_jsonl(source: str, lines: Iterator[_Line], limit: int, first_line: int = 1) -> Iterator[Record]:
    for lineno, raw in enumerate(lines, start=first_line):
        if not isinstance(raw, bytes):
            if isinstance(raw, _Stop):
                yield Record(source, lineno, None, raw.reason)
                return
            yield Record(source, lineno, None, _over(limit))
            continue
        if not raw.strip():
            continue
        try:
            text = raw.rstrip(b"\r\n").decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Record(source, lineno, None, f"invalid UTF-8: {exc.reason} at byte {exc.start}")
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield Record(source, lineno, None, f"invalid JSON: {exc}")
            continue
        except RecursionError:
            yield Record(source, lineno, None, "invalid JSON: nested too deeply")
            continue
        if not isinstance(value, dict):
            kind = _JSON_TYPES.get(type(value), type(value).__name__)
            yield Record(source, lineno, None, f"expected a JSON object, got {kind}")
            continue
        yield Record(source, lineno, value, None)


class _Interrupted(Exception):
    """The record being read cannot be completed; raised through :mod:`csv` by the line feed."""

    def __init__(self, error: str, *, final: bool = False, line: int = 0) -> None:
        super().__init__(error)
        self.error = error
        self.final = final  # the input ends here
        self.line = line


def _read_csv(source: str, lines: Iterator[_Line], *, delimiter: str, limit: int) -> Iterator[Record]:
    """CSV records, resynchronising after a record that cannot be completed.

    The lines of the record being read are kept (at most :data:`MAX_CSV_RECORD_LINES` lines and
    about ``limit`` bytes). A record still inside quotes after that many lines or bytes, or at the
    end of the input, or one the csv module rejects, becomes an error record on its first line, and
    reading starts again from its second line, so one stray quote costs one record.
    """
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    numbered = enumerate(lines, start=1)
    replay: deque[tuple[int, _Line]] = deque()  # lines to read again after a resync
    taken: list[tuple[int, _Line]] = []  # the lines of the record being read
    bad_lines: list[int] = []  # lines of that record with invalid UTF-8
    size = 0

    def feed() -> Iterator[str]:
        nonlocal size
        while True:
            if replay:
                lineno, item = replay.popleft()
            else:
                nxt = next(numbered, None)
                if nxt is None:
                    if taken:
                        raise _Interrupted(
                            f"unterminated quote: the record starting on line {taken[0][0]} "
                            "is still inside quotes at the end of the input"
                        )
                    return
                lineno, item = nxt
            if isinstance(item, _Stop):
                raise _Interrupted(item.reason, final=True, line=lineno)
            if taken and len(taken) >= MAX_CSV_RECORD_LINES:
                replay.appendleft((lineno, item))
                raise _Interrupted(
                    f"unterminated quote: the record starting on line {taken[0][0]} "
                    f"is still inside quotes after {MAX_CSV_RECORD_LINES} lines"
                )
            taken.append((lineno, item))
            if isinstance(item, _Overlong):
                raise _Interrupted(_over(limit))
            size += len(item)
            if size > limit and size - item.endswith(b"\n") > limit:  # the final line end does not count
                raise _Interrupted(_over(limit))
            try:
                yield item.decode("utf-8")
            except UnicodeDecodeError:
                bad_lines.append(lineno)
                yield item.decode("utf-8", "surrogateescape")

    reader = csv.reader(feed(), delimiter=delimiter)
    header: list[str] | None = None
    next_line = 1  # the line after the last record
    while True:
        taken.clear()
        bad_lines.clear()
        size = 0
        try:
            row = next(reader)
        except StopIteration:
            return
        except (_Interrupted, csv.Error) as exc:
            error = exc.error if isinstance(exc, _Interrupted) else f"invalid CSV: {exc}"
            if isinstance(exc, _Interrupted) and exc.final:
                yield Record(source, taken[0][0] if taken else exc.line, None, error)
                return
            if not taken:  # the reader failed before reading a line: it cannot go on
                yield Record(source, next_line, None, error)
                return
            if header is None:
                raise InputError(f"cannot read {source}: invalid CSV header: {error}") from None
            start = taken[0][0]
            next_line = start + 1
            replay.extendleft(reversed(taken[1:]))
            yield Record(source, start, None, error)
            reader = csv.reader(feed(), delimiter=delimiter)
            continue
        start = taken[0][0]
        next_line = taken[-1][0] + 1
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if bad_lines:
            if header is None:
                raise InputError(f"cannot read {source}: invalid UTF-8 in the header (line {bad_lines[0]})")
            yield Record(source, start, None, f"invalid UTF-8 on line {bad_lines[0]}")
            continue
        if header is None:
            header = [name.strip() for name in row]
            dupes = sorted({name for name in header if header.count(name) > 1})
            if dupes:
                raise InputError(f"cannot read {source}: duplicate column(s) in the header: {', '.join(dupes)}")
            continue
        if len(row) > len(header):
            yield Record(source, start, None, f"row has {len(row)} cells but the header has {len(header)} columns")
            continue
        data: dict[str, Any] = {}
        for i, key in enumerate(header):
            value = row[i] if i < len(row) else None
            data[key] = value if value != "" else None
        yield Record(source, start, data, None)


# --- Parquet ---------------------------------------------------------------------------------------


def _check_parquet(name: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(name)
        try:
            pf.schema_arrow  # noqa: B018 - reading it is the check (invalid UTF-8 names fail here)
        finally:
            pf.close()
    except (OSError, ValueError, pa.ArrowException) as exc:  # ValueError: invalid UTF-8 in the metadata
        raise InputError(f"cannot read {name}: not a readable Parquet file: {exc}") from None


def _read_parquet(name: str, limit: int) -> Iterator[Record]:
    """The rows of ``name``, read one row group at a time so that a damaged row group costs only
    its own rows (one error record naming them) and reading goes on with the next."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(name)
        schema = pf.schema_arrow
        target = pa.schema([f.with_type(_micro(f.type)) for f in schema])
        needs_cast = not target.equals(schema)
        groups = pf.metadata.num_row_groups
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(f"cannot read {name}: not a readable Parquet file: {exc}") from None
    row = 0
    try:
        for group in range(groups):
            last = row + pf.metadata.row_group(group).num_rows
            batches = pf.iter_batches(batch_size=PARQUET_BATCH_SIZE, row_groups=[group])
            while True:
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                except (OSError, ValueError, pa.ArrowException) as exc:
                    rows = f"rows {row + 1}-{last}" if last > row + 1 else f"row {row + 1}"
                    why = " ".join(str(exc).split())  # pyarrow's messages span lines
                    yield Record(name, row + 1, None, f"cannot read Parquet {rows} (row group {group + 1}): {why}")
                    row += 1  # the error record takes a row number even when the metadata counts none
                    break
                table = pa.Table.from_batches([batch])
                if needs_cast:
                    # if the cast fails, convert as is: rows that cannot be converted become error records
                    with contextlib.suppress(pa.ArrowException, ValueError):
                        table = table.cast(target, safe=False)
                yield from _table_records(name, table, row, limit)
                row += table.num_rows
            row = max(row, last)
    finally:
        pf.close()


def _table_records(name: str, table: Any, row: int, limit: int) -> Iterator[Record]:
    """One record per row of ``table``, numbered after ``row``; a row over ``limit`` bytes is an
    error record and is not converted."""
    import pyarrow as pa

    over: set[int] = set()
    if table.nbytes > limit:  # only then measure each row
        over = {i for i in range(table.num_rows) if table.slice(i, 1).nbytes > limit}
    rows: list[dict[str, Any] | None] = [None] * table.num_rows
    if not over:
        with contextlib.suppress(pa.ArrowException, ValueError, OverflowError):
            rows = list(table.to_pylist())
    for i, data in enumerate(rows):
        row += 1
        if i in over:
            yield Record(name, row, None, _over(limit))
            continue
        if data is None:
            try:
                data = table.slice(i, 1).to_pylist()[0]
            except (pa.ArrowException, ValueError, OverflowError) as exc:
                yield Record(name, row, None, f"cannot convert Parquet row: {exc}")
                continue
        yield Record(name, row, data, None)


def _micro(t: Any) -> Any:
    """``t`` with nanosecond timestamps and durations made microsecond, which ``datetime`` can hold."""
    import pyarrow as pa

    if pa.types.is_timestamp(t) and t.unit == "ns":
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_duration(t) and t.unit == "ns":
        return pa.duration("us")
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_micro(t.field(i).type)) for i in range(t.num_fields)])
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(_micro(t.value_type)))
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_micro(t.value_type)))
    return t
