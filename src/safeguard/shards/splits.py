"""Inputs cut into parts that separate processes read, each record keeping its place in the run.

Uncompressed JSON Lines are cut into byte ranges that start on line starts, so a large dump is read
by many readers at once; every other input (CSV and TSV, whose records may span lines, compressed
files, Parquet) is one part. Each part records the line its first record starts on, found by
counting line ends once, so records carry the line numbers and generated ids a one-process read
gives them. A record's place in the run is ``(part, position in part)``, packed by :func:`order`.

Paths are local files, or for JSON Lines any URI :mod:`pyarrow.fs` opens (``s3://``, ``gs://``,
``hdfs://``, ``file://``), read where the part is processed.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from safeguard.errors import InputError
from safeguard.io import readers

__all__ = ["POSITION_BITS", "Split", "order", "plan", "read_split"]

#: A record's position in its part takes the low bits of its place in the run.
POSITION_BITS = 32
#: Byte ranges are at most about this long ...
RANGE_BYTES = 32 * 1024 * 1024
#: ... and, when cut smaller to give every reader work, at least this long.
MIN_RANGE_BYTES = 1024 * 1024
_CHUNK = 1 << 20
_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


@dataclass(frozen=True)
class Split:
    """One part of the inputs: ``path`` read as ``format``, from byte ``start`` to ``end`` (``end``
    -1: the whole input) with its first record on line ``first_line``; ``index`` orders the parts."""

    index: int
    path: str
    format: str
    start: int = 0
    end: int = -1
    first_line: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Split:
        return cls(**{k: data[k] for k in ("index", "path", "format", "start", "end", "first_line")})


def order(split: int, position: int) -> int:
    """The place in the run of the record at ``position`` (from 0) of part ``split``."""
    return (split << POSITION_BITS) | position


def _is_uri(path: str) -> bool:
    return "://" in path


def _open(path: str) -> Any:
    if _is_uri(path):
        from pyarrow import fs

        filesystem, inner = fs.FileSystem.from_uri(path)
        return io.BufferedReader(filesystem.open_input_file(inner), _CHUNK)  # lines need a buffer
    return open(path, "rb")


def _size(path: str) -> int:
    if _is_uri(path):
        from pyarrow import fs

        filesystem, inner = fs.FileSystem.from_uri(path)
        info = filesystem.get_file_info(inner)
        if info.type != fs.FileType.File:
            raise InputError(f"cannot read {path}: not a file")
        return int(info.size)
    return os.path.getsize(path)


def plan(
    inputs: Sequence[str], formats: Sequence[str], *, range_bytes: int = RANGE_BYTES, at_least: int = 1
) -> list[Split]:
    """The parts of ``inputs`` (``formats``: each one's format name), in input order.

    JSON Lines are cut into ranges of at most ``range_bytes``, and smaller (down to
    :data:`MIN_RANGE_BYTES`) when that makes at least ``at_least`` parts in all, so that a pool of
    readers has work for each of them. Raises :class:`~safeguard.errors.InputError` for an input that
    cannot be read."""
    kinds: list[tuple[str, str, int | None]] = []  # (path, format, size when cut into ranges)
    for path, fmt in zip(inputs, formats, strict=True):
        if path == "-":
            raise InputError("standard input cannot be split: name the input files")
        try:
            if _is_uri(path) and fmt != "jsonl":
                raise InputError(f"cannot read {path}: only JSON Lines are read from URIs; copy it to a local file")
            if fmt != "jsonl" or _compressed(path):
                if not _is_uri(path):
                    readers.read_records(path, format=fmt)  # the checks read_records makes on opening
                kinds.append((path, fmt, None))
            else:
                kinds.append((path, fmt, _size(path)))
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    whole = sum(1 for _, _, size in kinds if size is None)
    cut = sum(size for _, _, size in kinds if size is not None)
    wanted = max(1, at_least - whole)
    step = max(1, min(range_bytes, max(MIN_RANGE_BYTES, -(-cut // wanted))))
    parts: list[Split] = []
    for path, fmt, size in kinds:
        try:
            if size is None:
                parts.append(Split(len(parts), path, fmt))
            else:
                parts.extend(_ranges(path, len(parts), step))
        except OSError as exc:
            raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(parts) >= 1 << (63 - POSITION_BITS):
        raise InputError(f"the inputs make {len(parts):,} parts, more than a run numbers")
    return parts


def _compressed(path: str) -> bool:
    with _open(path) as fh:
        head = fh.read(6)
    return any(head.startswith(m) for m in _MAGIC)


def _ranges(path: str, first_index: int, range_bytes: int) -> list[Split]:
    """Byte ranges of about ``range_bytes`` starting on line starts, each with its first line number
    (line ends are counted once, in one read of the file)."""
    size = _size(path)
    parts: list[Split] = []
    start = 0
    line = 1
    with _open(path) as fh:
        while start < size:
            end = min(size, start + range_bytes)
            ends = 0
            pos = start
            while pos < end:  # count this range's line ends, then run on to the next line start
                chunk = fh.read(min(_CHUNK, end - pos))
                if not chunk:
                    break
                ends += chunk.count(b"\n")
                pos += len(chunk)
            if pos < size and not _ends_line(fh, pos, start):
                rest = fh.readline()
                ends += rest.endswith(b"\n")
                pos += len(rest)
            parts.append(Split(first_index + len(parts), path, "jsonl", start, pos, line))
            line += ends
            start = pos
    if not parts:
        parts.append(Split(first_index, path, "jsonl", 0, 0, 1))
    return parts


def _ends_line(fh: Any, pos: int, start: int) -> bool:
    """Whether the byte before ``pos`` (read last) is a line end."""
    if pos == start:
        return False
    fh.seek(pos - 1)
    last = fh.read(1)
    return bool(last == b"\n")


def read_split(split: Split, *, max_record_bytes: int = readers.MAX_RECORD_BYTES) -> Iterator[readers.Record]:
    """The records of one part, numbered as a read of its whole input numbers them."""
    if split.end < 0:
        yield from readers.read_records(split.path, format=split.format, max_record_bytes=max_record_bytes)
        return
    with _open(split.path) as fh:
        fh.seek(split.start)
        yield from readers.read_jsonl_range(
            split.path,
            fh,
            split.end - split.start,
            first_line=split.first_line,
            at_start=split.start == 0,
            max_record_bytes=max_record_bytes,
        )
