"""Hostile rulesets, rule test files and term lists: refused with a located problem, never a hang,
a stack overflow or gigabytes of memory; the CLI exits 2 with the message and no traceback."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from _bounded import finishes
from typer.testing import CliRunner

from safeguard.classifiers.lists import MAX_LIST_FILE_BYTES, ListsClassifier, load_list_file
from safeguard.cli.app import app
from safeguard.errors import ConfigError
from safeguard.rules.casefile import MAX_TEST_FILE_BYTES, run_tests
from safeguard.rules.loader import MAX_RULESET_BYTES, load_ruleset
from safeguard.rules.source import MAX_ALIAS_NODES, MAX_YAML_DEPTH, load_yaml
from safeguard.types import Post

RULE = "rules:\n  - {id: a, when: 'size(lists.words) > 0', action: hold}\n"
CASES = "cases:\n  - {name: c, post: {text: hi}, expect: {action: allow}}\n"


def billion_laughs(levels: int = 9) -> str:
    """The classic alias bomb: each level a list of nine aliases of the one before (9**levels nodes)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def problems(exc: Any) -> list[str]:
    assert isinstance(exc, ConfigError), exc
    return [str(p) for p in exc.problems]


# ---------------------------------------------------------------- YAML limits


def test_alias_bomb_is_refused_at_the_alias_in_a_blink() -> None:
    bomb = "ruleset: x\n" + billion_laughs() + "rules: []\n"
    started = time.perf_counter()
    source = load_yaml(bomb, "bomb.yaml")
    assert time.perf_counter() - started < 2.0
    assert source.data is None
    [problem] = source.problems
    assert problem.message == f"YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes"
    assert (problem.file, problem.line) == ("bomb.yaml", 7)  # l5: 9**6 nodes, the first level over the budget
    assert bomb.splitlines()[problem.line - 1][problem.column - 1 :].startswith("*l4")


def test_aliases_of_one_huge_scalar_are_refused() -> None:
    text = "big: &b " + "x" * 1_000_000 + "\nmany: [" + ", ".join(["*b"] * 10) + "]\n"
    [problem] = load_yaml(text, "big.yaml").problems
    assert (
        problem.line == 2 and "YAML aliases expand to more than" in problem.message and "characters" in problem.message
    )


def test_ordinary_anchors_and_aliases_still_work() -> None:
    text = "base: &b {when: 'post.text != \"\"', tags: [a, b]}\none: *b\ntwo: *b\nlist: &l [x, y]\nagain: [*l, *l]\n"
    source = load_yaml(text, "ok.yaml")
    assert source.problems == []
    assert source.data["one"] == source.data["two"] == {"when": 'post.text != ""', "tags": ["a", "b"]}
    assert source.data["again"] == [["x", "y"], ["x", "y"]]


def test_recursive_alias_is_a_problem_not_a_recursion_error() -> None:
    [problem] = load_yaml("a: &a [1, *a]\n", "rec.yaml").problems
    assert (problem.line, problem.column) == (1, 11)
    assert "recursive alias" in problem.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[" * 100_000 + "]" * 100_000, 1),  # flow style
        ("".join("  " * i + "k:\n" for i in range(5000)) + "  " * 5000 + "v\n", MAX_YAML_DEPTH + 1),  # block style
        ("a: " + "{b: " * 100_000 + "1" + "}" * 100_000 + "\n", 1),
    ],
)
def test_deep_nesting_is_a_problem_not_a_recursion_error(text: str, line: int) -> None:
    source = finishes(lambda: load_yaml(text, "deep.yaml"))
    [problem] = source.problems
    assert problem.message == f"YAML nests deeper than {MAX_YAML_DEPTH} levels"
    assert (problem.file, problem.line) == ("deep.yaml", line)


def test_nesting_up_to_the_limit_loads() -> None:
    text = "[" * MAX_YAML_DEPTH + "1" + "]" * MAX_YAML_DEPTH
    source = load_yaml(text, "ok.yaml")
    assert source.problems == []


def test_aliases_cannot_stack_nesting_past_the_limit() -> None:
    lines = ["a0: &a0 " + "[" * 40 + "1" + "]" * 40]
    lines += [f"a{i}: &a{i} " + "[" * 30 + f"*a{i - 1}" + "]" * 30 for i in range(1, 4)]
    [problem] = load_yaml("\n".join(lines) + "\n", "stack.yaml").problems
    assert problem.line == 2 and "nesting deeper than" in problem.message


