"""``safeguard insights``: what members ask, complain about and praise, beside the moderation load."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from safeguard.cli import exit_codes
from safeguard.cli.common import DEFAULT_RULES, RulesOpt, app, check_outputs, err, fail_config, fail_io, load_moderator
from safeguard.cli.moderate import (
    FieldOpt,
    FromOpt,
    InputFormatOpt,
    InputsArg,
    MaxRecordOpt,
    ProgressOpt,
    _importer,
    _posts,
)
from safeguard.cli.progress import PostProgress, expected_records
from safeguard.errors import ConfigError, InputError
from safeguard.io import formats as file_formats
from safeguard.io.readers import MAX_RECORD_BYTES
from safeguard.parallel import resolve_workers


def _day(value: str | None, option: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=dt.timezone.utc)
    except ValueError:
        err.print(f"[red]error:[/red] {option} must be a date like 2026-10-01, not {escape(repr(value))}")
        raise typer.Exit(exit_codes.CONFIG) from None


def _outcomes(path: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Decisions written by ``safeguard moderate`` (JSONL or Parquet), by post id."""
    from safeguard.io import readers

    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for record in readers.read_records(path, format=file_formats.detect_format(path)):
        d = record.data
        if not isinstance(d, dict) or not isinstance(d.get("post_id"), str) or d.get("action") is None:
            continue
        rules = tuple(m["rule"] for m in d.get("matches") or () if isinstance(m, dict) and "rule" in m)
        found[d["post_id"]] = (str(d["action"]), rules)
    return found


