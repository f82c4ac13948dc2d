"""``safeguard diff``, ``evaluate`` and ``report``: policy changes checked against real history."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from safeguard.cli import exit_codes
from safeguard.cli.common import (
    DEFAULT_RULES,
    RulesOpt,
    app,
    check_outputs,
    console,
    err,
    fail_config,
    fail_io,
    load_moderator,
)
from safeguard.cli.moderate import BatchOpt, FieldOpt, InputFormatOpt, InputsArg, ProgressOpt
from safeguard.cli.progress import PostProgress
from safeguard.errors import ConfigError, InputError
from safeguard.io import formats as file_formats
from safeguard.policy.records import UnusableRecord

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON (sorted keys) instead of tables.")]


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)


def _triples(
    inputs: Sequence[str], field: list[str] | None, input_format: str | None
) -> tuple[Iterator[Any], dict[str, str]]:
    """``(record, post, error)`` for every record of every input, and the field map they were read with;
    config problems exit 2 up front."""
    from safeguard.io import fields as io_fields
    from safeguard.io import readers

    try:
        field_map = io_fields.parse_field_map(field or [], option="--field")
        formats = [input_format or (None if name == "-" else file_formats.detect_format(name)) for name in inputs]
        opened = [readers.read_records(name, format=fmt) for name, fmt in zip(inputs, formats, strict=True)]
    except ConfigError as exc:
        raise fail_config(exc) from None
    except InputError as exc:
        raise fail_io(exc) from None

    def gen() -> Iterator[Any]:
        for records in opened:
            yield from readers.iter_posts(records, field_map)

    return gen(), field_map


def _items(triples: Iterator[Any], field_map: dict[str, str]) -> Iterator[Any]:
    """``(line, post)`` pairs, or :class:`UnusableRecord` (its id found through ``field_map``) for non-posts."""
    from safeguard.io.readers import record_id

    for record, post, error in triples:
        if post is None:
            yield UnusableRecord(record.line, record_id(record, field_map), error or "unreadable record")
        else:
            yield record.line, post


def _show(result: Any, as_json: bool) -> None:
    """Print a diff or evaluation result (JSON or tables) and warn about input records that are not posts."""
    if as_json:
        typer.echo(_dump(result.to_dict()))
    else:
        result.render(console())
    if result.error_records:
        err.print(
            f"[yellow]{result.error_records:,} input records are not posts[/yellow] "
            f"(first: {escape(result.errors[0].error)})"
        )


@contextmanager
def _progress(show: bool | None, verb: str) -> Iterator[Callable[[int], None]]:
    started = time.perf_counter()
    with PostProgress(verb, show=show, transient=True) as shown:
        try:
            yield shown.update
        except (InputError, OSError) as exc:
            raise fail_io(exc) from None
    err.print(f"done in {time.perf_counter() - started:.2f}s")


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The ruleset in production (a file, or a shipped policy by name).")],
    new: Annotated[Path, typer.Argument(help="The changed ruleset.")],
    inputs: InputsArg,
    as_json: JsonOpt = False,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Examples per transition (the first N).")] = 5,
    fail_on_change: Annotated[
        bool, typer.Option("--fail-on-change", help="Exit 1 when any post's action changes (for CI).")
    ] = False,
    field: FieldOpt = None,
    input_format: InputFormatOpt = None,
    batch_size: BatchOpt = 256,
    progress: ProgressOpt = None,
) -> None:
    """What a rule change does to real history: decide every post under OLD and NEW and compare.

    Reports the posts whose action changes, the transition matrix, each rule's fires before and
    after (shadow rules marked), the hold-queue load per day (when posts carry created_at) and the
    first examples of each transition. Deterministic: the same input gives the same output.
    Exit 0; 1 with --fail-on-change when something changed; 3 when some records were not posts.
    """
    from safeguard.policy.diff import diff_rulesets

    before = load_moderator(old)
    after = load_moderator(new)
    triples, field_map = _triples(inputs, field, input_format)
    with _progress(progress, "diffing") as update:
        result = diff_rulesets(
            before, after, _items(triples, field_map), examples=examples, batch_size=batch_size, progress=update
        )
    _show(result, as_json)
    if fail_on_change and result.changed:
        err.print(f"[red]{result.changed:,} posts change action[/red]")
        raise typer.Exit(exit_codes.TEST_FAILED)
    raise typer.Exit(exit_codes.RECORD_ERRORS if result.error_records else exit_codes.OK)


@app.command()
def evaluate(
    inputs: InputsArg,
    label_field: Annotated[
        str, typer.Option("--label-field", help="Record field holding the moderators' label (dotted path allowed).")
    ],
    rules: RulesOpt = DEFAULT_RULES,
    label_map: Annotated[
        list[str] | None,
        typer.Option(
            "--label-map", help="Map label values to actions: spam=remove,ham=allow (default: labels are actions)."
        ),
    ] = None,
    min_precision: Annotated[
        list[str] | None,
        typer.Option("--min-precision", help="Gate: RULE=MIN or ACTION=MIN (hold+ = hold or remove); repeatable."),
    ] = None,
    min_recall: Annotated[
        list[str] | None, typer.Option("--min-recall", help="Gate: RULE=MIN or ACTION=MIN; repeatable.")
    ] = None,
    min_f1: Annotated[
        list[str] | None, typer.Option("--min-f1", help="Gate: RULE=MIN or ACTION=MIN; repeatable.")
    ] = None,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Wrong fires shown per rule (the first N).")] = 3,
    as_json: JsonOpt = False,
    field: FieldOpt = None,
    input_format: InputFormatOpt = None,
    batch_size: BatchOpt = 256,
    progress: ProgressOpt = None,
) -> None:
    """Score a ruleset against moderators' labels: precision, recall and F1 per action and per rule.

    Per action is one-vs-rest (label == A against predicted == A); hold+ and remove+ count "at
    least as severe". A rule's fire is right when the label is at least as severe as the rule's
    action. Every figure has a Wilson 95% interval. Records without a label are skipped.
    Exit 0; 1 when a gate fails; 2 for bad options or labels that map to no action; 3 when some
    records were not posts.
    """
    from safeguard.policy.evaluate import Gate, LabelError, LabelReader, evaluate, parse_gate, parse_label_map

    moderator = load_moderator(rules)
    rule_ids = [r.id for r in moderator.ruleset.rules]
    try:
        mapping = parse_label_map(label_map or [], option="--label-map")
        gates: list[Gate] = []
        for metric, specs in (("precision", min_precision), ("recall", min_recall), ("f1", min_f1)):
            gates += [parse_gate(metric, spec, rule_ids, option=f"--min-{metric}") for spec in specs or []]  # type: ignore[arg-type]
    except ConfigError as exc:
        raise fail_config(exc) from None
    if not label_field.strip():
        err.print("[red]error:[/red] --label-field is empty: name the record field holding the label")
        raise typer.Exit(exit_codes.CONFIG)
    triples, field_map = _triples(inputs, field, input_format)
    reader = LabelReader(label_field.strip(), mapping, field_map=field_map)
    try:
        with _progress(progress, "evaluating") as update:
            result = evaluate(
                moderator, reader(triples), gates=gates, examples=examples, batch_size=batch_size, progress=update
            )
    except LabelError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        err.print("map label values to actions with --label-map VALUE=ACTION")
        raise typer.Exit(exit_codes.CONFIG) from None
    if result.posts == 0:
        err.print(
            f"[red]error:[/red] no record has a label in field {escape(repr(label_field))} "
            f"({result.unlabelled:,} records without one): check --label-field"
        )
        raise typer.Exit(exit_codes.CONFIG)
    _show(result, as_json)
    failed = [g for g in result.gates if not g.passed]
    if failed:
        err.print(
            f"[red]{len(failed)} gate{'s' if len(failed) != 1 else ''} failed[/red]: "
            + "; ".join(
                f"{escape(str(g.gate))} (got {'undefined' if g.value is None else f'{g.value:.3f}'})" for g in failed
            )
        )
        raise typer.Exit(exit_codes.TEST_FAILED)
    raise typer.Exit(exit_codes.RECORD_ERRORS if result.error_records else exit_codes.OK)


@app.command()
def report(
    decisions: Annotated[
        str, typer.Argument(help="Decisions from 'safeguard moderate' (JSONL or Parquet, optionally gzipped).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    posts: Annotated[
        list[str] | None,
        typer.Option("--posts", help="The moderated dump(s), joined by post id for timestamps and example texts."),
    ] = None,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Examples per rule (the first N).")] = 5,
    title: Annotated[str, typer.Option("--title", help="Page title.")] = "safeguard moderation report",
    field: FieldOpt = None,
    input_format: InputFormatOpt = None,
) -> None:
    """Write one self-contained HTML page (inline CSS and SVG, viewable offline) about a moderation run.

    Charts: actions over time (needs --posts with created_at), top rules, and the distribution of
    every numeric signal in the decisions; then examples per rule. --field and --input-format
    apply to --posts. Exit 0; 3 when some decision records were unreadable; 4 on I/O errors.
    """
    check_outputs((str(output), "report"))
    from safeguard.io import readers
    from safeguard.policy.report import build_report, render_html

    try:
        fmt = file_formats.detect_format(decisions)
        if fmt in ("csv", "tsv"):
            err.print(
                "[red]error:[/red] CSV decisions drop the signals and match details the report draws: "
                "write them as JSONL or Parquet (safeguard moderate DUMP -o decisions.jsonl)"
            )
            raise typer.Exit(exit_codes.CONFIG)
        records = readers.read_records(decisions, format=fmt)
    except ConfigError as exc:
        raise fail_config(exc) from None
    except InputError as exc:
        raise fail_io(exc) from None

    def decision_records() -> Iterator[Any]:
        for record in records:
            yield record.data if record.data is not None else UnusableRecord(record.line, None, record.error or "")

    def joined() -> Iterator[Any]:
        for _, post, _ in _triples(posts or [], field, input_format)[0]:
            if post is not None:
                yield post

    with _progress(None, "reading"):
        result = build_report(decision_records(), joined() if posts else None, examples=examples)
    try:
        output.write_text(render_html(result, title=title), encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {escape(str(output))}: {escape(str(exc.strerror or exc))}")
        raise typer.Exit(exit_codes.IO) from None
    err.print(
        f"wrote {escape(str(output))}: {result.decisions:,} decisions, {len(result.fires)} rules fired, "
        f"{len(result.signals)} numeric signals"
        + (f", {result.posts_joined:,} posts joined" if result.posts_joined is not None else "")
    )
    if result.unreadable_records:
        err.print(
            f"[yellow]{result.unreadable_records:,} records are not decisions[/yellow] "
            f"(first: {escape(result.unreadable[0].error)})"
        )
        raise typer.Exit(exit_codes.RECORD_ERRORS)
