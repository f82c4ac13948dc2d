"""Posts an attacker writes: lone surrogates, absurd timestamps, odd ids, bidirectional overrides.

Each becomes a safe post, or an error for that post alone; nothing stops a stream.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from safeguard import Moderator
from safeguard.errors import InputError, SafeguardError
from safeguard.io.readers import iter_posts, read_records
from safeguard.text import normalize, normalize_many, normalize_with_flags, resolve_bidi
from safeguard.types import Action, Author, Decision, Post, parse_id, safe_text

ROOT = Path(__file__).resolve().parents[2]
LISTS_ONLY = ROOT / "benchmarks" / "rules" / "lists_only.yaml"


# --- text made safe at the boundary -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\udc00", "\ufffd"),
        ("a\ud800b", "a\ufffdb"),
        ("x \udfff y \ud83d", "x \ufffd y \ufffd"),
        ("ok \ud83d\ude00 but \udc00", "ok \U0001f600 but \ufffd"),
    ],
)
def test_lone_surrogates_become_replacement_characters(raw: str, clean: str) -> None:
    assert safe_text(raw) == clean
    safe_text(raw).encode("utf-8")  # must not raise


def test_valid_text_is_returned_unchanged() -> None:
    for text in ("plain", "emoji 😀 and é", ""):
        assert safe_text(text) is text


def test_post_fields_are_made_safe_when_built() -> None:
    post = Post(id="i\udc00", text="t\udc00", title="x\ud800", author=Author(id="a\udc00", role="member"))
    for value in (post.id, post.text, post.title, post.author.id):
        assert value is not None
        value.encode("utf-8")
    assert post.text == "t\ufffd"


def test_surrogate_post_is_decided_by_every_library_entry_point() -> None:
    moderator = Moderator.from_file(LISTS_ONLY)
    post = {"id": "s", "text": "you \udc00 idiot"}
    assert moderator.moderate(post).post_id == "s"
    assert [d.post_id for d in moderator.moderate_many([post, {"id": "t", "text": "fine"}])] == ["s", "t"]
    assert moderator.classify([post])[0]


# --- timestamps ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1e20, -1e20, math.inf, -math.inf, math.nan, -1, 1e400])
def test_timestamps_outside_the_sane_range_are_input_errors(value: float) -> None:
    with pytest.raises(InputError, match="created_at"):
        Post.from_mapping({"text": "x", "created_at": value})


def test_millisecond_timestamps_get_a_hint() -> None:
    with pytest.raises(InputError, match="milliseconds"):
        Post.from_mapping({"text": "x", "created_at": 1_733_400_000_000})


def test_sane_timestamps_still_parse() -> None:
    post = Post.from_mapping({"text": "x", "created_at": 1_733_400_000})
    assert post.created_at == datetime(2024, 12, 5, 12, 0, tzinfo=timezone.utc)
    assert Post.from_mapping({"text": "x", "created_at": "2024-12-05T12:00:00Z"}).created_at == post.created_at
    with pytest.raises(InputError, match="outside"):
        Post.from_mapping({"text": "x", "created_at": "0001-01-01T00:00:00"})


# --- ids ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("abc", "abc"), (42, "42"), (42.0, "42"), (1.5, "1.5"), (None, None), ("", None)],
)
def test_scalar_ids(value: object, expected: str | None) -> None:
    assert parse_id(value) == expected


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], math.nan, math.inf, True])
def test_non_scalar_ids_are_input_errors_not_reprs(value: object) -> None:
    with pytest.raises(InputError, match="must be a string or a number"):
        Post.from_mapping({"id": value, "text": "x"})


def test_missing_ids_are_generated_stable_and_flagged(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text(
        "\n".join(
            json.dumps(r)
            for r in ({"text": "a"}, {"id": None, "text": "b"}, {"id": "", "text": "c"}, {"id": "3", "text": "d"})
        )
        + "\n",
        encoding="utf-8",
    )
    first = [(p.id, p.id_generated) for _, p, _ in iter_posts(read_records(dump)) if p is not None]
    again = [(p.id, p.id_generated) for _, p, _ in iter_posts(read_records(dump)) if p is not None]
    assert first == again
    assert first == [(f"{dump}:1", True), (f"{dump}:2", True), (f"{dump}:3", True), ("3", False)]
    assert len({i for i, _ in first}) == 4  # no collision with the real id "3"


def test_error_records_never_carry_a_repr_as_id(tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"id": {"x": 1}}\n{"id": 7}\n', encoding="utf-8")
    from safeguard.io.readers import record_id

    ids = [record_id(r) for r in read_records(dump)]
    assert ids == [None, "7"]


# --- the library raises only its own errors and never stops a stream ----------------------------


def test_moderate_many_gives_a_bad_item_an_on_error_decision_and_goes_on() -> None:
    moderator = Moderator.from_file(LISTS_ONLY)
    items: list[object] = [
        {"id": "1", "text": "fine"},
        {"id": "2"},  # no text
        {"id": "3", "text": "x", "created_at": 1e20},
        42,
        {"id": "5", "text": "also fine"},
    ]
    decisions = list(moderator.moderate_many(items, batch_size=2))  # type: ignore[arg-type]
    assert [d.post_id for d in decisions] == ["1", "2", "3", "", "5"]
    for d in decisions[1:4]:
        assert d.action == moderator.ruleset.on_error
        assert d.errors[0]["source"] == "input"
    assert decisions[0].errors == () and decisions[4].action == Action.ALLOW


def test_library_errors_are_safeguard_errors() -> None:
    moderator = Moderator.from_file(LISTS_ONLY)
    with pytest.raises(SafeguardError):
        moderator.moderate(42)  # type: ignore[arg-type]
    with pytest.raises(SafeguardError):
        moderator.moderate({"id": "x"})
    with pytest.raises(SafeguardError):
        list(moderator.moderate_many([], batch_size=0))


# --- bidirectional controls ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "reads"),
    [
        ("RLO U+202E reverses what it covers", "\u202etoidi na era uoy", "you are an idiot"),
        ("RLO closed by PDF U+202C", "you \u202etoidi\u202c there", "you idiot there"),
        ("LRO U+202D keeps order", "you \u202didiot\u202c", "you idiot"),
        ("LRE U+202A is dropped", "you \u202aidiot\u202c", "you idiot"),
        ("RLE U+202B is dropped", "you \u202bidiot\u202c", "you idiot"),
        ("LRI U+2066 is dropped", "you \u2066idiot\u2069", "you idiot"),
        ("RLI U+2067 is dropped", "you \u2067idiot\u2069", "you idiot"),
        ("FSI U+2068 is dropped", "you \u2068idiot\u2069", "you idiot"),
        ("PDI U+2069 closes an isolate and what opened inside it", "\u2067a\u202ecb\u2069d", "abcd"),
        ("a paragraph end closes an override", "\u202eba\ncd", "ab\ncd"),
        ("LRO nested in RLO stays one unit", "\u202e\u202dab\u202ccd", "dcab"),
        ("a stray PDF or PDI is dropped", "a\u202cb\u2069c", "abc"),
        ("LRM U+200E and RLM U+200F are dropped", "you\u200e \u200fidiot", "you idiot"),
        ("ALM U+061C is dropped", "you \u061cidiot", "you idiot"),
    ],
)
def test_each_bidi_control_reads_as_displayed(name: str, text: str, reads: str) -> None:
    expected = reads.replace("\n", " ")
    assert normalize(text) == expected, name
    assert normalize_many([text])[0][0] == expected, name
    assert resolve_bidi("plain text") == "plain text"


def test_an_override_that_reorders_letters_counts_as_a_disguise() -> None:
    assert normalize_with_flags("\u202etoidi uoy")[1] is True
    assert normalize_with_flags("you \u2066idiot\u2069")[1] is False


def test_right_to_left_script_is_left_in_reading_order() -> None:
    hebrew = "שלום עולם"
    assert resolve_bidi(hebrew) == hebrew


def test_an_override_hiding_an_insult_is_caught_by_the_lists() -> None:
    moderator = Moderator.from_file(LISTS_ONLY)
    plain = moderator.moderate({"id": "p", "text": "you are a moron"})
    hidden = moderator.moderate({"id": "h", "text": "\u202enorom a era uoy"})
    assert plain.signals["lists"] == hidden.signals["lists"]


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_moderates_every_hostile_record_into_one_line_each(tmp_path: Path) -> None:
    lines = [
        '{"id":"a","text":"hello \\udc00 there"}',
        '{"id":"c","text":"x","created_at":1e20}',
        '{"id":"d","text":"x","created_at":-1e20}',
        '{"id":"e","text":"x","created_at":1e400}',
        '{"id":null,"text":"null id"}',
        '{"id":{"a":1},"text":"dict id"}',
        '{"id":NaN,"text":"nan id"}',
        '{"text":"no id"}',
    ]
    dump = tmp_path / "hostile.jsonl"
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for command in ("moderate", "classify"):
        out = tmp_path / f"{command}.jsonl"
        proc = subprocess.run(
            [sys.executable, "-m", "safeguard", command, str(dump), "-r", str(LISTS_ONLY), "-o", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == 3, proc.stderr
        rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert [r["line"] for r in rows] == list(range(1, 9))
        errors = {r["line"] for r in rows if "error" in r}
        assert errors == {2, 3, 4, 6, 7}
        assert all(r.get("id") is None for r in rows if r["line"] in (6, 7))


def test_cli_marks_generated_ids_and_counts_only_real_duplicates(tmp_path: Path) -> None:
    dump = tmp_path / "d.jsonl"
    dump.write_text('{"text":"a"}\n{"id":"x","text":"b"}\n{"id":"x","text":"c"}\n{"text":"d"}\n', encoding="utf-8")
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    command = ["moderate", "d.jsonl", "-r", str(LISTS_ONLY), "-o", str(out), "--summary-json", str(summary)]
    proc = subprocess.run(
        [sys.executable, "-m", "safeguard", *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["post_id"], r.get("id_generated", False)) for r in rows] == [
        ("d.jsonl:1", True),
        ("x", False),
        ("x", False),
        ("d.jsonl:4", True),
    ]
    assert json.loads(summary.read_text(encoding="utf-8"))["duplicate_ids"] == 1
    import jsonschema

    for row in rows:
        jsonschema.validate(row, Decision.json_schema())


@pytest.mark.parametrize("command", ["evaluate", "diff", "explain"])
def test_policy_commands_take_lone_surrogates(command: str, tmp_path: Path) -> None:
    dump = tmp_path / "lab.jsonl"
    dump.write_text(
        '{"id":"a","text":"hello \\udc00 there","label":"allow"}\n'
        '{"id":"b","text":"you moron \\ud800","label":"hold"}\n',
        encoding="utf-8",
    )
    rules = str(LISTS_ONLY)
    args = {
        "evaluate": [str(dump), "-r", rules, "--label-field", "label"],
        "diff": [rules, rules, str(dump)],
        "explain": ["you \udcff moron", "-r", rules, "--json"],  # the invalid byte 0xff in argv
    }[command]
    proc = subprocess.run(
        [sys.executable, "-m", "safeguard", command, *args],
        capture_output=True,
        timeout=120,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "PYTHONIOENCODING": "utf-8"},
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, stderr
    assert b"Traceback" not in proc.stderr