@app.command()
def insights(
    inputs: InputsArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The HTML page to write (default: insights.html).")
    ] = None,
    as_json: Annotated[
        str | None,
        typer.Option(
            "--json",
            help="Also write the page's numbers as JSON to this file ('-': stdout, and no page unless -o is given).",
        ),
    ] = None,
    rules: RulesOpt = DEFAULT_RULES,
    decisions: Annotated[
        str | None,
        typer.Option(
            "--decisions",
            help="Decisions 'safeguard moderate' already wrote for these posts (JSONL or Parquet): the moderation "
            "load comes from them instead of moderating again.",
        ),
    ] = None,
    moderate: Annotated[
        bool,
        typer.Option("--moderation/--no-moderation", help="Moderate the posts in the same pass (with --rules)."),
    ] = True,
    gazetteer: Annotated[
        Path | None,
        typer.Option("--gazetteer", help="CSV of the retailer's products and stores: type,id,name,aliases."),
    ] = None,
    kind_model: Annotated[
        str | None,
        typer.Option(
            "--kind-model",
            help="How posts' kinds and aspects are read: 'lexical' (default), 'encoder' (also runs a sentence "
            "encoder fine-tuned for them: better, several times slower), 'rules' (hand-set scores), a kind model "
            "file or an encoder tier directory.",
        ),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="First day to include (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day to include (YYYY-MM-DD, UTC).")] = None,
    hours: Annotated[
        float, typer.Option("--hours", min=0.01, help="A question with no reply for this long is unanswered.")
    ] = 24.0,
    title: Annotated[str, typer.Option("--title", help="Page title.")] = "Community insights",
    workers: Annotated[str, typer.Option("--workers", help="Worker processes ('auto': one per CPU).")] = "1",
    field: FieldOpt = None,
    input_format: InputFormatOpt = None,
    source: FromOpt = None,
    max_record_bytes: MaxRecordOpt = MAX_RECORD_BYTES,
    progress: ProgressOpt = None,
) -> None:
    """One offline HTML page for the community team: questions, complaints, praise and suggestions by
    aspect, product and store per week, sentiment trends, topics (emerging ones flagged), unanswered
    questions, escalating threads, FAQ candidates, and the moderation load on the same time axis.

    The same pass moderates the posts with --rules (or reads --decisions, or skips it with
    --no-moderation). --json writes the numbers the page shows. Exit 0; 2 on a bad option, ruleset
    or gazetteer; 3 when some records were not posts (the page counts them); 4 on I/O errors.
    """
    from safeguard.classifiers.feedback import ASPECTS, FeedbackClassifier
    from safeguard.insights.collect import collect
    from safeguard.insights.page import render_page
    from safeguard.insights.summary import InsightsOptions, summarize
    from safeguard.io import fields as io_fields
    from safeguard.io import readers

    if output is None and as_json != "-":
        output = Path("insights.html")
    outputs = [(str(output), "page")] if output is not None else []
    if as_json not in (None, "-"):
        outputs.append((str(as_json), "json"))
    check_outputs(outputs)
    try:
        n_workers = resolve_workers(workers)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --workers: {escape(str(exc))}")
        raise typer.Exit(exit_codes.CONFIG) from None
    start, end = _day(since, "--since"), _day(until, "--until")
    if end is not None:
        end += dt.timedelta(days=1)  # --until names the last day included
    importer = _importer(source, input_format)
    options: dict[str, Any] = {"gazetteer": str(gazetteer)} if gazetteer is not None else {}
    if kind_model is not None:
        options["kind_model"] = kind_model
    try:
        try:
            feedback = FeedbackClassifier(**options)
        except ValueError as exc:  # the only option checked here that the command line does not: --kind-model
            err.print(f"[red]error:[/red] --kind-model: {escape(str(exc))}")
            raise typer.Exit(exit_codes.CONFIG) from None
        gaz = feedback.gazetteer
        field_map = io_fields.parse_field_map(field or [], option="--field")
        moderator = load_moderator(rules, workers=n_workers) if moderate and decisions is None else None
        outcomes = _outcomes(decisions) if decisions is not None else None
        formats = [input_format or (None if n == "-" else file_formats.detect_format(n)) for n in inputs]
    except ConfigError as exc:
        raise fail_config(exc) from None
    except (InputError, OSError) as exc:
        raise fail_io(exc) from None

    def items() -> Any:
        for name, fmt in zip(inputs, formats, strict=True):
            for _, post, error in _posts(readers, name, fmt, field_map, max_record_bytes, importer):
                yield post, error

    started = time.perf_counter()
    known = progress is not False and importer is None and "-" not in inputs
    try:
        with PostProgress(
            "reading", show=progress, total=expected_records(inputs, formats) if known else None
        ) as shown:
            collected = collect(
                items(),
                feedback=options,
                moderator=moderator,
                outcomes=outcomes,
                since=start,
                until=end,
                workers=n_workers,
                progress=shown.update,
            )
    except (InputError, OSError) as exc:
        raise fail_io(exc) from None
    finally:
        if moderator is not None:
            moderator.close()
    summary = summarize(
        collected.rows,
        aspects=ASPECTS,
        moderated=moderator is not None or outcomes is not None,
        now=end if end is not None else None,
        names={"products": dict(gaz.labels.get("products", {})), "stores": dict(gaz.labels.get("stores", {}))},
        errors=collected.errors,
        options=InsightsOptions(hours=hours),
    )
    summary["input_errors"] = collected.first_errors
    summary["kind_model"] = str(kind_model or "lexical")
    summary["outside_range"] = collected.outside
    seconds = time.perf_counter() - started
    try:
        if output is not None:
            output.write_text(render_page(summary, title=title), encoding="utf-8")
        if as_json == "-":
            sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=1) + "\n")
        elif as_json is not None:
            Path(as_json).write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise fail_io(exc) from None
    k = summary["kinds"]
    err.print(
        f"{summary['posts']:,} posts in {seconds:.1f}s ({summary['posts'] / max(seconds, 1e-9):,.0f}/s): "
        f"{k['question']['total']:,} questions, {k['complaint']['total']:,} complaints, "
        f"{k['praise']['total']:,} praise, {k['suggestion']['total']:,} suggestions; "
        f"{summary['threads']['unanswered']['unanswered']:,} unanswered, "
        f"{len(summary['threads']['escalating']):,} escalating threads, "
        f"{len(summary['topics'].get('topics', [])):,} topics"
        + (f" -> {escape(str(output))}" if output is not None else "")
    )
    if collected.errors:
        err.print(
            f"[yellow]{collected.errors:,} records were not posts[/yellow] (first: {escape(collected.first_errors[0])})"
        )
        raise typer.Exit(exit_codes.RECORD_ERRORS)
