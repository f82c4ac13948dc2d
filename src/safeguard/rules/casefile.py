"""Rule tests: ``*.test.yaml`` files of posts and the decisions the rules must give them.

::

    rules: community.yaml
    cases:
      - name: card numbers are removed
        post: {text: "my card is 4111 1111 1111 1111"}
        expect: {action: remove, rules: [card-number]}
      - name: insult held (stubbed signal, no model needed)
        post: {text: "you clown"}
        signals: {toxicity: {insult: 0.9}}
        expect: {action: hold}

``expect.rules`` is the exact set of acting rules that must fire; a difference is reported as
"should have fired" and "fired unexpectedly". ``signals`` stubs a classifier: it does not run, its
other outputs read as neutral values. ``xfail: reason`` marks a known miss that does not fail the run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from safeguard.errors import ConfigError, InputError, Problem
from safeguard.files import UnsafeFileError, is_path_text, read_bounded_text
from safeguard.rules import schema
from safeguard.rules.engine import Engine
from safeguard.rules.loader import Ruleset, load_ruleset
from safeguard.rules.shipped import ruleset_path
from safeguard.rules.source import load_yaml
from safeguard.types import Action, Decision, Post

__all__ = ["MAX_TEST_FILE_BYTES", "CaseResult", "FileResult", "TestReport", "discover", "run_tests"]

#: Largest rule test file read (the shipped policy's tests are about 45 kB).
MAX_TEST_FILE_BYTES = 8 * 1024 * 1024

PASS, FAIL, XFAIL, XPASS = "pass", "fail", "xfail", "xpass"


@dataclass
class CaseResult:
    """The outcome of one case."""

    name: str
    line: int
    status: str
    expected_action: str | None = None
    actual_action: str | None = None
    should_have_fired: list[str] = field(default_factory=list)
    fired_unexpectedly: list[str] = field(default_factory=list)
    shadow_missing: list[str] = field(default_factory=list)
    shadow_unexpected: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    xfail: str | None = None
    seconds: float = 0.0
    decision: Decision | None = None

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def explain(self) -> list[str]:
        """Why a case failed, a line per difference."""
        out = []
        if self.expected_action and self.expected_action != self.actual_action:
            out.append(f"action: expected {self.expected_action}, got {self.actual_action}")
        if self.should_have_fired:
            out.append("should have fired: " + ", ".join(self.should_have_fired))
        if self.fired_unexpectedly:
            out.append("fired unexpectedly: " + ", ".join(self.fired_unexpectedly))
        if self.shadow_missing:
            out.append("shadow rules that should have fired: " + ", ".join(self.shadow_missing))
        if self.shadow_unexpected:
            out.append("shadow rules that fired unexpectedly: " + ", ".join(self.shadow_unexpected))
        out.extend(f"error: {e}" for e in self.errors)
        return out


@dataclass
class FileResult:
    """The outcome of one test file: its cases, or the problems that kept it from running."""

    path: Path
    ruleset: Ruleset | None = None
    cases: list[CaseResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    deselected: int = 0

    @property
    def broken(self) -> bool:
        return bool(self.problems)


@dataclass
class TestReport:
    """Every file's results. ``exit_code``: 0 all passed, 1 a case failed, 2 a broken file."""

    files: list[FileResult]

    def count(self, status: str) -> int:
        return sum(1 for f in self.files for c in f.cases if c.status == status)

    @property
    def exit_code(self) -> int:
        if any(f.broken for f in self.files) or not self.files:
            return 2
        return 1 if self.count(FAIL) else 0

    def to_junit(self) -> str:
        """JUnit XML, one ``testsuite`` per file, for CI systems."""
        suites = ET.Element("testsuites", name="safeguard rule tests")
        for f in self.files:
            suite = ET.SubElement(
                suites,
                "testsuite",
                name=str(f.path),
                tests=str(len(f.cases) + (1 if f.broken else 0)),
                failures=str(sum(c.failed for c in f.cases)),
                errors=str(1 if f.broken else 0),
                skipped=str(sum(c.status == XFAIL for c in f.cases)),
                time=f"{sum(c.seconds for c in f.cases):.4f}",
            )
            if f.broken:
                case = ET.SubElement(suite, "testcase", classname=str(f.path), name="load")
                err = ET.SubElement(case, "error", message="broken rules or test file")
                err.text = "\n".join(p.render() for p in f.problems)
                continue
            classname = f.ruleset.name if f.ruleset else str(f.path)
            for c in f.cases:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=classname,
                    name=c.name,
                    time=f"{c.seconds:.4f}",
                    file=str(f.path),
                    line=str(c.line),
                )
                if c.status == FAIL:
                    failure = ET.SubElement(case, "failure", message="; ".join(c.explain()) or "failed")
                    failure.text = "\n".join(c.explain())
                elif c.status == XFAIL:
                    ET.SubElement(case, "skipped", message=f"xfail: {c.xfail}")
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Test files named by ``paths``: files as given, directories searched for ``*.test.yaml``."""
    found: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(sorted(p.rglob("*.test.yaml")) + sorted(p.rglob("*.test.yml")))
        elif p.is_file():
            found.append(p)
        else:
            problems.append(Problem(str(p), 0, 0, "no such file or directory"))
    return list(dict.fromkeys(found)), problems


def run_tests(paths: Sequence[str | Path], *, run: str | None = None) -> TestReport:
    """Run every case of the test files under ``paths``; ``run`` keeps cases whose name matches it."""
    files, problems = discover(paths)
    pattern = re.compile(run) if run else None
    results = [FileResult(Path(p.file), problems=[p]) for p in problems]
    cache: dict[Path, Ruleset | ConfigError] = {}
    for path in files:
        results.append(_run_file(path, pattern, cache))
    return TestReport(results)


def _run_file(path: Path, pattern: re.Pattern[str] | None, cache: dict[Path, Ruleset | ConfigError]) -> FileResult:
    result = FileResult(path)
    try:
        text = read_bounded_text(path, MAX_TEST_FILE_BYTES, what="rule test file")
    except UnsafeFileError as exc:
        result.problems.append(Problem(str(path), 0, 0, f"cannot read test file: {exc.reason}"))
        return result
    except OSError as exc:
        result.problems.append(Problem(str(path), 0, 0, f"cannot read test file: {exc}"))
        return result
    source = load_yaml(text, str(path))
    if source.problems:
        result.problems.extend(source.problems)
        return result
    spec, problems = schema.validate(schema.TestFileSpec, source)
    result.problems.extend(problems)
    data = source.data if isinstance(source.data, dict) else {}
    if not isinstance(data.get("rules"), str):
        return result
    if not is_path_text(data["rules"]):
        result.problems.append(
            source.problem(("rules",), f"rules must name the ruleset file under test, not {data['rules']!r}")
        )
        return result
    # Check the meaning of every case that is well formed, even when others are not, so one run
    # lists every problem of the file.
    cases: list[tuple[int, schema.TestCaseSpec]] = []
    raw_cases: list[Any] = data["cases"] if isinstance(data.get("cases"), list) else []
    for i, raw_case in enumerate(raw_cases):
        try:
            cases.append((i, schema.TestCaseSpec.model_validate(raw_case)))
        except ValueError:
            continue  # reported by the file-level check
    rules_path = ruleset_path(data["rules"], base=path.parent).resolve()
    loaded = cache.get(rules_path)
    if loaded is None:
        try:
            loaded = load_ruleset(rules_path)
        except ConfigError as exc:
            loaded = exc
        cache[rules_path] = loaded
    if isinstance(loaded, ConfigError):
        result.problems.append(source.problem(("rules",), f"the rules under test are invalid ({data['rules']})"))
        result.problems.extend(loaded.problems)
        return result
    ruleset = loaded
    result.ruleset = ruleset
    engine = Engine(ruleset)
    rule_ids = {r.id for r in ruleset.rules}
    shadow_ids = {r.id for r in ruleset.rules if r.shadow}

    prepared: list[tuple[int, Any, Post, dict[str, list[dict[str, Any]]]]] = []
    names: dict[str, int] = {}
    for i, case in cases:
        where = ("cases", i)
        line = source.locate(where).line
        if case.name in names:
            result.problems.append(
                source.problem(
                    (*where, "name"), f"duplicate case name {case.name!r} (first on line {names[case.name]})"
                )
            )
        names.setdefault(case.name, line)
        for key in ("rules", "shadow"):
            for j, rid in enumerate(getattr(case.expect, key) or []):
                if rid not in rule_ids:
                    result.problems.append(
                        source.problem((*where, "expect", key, j), f"no rule {rid!r} in {data['rules']}")
                    )
                elif key == "shadow" and rid not in shadow_ids:
                    result.problems.append(
                        source.problem((*where, "expect", key, j), f"rule {rid!r} is not a shadow rule")
                    )
                elif key == "rules" and rid in shadow_ids:
                    result.problems.append(
                        source.problem(
                            (*where, "expect", key, j), f"rule {rid!r} is a shadow rule: expect it under shadow"
                        )
                    )
        if case.expect.action is None and case.expect.rules is None and case.expect.shadow is None:
            result.problems.append(source.problem((*where, "expect"), "expect needs action, rules or shadow"))
        try:
            post = Post.from_mapping(case.post, default_id=f"case-{i + 1}")
        except InputError as exc:
            result.problems.append(source.problem((*where, "post"), f"invalid post: {exc.message}"))
            continue
        stubs: dict[str, list[dict[str, Any]]] = {}
        for ns, given in case.signals.items():
            classifier = ruleset.classifiers.get(ns)
            if classifier is None:
                known = ", ".join(sorted(ruleset.classifiers))
                result.problems.append(
                    source.problem(
                        (*where, "signals", ns), f"no classifier {ns!r} in the ruleset (known: {known})", key=True
                    )
                )
                continue
            unknown = [k for k in given if k not in classifier.outputs]
            for k in unknown:
                result.problems.append(
                    source.problem(
                        (*where, "signals", ns, k),
                        f"{ns} has no signal {k!r} (it gives: {', '.join(classifier.outputs)})",
                        key=True,
                    )
                )
            stubs[ns] = [{**classifier.neutral(), **given}]
        if pattern is not None and not pattern.search(case.name):
            result.deselected += 1
            continue
        prepared.append((line, case, post, stubs))
    if result.problems or spec is None:
        return result

    for line, case, post, stubs in prepared:
        started = time.perf_counter()
        decision = engine.decide([post], stubs=stubs or None)[0]
        result.cases.append(_judge(case, line, decision, time.perf_counter() - started))

    expected_somewhere = {rid for c in spec.cases for rid in (c.expect.rules or []) + (c.expect.shadow or [])}
    result.uncovered = [r.id for r in ruleset.rules if r.id not in expected_somewhere]
    return result


def _judge(case: Any, line: int, decision: Decision, seconds: float) -> CaseResult:
    res = CaseResult(name=case.name, line=line, status=PASS, xfail=case.xfail, seconds=seconds, decision=decision)
    res.actual_action = decision.action.value
    expect = case.expect
    ok = True
    if expect.action is not None:
        res.expected_action = expect.action
        ok &= Action.parse(expect.action) is decision.action
    fired = set(decision.rules)
    if expect.rules is not None:
        want = set(expect.rules)
        res.should_have_fired = sorted(want - fired)
        res.fired_unexpectedly = sorted(fired - want)
        ok &= want == fired
    if expect.shadow is not None:
        shadow = {m.rule for m in decision.shadow}
        want = set(expect.shadow)
        res.shadow_missing = sorted(want - shadow)
        res.shadow_unexpected = sorted(shadow - want)
        ok &= want == shadow
    res.errors = [f"{e['source']}: {e['error']}" for e in decision.errors]
    ok &= not decision.errors
    if case.xfail:
        res.status = XPASS if ok else XFAIL
    else:
        res.status = PASS if ok else FAIL
    return res
