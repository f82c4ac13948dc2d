"""Streaming readers for post dumps: JSON Lines, CSV/TSV and Parquet.

Every reader yields one :class:`Record` per input record, in input order, with bounded memory.
A record that cannot be parsed (truncated JSON, invalid UTF-8, a CSV row with too many cells ...)
becomes a :class:`Record` with ``error`` set instead of stopping the stream; only a file that cannot
be opened or read at all raises :class:`~safeguard.errors.InputError`.

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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguard.errors import ConfigError, InputError
from safeguard.types import Post, lookup_path, parse_id

__all__ = [
    "FORMATS",
    "Record",
    "detect_format",
    "generated_id",
    "iter_posts",
    "normalize_format",
    "read_records",
    "record_id",
]

#: Formats :func:`read_records` and the writers accept (after :func:`normalize_format`).
FORMATS: tuple[str, ...] = ("jsonl", "csv", "tsv", "parquet")

_FORMAT_ALIASES = {
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "jsonl",
    "csv": "csv",
    "tsv": "tsv",
    "parquet": "parquet",
    "pq": "parquet",
}
_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_COMPRESSED = (".gz", ".bz2", ".xz")

#: Rows per batch read from Parquet files.
PARQUET_BATCH_SIZE = 1024
#: Largest CSV field accepted (the csv module's default of 128 KiB is too small for long posts).
CSV_FIELD_LIMIT = 16 * 1024 * 1024

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


def normalize_format(format: str) -> str:
    """Canonical name of a format name or alias (``ndjson`` -> ``jsonl``, ``pq`` -> ``parquet``).

    Raises :class:`~safeguard.errors.ConfigError` for an unknown format.
    """
    fmt = _FORMAT_ALIASES.get(format.strip().lower().lstrip("."))
    if fmt is None:
        raise ConfigError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}", file="--format")
    return fmt


def detect_format(path: str | Path) -> str:
    """The format of ``path`` from its extension: ``"jsonl"``, ``"csv"``, ``"tsv"`` or ``"parquet"``.

    ``.jsonl``/``.ndjson``/``.json`` are JSON Lines, ``.tsv`` is tab-separated CSV, ``.parquet``/
    ``.pq`` are Parquet; a trailing ``.gz``, ``.bz2`` or ``.xz`` is looked through for the text
    formats. ``"-"`` (stdin/stdout) is JSON Lines. Raises :class:`~safeguard.errors.ConfigError`
    for anything else, suggesting ``--input-format``.
    """
    name = str(path)
    if name == "-":
        return "jsonl"
    lower = Path(name).name.lower()
    compressed = lower.endswith(_COMPRESSED)
    if compressed:
        lower = lower.rsplit(".", 1)[0]
    fmt = _EXTENSIONS.get(os.path.splitext(lower)[1])
    if fmt is None:
        raise ConfigError(
            "cannot tell the format from the file extension "
            "(.jsonl, .ndjson, .json, .csv, .tsv, .parquet, .pq, optionally .gz): "
            "name it with --input-format jsonl|csv|tsv|parquet",
            file=name,
        )
    if compressed and fmt == "parquet":
        raise ConfigError("compressed Parquet files are not supported (Parquet compresses its own pages)", file=name)
    return fmt


def read_records(path: str | Path, *, format: str | None = None) -> Iterator[Record]:
    """Stream the records of ``path`` (``"-"`` for stdin) in order, one :class:`Record` each.

    ``format`` is one of :data:`FORMATS` (or an alias); by default it is detected from the
    extension (stdin defaults to JSON Lines). The file is checked when this is called: a missing or
    unreadable file raises :class:`~safeguard.errors.InputError` naming the path, and a bad format
    raises :class:`~safeguard.errors.ConfigError`. Records themselves never raise: they carry
    ``error``. Reading stops with ``InputError`` only if the file becomes unreadable (a truncated
    compressed stream, a corrupt Parquet page) or a CSV header is unusable (duplicate column names,
    invalid UTF-8).

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
    if stdin:
        if fmt == "parquet":
            raise ConfigError("Parquet cannot be read from stdin: pass a file path", file=_STDIN_NAME)
        return _read_text(_STDIN_NAME, _stdin_lines(), fmt)
    _check_readable(name)
    if fmt == "parquet":
        _check_parquet(name)
        return _read_parquet(name)
    return _read_text(name, _file_lines(name), fmt)


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


