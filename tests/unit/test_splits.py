"""Inputs cut into parts (safeguard.shards.splits) read back as the whole input reads."""

from __future__ import annotations

import gzip
import itertools
import json
import random
from pathlib import Path

import pytest

from safeguard.errors import InputError
from safeguard.io.readers import read_records
from safeguard.shards import splits


def _dump(path: Path, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for i in range(300):
        roll = rng.random()
        if roll < 0.05:
            lines.append("")
        elif roll < 0.1:
            lines.append("{not json")
        elif roll < 0.13:
            lines.append(json.dumps({"id": f"x{i}", "text": "é" * rng.randrange(50, 120)}))  # over the limit below
        else:
            lines.append(json.dumps({"text": " ".join("w" * rng.randrange(1, 6) for _ in range(rng.randrange(1, 9)))}))
    body = "\r\n".join(lines) if seed % 2 else "\n".join(lines)
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8") + (b"\n" if seed % 3 else b""))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("range_bytes", [1, 17, 64, 1000, 10**9])
def test_parts_read_as_the_whole(tmp_path: Path, seed: int, range_bytes: int) -> None:
    path = tmp_path / "dump.jsonl"
    _dump(path, seed)
    whole = list(read_records(path, max_record_bytes=200))
    parts = splits.plan([str(path)], ["jsonl"], range_bytes=range_bytes)
    assert [p.index for p in parts] == list(range(len(parts)))
    assert parts[0].start == 0 and parts[-1].end == path.stat().st_size
    assert all(a.end == b.start for a, b in itertools.pairwise(parts))
    pieces = [r for part in parts for r in splits.read_split(part, max_record_bytes=200)]
    assert pieces == whole
    if range_bytes <= 64:
        assert len(parts) > 10


def test_compressed_and_csv_inputs_are_one_part(tmp_path: Path) -> None:
    gz = tmp_path / "a.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"text": "one"}\n{"text": "two"}\n'))
    csv = tmp_path / "b.csv"
    csv.write_text('text\n"a\nmultiline post"\nsecond\n', encoding="utf-8")
    parts = splits.plan([str(gz), str(csv)], ["jsonl", "csv"], range_bytes=4)
    assert [(p.index, p.end) for p in parts] == [(0, -1), (1, -1)]
    assert [r.data for r in splits.read_split(parts[0])] == [{"text": "one"}, {"text": "two"}]
    assert [r.line for r in splits.read_split(parts[1])] == list(read_r.line for read_r in read_records(csv))


def test_uri_parts_read_as_the_local_file(tmp_path: Path) -> None:
    path = tmp_path / "dump.jsonl"
    _dump(path, 5)
    parts = splits.plan([path.as_uri()], ["jsonl"], range_bytes=100)
    assert len(parts) > 5
    got = [(r.line, r.data, r.error) for part in parts for r in splits.read_split(part)]
    assert got == [(r.line, r.data, r.error) for r in read_records(path)]


def test_unreadable_inputs_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing"):
        splits.plan([str(tmp_path / "missing.jsonl")], ["jsonl"])
    with pytest.raises(InputError, match="standard input"):
        splits.plan(["-"], ["jsonl"])


def test_order_keeps_parts_apart() -> None:
    assert splits.order(0, 5) < splits.order(1, 0) < splits.order(1, 1) < splits.order(2, 0)


def test_parts_are_cut_smaller_to_give_every_reader_work(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"text": "x" * 1000}) + "\n"
    path.write_text(line * 3000, encoding="utf-8")  # about 3 MB
    assert len(splits.plan([str(path)], ["jsonl"])) == 1
    two = splits.plan([str(path)], ["jsonl"], at_least=2)
    assert len(two) == 2
    many = splits.plan([str(path)], ["jsonl"], at_least=100)  # never below MIN_RANGE_BYTES a part
    assert 3 <= len(many) <= 4
    assert [r for p in many for r in splits.read_split(p)] == list(read_records(path))
