"""Posts from mappings, authors, actions; and the public API surface."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from typing import Any

import pytest

import safeguard
from safeguard import Action, Author, InputError, Post


@pytest.mark.parametrize(
    ("record", "field_map", "expected"),
    [
        ({"id": 7, "text": "hi"}, None, {"id": "7", "text": "hi", "author_id": None}),
        (
            {"post_id": "a", "body": "hi", "user_id": "u9"},
            {"id": "post_id", "text": "body"},
            {"id": "a", "author_id": "u9"},
        ),
        (
            {"id": "b", "text": "x", "user": {"id": "u1", "trust": 0}},
            {"author.id": "user.id", "author.trust_level": "user.trust"},
            {"author_id": "u1", "trust": 0},
        ),
        ({"id": "c", "text": "x", "author": "u5"}, None, {"author_id": "u5"}),
        (
            {"id": "d", "text": "x", "author": {"id": "u2", "trust_level": "3", "badge": "gold"}},
            None,
            {"author_id": "u2", "trust": 3},
        ),
    ],
)
def test_post_from_mapping(record: dict[str, Any], field_map: dict[str, str] | None, expected: dict[str, Any]) -> None:
    post = Post.from_mapping(record, field_map)
    for key, value in expected.items():
        actual = {
            "id": post.id,
            "text": post.text,
            "author_id": post.author.id,
            "trust": post.author.trust_level,
        }[key]
        assert actual == value, key


def test_unknown_fields_go_to_meta() -> None:
    post = Post.from_mapping({"id": "m", "text": "x", "score": 12, "author": {"id": "u", "badge": "gold"}})
    assert post.meta == {"score": 12}
    assert post.author.meta == {"badge": "gold"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-10-01T09:14:00Z", datetime(2026, 10, 1, 9, 14, tzinfo=timezone.utc)),
        (0, datetime(1970, 1, 1, tzinfo=timezone.utc)),
        (None, None),
    ],
)
def test_created_at_parsing(value: Any, expected: datetime | None) -> None:
    assert Post.from_mapping({"id": "t", "text": "x", "created_at": value}).created_at == expected


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"id": "1"}, "no text"),
        ({"id": "1", "text": None}, "no text"),
        ({"id": "1", "text": 42}, "text must be a string"),
        ({"id": "1", "text": "x", "author": {"trust_level": 9}}, "trust_level must be 0..4"),
        ({"id": "1", "text": "x", "author": {"trust_level": "high"}}, "must be an integer"),
        ({"id": "1", "text": "x", "created_at": "yesterday"}, "created_at must be"),
        ({"id": "1", "text": "x", "author": [1, 2]}, "author must be a mapping"),
    ],
)
def test_bad_records_raise_input_error(record: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        Post.from_mapping(record)


def test_missing_author_is_unknown_not_new() -> None:
    post = Post.from_mapping({"id": "x", "text": "x"})
    assert post.author == Author()
    assert post.author.trust_level is None


def test_actions_are_ordered_by_severity() -> None:
    assert Action.ALLOW < Action.HOLD < Action.REMOVE
    assert max([Action.HOLD, Action.REMOVE, Action.ALLOW]) is Action.REMOVE
    assert Action.parse("HOLD") is Action.HOLD
    with pytest.raises(ValueError, match="expected allow, hold or remove"):
        Action.parse("delete")


def test_public_api_is_exactly_all() -> None:
    public = {name for name in dir(safeguard) if not name.startswith("_")}
    modules = {"classifiers", "errors", "types", "rules", "moderator", "cli", "io", "testing", "datasets"}
    assert public - modules - set(safeguard.__all__) == set()
    for name in safeguard.__all__:
        assert getattr(safeguard, name) is not None


def test_import_is_light() -> None:
    heavy = "('torch', 'cel', 'pydantic', 'pyarrow', 'transformers')"
    code = f"import sys, safeguard; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_default_pipeline_does_not_import_torch(tmp_path: Any) -> None:
    code = (
        "import sys; from safeguard import Moderator; "
        "m = Moderator.from_file('rules/community.yaml'); m.load(); m.moderate('hello there'); "
        "print('torch' in sys.modules)"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.strip() == "False"