def _decompressing(fh: io.BufferedReader) -> io.BufferedIOBase:
    """``fh`` itself, or a decompressing reader over it if its first bytes say it is compressed."""
    magic = fh.peek(6)[:6]
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if magic[:3] == b"BZh":
        return bz2.BZ2File(fh, "rb")
    if magic == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(fh, "rb")
    return fh


def _file_lines(name: str) -> Iterator[bytes]:
    try:
        raw = open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        fh = _decompressing(raw)
        while True:
            try:
                line = fh.readline()
            except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
                raise InputError(f"cannot read {name}: {exc}") from None
            if not line:
                return
            yield line
    finally:
        raw.close()


def _stdin_lines() -> Iterator[bytes]:
    stream: Any = sys.stdin
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        yield from buffer
    else:  # a text stream without a binary buffer (e.g. io.StringIO in tests)
        for line in stream:
            yield line.encode("utf-8", "surrogatepass")


# --- text formats ----------------------------------------------------------------------------------


def _read_text(source: str, lines: Iterator[bytes], fmt: str) -> Iterator[Record]:
    if fmt == "jsonl":
        return _read_jsonl(source, lines)
    return _read_csv(source, lines, delimiter="\t" if fmt == "tsv" else ",")


_JSON_TYPES = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _read_jsonl(source: str, lines: Iterator[bytes]) -> Iterator[Record]:
    for lineno, raw in enumerate(lines, start=1):
        if lineno == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
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


def _read_csv(source: str, lines: Iterator[bytes], *, delimiter: str) -> Iterator[Record]:
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    bad_lines: list[int] = []  # lines with invalid UTF-8 not yet attributed to a record

    def decoded() -> Iterator[str]:
        for lineno, raw in enumerate(lines, start=1):
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                bad_lines.append(lineno)
                yield raw.decode("utf-8", "surrogateescape")

    reader = csv.reader(decoded(), delimiter=delimiter)
    header: list[str] | None = None
    consumed = 0  # lines consumed by the reader before the current row
    while True:
        start = consumed + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num <= consumed:  # nothing consumed: the reader cannot go on
                yield Record(source, start, None, f"invalid CSV: {exc}")
                return
            consumed = reader.line_num
            bad_lines.clear()
            if header is None:
                raise InputError(f"cannot read {source}: invalid CSV header: {exc}") from None
            yield Record(source, start, None, f"invalid CSV: {exc}")
            continue
        consumed = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            bad_lines.clear()
            continue
        if bad_lines:
            first = bad_lines[0]
            bad_lines.clear()
            if header is None:
                raise InputError(f"cannot read {source}: invalid UTF-8 in the header (line {first})")
            yield Record(source, start, None, f"invalid UTF-8 on line {first}")
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
        pq.ParquetFile(name).close()
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read {name}: not a readable Parquet file: {exc}") from None


def _read_parquet(name: str) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(name)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read {name}: not a readable Parquet file: {exc}") from None
    row = 0
    try:
        schema = pf.schema_arrow
        target = pa.schema([f.with_type(_micro(f.type)) for f in schema])
        needs_cast = not target.equals(schema)
        batches = pf.iter_batches(batch_size=PARQUET_BATCH_SIZE)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (OSError, pa.ArrowException) as exc:
                raise InputError(f"cannot read {name} after row {row}: {exc}") from None
            table = pa.Table.from_batches([batch])
            if needs_cast:
                # if the cast fails, convert as is: rows that cannot be converted become error records
                with contextlib.suppress(pa.ArrowException, ValueError):
                    table = table.cast(target, safe=False)
            try:
                rows: list[dict[str, Any] | None] = list(table.to_pylist())
            except (pa.ArrowException, ValueError, OverflowError):
                rows = [None] * table.num_rows
            for i, data in enumerate(rows):
                row += 1
                if data is None:
                    try:
                        data = table.slice(i, 1).to_pylist()[0]
                    except (pa.ArrowException, ValueError, OverflowError) as exc:
                        yield Record(name, row, None, f"cannot convert Parquet row: {exc}")
                        continue
                yield Record(name, row, data, None)
    finally:
        pf.close()


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