def test_ruleset_and_test_file_bombs_are_config_errors_with_lines(tmp_path: Path) -> None:
    rules = tmp_path / "bomb.yaml"
    rules.write_text("ruleset: x\n" + billion_laughs() + "rules: []\n", encoding="utf-8")
    found = problems(finishes(lambda: load_ruleset(rules)))
    assert found == [f"{rules}:7:10: YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes"]
    tests = tmp_path / "bomb.test.yaml"
    tests.write_text("rules: ok.yaml\n" + billion_laughs() + CASES, encoding="utf-8")
    report = finishes(lambda: run_tests([tests]))
    assert report.exit_code == 2
    assert [str(p) for p in report.files[0].problems] == [
        f"{tests}:7:10: YAML aliases expand to more than {MAX_ALIAS_NODES:,} nodes"
    ]


@pytest.mark.parametrize(
    ("name", "limit", "load"),
    [
        ("big.yaml", MAX_RULESET_BYTES, lambda p: problems(finishes(lambda: load_ruleset(p)))),
        ("big.test.yaml", MAX_TEST_FILE_BYTES, lambda p: [str(x) for x in run_tests([p]).files[0].problems]),
    ],
)
def test_oversized_and_non_utf8_files_are_refused(tmp_path: Path, name: str, limit: int, load: Any) -> None:
    path = tmp_path / name
    with open(path, "wb") as fh:
        fh.truncate(limit + 1)  # sparse: no disk needed
    [message] = load(path)
    assert message.startswith(str(path)) and f"{limit + 1:,} bytes, over the {limit:,}-byte limit" in message
    path.write_bytes(b"ruleset: x\nrules: []\n# \xff\xfe\n")
    [message] = load(path)
    assert message.startswith(str(path)) and "UTF-8" in message


# ---------------------------------------------------------------- rule test files naming rules


def test_test_file_rules_from_dev_zero_or_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for target, reason in (("/dev/zero", "cannot be read from /dev"), ("fifo.yaml", "is a FIFO")):
        tests = tmp_path / "t.test.yaml"
        tests.write_text(f"rules: {target}\n" + CASES, encoding="utf-8")
        report = finishes(lambda tests=tests: run_tests([tests]))  # type: ignore[misc]
        assert report.exit_code == 2
        first, second = report.files[0].problems
        assert (first.file, first.line, first.column) == (str(tests), 1, 8)
        assert reason in second.message and "cannot read ruleset" in second.message


def test_test_file_rules_with_a_nul_character_is_a_problem_on_its_line(tmp_path: Path) -> None:
    tests = tmp_path / "t.test.yaml"
    tests.write_text('rules: "rules.yaml\\0x"\n' + CASES, encoding="utf-8")
    report = finishes(lambda: run_tests([tests]))
    assert report.exit_code == 2
    (problem,) = report.files[0].problems
    assert (problem.line, problem.column) == (1, 8)
    assert "must name the ruleset file under test" in problem.message


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ('classifiers:\n  spam: {model: "m\\0.npz"}\n', "must be a path"),
        ('lists:\n  words: "w\\0.txt"\n', "is not a file name"),
    ],
)
def test_paths_with_a_nul_character_are_refused_by_line(tmp_path: Path, block: str, message: str) -> None:
    from safeguard.errors import ConfigError
    from safeguard.rules.loader import load_ruleset

    ruleset = tmp_path / "rules.yaml"
    ruleset.write_text(f"ruleset: r\nversion: 1\n{block}rules: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as caught:
        load_ruleset(ruleset)
    assert [p.line for p in caught.value.problems] == [4]


# ---------------------------------------------------------------- term list files


def ruleset_with_list(directory: Path, target: str, *, extra: str = "") -> Path:
    path = directory / "rules.yaml"
    path.write_text(f"ruleset: x\n{extra}lists:\n  words: {target}\n" + RULE, encoding="utf-8")
    return path


@pytest.mark.parametrize("target", ["../../../../../../etc/passwd", "/etc/passwd", "/proc/self/environ"])
def test_list_files_outside_the_ruleset_directory_are_refused(tmp_path: Path, target: str) -> None:
    rules = ruleset_with_list(tmp_path, target)
    [message] = problems(finishes(lambda: load_ruleset(rules)))
    assert message.startswith(f"{rules}:3:10: cannot read list file {target!r}: is outside {tmp_path.resolve()}")
    assert "allow_outside: true" in message


def test_a_symlink_pointing_outside_counts_as_outside(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "secret.txt").write_text("x\n", encoding="utf-8")
    (tmp_path / "rules" / "words.txt").symlink_to(tmp_path / "secret.txt")
    [message] = problems(finishes(lambda: load_ruleset(ruleset_with_list(tmp_path / "rules", "words.txt"))))
    assert "is outside" in message


def test_allow_outside_reads_elsewhere_but_never_devices_or_proc(tmp_path: Path) -> None:
    (tmp_path / "shared.txt").write_text("idiot\n", encoding="utf-8")
    (tmp_path / "rules").mkdir()
    ruleset = load_ruleset(ruleset_with_list(tmp_path / "rules", "../shared.txt", extra="allow_outside: true\n"))
    assert ruleset.classifiers["lists"].classify([Post(id="1", text="you idiot")]) == [{"words": ["idiot"]}]
    for target, reason in (("/proc/self/environ", "cannot be read from /proc"), ("/dev/zero", "from /dev")):
        rules = ruleset_with_list(tmp_path / "rules", target, extra="allow_outside: true\n")
        [message] = problems(finishes(lambda rules=rules: load_ruleset(rules)))  # type: ignore[misc]
        assert message.startswith(f"{rules}:4:10: cannot read list file") and reason in message


def test_allow_outside_must_be_a_boolean_and_only_at_the_top(tmp_path: Path) -> None:
    (tmp_path / "w.txt").write_text("x\n", encoding="utf-8")
    rules = ruleset_with_list(tmp_path, "w.txt", extra="allow_outside: yes please\n")
    found = problems(finishes(lambda: load_ruleset(rules)))
    assert found == [f"{rules}:2:16: allow_outside: input should be a valid boolean (got str)"]
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "ruleset: x\nclassifiers:\n  w: {kind: lists, lists: {a: /etc/passwd}, allow_outside: true}\n"
        "rules:\n  - {id: a, when: 'size(w.a) > 0', action: hold}\n",
        encoding="utf-8",
    )
    found = problems(finishes(lambda: load_ruleset(rules)))
    assert any(":3:" in m and "set allow_outside at the top of the ruleset" in m for m in found), found


