"""The structure of ruleset files and rule test files, as strict pydantic models.

These models check shape only (keys, types, enums); the loader checks meaning (expressions, signals,
classifier options). ``ruleset_json_schema()`` is what ``safeguard schema`` prints and what shipped rule
files point editors at.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from safeguard.errors import Problem
from safeguard.rules.source import SourceFile

__all__ = ["RuleSpec", "RulesetSpec", "TestCaseSpec", "TestFileSpec", "ruleset_json_schema", "validate"]

ActionName = Literal["allow", "hold", "remove"]
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RuleSpec(_Strict):
    """One rule: when ``when`` holds (and ``unless`` does not), the post gets ``action``."""

    id: str = Field(pattern=RULE_ID_PATTERN, description="Unique id: lowercase letters, digits, - _ .")
    description: str | None = None
    when: str = Field(description="CEL condition over post and classifier signals")
    unless: str | None = Field(default=None, description="CEL condition; when true the rule is skipped")
    action: ActionName
    reason: str | None = Field(default=None, description="Why, in words a member or moderator reads")
    guideline: str | None = Field(default=None, description="The community guideline this enforces")
    mode: Literal["enforce", "shadow"] = Field(
        default="enforce", description="shadow: recorded as would-have-fired, never acts"
    )
    tags: list[str] = Field(default_factory=list)
    priority: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Review queue priority of the posts this rule holds, 0 to 100 (higher is reviewed first); "
        "default: 50 for hold rules, 80 for remove rules",
    )


class RulesetSpec(_Strict):
    """A ruleset file."""

    model_config = ConfigDict(extra="forbid", strict=True, title="safeguard ruleset")

    ruleset: str = Field(description="The ruleset's name, recorded in every decision")
    version: int | str | None = None
    description: str | None = None
    on_error: ActionName = Field(
        default="hold", description="Action for a post whose classifier failed (fail closed by default)"
    )
    classifiers: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Classifier instances by name; `kind` defaults to the name"
    )
    lists: dict[str, str | list[str]] = Field(
        default_factory=dict, description="Term lists: a file path relative to this file, or inline terms"
    )
    allow_outside: bool = Field(
        default=False,
        description="Let term list files lie outside this file's directory (refused by default)",
    )
    exempt: str | None = Field(default=None, description="CEL condition; when true no rule applies")
    rules: list[RuleSpec]


class ExpectSpec(_Strict):
    action: ActionName | None = None
    rules: list[str] | None = Field(default=None, description="Exactly these acting rules fire")
    shadow: list[str] | None = Field(default=None, description="Exactly these shadow rules would fire")


class TestCaseSpec(_Strict):
    name: str
    post: dict[str, Any]
    signals: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Stubbed classifier signals: the classifier does not run"
    )
    expect: ExpectSpec
    xfail: str | None = Field(default=None, description="A known miss: reported, does not fail the run")


class TestFileSpec(_Strict):
    rules: str = Field(description="The ruleset file under test, relative to this file")
    cases: list[TestCaseSpec]


def ruleset_json_schema() -> dict[str, Any]:
    """The JSON schema of the ruleset format."""
    schema = RulesetSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://safeguard.dev/schema/ruleset.schema.json"
    return schema


def validate(model: type[_Strict], source: SourceFile) -> tuple[Any | None, list[Problem]]:
    """Validate ``source.data`` against ``model``; problems carry file, line and column."""
    try:
        return model.model_validate(source.data), []
    except ValidationError as exc:
        problems = [_problem(model, source, err) for err in exc.errors()]
        return None, _dedupe(problems)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[tuple[int, int, str]] = set()
    out = []
    for p in problems:
        key = (p.line, p.column, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _problem(model: type[_Strict], source: SourceFile, err: Any) -> Problem:
    loc = tuple(err["loc"])
    kind = err["type"]
    # Union members add their type name to loc (e.g. ('version', 'int')); drop those.
    loc = tuple(p for p in loc if not (isinstance(p, str) and p in _UNION_TAGS))
    field = str(loc[-1]) if loc else "document"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = difflib.get_close_matches(field, allowed, n=1)
        msg = f"unknown key {field!r}"
        msg += f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"
        return source.problem(loc, msg, key=True)
    if kind == "missing":
        parent = loc[:-1]
        return source.problem(parent, f"missing required key {field!r}", key=bool(parent))
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return source.problem(loc, f"invalid {field} {err['input']!r}: expected {expected.replace(chr(39), '')}")
    if kind == "string_pattern_mismatch":
        return source.problem(loc, f"invalid {field} {err['input']!r}: use lowercase letters, digits, '-', '_' and '.'")
    if kind in ("greater_than_equal", "less_than_equal"):
        return source.problem(loc, f"invalid {field} {err['input']!r}: {err['msg'].lower()}")
    if kind in ("model_type", "dict_type") and not loc:
        return Problem(source.file, 1, 1, "the file must be a YAML mapping")
    got = type(err.get("input")).__name__
    return source.problem(loc, f"{field}: {err['msg'].lower()} (got {got})")


_UNION_TAGS = {"str", "int", "list[str]", "function-after[...]", "literal['allow','hold','remove']", "none"}


def _allowed_keys(model: type[_Strict], path: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return []
        current = _model_of(field.annotation)
        if current is None:
            return []
    return sorted(current.model_fields) if hasattr(current, "model_fields") else []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
