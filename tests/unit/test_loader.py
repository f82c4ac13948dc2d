"""Ruleset loading: strict, every problem at once, each with its file, line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguard import ConfigError, load_ruleset
from safeguard.rules import parse_ruleset
from safeguard.rules.expressions import references
from safeguard.rules.schema import ruleset_json_schema

FIXTURES = Path(__file__).parent.parent / "fixtures" / "rules"


def problems_of(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(ConfigError) as info:
        parse_ruleset(text, file="r.yaml")
    return [(p.line, p.column, p.message) for p in info.value.problems]


def test_four_problems_reported_together_with_lines() -> None:
    with pytest.raises(ConfigError) as info:
        load_ruleset(FIXTURES / "four_problems.yaml")
    found = [(p.line, p.message) for p in info.value.problems]
    assert len(found) == 4, found
    assert found[0][0] == 9 and "unknown key 'severity'" in found[0][1]
    assert found[1][0] == 11 and "invalid expression" in found[1][1]
    assert found[2][0] == 14 and "unknown signal spamscore.scroe (did you mean spamscore.score?)" in found[2][1]
    assert found[3][0] == 18 and "invalid action 'delete'" in found[3][1]


def test_expression_error_column_points_into_the_expression() -> None:
    text = "ruleset: x\nrules:\n  - id: a\n    when: text.length > && true\n    action: hold\n"
    [(line, column, message)] = problems_of(text)
    assert (line, message.startswith("invalid expression")) == (4, True)
    # "    when: " is 10 characters; the parser stops at the '&&' (0-based offset 14 in the expression)
    assert text.splitlines()[3][column - 1 :].startswith("&&")


@pytest.mark.parametrize(
    ("rules_yaml", "line", "fragment"),
    [
        ("  - id: a\n    when: bogus.x > 1\n    action: hold\n", 4, "unknown name 'bogus'"),
        ("  - id: a\n    when: txt.length > 1\n    action: hold\n", 4, "did you mean 'text'"),
        ("  - id: a\n    when: post.author.trust > 1\n    action: hold\n", 4, "unknown field post.author.trust"),
        ("  - id: a\n    when: text.lenght > 1\n    action: hold\n", 4, "did you mean text.length"),
        ("  - id: a\n    action: hold\n", 3, "missing required key 'when'"),
        ("  - id: A B\n    when: 'true'\n    action: hold\n", 3, "invalid id 'A B'"),
        ("  - id: a\n    when: 'true'\n    action: hold\n    mode: dry-run\n", 6, "invalid mode 'dry-run'"),
        (
            "  - id: a\n    when: 'true'\n    action: hold\n  - id: a\n    when: 'true'\n    action: hold\n",
            6,
            "duplicate rule id",
        ),
        ("  - id: a\n    when: size(lists.x) > 0\n    action: hold\n", 4, "unknown name 'lists'"),
        ("  - id: a\n    when: ''\n    action: hold\n", 4, "empty expression"),
    ],
)
def test_rule_problems(rules_yaml: str, line: int, fragment: str) -> None:
    found = problems_of("ruleset: x\nrules:\n" + rules_yaml)
    assert any(ln == line and fragment in msg for ln, _, msg in found), found


@pytest.mark.parametrize(
    ("top", "line", "fragment"),
    [
        ("ruleset: x\nrulez: []\nrules: []\n", 2, "unknown key 'rulez' (did you mean 'rules'?)"),
        ("ruleset: x\nrules: []\nruleset: y\n", 3, "duplicate key 'ruleset'"),
        ("ruleset: x\non_error: ignore\nrules: []\n", 2, "invalid on_error 'ignore'"),
        ("ruleset: x\nclassifiers:\n  t: {kind: nope}\nrules: []\n", 3, "unknown classifier kind 'nope'"),
        ("ruleset: x\nclassifiers:\n  s: {kind: static, colour: red}\nrules: []\n", 3, "unknown option 'colour'"),
        ("ruleset: x\nlists:\n  bad: missing.txt\nrules: []\n", 3, "cannot read list file 'missing.txt'"),
        ("ruleset: x\nrules: [\n", 3, "invalid YAML"),
        ("rules: []\n", 1, "missing required key 'ruleset'"),
        ("ruleset: x\nexempt: post.author.rol == 'staff'\nrules: []\n", 2, "unknown field post.author.rol"),
    ],
)
def test_document_problems(top: str, line: int, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ruleset(top, file="r.yaml", base_dir=tmp_path)
    found = [(p.line, p.message) for p in info.value.problems]
    assert any(ln == line and fragment in msg for ln, msg in found), found


def test_unsafe_yaml_tags_are_refused() -> None:
    text = "ruleset: !!python/object/apply:os.system ['echo pwned']\nrules: []\n"
    with pytest.raises(ConfigError) as info:
        parse_ruleset(text)
    assert "invalid YAML" in str(info.value)


def test_valid_ruleset_loads_with_identity(tmp_path: Path) -> None:
    ruleset = load_ruleset(FIXTURES / "valid.yaml")
    assert ruleset.name == "valid-example" and ruleset.version == 2
    assert [r.id for r in ruleset.rules] == ["threat", "insult-list", "new-member-long", "caps"]
    assert ruleset.rule("caps").shadow
    assert ruleset.rule("threat").needs == {"toxicity"}
    assert set(ruleset.classifiers) == {"toxicity", "lists", "text"}
    # the hash changes with the content, including list files
    copy = tmp_path / "valid.yaml"
    copy.write_text((FIXTURES / "valid.yaml").read_text().replace("0.7", "0.8"))
    assert load_ruleset(copy).hash != ruleset.hash


def test_list_file_content_changes_the_hash(tmp_path: Path) -> None:
    (tmp_path / "terms.txt").write_text("alpha\n")
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "ruleset: x\nlists:\n  t: terms.txt\nrules:\n  - {id: a, when: 'size(lists.t) > 0', action: hold}\n"
    )
    first = load_ruleset(rules).hash
    (tmp_path / "terms.txt").write_text("alpha\nbeta\n")
    assert load_ruleset(rules).hash != first


@pytest.mark.parametrize(
    ("expr", "paths"),
    [
        ("toxicity.threat >= 0.7", ["toxicity.threat"]),
        ('"CREDIT_CARD" in pii.entities', ["pii.entities"]),
        ('post.text.matches("(?i)buy.now") && size(lists.x) > 0', ["post.text", "lists.x"]),
        ("has(tox.insult) && tox.insult > 0.5", ["tox.insult", "tox.insult"]),
        ("lists.x.exists(t, t == 'a.b')", ["lists.x"]),
        ("post.author.trust_level == 0 && 'a.b(c)' != post.title", ["post.author.trust_level", "post.title"]),
    ],
)
def test_references(expr: str, paths: list[str]) -> None:
    assert [r.dotted for r in references(expr)] == paths


def test_json_schema_describes_rules() -> None:
    schema = ruleset_json_schema()
    assert schema["required"] == ["ruleset", "rules"]
    assert schema["additionalProperties"] is False
    rule = schema["$defs"]["RuleSpec"]
    assert set(rule["properties"]["action"]["enum"]) == {"allow", "hold", "remove"}


def test_invalid_regex_is_a_load_error_with_its_column() -> None:
    text = 'ruleset: x\nrules:\n  - id: a\n    when: post.text.matches("(unclosed")\n    action: hold\n'
    [(line, column, message)] = problems_of(text)
    assert line == 4 and "invalid regular expression" in message and "missing )" in message
    assert text.splitlines()[3][column - 1 :].startswith('"(unclosed")')


@pytest.mark.parametrize(
    ("expr", "text", "expected"),
    [
        ('post.text.matches("(?i)\\\\byou\\\\b")', "Hey YOU", True),
        ('post.text.matches("(?i)\\\\byou\\\\b")', "youth", False),
        ('matches(post.text, "^a+$")', "aaa", True),
        # a pattern that backtracking engines take exponential time on runs in linear time
        ('post.text.matches("(a+)+$")', "a" * 5000 + "b", False),
        ('"matches(" + post.text == "matches(x"', "x", True),
    ],
)
def test_matches_runs_on_re2(expr: str, text: str, expected: bool) -> None:
    from safeguard import Action, Moderator

    moderator = Moderator.from_yaml(f"ruleset: x\nrules:\n  - id: a\n    when: '{expr}'\n    action: hold\n")
    assert (moderator.moderate(text).action is Action.HOLD) is expected
