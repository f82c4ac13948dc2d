"""``safeguard check``, ``test``, ``explain`` and ``schema``: work on rulesets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from safeguard.cli import exit_codes
from safeguard.cli.common import DEFAULT_RULES, RulesOpt, app, check_outputs, console, dump_json, err, load_moderator
from safeguard.errors import ConfigError, InputError
from safeguard.types import Action, Post

_ACTION_STYLE = {Action.ALLOW: "green", Action.HOLD: "yellow", Action.REMOVE: "red"}


@app.command()
def check(
    rules: Annotated[list[Path], typer.Argument(help="Ruleset files to validate.")],
) -> None:
    """Validate rulesets: keys, expressions, signals, actions and lists. Exit 0 valid, 2 with every problem listed."""
    from safeguard.rules.loader import load_ruleset

    total = 0
    for path in rules:
        try:
            ruleset = load_ruleset(path)
        except ConfigError as exc:
            for problem in exc.problems:
                err.print(problem.render(), markup=False, highlight=False)
            total += len(exc.problems)
            continue
        names = ", ".join(sorted(ruleset.classifiers)) or "none"
        err.print(f"[green]ok[/green] {escape(f'{path}: {len(ruleset.rules)} rules, classifiers: {names}')}")
    if total:
        err.print(f"[red]{total} problem{'s' if total != 1 else ''}[/red]")
        raise typer.Exit(exit_codes.CONFIG)


@app.command("test")
def test_rules(
    paths: Annotated[list[Path], typer.Argument(help="Rule test files (*.test.yaml) or directories of them.")],
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here for CI.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only cases whose name matches this regex.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every case, not only failures.")] = False,
) -> None:
    """Run rule test cases. Exit 0 all pass, 1 a case failed, 2 a broken rules or test file."""
    check_outputs([(str(junit), "JUnit report")] if junit is not None else [])
    import re

    from safeguard.rules.casefile import FAIL, XFAIL, XPASS, run_tests

    if run is not None:
        try:
            re.compile(run)
        except re.error as exc:
            err.print(f"[red]error:[/red] --run is not a valid regex: {escape(str(exc))}")
            raise typer.Exit(exit_codes.CONFIG) from None
    report = run_tests(paths, run=run)
    for f in report.files:
        if f.broken:
            err.print(f"[red]BROKEN[/red] {escape(str(f.path))}")
            for problem in f.problems:
                err.print("  " + problem.render().replace("\n", "\n  "), markup=False)
            continue
        for c in f.cases:
            if c.status == FAIL:
                err.print(f"[red]FAIL[/red] {escape(f'{f.path}:{c.line} {c.name}')}")
                for line in c.explain():
                    err.print(f"    {line}", markup=False)
            elif c.status == XFAIL:
                err.print(f"[yellow]xfail[/yellow] {escape(f'{f.path}:{c.line} {c.name} ({c.xfail})')}")
            elif c.status == XPASS:
                err.print(
                    f"[yellow]XPASS[/yellow] {escape(f'{f.path}:{c.line} {c.name}')}: passes now, remove its xfail"
                )
            elif verbose:
                err.print(f"[green]pass[/green] {escape(f'{f.path}:{c.line} {c.name}')}")
        if f.uncovered:
            err.print(f"[yellow]rules no case covers[/yellow] in {escape(f'{f.path}: ' + ', '.join(f.uncovered))}")
    if junit is not None:
        junit.write_text(report.to_junit(), encoding="utf-8")
    if not report.files:
        err.print("[red]error:[/red] no test files found")
    passed = report.count("pass")
    line = f"{passed} passed, {report.count(FAIL)} failed"
    extra = [f"{report.count(XFAIL)} xfailed"] if report.count(XFAIL) else []
    if report.count(XPASS):
        extra.append(f"{report.count(XPASS)} xpassed")
    broken = sum(f.broken for f in report.files)
    if broken:
        extra.append(f"{broken} broken file{'s' if broken != 1 else ''}")
    typer.echo(line + (", " + ", ".join(extra) if extra else ""))
    raise typer.Exit(report.exit_code)


@app.command()
def explain(
    text: Annotated[str, typer.Argument(help="The post's text.")],
    rules: RulesOpt = DEFAULT_RULES,
    title: Annotated[str | None, typer.Option(help="The post's title.")] = None,
    trust_level: Annotated[
        int | None, typer.Option("--trust-level", min=0, max=4, help="Author trust level 0-4.")
    ] = None,
    role: Annotated[str | None, typer.Option(help="Author role: member, staff or moderator.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Show one post's decision: the rules that fired, the values that made them fire, and every signal."""
    moderator = load_moderator(rules)
    author: dict[str, Any] = {}
    if trust_level is not None:
        author["trust_level"] = trust_level
    if role is not None:
        author["role"] = role
    try:
        post = Post.from_mapping({"id": "explain", "text": text, "title": title, "author": author or None})
    except InputError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(exit_codes.CONFIG) from None
    decision = moderator.moderate(post)
    if as_json:
        typer.echo(dump_json(decision.to_dict()))
        return

    out = console()
    style = _ACTION_STYLE[decision.action]
    out.print(f"decision: [bold {style}]{decision.action.value.upper()}[/]" + ("  (exempt)" if decision.exempt else ""))
    if decision.matches or decision.shadow:
        table = Table(title="rules that fired", title_justify="left")
        for col in ("rule", "action", "reason", "guideline", "values"):
            table.add_column(col)
        for m in decision.matches:
            table.add_row(*map(Text, (m.rule, m.action.value, m.reason or "", m.guideline or "", _values(m.values))))
        for m in decision.shadow:
            cells = (f"{m.rule} (shadow)", m.action.value, m.reason or "", m.guideline or "", _values(m.values))
            table.add_row(*map(Text, cells))
        out.print(table)
    else:
        out.print("no rule fired")
    sig = Table(title="signals", title_justify="left")
    for col in ("classifier", "signal", "value"):
        sig.add_column(col)
    for name, values in decision.signals.items():
        for key, value in values.items():
            sig.add_row(Text(name), Text(key), Text(_short(value)))
    out.print(sig)
    if decision.skipped:
        out.print(f"not needed: {', '.join(decision.skipped)}", markup=False)
    for e in decision.errors:
        out.print(f"[red]error[/red] {escape(str(e['source']) + ': ' + str(e['error']))}")


@app.command()
def schema(
    decision: Annotated[bool, typer.Option("--decision", help="Print the schema of decision records instead.")] = False,
) -> None:
    """Print the JSON schema of the rule format (point editors at it), or of decision records."""
    from safeguard.rules.schema import ruleset_json_schema
    from safeguard.types import Decision

    typer.echo(json.dumps(Decision.json_schema() if decision else ruleset_json_schema(), indent=2))


def _values(values: Any) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in values.items())


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."