def test_lists_classifier_in_classifiers_is_confined_too(tmp_path: Path) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "ruleset: x\nclassifiers:\n  w: {kind: lists, lists: {a: ../../etc/passwd}}\n"
        "rules:\n  - {id: a, when: 'size(w.a) > 0', action: hold}\n",
        encoding="utf-8",
    )
    message = problems(finishes(lambda: load_ruleset(rules)))[0]
    assert message.startswith(f"{rules}:3:3: classifier 'w': list file ../../etc/passwd: is outside")


def test_list_file_that_is_a_fifo_or_a_device_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "words.txt")
    rules = ruleset_with_list(tmp_path, "words.txt")
    [message] = problems(finishes(lambda: load_ruleset(rules)))
    assert message.startswith(f"{rules}:3:10: cannot read list file 'words.txt': is a FIFO")
    # the classifier itself, given the paths directly
    for path, reason in ((tmp_path / "words.txt", "is a FIFO"), (Path("/dev/zero"), "cannot be read from /dev")):
        exc = finishes(lambda path=path: load_list_file(path))  # type: ignore[misc]
        assert isinstance(exc, ConfigError) and str(path) in str(exc) and reason in str(exc)
        clf = ListsClassifier(lists={"w": path})
        exc = finishes(clf.load)
        assert isinstance(exc, ConfigError) and reason in str(exc)


def test_oversized_list_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "words.txt"
    with open(big, "wb") as fh:
        fh.truncate(MAX_LIST_FILE_BYTES + 1)
    rules = ruleset_with_list(tmp_path, "words.txt")
    [message] = problems(finishes(lambda: load_ruleset(rules)))
    assert f"over the {MAX_LIST_FILE_BYTES:,}-byte limit for a term list" in message
    with pytest.raises(ConfigError, match=r"over the .*-byte limit for a term list"):
        load_list_file(big)


