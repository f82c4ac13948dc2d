"""Streaming writers for decisions: JSON Lines, CSV/TSV and Parquet.

Each writer takes one record at a time: a decision (``Decision.to_dict()``, possibly with an extra
``"line"`` key) or an error record ``{"line": N, "id": ..., "error": "..."}`` (see
:func:`error_record`). Memory stays bounded: JSON Lines and CSV stream, Parquet buffers one row
group (:data:`PARQUET_ROW_GROUP` rows) at a time.

Files are written to a hidden temporary file next to the destination and renamed over it by
:meth:`DecisionWriter.close`; leaving the ``with`` block with an exception discards the temporary
file instead, so a crash never leaves a half-written file that looks complete. A writer can write
to a named ``partial`` file instead (kept when the run is interrupted, so that it can be resumed:
:meth:`DecisionWriter.sync` makes what is written so far durable and says how long it is). When the
final rename fails, the finished file is kept and :class:`OutputNotPlacedError` names it.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import datetime as _dt
import enum
import gzip
import io
import json
import lzma
import os
import secrets
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

from safeguard.errors import ConfigError, SafeguardError
from safeguard.io.formats import COMPRESSED, TABLE, detect_format, normalize_format
from safeguard.types import Decision, Post

__all__ = [
    "FLAT_COLUMNS",
    "PARQUET_ROW_GROUP",
    "CsvWriter",
    "DecisionRecord",
    "DecisionWriter",
    "JsonlWriter",
    "OutputNotPlacedError",
    "ParquetWriter",
    "decision_record",
    "decision_records",
    "dumps_json",
    "error_record",
    "flatten",
    "open_writer",
    "output_format",
    "resumable",
    "write_json_line",
]

#: Columns of the CSV output; Parquet adds ``decision``, the whole record as JSON.
FLAT_COLUMNS: tuple[str, ...] = ("line", "post_id", "action", "rules", "reasons", "shadow", "errors", "error")
#: Rows per Parquet row group.
PARQUET_ROW_GROUP = 10_000

_SEP = "; "


def error_record(line: int | None, post_id: str | None, error: str) -> dict[str, Any]:
    """The output record for an input record that produced no decision."""
    return {"line": line, "id": post_id, "error": error}


class DecisionRecord(NamedTuple):
    """What a run keeps of one decision: the counts of its summary, and its record encoded for the
    writer (see :meth:`DecisionWriter.encode`). Made where the post was decided, so a worker process
    encodes the record and sends back text rather than the decision."""

    action: str
    rules: tuple[str, ...]
    shadow: tuple[str, ...]
    #: Some classifier failed on the post.
    failed: bool
    record: Any
    #: The decision itself, where it was asked for (``keep``).
    decision: Decision | None = None


def decision_record(
    decision: Decision,
    *,
    id_generated: bool = False,
    encode: Callable[[Mapping[str, Any]], Any] | None = None,
    signals: bool = True,
    keep: bool = False,
) -> DecisionRecord:
    """The :class:`DecisionRecord` of ``decision``: its record is ``decision.to_dict()``, with empty
    ``signals`` unless ``signals``, ``"id_generated": true`` for a post whose id was made up, passed
    through ``encode`` (default: :meth:`DecisionWriter.encode`)."""
    row = decision.to_dict()
    if not signals:
        row["signals"] = {}
    if id_generated:
        row["id_generated"] = True
    return DecisionRecord(
        decision.action.value,
        tuple(decision.rules),
        tuple(m.rule for m in decision.shadow),
        bool(decision.errors),
        (encode or DecisionWriter.encode)(row),
        decision if keep else None,
    )


def decision_records(
    posts: Sequence[Post],
    decisions: Sequence[Decision],
    *,
    encode: Callable[[Mapping[str, Any]], Any] | None = None,
    signals: bool = True,
    keep: bool = False,
) -> list[DecisionRecord]:
    """:func:`decision_record` of each decision of a batch, in order (a ``finish`` for
    :meth:`safeguard.Moderator.decide_batches`)."""
    return [
        decision_record(d, id_generated=p.id_generated, encode=encode, signals=signals, keep=keep)
        for p, d in zip(posts, decisions, strict=True)
    ]


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if isinstance(obj, Mapping):
        return dict(obj)
    return str(obj)


def dumps_json(obj: Any) -> str:
    """Compact JSON for one record: UTF-8 text kept as is, datetimes as ISO 8601, other values ``str``.

    Strings that cannot be encoded as UTF-8 (lone surrogates from ``\\ud800`` escapes in the input)
    fall back to ``\\u`` escapes, so the result always encodes and parses back to the same value.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), default=_json_default)
    return text


