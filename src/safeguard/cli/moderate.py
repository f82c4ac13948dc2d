"""``safeguard moderate`` and ``safeguard classify``: stream post dumps through a ruleset."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from safeguard.cli import exit_codes
from safeguard.cli.app import DEFAULT_RULES, app, err, fail_config, fail_io, load_moderator
from safeguard.errors import ConfigError, InputError, SafeguardError
from safeguard.types import Post

InputsArg = Annotated[
    list[str], typer.Argument(help="Post dumps: JSONL, CSV, TSV or Parquet (optionally gzipped); '-' reads stdin.")
]
RulesOpt = Annotated[Path, typer.Option("--rules", "-r", help="Ruleset file.")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="Where to write records ('-' is stdout).")]
FieldOpt = Annotated[
    list[str] | None,
    typer.Option("--field", "-f", help="Map a post field to a record field: text=body, author.id=user_id."),
]
InputFormatOpt = Annotated[
    str | None,
    typer.Option("--input-format", help="Input format when the extension does not say (jsonl, csv, tsv, parquet)."),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Posts per batch.")]
ProgressOpt = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal)."),
]


@app.command()
def moderate(
    inputs: InputsArg,
    rules: RulesOpt = DEFAULT_RULES,
    output: OutputOpt = "-",
    format: Annotated[
        str | None,
        typer.Option("--format", help="Output format: jsonl, csv or parquet (default: from -o, else jsonl)."),
    ] = None,
    field: FieldOpt = None,
    input_format: InputFormatOpt = None,
    batch_size: BatchOpt = 256,
    signals: Annotated[
        bool, typer.Option("--signals/--no-signals", help="Include classifier signals in decisions.")
    ] = True,
    summary_json: Annotated[
        Path | None, typer.Option("--summary-json", help="Also write the end-of-run summary as JSON to this file.")
    ] = None,
    progress: ProgressOpt = None,
) -> None:
    """Decide allow, hold or remove for every post of the dumps.

    Writes exactly one record per input record, in input order: a decision, or
    {"line": N, "id": ..., "error": "..."} for a record that cannot be moderated.
    A summary goes to stderr. Exit 0 when every record was moderated, 3 when some were error records.
    """
    moderator = load_moderator(rules)
    actions: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    shadow: Counter[str] = Counter()
    classifier_errors = 0

    def decide(posts: list[Post]) -> list[dict[str, Any]]:
        nonlocal classifier_errors
        out = []
        for decision in moderator.moderate_batch(posts):
            actions[decision.action.value] += 1
            fired.update(decision.rules)
            shadow.update(m.rule for m in decision.shadow)
            classifier_errors += bool(decision.errors)
            d = decision.to_dict()
            if not signals:
                d["signals"] = {}
            out.append(d)
        return out

    try:
        stats = _stream(inputs, output, format, field, input_format, batch_size, progress, "moderating", decide)
    finally:
        _close(moderator)
    summary = {
        "posts": stats["records"],
        "moderated": stats["records"] - stats["errors"],
        "errors": stats["errors"],
        "actions": {a: actions.get(a, 0) for a in ("allow", "hold", "remove")},
        "rules": dict(fired.most_common()),
        "shadow": dict(shadow.most_common()),
        "posts_with_classifier_errors": classifier_errors,
        "seconds": round(stats["seconds"], 3),
        "posts_per_second": round(stats["records"] / stats["seconds"], 1) if stats["seconds"] else None,
        "ruleset": moderator.ruleset.identity,
    }
    _print_summary(summary)
    if summary_json is not None:
        summary_json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    raise typer.Exit(exit_codes.RECORD_ERRORS if stats["errors"] else exit_codes.OK)


@app.command()
def classify(
    inputs: InputsArg,
    rules: RulesOpt = DEFAULT_RULES,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run just this classifier (repeatable). Default: all the rules read."),
    ] = None,
    output: OutputOpt = "-",
    field: FieldOpt = None,
    input_format: InputFormatOpt = None,
    batch_size: BatchOpt = 256,
    progress: ProgressOpt = None,
) -> None:
    """Print the raw signals of every post, {"id": ..., "signals": {...}}, for calibrating thresholds."""
    moderator = load_moderator(rules)
    names = list(only or [])
    unknown = [n for n in names if n not in moderator.ruleset.classifiers]
    if unknown:
        known = ", ".join(sorted(moderator.ruleset.classifiers))
        err.print(f"[red]error:[/red] no classifier {', '.join(map(repr, unknown))} in {rules} (known: {known})")
        raise typer.Exit(exit_codes.CONFIG)

    def run(posts: list[Post]) -> list[dict[str, Any]]:
        rows = moderator.classify(posts, only=names or None)
        return [{"id": p.id, "signals": row} for p, row in zip(posts, rows, strict=True)]

    stats = _stream(inputs, output, "jsonl", field, input_format, batch_size, progress, "classifying", run)
    err.print(f"classified {stats['records'] - stats['errors']} posts, {stats['errors']} error records")
    raise typer.Exit(exit_codes.RECORD_ERRORS if stats["errors"] else exit_codes.OK)


def _close(moderator: Any) -> None:
    """Close the classifiers (a duplicate window with ``state:`` is saved here)."""
    try:
        moderator.close()
    except (OSError, SafeguardError) as exc:
        err.print(f"[red]error:[/red] cannot save classifier state: {exc}")
        raise typer.Exit(exit_codes.IO) from None


def _stream(
    inputs: Sequence[str],
    output: str,
    out_format: str | None,
    field: list[str] | None,
    input_format: str | None,
    batch_size: int,
    progress: bool | None,
    verb: str,
    process: Callable[[list[Post]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """Read every input, process posts in batches, write one record per input record, in order."""
    from safeguard.io import fields as io_fields
    from safeguard.io import readers, writers

    try:
        field_map = io_fields.parse_field_map(field or [])
        formats = [input_format or (None if name == "-" else readers.detect_format(name)) for name in inputs]
    except ConfigError as exc:
        raise fail_config(exc) from None
    show = err.is_terminal if progress is None else progress
    started = time.perf_counter()
    counts = {"records": 0, "errors": 0}
    try:
        writer = writers.open_writer(None if output == "-" else output, out_format)
    except (OSError, SafeguardError) as exc:
        err.print(f"[red]error:[/red] cannot write {output}: {exc}")
        raise typer.Exit(exit_codes.IO) from None
    with ExitStack() as stack:
        bar = stack.enter_context(
            Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,} posts"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=err,
                disable=not show,
                transient=False,
            )
        )
        task = bar.add_task(verb, total=None, rate="")
        try:
            with writer:
                pending: list[tuple[Any, Post | None, str | None]] = []

                def flush() -> None:
                    posts = [p for _, p, e in pending if p is not None]
                    results = iter(process(posts)) if posts else iter(())
                    for record, post, error in pending:
                        if post is None:
                            counts["errors"] += 1
                            row = writers.error_record(record.line, readers.record_id(record, field_map), error or "")
                        else:
                            row = next(results)
                        writer.write({"line": record.line, **row} if "line" not in row else row)
                    counts["records"] += len(pending)
                    elapsed = time.perf_counter() - started
                    bar.update(task, completed=counts["records"], rate=f"{counts['records'] / elapsed:,.0f}/s")
                    pending.clear()

                for name, fmt in zip(inputs, formats, strict=True):
                    for item in _posts(readers, name, fmt, field_map):
                        pending.append(item)
                        if len(pending) >= batch_size:
                            flush()
                if pending:
                    flush()
        except (InputError, OSError) as exc:
            raise fail_io(exc) from None
    return {**counts, "seconds": time.perf_counter() - started}


def _posts(readers: Any, name: str, fmt: str | None, field_map: dict[str, str]) -> Iterator[Any]:
    records = readers.read_records(name, format=fmt)
    yield from readers.iter_posts(records, field_map)


def _print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"safeguard: {summary['ruleset']['name']} ({summary['ruleset']['hash']})", title_justify="left")
    table.add_column("", style="bold")
    table.add_column("posts", justify="right")
    table.add_column("share", justify="right")
    total = max(1, summary["posts"])
    for action in ("allow", "hold", "remove"):
        n = summary["actions"][action]
        table.add_row(action, f"{n:,}", f"{100 * n / total:.1f}%")
    table.add_row("error records", f"{summary['errors']:,}", f"{100 * summary['errors'] / total:.1f}%")
    err.print(table)
    if summary["rules"]:
        rules = Table(title="rules fired", title_justify="left")
        rules.add_column("rule")
        rules.add_column("posts", justify="right")
        for rule, n in list(summary["rules"].items())[:15]:
            rules.add_row(rule, f"{n:,}")
        for rule, n in list(summary["shadow"].items())[:15]:
            rules.add_row(f"{rule} (shadow)", f"{n:,}")
        err.print(rules)
    if summary["posts_with_classifier_errors"]:
        err.print(
            f"[yellow]{summary['posts_with_classifier_errors']} posts had classifier errors (see 'errors')[/yellow]"
        )
    rate = summary["posts_per_second"]
    err.print(
        f"{summary['posts']:,} records in {summary['seconds']:.2f}s" + (f" ({rate:,.0f} posts/s)" if rate else "")
    )
