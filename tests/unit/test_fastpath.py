"""The Python evaluation of rule conditions against the CEL runtime: same value, or it defers to CEL.

Every operation the fast path evaluates is checked here over a grid of values (numbers at the edges
of int64 and float precision, NaN, infinities, strings with non-ASCII letters, null, lists, maps):
where the fast path gives a value, CEL must give the same value of the same type and no error.
Where CEL errors or a combination is not covered, the fast path must raise ``Unsupported``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import cel
import pytest

from safeguard.rules.fastpath import Unsupported, compile_condition, compile_expression
from safeguard.rules.regex import FUNCTIONS, rewrite_matches

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    7,
    2**53,
    2**53 + 1,
    -(2**53) - 1,
    2**62,
    2**63 - 1,
    -(2**63),
    2**63,
    2**64,
    0.0,
    -0.0,
    1.0,
    0.5,
    7.0,
    1e300,
    9007199254740993.0,
    float("inf"),
    float("-inf"),
    float("nan"),
    "",
    "a",
    "b",
    "ab",
    "A",
    "1",
    "é",
    "z",
    "\u00e9t\u00e9 \U0001f600",
    [],
    [1],
    ["a"],
    [1, "a"],
    [1.0, 2],
    [True, False],
    [None],
    (1, 2),
    {},
    {"a": 1},
]


def _cel(source: str, env: dict[str, Any]) -> tuple[bool, Any]:
    """(True, value) as the CEL runtime evaluates ``source`` in the engine's kind of context, or (False, error)."""
    try:
        return True, cel.compile(source).execute(cel.Context(env, functions=FUNCTIONS))
    except Exception as exc:
        return False, exc


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, float) and a == 0.0:
        return math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def check(source: str, env: dict[str, Any]) -> str:
    """Compare both paths; returns "fast" when the fast path decided, "cel" when it deferred."""
    fast = compile_expression(source, FUNCTIONS)
    assert fast is not None, f"{source!r} should compile"
    try:
        value = fast(env)
    except Unsupported:
        return "cel"
    ok, expected = _cel(source, env)
    assert ok, f"{source!r} with {env!r}: fast path gave {value!r}, CEL raised {expected!r}"
    assert _same(value, expected), f"{source!r} with {env!r}: fast path {value!r}, CEL {expected!r}"
    return "fast"


def _grid(sources: list[str], values: list[Any]) -> dict[str, int]:
    decided = dict.fromkeys(sources, 0)
    for a, b in itertools.product(values, repeat=2):
        env = {"a": a, "b": b}
        for source in sources:
            if check(source, env) == "fast":
                decided[source] += 1
    return decided


def test_binary_operations_match_cel_over_the_value_grid() -> None:
    sources = ["a == b", "a != b", "a < b", "a <= b", "a > b", "a >= b", "a + b", "a - b", "a in b"]
    decided = _grid(sources, VALUES)
    # every operation is decided in Python for the common cases, not deferred wholesale
    assert all(n > 50 for n in decided.values()), decided


def test_logical_operations_match_cel_over_the_value_grid() -> None:
    sources = ["a || b", "a && b", "!a", "!a || !b", "-a"]
    decided = _grid(sources, VALUES)
    assert all(n > 0 for n in decided.values()), decided


@pytest.mark.parametrize(
    "source",
    [
        "a.contains(b)",
        "a.startsWith(b)",
        "a.endsWith(b)",
        "a.sg_matches(b)",
        "sg_matches(a, b)",
        "size(a)",
        "a.size()",
        "a.exists(x, x == b)",
        "a.all(x, x == b)",
        "a.exists(x, x)",
        "a.all(x, x)",
        "b in a",
    ],
)
def test_functions_and_macros_match_cel_over_the_value_grid(source: str) -> None:
    values = [*VALUES, "a.b", r"\d+", "(?i)A", "^é", "[", [0, 1, "x"], [False, 1], [1, 0], ["é", "a"]]
    decided = _grid([rewrite_matches(source)], values)
    assert sum(decided.values()) > 0, decided


def test_field_selection_matches_cel() -> None:
    for value in VALUES:
        for env in ({"a": {"f": value}}, {"a": {"g": value}}, {"a": value}, {"a": {"f": {"g": value}}}):
            for source in ("a.f", "a.f.g", "a.f == 1", "size(a.f) > 0"):
                check(source, env)
    assert check("a.f", {"a": {"f": 1}}) == "fast"
    assert check("a.f", {"a": {"g": 1}}) == "cel"  # no such key: CEL's error


def test_literals_match_cel() -> None:
    literals = [
        "1",
        "0",
        "1.5",
        "1e3",
        "2.5e-3",
        "-1",
        "-1.5",
        "true",
        "false",
        "null",
        "'x'",
        '"x"',
        r'r"\d+\b"',
        r"r'\s'",
        r'"a\nb\t\"q\"\\ \u00e9 \x41 \101"',
        "'''multi\nline'''",
        '"""tri"ple"""',
        r'"""esc\"""still"""',
        r"r'''raw\'''",
        "size([1, 2, 3])",
        "'b' in ['a', 'b']",
        "2.5 in [1, 'a', 2.5]",
        "size([])",
        "9223372036854775807",
    ]
    for source in literals:
        assert check(source, {}) == "fast", source