def write_json_line(fh: IO[str], obj: Any) -> None:
    """Write ``obj`` to the text stream ``fh`` as one line of compact JSON."""
    _write_json_text(fh, dumps_json(obj))


def _write_json_text(fh: IO[str], text: str) -> None:
    """Write ``text`` (from :func:`dumps_json`) as one line; ASCII escapes for a stream that is not UTF-8."""
    try:
        fh.write(text + "\n")
    except UnicodeEncodeError:
        fh.write(json.dumps(json.loads(text), ensure_ascii=True, separators=(",", ":")) + "\n")


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`FLAT_COLUMNS` of a decision or error record.

    ``rules``, ``reasons`` (falling back to the rule id) and ``shadow`` (rule ids) are joined with
    ``"; "``; ``errors`` is ``"source: error; ..."``. Error records have only ``line``, ``post_id``
    and ``error``.
    """
    line = record.get("line")
    if "action" not in record:
        return {
            "line": line,
            "post_id": _opt_str(record.get("id", record.get("post_id"))),
            "action": None,
            "rules": None,
            "reasons": None,
            "shadow": None,
            "errors": None,
            "error": _opt_str(record.get("error")),
        }
    matches = record.get("matches") or ()
    return {
        "line": line,
        "post_id": _opt_str(record.get("post_id")),
        "action": _opt_str(record.get("action")),
        "rules": _SEP.join(str(m.get("rule")) for m in matches),
        "reasons": _SEP.join(str(m.get("reason") or m.get("rule")) for m in matches),
        "shadow": _SEP.join(str(m.get("rule")) for m in record.get("shadow") or ()),
        "errors": _SEP.join(f"{e.get('source')}: {e.get('error')}" for e in record.get("errors") or ()),
        "error": _opt_str(record.get("error")),
    }


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def _safe_text(value: str | None) -> str | None:
    """``value`` with lone surrogates escaped, so it encodes as UTF-8."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


