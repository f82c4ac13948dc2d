"""Tests of safeguard.io: streaming readers, field maps and decision writers."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from safeguard.errors import ConfigError, InputError, SafeguardError
from safeguard.io import (
    FLAT_COLUMNS,
    Record,
    detect_format,
    dumps_json,
    error_record,
    flatten,
    formats,
    iter_posts,
    open_writer,
    parse_field_map,
    read_records,
    record_id,
    writers,
)
from safeguard.io.writers import decision_record
from safeguard.types import Action, Decision, RuleMatch


def lines_of(records: list[Record]) -> list[int]:
    return [r.line for r in records]


def write_bytes(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


# --- detect_format ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dump.jsonl", "jsonl"),
        ("dump.ndjson", "jsonl"),
        ("dump.json", "jsonl"),
        ("DUMP.JSONL", "jsonl"),
        ("dir.v2/dump.jsonl.gz", "jsonl"),
        ("dump.csv", "csv"),
        ("dump.csv.gz", "csv"),
        ("dump.tsv", "tsv"),
        ("dump.tsv.bz2", "tsv"),
        ("dump.parquet", "parquet"),
        ("dump.pq", "parquet"),
        ("-", "jsonl"),
    ],
)
def test_detect_format(name: str, expected: str) -> None:
    assert detect_format(name) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("dump.txt", "name the format"),
        ("dump", "name the format"),
        ("dump.gz", "name the format"),
        ("dump.xlsx", "name the format"),
        ("dump.parquet.gz", "compressed Parquet"),
    ],
)
def test_detect_format_unknown(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        detect_format(name)
    assert str(info.value).startswith(f"{name}: ")
    assert "--" not in str(info.value)  # the library names no command-line flag


@pytest.mark.parametrize("fmt", list(formats.TABLE))
def test_every_format_in_the_table_is_written_and_read_back(fmt: str, tmp_path: Path) -> None:
    """The format table is the one list of formats: each row has a writer and a reader, found by
    its extension, and what one writes the other reads."""
    row = formats.TABLE[fmt]
    path = tmp_path / f"decisions{row.extensions[0]}"
    assert formats.detect_format(path) == fmt
    assert all(formats.normalize_format(alias) == fmt for alias in (fmt, *row.aliases))
    decisions = [Decision(post_id=f"p{i}", action=Action.ALLOW) for i in range(3)]
    with open_writer(path) as writer:
        for line, d in enumerate(decisions, start=1):
            writer.write_encoded(decision_record(d, encode=type(writer).encode).record, {"line": line})
    records = list(read_records(path))
    assert [r.data["post_id"] for r in records if r.data] == ["p0", "p1", "p2"]
    assert writers.resumable(path, fmt) is row.text


# --- parse_field_map -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ([], {}),
        (["text=body"], {"text": "body"}),
        (
            ["text=body", "id=post_id", "author.id=user_id", "author.trust_level=user.trust"],
            {"text": "body", "id": "post_id", "author.id": "user_id", "author.trust_level": "user.trust"},
        ),
        ([" text = body "], {"text": "body"}),
        (
            ["meta=extra", "author=user", "created_at=ts"],
            {"meta": "extra", "author": "user", "created_at": "ts"},
        ),
        (["text=a=b"], {"text": "a=b"}),
    ],
)
def test_parse_field_map(specs: list[str], expected: dict[str, str]) -> None:
    assert parse_field_map(specs) == expected


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["text"], "expected TARGET=SOURCE"),
        (["=body"], "expected TARGET=SOURCE"),
        (["text="], "expected TARGET=SOURCE"),
        (["body=text"], "unknown target 'body'"),
        (["author.email=mail"], "unknown target 'author.email'"),
        (["text=body", "text=content"], "already mapped"),
    ],
)
def test_parse_field_map_errors(specs: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_field_map(specs)
    text = str(info.value)
    assert message in text
    assert repr(specs[-1]) in text  # names the bad spec
    assert "valid targets: id, text, title" in text and "author.post_count" in text


# --- JSONL -----------------------------------------------------------------------------------------

JSONL = (
    b'\xef\xbb\xbf{"id": "a", "text": "first"}\n'  # 1: BOM
    b'{"id": "b", "text": "trunc\n'  # 2: truncated
    b"\n"  # 3: blank
    b"   \t\r\n"  # 4: whitespace only
    b"[1, 2, 3]\n"  # 5: not an object
    b'{"id": "c", "text": "bad \xff byte"}\n'  # 6: invalid UTF-8
    b'"just a string"\n'  # 7
    b'{"id": "d", "text": "caf\xc3\xa9"}\r\n'  # 8: CRLF, UTF-8
    b'{"id": "e", "text": "no newline at end"}'  # 9
)


def test_jsonl_records(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "dump.jsonl", JSONL)
    records = list(read_records(path))
    assert lines_of(records) == [1, 2, 5, 6, 7, 8, 9]
    assert all(r.source == path for r in records)
    by_line = {r.line: r for r in records}
    assert by_line[1].data == {"id": "a", "text": "first"}
    assert by_line[2].error == "invalid JSON: Unterminated string starting at: line 1 column 21 (char 20)"
    assert by_line[5].error == "expected a JSON object, got array"
    assert by_line[6].data is None and by_line[6].error is not None
    assert by_line[6].error.startswith("invalid UTF-8")
    assert by_line[7].error == "expected a JSON object, got string"
    assert by_line[8].data == {"id": "d", "text": "café"}
    assert by_line[9].data == {"id": "e", "text": "no newline at end"}
    for r in records:
        assert (r.data is None) != (r.error is None)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b'{"text": "x"', "invalid JSON: Expecting ',' delimiter: line 1 column 13 (char 12)"),
        (b"null", "expected a JSON object, got null"),
        (b"42", "expected a JSON object, got number"),
        (b"true", "expected a JSON object, got boolean"),
        (
            b'\xef\xbb\xbf{"text": "x"}',
            "invalid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
        ),
    ],
)
def test_jsonl_error_messages(tmp_path: Path, line: bytes, error: str) -> None:
    path = write_bytes(tmp_path / "d.jsonl", b'{"text": "ok"}\n' + line + b"\n")
    records = list(read_records(path))
    assert [(r.line, r.error) for r in records] == [(1, None), (2, error)]


def test_jsonl_empty_file(tmp_path: Path) -> None:
    assert list(read_records(write_bytes(tmp_path / "e.jsonl", b""))) == []
    assert list(read_records(write_bytes(tmp_path / "f.jsonl", b"\n\n  \n"))) == []


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress])
def test_compressed(tmp_path: Path, compress: Any) -> None:
    data = b'{"id": 1, "text": "a"}\n\n{"id": 2, "text": "b"}\n'
    path = write_bytes(tmp_path / "dump.jsonl.gz", compress(data))
    records = list(read_records(path))
    assert [(r.line, r.data) for r in records] == [(1, {"id": 1, "text": "a"}), (3, {"id": 2, "text": "b"})]


def test_gzip_csv(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "dump.csv.gz", gzip.compress(b"id,text\n1,hello\n"))
    assert [r.data for r in read_records(path)] == [{"id": "1", "text": "hello"}]


def test_truncated_gzip_ends_with_an_error_record(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(b'{"id": %d, "text": "x"}\n' % i for i in range(1000)))
    path = write_bytes(tmp_path / "dump.jsonl.gz", data[: len(data) // 2])
    *good, last = read_records(path)
    assert [r.data for r in good] == [{"id": i, "text": "x"} for i in range(len(good))]
    assert last.line == len(good) + 1
    assert last.error == f"input ends early: truncated gzip stream after line {len(good)}"


def test_stdin_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.TextIOWrapper(io.BytesIO(b'{"text": "a"}\n\nnot json\n{"text": "\xc3\xa9"}\n'), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stream)
    records = list(read_records("-"))
    assert [r.line for r in records] == [1, 3, 4]
    assert records[0].source == "<stdin>"
    assert records[1].error is not None and records[1].error.startswith("invalid JSON")
    assert records[2].data == {"text": "é"}


def test_stdin_text_and_csv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("id,text\n1,hi\n"))
    assert [r.data for r in read_records("-", format="csv")] == [{"id": "1", "text": "hi"}]


def test_stdin_parquet_refused() -> None:
    with pytest.raises(ConfigError, match="stdin"):
        read_records("-", format="parquet")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(InputError, match=r"nope\.jsonl"):
        read_records(path)  # raises on the call, not on first iteration
    with pytest.raises(InputError, match="is a directory"):
        read_records(tmp_path, format="jsonl")


def test_unknown_format_argument(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown format 'xml'"):
        read_records(write_bytes(tmp_path / "x.jsonl", b""), format="xml")


def test_format_overrides_extension(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "dump.txt", b'{"text": "a"}\n')
    assert [r.data for r in read_records(path, format="ndjson")] == [{"text": "a"}]


# --- CSV -------------------------------------------------------------------------------------------

CSV = (
    b"\xef\xbb\xbfid,text,author_id\n"  # 1 header, BOM
    b'1,"multi\nline\ntext",u1\n'  # 2-4
    b"2,,\n"  # 5 empty cells
    b"\n"  # 6 blank
    b"3,too,many,cells\n"  # 7
    b"4,short\n"  # 8 fewer cells
    b'5,"quoted ""x"", comma",u5\n'  # 9
    b"6,bad \xff byte,u6\n"  # 10
    b"7,last,u7"  # 11 no final newline
)


def test_csv_records(tmp_path: Path) -> None:
    records = list(read_records(write_bytes(tmp_path / "dump.csv", CSV)))
    assert lines_of(records) == [2, 5, 7, 8, 9, 10, 11]
    got = {r.line: r for r in records}
    assert got[2].data == {"id": "1", "text": "multi\nline\ntext", "author_id": "u1"}
    assert got[5].data == {"id": "2", "text": None, "author_id": None}
    assert got[7].error == "row has 4 cells but the header has 3 columns"
    assert got[8].data == {"id": "4", "text": "short", "author_id": None}
    assert got[9].data == {"id": "5", "text": 'quoted "x", comma', "author_id": "u5"}
    assert got[10].error == "invalid UTF-8 on line 10"
    assert got[11].data == {"id": "7", "text": "last", "author_id": "u7"}


def test_csv_crlf_and_tsv(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", b'id,text\r\n1,"a\r\nb"\r\n2,c\r\n')
    assert [(r.line, r.data) for r in read_records(path)] == [
        (2, {"id": "1", "text": "a\r\nb"}),
        (4, {"id": "2", "text": "c"}),
    ]
    path = write_bytes(tmp_path / "d.tsv", b"id\ttext\n1\thello, world\n")
    assert [r.data for r in read_records(path)] == [{"id": "1", "text": "hello, world"}]


def test_csv_field_too_large_continues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("safeguard.io.readers.CSV_FIELD_LIMIT", 0)  # keep the current limit
    old = csv.field_size_limit(50)
    try:
        data = b"id,text\n1,short\n2," + b"x" * 100 + b"\n3,fine\n"
        records = list(read_records(write_bytes(tmp_path / "d.csv", data)))
    finally:
        csv.field_size_limit(old)
    assert lines_of(records) == [2, 3, 4]
    assert records[1].error is not None and "field larger than field limit" in records[1].error
    assert records[2].data == {"id": "3", "text": "fine"}


def test_csv_header_only_and_empty(tmp_path: Path) -> None:
    assert list(read_records(write_bytes(tmp_path / "a.csv", b"id,text\n"))) == []
    assert list(read_records(write_bytes(tmp_path / "b.csv", b""))) == []


def test_csv_duplicate_header_is_fatal(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="duplicate column"):
        list(read_records(write_bytes(tmp_path / "a.csv", b"text,text\n1,2\n")))


# --- Parquet ---------------------------------------------------------------------------------------


def test_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("safeguard.io.readers.PARQUET_BATCH_SIZE", 2)  # several batches
    ts = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)
    table = pa.table(
        {
            "id": ["p1", "p2", "p3"],
            "body": ["hello", None, "third"],
            "author": [{"id": "u1", "trust_level": 2}, {"id": "u2", "trust_level": None}, None],
            "created_at": pa.array([ts, ts, None], type=pa.timestamp("ns", tz="UTC")),
            "tags": [["a", "b"], [], None],
        }
    )
    path = tmp_path / "dump.parquet"
    pq.write_table(table, path, row_group_size=2)
    records = list(read_records(path))
    assert lines_of(records) == [1, 2, 3]
    first = records[0].data
    assert first == {
        "id": "p1",
        "body": "hello",
        "author": {"id": "u1", "trust_level": 2},
        "created_at": ts,
        "tags": ["a", "b"],
    }
    assert isinstance(first["created_at"], datetime)
    assert records[2].data is not None and records[2].data["author"] is None

    results = list(iter_posts(records, {"text": "body"}))
    post = results[0][1]
    assert post is not None
    assert post.id == "p1" and post.text == "hello" and post.created_at == ts
    assert post.author.id == "u1" and post.author.trust_level == 2
    assert results[1][1] is None and "no text" in (results[1][2] or "")


def test_parquet_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "ns.parquet"
    pq.write_table(pa.table({"t": pa.array([1_000_001_234], type=pa.timestamp("ns"))}), path)
    (record,) = read_records(path)
    assert record.data == {"t": datetime(1970, 1, 1, 0, 0, 1, 1)}  # truncated to microseconds


def test_parquet_invalid_file(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "bad.parquet", b"not parquet at all")
    with pytest.raises(InputError, match=r"bad\.parquet"):
        read_records(path)


# --- iter_posts ------------------------------------------------------------------------------------


def test_iter_posts(tmp_path: Path) -> None:
    data = (
        b'{"post_id": "x1", "body": "hello", "user_id": "u1", "lang": "en"}\n'  # 1
        b'{"post_id": "x2", "title": "no body"}\n'  # 2
        b"{broken\n"  # 3
        b'{"body": "no id", "user_id": 7}\n'  # 4
        b'{"body": 12}\n'  # 5 text not a string
        b'{"body": "t", "author": {"trust_level": 9}}\n'  # 6 bad trust level
    )
    records = read_records(write_bytes(tmp_path / "d.jsonl", data))
    fmap = parse_field_map(["text=body", "author.id=user_id", "id=post_id"])
    results = list(iter_posts(records, fmap))
    assert [r.line for r, _, _ in results] == [1, 2, 3, 4, 5, 6]
    for _, post, error in results:
        assert (post is None) != (error is None)
    post = results[0][1]
    assert post is not None
    assert (post.id, post.text, post.author.id, dict(post.meta)) == ("x1", "hello", "u1", {"lang": "en"})
    assert results[1][2] == "record has no text (looked for field 'body')"
    assert (results[2][2] or "").startswith("invalid JSON")
    fourth = results[3][1]
    assert fourth is not None and fourth.author.id == "7"
    assert (fourth.id, fourth.id_generated) == (f"{results[3][0].source}:4", True)  # input name and line as id
    assert results[4][2] == "text must be a string, got int"
    assert "trust_level" in (results[5][2] or "")
    assert [record_id(r, fmap) for r, _, _ in results] == ["x1", "x2", None, None, None, None]


def test_iter_posts_default_field_map() -> None:
    records = [Record("s", 1, {"text": "a"}, None), Record("s", 2, None, "boom")]
    results = list(iter_posts(records))
    assert results[0][1] is not None and results[0][1].id == "s:1"
    assert results[1] == (records[1], None, "boom")


def test_record_requires_exactly_one() -> None:
    with pytest.raises(ValueError):
        Record("s", 1, None, None)
    with pytest.raises(ValueError):
        Record("s", 1, {}, "x")


# --- writers ---------------------------------------------------------------------------------------


def make_decision() -> Decision:
    return Decision(
        post_id="p1",
        action=Action.HOLD,
        matches=(
            RuleMatch("spam-links", Action.HOLD, reason="Too many links", guideline="g1", values={"n": 5}),
            RuleMatch("caps", Action.ALLOW, reason=None, values={"ratio": 0.9}),
        ),
        shadow=(RuleMatch("new-rule", Action.REMOVE, reason="would remove"),),
        signals={"static": {"links": 5, "word": "naïve ✓"}},
        skipped=("toxicity",),
        errors=({"source": "toxicity", "error": "timeout, retry"},),
        exempt=False,
        ruleset={"name": "forum", "version": 3, "hash": "abc"},
        elapsed_ms=1.25,
    )


def records_to_write() -> list[dict[str, Any]]:
    allow = Decision(post_id="p2", action=Action.ALLOW).to_dict()
    return [
        {**make_decision().to_dict(), "line": 1},
        error_record(2, "x2", "record has no text (looked for field 'body')"),
        {**allow, "line": 3},
        error_record(4, None, 'invalid JSON: Expecting value, "quoted"'),
    ]


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_jsonl_writer_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "decisions.jsonl"
    out.write_text("old content\n")
    rows = records_to_write()
    with open_writer(out) as writer:
        for row in rows:
            writer.write(row)
        assert out.read_text() == "old content\n"  # nothing visible until close
        assert len(temp_files(tmp_path)) == 1
        assert temp_files(tmp_path)[0].startswith(".decisions.jsonl.")
    assert temp_files(tmp_path) == []
    assert writer.count == 4
    text = out.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 4 and text.endswith("\n")
    assert "naïve ✓" in lines[0]  # ensure_ascii=False
    assert lines[0] == json.dumps(rows[0], ensure_ascii=False, separators=(",", ":"))
    parsed = [json.loads(line) for line in lines]
    assert parsed == rows
    first = dict(parsed[0])
    del first["line"]
    assert Decision.from_dict(first) == make_decision()


def test_jsonl_writer_datetimes_and_surrogates(tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    ts = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with open_writer(out, "jsonl") as writer:
        writer.write({"line": 1, "id": "a", "error": "x", "at": ts, "odd": "\ud800"})
    obj = json.loads(out.read_text(encoding="utf-8"))
    assert obj["at"] == "2024-01-02T03:04:05+00:00"
    assert obj["odd"] == "\ud800"


@pytest.mark.parametrize("name", ["d.jsonl", "d.csv", "d.tsv", "d.parquet", "d.jsonl.gz"])
def test_encoded_records_write_as_the_records_do(tmp_path: Path, name: str) -> None:
    """A record encoded ahead (in a worker) and written with its line comes out as the record would."""
    from safeguard.io.writers import decision_record

    decision = make_decision()
    odd = Decision(post_id="p\ud800", action=Action.ALLOW, signals={"text": {"normalized": "bad \udc00"}})
    made, direct = tmp_path / "made", tmp_path / "direct"
    made.mkdir()
    direct.mkdir()
    with open_writer(made / name) as writer:
        for line, d, generated in ((1, decision, False), (2, odd, True), (3, decision, True)):
            record = decision_record(d, id_generated=generated, encode=type(writer).encode, signals=line != 3)
            assert record.action == d.action.value and record.rules == tuple(d.rules)
            assert record.failed == bool(d.errors) and record.decision is None
            writer.write_encoded(record.record, {"line": line})
        writer.write(error_record(4, "x", "bad record"))
    with open_writer(direct / name) as writer:
        for line, d, generated in ((1, decision, False), (2, odd, True), (3, decision, True)):
            row = {"line": line, **d.to_dict(), **({"id_generated": True} if generated else {})}
            if line == 3:
                row["signals"] = {}
            writer.write(row)
        writer.write(error_record(4, "x", "bad record"))
    if name.endswith(".parquet"):
        assert pq.read_table(made / name).to_pylist() == pq.read_table(direct / name).to_pylist()
    else:
        assert (made / name).read_bytes() == (direct / name).read_bytes()
    assert writer.count == 4


def test_encoded_jsonl_to_a_stream_that_cannot_take_utf8() -> None:
    from safeguard.io.writers import JsonlWriter

    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    writer = JsonlWriter(None)
    writer._text = stream
    writer.write_encoded(JsonlWriter.encode({"post_id": "naïve ✓"}), {"line": 7})
    stream.flush()
    text = stream.buffer.getvalue().decode("ascii")  # type: ignore[attr-defined]
    assert json.loads(text) == {"line": 7, "post_id": "naïve ✓"}
    assert text == '{"line":7,"post_id":"na\\u00efve \\u2713"}\n'


def test_writer_aborts_on_exception(tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    with pytest.raises(RuntimeError), open_writer(out) as writer:
        writer.write(error_record(1, None, "x"))
        raise RuntimeError("crash")
    assert not out.exists()
    assert temp_files(tmp_path) == []


def test_jsonl_writer_gzip(tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl.gz"
    with open_writer(out) as writer:
        writer.write(error_record(1, "a", "x"))
    assert gzip.decompress(out.read_bytes()) == b'{"line":1,"id":"a","error":"x"}\n'
    assert [r.data for r in read_records(out)] == [{"line": 1, "id": "a", "error": "x"}]


def test_stdout_writer(capsys: pytest.CaptureFixture[str]) -> None:
    for target in (None, "-"):
        with open_writer(target) as writer:
            writer.write(error_record(1, None, "bad"))
    assert capsys.readouterr().out == '{"line":1,"id":null,"error":"bad"}\n' * 2


def test_csv_writer(tmp_path: Path) -> None:
    out = tmp_path / "decisions.csv"
    with open_writer(out) as writer:
        for row in records_to_write():
            writer.write(row)
    assert temp_files(tmp_path) == []
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(FLAT_COLUMNS)
    assert len(rows) == 4
    assert rows[0] == {
        "line": "1",
        "post_id": "p1",
        "action": "hold",
        "rules": "spam-links; caps",
        "reasons": "Too many links; caps",
        "shadow": "new-rule",
        "errors": "toxicity: timeout, retry",
        "error": "",
    }
    assert rows[1] == {
        "line": "2",
        "post_id": "x2",
        "action": "",
        "rules": "",
        "reasons": "",
        "shadow": "",
        "errors": "",
        "error": "record has no text (looked for field 'body')",
    }
    assert rows[2]["action"] == "allow" and rows[2]["rules"] == ""
    assert rows[3]["error"] == 'invalid JSON: Expecting value, "quoted"'
    # and our own reader reads it back, empty cells as None
    back = list(read_records(out))
    assert back[1].data is not None and back[1].data["action"] is None


def test_tsv_writer(tmp_path: Path) -> None:
    out = tmp_path / "d.tsv"
    with open_writer(out) as writer:
        writer.write({**make_decision().to_dict(), "line": 7})
    header, row = out.read_text(encoding="utf-8").splitlines()
    assert header.split("\t") == list(FLAT_COLUMNS)
    assert row.split("\t")[:3] == ["7", "p1", "hold"]


def test_parquet_writer(tmp_path: Path) -> None:
    out = tmp_path / "decisions.parquet"
    rows = records_to_write() * 3
    with open_writer(out) as writer:
        assert not out.exists()
        writer._row_group_size = 5  # type: ignore[attr-defined]  # several row groups
        for row in rows:
            writer.write(row)
    assert temp_files(tmp_path) == []
    pf = pq.ParquetFile(out)
    assert pf.metadata.num_rows == 12
    assert pf.metadata.num_row_groups == 3
    table = pf.read()
    assert table.column_names == [*FLAT_COLUMNS, "decision"]
    assert table.schema.field("line").type == pa.int64()
    got = table.to_pylist()
    assert got[0]["line"] == 1 and got[0]["action"] == "hold" and got[0]["rules"] == "spam-links; caps"
    assert json.loads(got[0]["decision"]) == rows[0]
    assert got[1]["error"].startswith("record has no text") and got[1]["decision"] is None
    assert got[1]["post_id"] == "x2" and got[3]["post_id"] is None
    # our reader reads it back row by row
    assert lines_of(list(read_records(out))) == list(range(1, 13))


def test_parquet_writer_empty(tmp_path: Path) -> None:
    out = tmp_path / "empty.parquet"
    with open_writer(out):
        pass
    assert pq.ParquetFile(out).metadata.num_rows == 0


def test_parquet_stdout_refused() -> None:
    with pytest.raises(ConfigError):
        open_writer("-", "parquet")


def test_open_writer_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="name the format"):
        open_writer(tmp_path / "d.out")
    with pytest.raises(SafeguardError, match="cannot write"):
        open_writer(tmp_path / "missing-dir" / "d.jsonl")


def test_flatten_and_dumps() -> None:
    flat = flatten({**make_decision().to_dict(), "line": 3})
    assert flat["errors"] == "toxicity: timeout, retry"
    assert flatten(error_record(9, None, "e"))["line"] == 9
    assert dumps_json({"a": [1, 2], "b": "é"}) == '{"a":[1,2],"b":"é"}'


def test_no_stray_files(tmp_path: Path) -> None:
    for name in ("a.jsonl", "b.csv", "c.parquet"):
        with open_writer(tmp_path / name) as writer:
            writer.write(error_record(1, None, "x"))
    assert sorted(os.listdir(tmp_path)) == ["a.jsonl", "b.csv", "c.parquet"]


def test_failed_rename_keeps_the_finished_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safeguard.io.writers import OutputNotPlacedError

    out = tmp_path / "d.jsonl"
    out.write_text("earlier results\n")

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied")

    writer = open_writer(out)
    writer.write({"line": 1, "id": "a", "error": "x"})
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputNotPlacedError) as caught:
        writer.close()
    finished = Path(caught.value.finished)
    assert finished.exists() and json.loads(finished.read_text()) == {"line": 1, "id": "a", "error": "x"}
    assert str(finished) in str(caught.value) and "Permission denied" in str(caught.value)
    assert out.read_text() == "earlier results\n"


def test_partial_file_is_kept_on_abort_and_continued(tmp_path: Path) -> None:
    out, partial = tmp_path / "d.csv", tmp_path / "d.csv.partial"
    with pytest.raises(RuntimeError), open_writer(out, partial=partial) as writer:
        writer.write({"line": 1, "id": "a", "error": "x"})
        length = writer.sync()
        writer.write({"line": 2, "id": "b", "error": "lost"})
        raise RuntimeError("killed")
    assert partial.exists() and not out.exists() and length is not None
    with open_writer(out, partial=partial, resume_at=length) as writer:
        writer.write({"line": 2, "id": "b", "error": "y"})
    assert not partial.exists()
    assert out.read_text().splitlines() == [",".join(FLAT_COLUMNS), "1,a,,,,,,x", "2,b,,,,,,y"]