def test_macro_variable_shadows_a_context_variable() -> None:
    env: dict[str, Any] = {"post": {"text": "x"}, "a": [1, 2], "x": "outer"}
    for source in ("a.exists(post, post == 2)", "a.all(x, x > 0) && x == 'outer'", "a.exists(x, a.exists(x, x == 2))"):
        assert check(source, env) == "fast", source


def test_short_circuit_defers_to_cel_when_the_first_part_is_an_error() -> None:
    # CEL absorbs an error on one side of || when the other side is true; the fast path never
    # evaluates past a part it cannot decide, so it hands the whole condition to CEL.
    fast = compile_condition("a.missing > 1 || true", FUNCTIONS)
    assert fast is not None
    with pytest.raises(Unsupported):
        fast({"a": {}})
    assert _cel("a.missing > 1 || true", {"a": {}}) == (True, True)
    # ...while a decided first part settles it exactly as CEL does
    assert check("true || a.missing > 1", {"a": {}}) == "fast"
    assert check("false && a.missing > 1", {"a": {}}) == "fast"


def test_non_boolean_condition_defers_to_cel() -> None:
    fast = compile_condition("a.f", FUNCTIONS)
    assert fast is not None
    assert fast({"a": {"f": True}}) is True
    with pytest.raises(Unsupported):
        fast({"a": {"f": "yes"}})


@pytest.mark.parametrize(
    "source",
    [
        "a ? b : c",
        "a[0] == 1",
        "a['f'] == 1",
        "has(a.f)",
        "a * 2 > 1",
        "a / 2 > 1",
        "a % 2 == 1",
        "{'k': 1}.k == 1",
        "a == 1u",
        "a == 0x10",
        "a == b'x'",
        "a.matches('x')",
        "matches(a, 'x')",
        "a.map(x, x + 1) == [2]",
        "a.filter(x, x > 1) == []",
        "a.exists_one(x, x > 1)",
        "size('abc') == 3 // comment",
        "int(a) == 1",
        "string(a) == '1'",
        "type(a) == int",
        "a == int",
        "timestamp(a) > timestamp('2020-01-01T00:00:00Z')",
        "duration('1s') > duration('0s')",
        "a.lowerAscii() == 'x'",
        ".a == 1",
        "a.b.c(1) == 2",
        "1.size() == 1",
    ],
)
def test_outside_the_subset_is_not_compiled(source: str) -> None:
    assert compile_expression(source, FUNCTIONS) is None


def test_shipped_conditions_all_compile() -> None:
    from pathlib import Path

    from safeguard.rules.loader import load_ruleset

    ruleset = load_ruleset(Path(__file__).resolve().parents[2] / "rules" / "community.yaml")
    conditions = [ruleset.exempt] + [c for r in ruleset.rules for c in (r.when, r.unless) if c is not None]
    missing = [c.source for c in conditions if c is not None and compile_condition(c.program.source, FUNCTIONS) is None]
    assert missing == []


MERGE_CASES = [
    ("(?i)abc", "def"),
    ("(?s)a.b", "q"),
    ("(?m)^b", "zz"),
    ("^a", "b$"),
    ("(a|b)c", "d(e)"),
    ("\\Qa)b\\E", "c"),
    ("(?i)x", "(?-i)Y", "^$"),
]
MERGE_TEXTS = ["", "ABC", "abc", "DEF", "def", "a\nb", "xa", "bx", "ab", "a)b", "Y", "y", "X", "ac", "de", "q"]


@pytest.mark.parametrize("patterns", MERGE_CASES)
def test_alternation_of_literal_matches_on_one_subject_matches_cel(patterns: tuple[str, ...]) -> None:
    # `a.matches(P) || a.matches(Q)` runs as one match of `(?:P)|(?:Q)`: same value as CEL's
    source = rewrite_matches(" || ".join(f"a.matches({json_quote(p)})" for p in patterns))
    for text in MERGE_TEXTS:
        for env in ({"a": text}, {"a": None}, {"a": 1}):
            check(source, env)
        assert check(source, {"a": text}) == "fast"
    # mixed with other operands and another subject, order kept
    mixed = rewrite_matches(f"b || a.matches({json_quote(patterns[0])}) || c.matches('x') || a.matches('q')")
    for text in MERGE_TEXTS:
        for b in (True, False, 1):
            check(mixed, {"a": text, "b": b, "c": text})


def json_quote(pattern: str) -> str:
    """A CEL string literal holding ``pattern`` (JSON escapes are CEL escapes)."""
    import json

    return json.dumps(pattern)