class OutputNotPlacedError(SafeguardError, OSError):
    """Every record was written, but the finished file could not be renamed onto its destination.

    ``finished`` is the complete file, left in place; ``destination`` is where it should have gone.
    """

    def __init__(self, destination: str, finished: str, reason: str) -> None:
        self.destination = destination
        self.finished = finished
        self.reason = reason
        super().__init__(
            f"cannot move the finished output into place as {destination} ({reason}); every record is in {finished}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


# --- the writers -----------------------------------------------------------------------------------


class DecisionWriter:
    """Writes decision and error records to one output; use it as a context manager.

    :meth:`close` finishes the output (renaming the temporary file into place); leaving the
    ``with`` block with an exception calls :meth:`abort` instead.
    """

    #: Where the records go: the destination path, or ``"-"`` for stdout.
    path: str
    #: Records written so far.
    count: int

    def __init__(
        self, path: str | Path | None, *, partial: str | Path | None = None, resume_at: int | None = None
    ) -> None:
        self.path = "-" if path is None or str(path) == "-" else str(path)
        self.count = 0
        self._tmp: str | None = None
        self._closed = False
        self._partial = None if partial is None else str(partial)
        self._resume_at = resume_at
        if resume_at is not None and partial is None:
            raise ValueError("resume_at needs a partial file")

    def write(self, record: Mapping[str, Any]) -> None:
        """Write one decision or error record."""
        self.write_encoded(self.encode(record))

    @staticmethod
    def encode(record: Mapping[str, Any]) -> Any:
        """``record`` in the form :meth:`write_encoded` takes. A pure function, so it can run ahead of
        writing in another process (a worker that decided the post); here the record itself."""
        return record

    def write_encoded(self, encoded: Any, lead: Mapping[str, Any] | None = None) -> None:
        """Write a record made by :meth:`encode`, with the fields of ``lead`` first (its input
        ``line``): the same output as :meth:`write` of ``{**lead, **record}``."""
        if self._closed:
            raise ValueError("write to a closed DecisionWriter")
        self._write_encoded(encoded, lead)
        self.count += 1

    def close(self) -> None:
        """Flush everything and move the finished file into place. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._finish()
        except BaseException:
            self._discard()
            raise
        if self._tmp is not None:
            try:
                os.replace(self._tmp, self.path)
            except OSError as exc:
                finished, self._tmp = self._tmp, None  # complete: keep it rather than lose the run
                raise OutputNotPlacedError(self.path, finished, exc.strerror or str(exc)) from None
            self._tmp = None

    def sync(self) -> int | None:
        """Make every record written so far durable (flush and fsync) and return the byte length of
        the file written; ``None`` when the output cannot be resumed at a byte offset (stdout, a
        compressed file, Parquet)."""
        return None

    def abort(self) -> None:
        """Stop writing and remove the temporary file; the destination is left untouched.

        A named partial file is kept (closed as it is): it is what a resumed run continues.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self._release()
        finally:
            if self._partial is not None:
                self._tmp = None
            self._discard()

    def __enter__(self) -> DecisionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # Subclasses implement these (``_write``, or ``_write_encoded`` for a writer with its own encode).
    def _write(self, record: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def _write_encoded(self, encoded: Any, lead: Mapping[str, Any] | None) -> None:
        """Write one encoded record; by default the record is the dict itself."""
        self._write({**lead, **encoded} if lead else encoded)

    def _finish(self) -> None:
        """Flush and close the output (fsync a file)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Close the output without finishing it, ignoring errors."""
        raise NotImplementedError

    # Helpers for file outputs.
    def _create_temp(self) -> str:
        """Create the hidden temporary file next to ``path`` (or the named partial file), with the
        usual permissions. A partial file being resumed is kept (and cut by the caller)."""
        if self._partial is not None:
            flags = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
            if self._resume_at is None:
                flags |= os.O_CREAT | os.O_TRUNC
            try:
                fd = os.open(self._partial, flags, 0o666)
                st = os.fstat(fd)
                os.close(fd)
            except OSError as exc:
                raise SafeguardError(f"cannot write {self._partial}: {exc.strerror or exc}") from None
            if not stat.S_ISREG(st.st_mode):
                raise SafeguardError(f"cannot write {self._partial}: not a regular file")
            if self._resume_at is not None and st.st_size < self._resume_at:
                raise SafeguardError(
                    f"cannot resume {self._partial}: it holds {st.st_size:,} bytes, fewer than the "
                    f"{self._resume_at:,} its checkpoint records"
                )
            self._tmp = self._partial
            return self._partial
        directory, base = os.path.split(os.path.abspath(self.path))
        while True:
            tmp = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.tmp")
            try:
                fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise SafeguardError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            os.close(fd)
            self._tmp = tmp
            return tmp

    def _discard(self) -> None:
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._tmp = None


class _TextStreamWriter(DecisionWriter):
    """Shared opening and closing of JSON Lines and CSV outputs (file, compressed file or stdout)."""

    def __init__(
        self, path: str | Path | None, *, partial: str | Path | None = None, resume_at: int | None = None
    ) -> None:
        super().__init__(path, partial=partial, resume_at=resume_at)
        self._raw: io.BufferedWriter[io.FileIO] | None = None
        self._stream: Any = None
        self._wrapper: io.TextIOWrapper | None = None
        self._compressed = False
        if self.path == "-":
            if sys.stdout is None:
                raise SafeguardError("cannot write <stdout>: standard output is closed")
            self._text: IO[str] = sys.stdout
            return
        lower = self.path.lower()
        self._compressed = lower.endswith((".gz", ".bz2", ".xz"))
        if self._partial is not None and self._compressed:
            raise ValueError("a compressed output cannot be written to a resumable partial file")
        tmp = self._create_temp()
        try:
            fileio = io.FileIO(tmp, "r+b" if resume_at is not None else "wb")
            if resume_at is not None:
                fileio.truncate(resume_at)
                fileio.seek(resume_at)
            raw = io.BufferedWriter(fileio, buffer_size=1 << 20)
        except OSError as exc:
            self._discard()
            raise SafeguardError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._raw = raw
        stream: Any = raw  # the file, or a compressing stream over it
        if lower.endswith(".gz"):
            inner = os.path.basename(self.path)[: -len(".gz")]
            stream = gzip.GzipFile(filename=inner, fileobj=raw, mode="wb")
        elif lower.endswith(".bz2"):
            stream = bz2.BZ2File(raw, "wb")
        elif lower.endswith(".xz"):
            stream = lzma.LZMAFile(raw, "wb")  # noqa: SIM115 - closed in _finish/_release
        self._stream = stream
        self._wrapper = io.TextIOWrapper(stream, encoding="utf-8", errors="backslashreplace", newline="")
        self._text = self._wrapper

    def sync(self) -> int | None:
        if self._raw is None or self._compressed:
            return None
        self._text.flush()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        return self._raw.tell()

    def _finish(self) -> None:
        self._text.flush()
        if self._raw is None or self._wrapper is None:
            return
        self._wrapper.detach()
        if self._stream is not self._raw and self._stream is not None:
            self._stream.close()  # writes the compression trailer; leaves raw open
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()

    def _release(self) -> None:
        if self._raw is None or self._wrapper is None:
            with contextlib.suppress(OSError, ValueError):
                self._text.flush()
            return
        for close in (self._wrapper.detach, getattr(self._stream, "close", None), self._raw.close):
            if close is not None:
                with contextlib.suppress(OSError, ValueError):
                    close()


class JsonlWriter(_TextStreamWriter):
    """JSON Lines: one compact JSON object per line (see :func:`dumps_json`)."""

    @staticmethod
    def encode(record: Mapping[str, Any]) -> Any:
        """The record's line of JSON (most of the cost of writing it)."""
        return dumps_json(record)

    def _write_encoded(self, encoded: Any, lead: Mapping[str, Any] | None) -> None:
        if lead:  # both are compact JSON objects: '{"line":3,' + '"post_id":...}'
            encoded = dumps_json(lead)[:-1] + "," + encoded[1:]
        _write_json_text(self._text, encoded)


class CsvWriter(_TextStreamWriter):
    """CSV (or TSV with ``delimiter="\\t"``) with the :data:`FLAT_COLUMNS` and a header row."""

    def __init__(
        self,
        path: str | Path | None,
        *,
        delimiter: str = ",",
        partial: str | Path | None = None,
        resume_at: int | None = None,
    ) -> None:
        super().__init__(path, partial=partial, resume_at=resume_at)
        self._csv = csv.writer(self._text, delimiter=delimiter, lineterminator="\n")
        if resume_at is None:  # a resumed file has its header already
            self._csv.writerow(FLAT_COLUMNS)

    def _write(self, record: Mapping[str, Any]) -> None:
        flat = flatten(record)
        self._csv.writerow(["" if flat[c] is None else flat[c] for c in FLAT_COLUMNS])


class ParquetWriter(DecisionWriter):
    """Parquet with the :data:`FLAT_COLUMNS` plus ``decision`` (the whole record as JSON).

    Rows are buffered and written in row groups of ``row_group_size`` rows.
    """

    def __init__(self, path: str | Path | None, *, row_group_size: int = PARQUET_ROW_GROUP) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        super().__init__(path)
        if self.path == "-":
            raise ConfigError("Parquet output needs a file: name a PATH.parquet, not standard output", file="output")
        self._pa = pa
        self._schema = pa.schema(
            [("line", pa.int64())] + [(c, pa.string()) for c in FLAT_COLUMNS[1:]] + [("decision", pa.string())]
        )
        self._row_group_size = max(1, row_group_size)
        self._columns: dict[str, list[Any]] = {name: [] for name in self._schema.names}
        tmp = self._create_temp()
        try:
            self._writer = pq.ParquetWriter(tmp, self._schema)
        except (OSError, pa.ArrowException) as exc:
            self._discard()
            raise SafeguardError(f"cannot write {self.path}: {exc}") from None

    def _write(self, record: Mapping[str, Any]) -> None:
        flat = flatten(record)
        line = flat["line"]
        self._columns["line"].append(line if isinstance(line, int) and not isinstance(line, bool) else None)
        for c in FLAT_COLUMNS[1:]:
            self._columns[c].append(_safe_text(flat[c]))
        self._columns["decision"].append(dumps_json(record) if "action" in record else None)
        if len(self._columns["line"]) >= self._row_group_size:
            self._flush()

    def _flush(self) -> None:
        if not self._columns["line"]:
            return
        batch = self._pa.RecordBatch.from_pydict(self._columns, schema=self._schema)
        self._writer.write_batch(batch, row_group_size=self._row_group_size)
        for values in self._columns.values():
            values.clear()

    def _finish(self) -> None:
        self._flush()
        self._writer.close()
        assert self._tmp is not None
        fd = os.open(self._tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _release(self) -> None:
        with contextlib.suppress(Exception):  # aborting anyway
            self._writer.close()


def open_writer(
    path: str | Path | None,
    format: str | None = None,
    *,
    partial: str | Path | None = None,
    resume_at: int | None = None,
) -> DecisionWriter:
    """Open a writer for ``path`` (``None`` or ``"-"``: stdout).

    With ``partial`` (uncompressed JSON Lines and CSV only, see :func:`resumable`), records go to
    that file rather than a hidden one, and it is kept when the run stops early; with
    ``resume_at`` as well, the existing partial file is cut to that many bytes and continued.

    ``format`` is ``"jsonl"``, ``"csv"``, ``"tsv"`` or ``"parquet"`` (or an alias); by default it
    comes from the extension (see :func:`~safeguard.io.formats.detect_format`), and stdout is JSON
    Lines. A trailing ``.gz``, ``.bz2`` or ``.xz`` compresses JSON Lines and CSV. Raises
    :class:`~safeguard.errors.ConfigError` for an unknown format and
    :class:`~safeguard.errors.SafeguardError` when the file cannot be created.
    """
    fmt = output_format(path, format)
    if partial is not None and not resumable(path, fmt):
        raise ValueError(f"{fmt} output to {path} cannot be written to a resumable partial file")
    delimiter = TABLE[fmt].delimiter
    if not TABLE[fmt].text:
        return ParquetWriter(path)
    if delimiter is None:
        return JsonlWriter(path, partial=partial, resume_at=resume_at)
    return CsvWriter(path, delimiter=delimiter, partial=partial, resume_at=resume_at)


def output_format(path: str | Path | None, format: str | None = None) -> str:
    """The format :func:`open_writer` writes ``path`` in: ``format`` (an alias is normalised), else
    from the extension, and JSON Lines for stdout. Raises :class:`~safeguard.errors.ConfigError`."""
    if format is not None:
        return normalize_format(format)
    if path is None or str(path) == "-":
        return "jsonl"
    return detect_format(str(path))


def resumable(path: str | Path | None, format: str) -> bool:
    """Whether output in ``format`` to ``path`` can be continued at a byte offset: an uncompressed
    JSON Lines, CSV or TSV file (not stdout, not ``.gz``/``.bz2``/``.xz``, not Parquet)."""
    if path is None or str(path) == "-" or not TABLE[format].text:
        return False
    return not str(path).lower().endswith(COMPRESSED)