# ---------------------------------------------------------------- the CLI: exit 2, a message, no traceback


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "ok.yaml").write_text("ruleset: ok\nrules: []\n", encoding="utf-8")
    files = {
        "bomb": tmp_path / "bomb.yaml",
        "deep": tmp_path / "deep.yaml",
        "outside": tmp_path / "outside.yaml",
        "bomb_test": tmp_path / "bomb.test.yaml",
        "zero_test": tmp_path / "zero.test.yaml",
        "posts": tmp_path / "posts.jsonl",
    }
    files["bomb"].write_text("ruleset: x\n" + billion_laughs() + "rules: []\n", encoding="utf-8")
    files["deep"].write_text("ruleset: x\nrules: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    ruleset_with_list(tmp_path, "/proc/self/environ").rename(files["outside"])
    files["bomb_test"].write_text("rules: ok.yaml\n" + billion_laughs() + CASES, encoding="utf-8")
    files["zero_test"].write_text("rules: /dev/zero\n" + CASES, encoding="utf-8")
    files["posts"].write_text('{"id": "1", "text": "hello"}\n', encoding="utf-8")
    return files


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["check", "{bomb}"], "bomb.yaml:7:10: YAML aliases expand to more than 100,000 nodes"),
        (["check", "{deep}"], "deep.yaml:2:71: YAML nests deeper than 64 levels"),
        (["check", "{outside}"], "outside.yaml:3:10: cannot read list file '/proc/self/environ': is outside"),
        (["moderate", "{posts}", "--rules", "{bomb}"], "bomb.yaml:7:10: YAML aliases expand"),
        (["moderate", "{posts}", "--rules", "{deep}"], "deep.yaml:2:71: YAML nests deeper"),
        (["test", "{bomb_test}"], "bomb.test.yaml:7:10: YAML aliases expand to more than 100,000 nodes"),
        (["test", "{zero_test}"], "/dev/zero: cannot read ruleset: a ruleset cannot be read from /dev"),
    ],
)
def test_cli_exits_2_with_the_problem(hostile: dict[str, Path], args: list[str], expected: str) -> None:
    argv = [a.format(**hostile) for a in args]
    result = finishes(lambda: CliRunner().invoke(app, argv, env={"COLUMNS": "300", "NO_COLOR": "1"}), 30)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 2, (output, result.exception)
    assert expected in output.replace("\n", " ")
    assert "Traceback" not in output


def test_model_and_state_paths_stay_in_the_ruleset_directory(tmp_path: Path) -> None:
    from safeguard.errors import ConfigError
    from safeguard.rules.loader import load_ruleset

    folder = tmp_path / "rules"
    folder.mkdir()
    cases = {
        "duplicate": "classifiers:\n  duplicate: {state: ../../../../tmp/window.npz}\n",
        "spam": "classifiers:\n  spam: {model: /etc/passwd}\n",
        "toxicity": "classifiers:\n  toxicity: {backend: fast, model: /proc/self/environ}\n",
    }
    for name, block in cases.items():
        ruleset = folder / f"{name}.yaml"
        ruleset.write_text(f"ruleset: r\nversion: 1\n{block}rules: []\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"is outside .*allow_outside: true") as caught:
            load_ruleset(ruleset)
        assert [p.line for p in caught.value.problems] == [4], (name, caught.value.problems)
    allowed = folder / "allowed.yaml"
    allowed.write_text(
        f"ruleset: r\nversion: 1\nallow_outside: true\nclassifiers:\n  duplicate: {{state: {tmp_path / 'w.npz'}}}\n"
        "rules: []\n",
        encoding="utf-8",
    )
    assert load_ruleset(allowed).classifiers["duplicate"].state == tmp_path / "w.npz"  # type: ignore[attr-defined]


def test_a_problem_on_a_huge_line_shows_a_window_around_the_column() -> None:
    from safeguard.errors import SNIPPET_WIDTH, Problem

    line = "x" * 5000 + "Y" + "z" * 5000
    lines = Problem("f.yaml", 1, 5001, "bad", line).render().splitlines()
    assert len(lines[1]) <= 4 + SNIPPET_WIDTH + 6
    assert lines[1][lines[2].index("^")] == "Y"
    short = Problem("f.yaml", 2, 3, "bad", "abcdef").render().splitlines()
    assert short[1:] == ["    abcdef", "      ^"]


@pytest.mark.parametrize("text", ["<<", "a: <<", "a: 2001-13-01", "a: 2024-02-30 10:00:00", "- 99999-01-01"])
def test_scalars_yaml_cannot_construct_stay_text(text: str) -> None:
    # Found by the testfile fuzz target: a bare merge key raised ConstructorError, and an impossible
    # date raises ValueError in PyYAML's timestamp constructor.
    from safeguard.rules.source import load_yaml

    source = load_yaml(text, "f.yaml")
    assert source.problems == []
    assert text.split()[-1] in str(source.data)


def test_a_classifier_that_fails_to_build_is_one_problem_not_one_per_rule(tmp_path: Path) -> None:
    ruleset = tmp_path / "r.yaml"
    ruleset.write_text(
        "ruleset: r\nclassifiers:\n  toxicity: {backend: fast, model: /etc/passwd}\nrules:\n"
        "  - {id: a, when: toxicity.toxicity > 0.5, action: hold}\n"
        "  - {id: b, when: toxicity.insult > 0.5, action: hold}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_ruleset(ruleset)
    assert [p.line for p in caught.value.problems] == [3]
