"""``safeguard moderate`` and ``safeguard classify``: stream post dumps through a ruleset."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from safeguard.cli import checkpoint as cp
from safeguard.cli import exit_codes
from safeguard.cli.common import DEFAULT_RULES, RulesOpt, app, check_outputs, err, fail_config, fail_io, load_moderator
from safeguard.cli.progress import LINE_INTERVAL_S, PostProgress, expected_records
from safeguard.errors import ConfigError, InputError, ReviewError, SafeguardError, install_hint
from safeguard.io import formats as file_formats
from safeguard.io.ids import SeenIds
from safeguard.io.readers import MAX_RECORD_BYTES
from safeguard.io.writers import DecisionRecord
from safeguard.parallel import resolve_workers
from safeguard.rules.engine import isolated
from safeguard.types import Post

InputsArg = Annotated[
    list[str],
    typer.Argument(help=f"Post dumps: {file_formats.listing(titles=True)} (optionally gzipped); '-' reads stdin."),
]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="Where to write records ('-' is stdout).")]
FieldOpt = Annotated[
    list[str] | None,
    typer.Option("--field", "-f", help="Map a post field to a record field: text=body, author.id=user_id."),
]
InputFormatOpt = Annotated[
    str | None,
    typer.Option("--input-format", help=f"Input format when the extension does not say ({file_formats.listing()})."),
]
FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Read the inputs as a forum export: stackexchange (Posts.xml, Comments.xml), discourse (topic/posts "
        "JSON or JSON lines of posts), reddit (Pushshift JSON lines).",
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Posts per batch.")]
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help=f"Progress on stderr (default: a bar on a terminal, else a line every {LINE_INTERVAL_S:g}s).",
    ),
]

MaxRecordOpt = Annotated[
    int,
    typer.Option(
        "--max-record-bytes",
        min=1024,
        help="Longest input record (a line, a CSV record, a Parquet row) read; a longer one is an error record.",
    ),
]

DuplicateIdsOpt = Annotated[
    str,
    typer.Option(
        "--duplicate-ids",
        help="A post whose id an earlier record of the run had: 'allow' moderates it (and counts it in the "
        "summary), 'error' writes an error record instead. Ids are remembered as 8-byte digests "
        "(8 MB per million).",
        case_sensitive=False,
    ),
]


@app.command()
def moderate(
    inputs: InputsArg,
    rules: RulesOpt = DEFAULT_RULES,
    output: OutputOpt = "-",
    format: Annotated[
        str | None,
        typer.Option("--format", help=f"Output format: {file_formats.listing()} (default: from -o, else jsonl)."),
    ] = None,
    field: FieldOpt = None,
    input_format: InputFormatOpt = None,
    source: FromOpt = None,
    max_record_bytes: MaxRecordOpt = MAX_RECORD_BYTES,
    batch_size: BatchOpt = 256,
    signals: Annotated[
        bool, typer.Option("--signals/--no-signals", help="Include classifier signals in decisions.")
    ] = True,
    summary_json: Annotated[
        Path | None, typer.Option("--summary-json", help="Also write the end-of-run summary as JSON to this file.")
    ] = None,
    duplicate_ids: DuplicateIdsOpt = "allow",
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue an interrupted run from its checkpoint (OUT.partial.checkpoint.json) instead of "
            "starting over; refused when the inputs, ruleset or options differ. Needs -o FILE in "
            "uncompressed JSON Lines, CSV or TSV.",
        ),
    ] = False,
    checkpoint_every: Annotated[
        float,
        typer.Option("--checkpoint-every", min=0.0, help="Seconds between checkpoints (0: after every batch)."),
    ] = 2.0,
    workers: Annotated[
        str,
        typer.Option(
            "--workers",
            help="Worker processes deciding batches at once ('auto': one per CPU); the decisions are those "
            "of one process.",
        ),
    ] = "1",
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="Where posts are decided: 'local' (this machine, --workers processes) or 'ray' (Ray Data, on "
            "this machine or the cluster at --address; needs safeguard-moderation[ray]). The decisions are the same.",
            case_sensitive=False,
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="With --engine ray: the Ray cluster to run on ('auto', ray://HOST:10001); default: start Ray here.",
        ),
    ] = None,
    progress: ProgressOpt = None,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            help="Also put every hold (and a sample of allows) into this review store, a SQLite file or a "
            "postgresql:// URL, one transaction per batch (see safeguard review).",
        ),
    ] = None,
    queue_sample_allows: Annotated[
        float,
        typer.Option(
            "--queue-sample-allows",
            min=0.0,
            max=1.0,
            help="Share of allowed posts also queued, marked sampled, to estimate what the rules miss.",
        ),
    ] = 0.0,
) -> None:
    """Decide allow, hold or remove for every post of the dumps.

    Writes exactly one record per input record, in input order: a decision, or
    {"line": N, "id": ..., "error": "..."} for a record that cannot be moderated.
    A summary goes to stderr. Exit 0 when every record was moderated, 3 when some were error records.

    Outputs never destroy: -o, --summary-json and a duplicate window's state file must be regular
    files (or new) in writable directories, checked before the first post. A file output is written
    to OUT.partial and renamed onto OUT when the run ends; with a checkpoint beside it, a killed run
    continues with --resume.
    """
    from safeguard.io import writers

    mode = duplicate_ids.lower()
    if mode not in ("allow", "error"):
        _usage(f"--duplicate-ids must be 'allow' or 'error', not {duplicate_ids!r}")
    fmt = _output_format(output, format)
    importer = _importer(source, input_format)
    to_file = output != "-"
    can_resume = writers.resumable(output, fmt)
    if resume:
        if not to_file:
            _usage("--resume needs a file output: pass -o FILE")
        if not can_resume:
            _usage(
                f"--resume cannot continue {'compressed ' if fmt != 'parquet' else ''}{fmt} output: "
                "write uncompressed JSON Lines, CSV or TSV to resume (compress afterwards)"
            )
        if "-" in inputs:
            _usage("--resume cannot tell whether standard input is the same as before: name the input files")
    partial = cp.partial_path(output) if can_resume else None
    ckpt = cp.checkpoint_path(partial) if partial is not None else None
    check_outputs(
        [(output, "decisions")] if to_file else [],
        *([(partial, "partial decisions"), (ckpt, "checkpoint")] if partial and ckpt else []),
        *([(str(summary_json), "summary")] if summary_json is not None else []),
    )
    _check_streams(inputs, output)
    try:
        worker_count = resolve_workers(workers)
    except ValueError as exc:
        _usage(f"--workers: {exc}")
    if queue_sample_allows and queue is None:
        _usage("--queue-sample-allows needs --queue DB")
    engine = engine.lower()
    if engine not in _ENGINES:
        _usage(f"--engine must be one of {', '.join(_ENGINES)}, not {engine!r}")
    if address is not None and engine != "ray":
        _usage("--address names a Ray cluster: use it with --engine ray")
    if engine == "ray":
        refused = {
            "--resume": resume,
            "--queue": queue is not None,
            "--from": importer is not None,
            "--duplicate-ids error": mode == "error",
            "standard input ('-')": "-" in inputs,
        }
        for what, given in refused.items():
            if given:
                _usage(f"--engine ray does not take {what}: run it with --engine local")
    store = _open_queue(queue) if queue is not None else None
    moderator = load_moderator(rules, workers=worker_count if engine == "local" else 1)
    state_files = _state_files(moderator)
    check_outputs(*((str(p), "duplicate window state") for p in state_files), missing_dirs=True)

    actions: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    shadow: Counter[str] = Counter()
    classifier_errors = 0
    counts = {"records": 0, "errors": 0, "duplicate_ids": 0}
    earlier_seconds = 0.0
    run = {
        "inputs": [cp.file_identity(name) for name in inputs],
        "ruleset": moderator.ruleset.identity,
        "format": fmt,
        "signals": signals,
        "field": list(field or []),
        "input_format": input_format,
        "importer": importer,
        "max_record_bytes": max_record_bytes,
        "duplicate_ids": mode,
        "state_files": [cp.file_identity(str(p)) for p in state_files],
    }
    saved: dict[str, Any] | None = None
    if partial is not None and ckpt is not None:
        cp.remove(cp.temp_path(ckpt))
        if resume:
            saved = _read_checkpoint(partial, ckpt, run)
            if saved is None:
                err.print(f"no checkpoint at {escape(ckpt)}: starting from the first record")
        elif os.path.lexists(partial):
            err.print(
                f"replacing {escape(partial)}, the partial output of an earlier run (pass --resume to continue it)"
            )
            cp.remove(ckpt)
    if saved is not None:
        c = saved["counts"]
        try:
            counts = {k: int(c[k]) for k in counts}
            actions.update({a: int(n) for a, n in c["actions"].items()})
            fired.update({r: int(n) for r, n in c["rules"].items()})
            shadow.update({r: int(n) for r, n in c["shadow"].items()})
            classifier_errors = int(c["posts_with_classifier_errors"])
            earlier_seconds = float(c["seconds"])
        except (KeyError, TypeError, ValueError, AttributeError):
            _usage(f"checkpoint {ckpt} is damaged (its counts): run without --resume to start over")
        err.print(f"resuming after {counts['records']:,} records (from {escape(ckpt or '')})")

    queued: Any = None  # what --queue did (the review store is imported only for it)
    if store is not None:
        from safeguard.review import EnqueueReport

        queued = EnqueueReport()
    models = _model_revisions(moderator) if store is not None else {}

    def account(record: DecisionRecord) -> Any:
        """Count a decision in the summary; its record, encoded for the writer."""
        nonlocal classifier_errors
        actions[record.action] += 1
        fired.update(record.rules)
        shadow.update(record.shadow)
        classifier_errors += record.failed
        return record.record

    def decide(batches: Iterator[list[Post]], encode: Callable[[Any], Any]) -> Iterator[list[Any]]:
        sent: deque[list[Post]] = deque()

        def remembered() -> Iterator[list[Post]]:
            for posts in batches:
                if store is not None:
                    sent.append(posts)
                yield posts

        # Each batch's records are made where it was decided: in the worker processes with --workers.
        finish = functools.partial(writers.decision_records, encode=encode, signals=signals, keep=store is not None)
        for records in moderator.decide_batches(remembered(), finish=finish):
            if store is not None:
                posts = sent.popleft()
                decisions = [r.decision for r in records]
                queued.add(
                    store.enqueue(
                        zip(posts, decisions, strict=True),
                        priorities=moderator.ruleset.priorities,
                        sample_allows=queue_sample_allows,
                        models=models,
                        actor="safeguard moderate",
                    )
                )
            yield [account(record) for record in records]

    def snapshot(seconds: float) -> dict[str, Any]:
        return {
            **counts,
            "actions": dict(actions),
            "rules": dict(fired),
            "shadow": dict(shadow),
            "posts_with_classifier_errors": classifier_errors,
            "seconds": earlier_seconds + seconds,
        }

    checkpoints = None
    if partial is not None and ckpt is not None:
        checkpoints = _Checkpoints(ckpt, run, snapshot, checkpoint_every)
    try:
        where = (inputs, output, fmt, field, input_format, batch_size, progress)
        if engine == "ray":
            stats = _stream_ray(
                moderator.ruleset,
                *where,
                account,
                signals=signals,
                counts=counts,
                max_record_bytes=max_record_bytes,
                partial=partial,
                actors=None if workers.strip().lower() == "auto" else worker_count,
                address=address,
            )
        else:
            stats = _stream(
                *where,
                "moderating",
                decide,
                counts=counts,
                max_record_bytes=max_record_bytes,
                importer=importer,
                duplicate_ids=mode,
                partial=partial,
                skip=(int(saved["records"]), int(saved["bytes"])) if saved is not None else None,
                replay=_replayer(moderator) if saved is not None else None,
                checkpoints=checkpoints,
            )
    except ReviewError as exc:
        err.print(f"[red]error:[/red] the review store failed, so the run stopped: {escape(str(exc))}")
        if queued is not None:
            err.print(
                f"{queued.queued + queued.joined + queued.sampled:,} posts were queued before it; run the same "
                "command again once the store works (posts already queued are not queued twice)"
            )
        raise typer.Exit(exit_codes.IO) from None
    finally:
        _close(moderator)
        if store is not None:
            store.close()
    if stats["cut_off"]:  # the reader of stdout went away: end quietly, like other filters
        raise typer.Exit(exit_codes.RECORD_ERRORS if counts["errors"] else exit_codes.OK)
    seconds = earlier_seconds + stats["seconds"]
    summary = {
        "posts": counts["records"],
        "moderated": counts["records"] - counts["errors"],
        "errors": counts["errors"],
        "duplicate_ids": counts["duplicate_ids"],
        "actions": {a: actions.get(a, 0) for a in ("allow", "hold", "remove")},
        "rules": dict(fired.most_common()),
        "shadow": dict(shadow.most_common()),
        "posts_with_classifier_errors": classifier_errors,
        "seconds": round(seconds, 3),
        "posts_per_second": round(counts["records"] / seconds, 1) if seconds else None,
        "ruleset": moderator.ruleset.identity,
    }
    if store is not None:
        summary["queue"] = {
            "store": store.where,
            "queued": queued.queued,
            "joined": queued.joined,
            "sampled": queued.sampled,
            "already": queued.already,
        }
    _print_summary(summary)
    if summary_json is not None:
        try:
            summary_json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            err.print(f"[red]error:[/red] cannot write {escape(str(summary_json))}: {escape(exc.strerror or str(exc))}")
            raise typer.Exit(exit_codes.IO) from None
    raise typer.Exit(exit_codes.RECORD_ERRORS if counts["errors"] else exit_codes.OK)


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
    source: FromOpt = None,
    max_record_bytes: MaxRecordOpt = MAX_RECORD_BYTES,
    batch_size: BatchOpt = 256,
    progress: ProgressOpt = None,
) -> None:
    """Print the raw signals of every post, {"id": ..., "signals": {...}}, for calibrating thresholds."""
    importer = _importer(source, input_format)
    check_outputs([(output, "signals")] if output != "-" else [])
    _check_streams(inputs, output)
    moderator = load_moderator(rules)
    names = list(only or [])
    unknown = [n for n in names if n not in moderator.ruleset.classifiers]
    if unknown:
        known = ", ".join(sorted(moderator.ruleset.classifiers))
        err.print(
            f"[red]error:[/red] no classifier {escape(', '.join(map(repr, unknown)))} in {escape(str(rules))} "
            f"(known: {escape(known)})"
        )
        raise typer.Exit(exit_codes.CONFIG)

    def run(batches: Iterator[list[Post]], encode: Callable[[Any], Any]) -> Iterator[list[Any]]:
        for posts in batches:
            rows = moderator.classify(posts, only=names or None)
            yield [
                encode({"id": p.id, "signals": row, **({"id_generated": True} if p.id_generated else {})})
                for p, row in zip(posts, rows, strict=True)
            ]

    counts = {"records": 0, "errors": 0, "duplicate_ids": 0}
    stats = _stream(
        inputs,
        output,
        "jsonl",
        field,
        input_format,
        batch_size,
        progress,
        "classifying",
        run,
        counts=counts,
        max_record_bytes=max_record_bytes,
        importer=importer,
    )
    code = exit_codes.RECORD_ERRORS if counts["errors"] else exit_codes.OK
    if stats["cut_off"]:
        raise typer.Exit(code)
    err.print(f"classified {counts['records'] - counts['errors']} posts, {counts['errors']} error records")
    raise typer.Exit(code)


def _open_queue(db: str) -> Any:
    """The review store of ``--queue``; exit 4 when it cannot be used, 2 for a bad URL."""
    from safeguard.review import ReviewStore

    try:
        return ReviewStore.open(db)
    except ReviewError as exc:
        err.print(f"[red]error:[/red] --queue: {escape(str(exc))}")
        raise typer.Exit(exit_codes.IO if exc.code == "unavailable" else exit_codes.CONFIG) from None


def _model_revisions(moderator: Any) -> dict[str, Any]:
    """What each classifier of the ruleset runs (kind, backend, model file), recorded with queued decisions."""
    from safeguard import __version__

    out: dict[str, Any] = {"safeguard": __version__}
    for name, classifier in moderator.ruleset.classifiers.items():
        info = {k: v for k, v in classifier.describe().items() if k not in ("outputs", "name")}
        out[name] = json.loads(json.dumps(info, default=str))
    return out


def _usage(message: str) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(exit_codes.CONFIG)


def _importer(source: str | None, input_format: str | None) -> str | None:
    """The canonical name of the ``--from`` importer, or exit 2 naming the valid ones."""
    if source is None:
        return None
    from safeguard.io.importers import TABLE

    name = source.strip().lower()
    if name not in TABLE:
        _usage(f"--from must be one of {', '.join(TABLE)}, not {source!r}")
    if input_format is not None:
        _usage("--from and --input-format cannot be combined: --from names the format")
    return name


def _output_format(output: str, format: str | None) -> str:
    """The output format, or exit 2 naming the valid ones."""
    from safeguard.io import writers

    try:
        return writers.output_format(output, format)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape(exc.problems[0].message)}", highlight=False)
        err.print(f"valid formats (--format): {', '.join(file_formats.FORMATS)}")
        raise typer.Exit(exit_codes.CONFIG) from None


def _check_streams(inputs: Sequence[str], output: str) -> None:
    """Exit 4 when an input or the output is a standard stream that was closed (``<&-``, ``>&-``)."""
    for closed, what in (
        ("-" in inputs and sys.stdin is None, "read <stdin>: standard input"),
        (output == "-" and sys.stdout is None, "write <stdout>: standard output"),
    ):
        if closed:
            err.print(f"[red]error:[/red] cannot {what} is closed")
            raise typer.Exit(exit_codes.IO)


def _state_files(moderator: Any) -> list[Path]:
    """Files stateful classifiers write when closed (a duplicate window's ``state:``)."""
    return [
        c.state
        for c in moderator.ruleset.classifiers.values()
        if c.stateful and isinstance(getattr(c, "state", None), Path)
    ]


def _read_checkpoint(partial: str, ckpt: str, run: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint to resume from; exit 2 when it is damaged or belongs to another run."""
    try:
        saved = cp.read_checkpoint(ckpt)
    except cp.CheckpointError as exc:
        _usage(str(exc))
    if saved is None:
        return None
    diffs = cp.differences(saved["run"], run)
    if diffs:
        err.print(f"[red]error:[/red] cannot resume from {escape(ckpt)}: the run differs")
        for d in diffs:
            err.print(f"  {escape(d)}")
        err.print("run without --resume to start over")
        raise typer.Exit(exit_codes.CONFIG)
    if not os.path.isfile(partial):
        _usage(f"cannot resume: {partial} is missing (its checkpoint {ckpt} is there); run without --resume")
    return saved


def _replayer(moderator: Any) -> Callable[[list[Post]], None]:
    """Show already-decided posts to the stateful classifiers (duplicate windows, author counts) in
    input order, as moderating them did, so a resumed run decides the rest exactly as one run would."""
    names = list(moderator.stateful)

    def replay(posts: list[Post]) -> None:
        for name in names:  # a post a classifier fails on is skipped, as the run it resumes skipped it

            def run(batch: list[Post], only: list[str] = [name]) -> list[dict[str, Any]]:  # noqa: B006
                return list(moderator.classify(batch, only=only))

            isolated(run, posts)

    return replay


class _Checkpoints:
    """Writes the checkpoint of a run to a partial file: after a batch, at most every ``every`` seconds."""

    def __init__(self, path: str, run: dict[str, Any], snapshot: Callable[[float], dict[str, Any]], every: float):
        self.path = path
        self.run = run
        self.snapshot = snapshot
        self.every = every
        self.last = time.monotonic()

    def save(self, writer: Any, records: int, seconds: float, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        length = writer.sync()
        if length is None:
            return
        cp.write_checkpoint(
            self.path, {"records": records, "bytes": length, "run": self.run, "counts": self.snapshot(seconds)}
        )
        self.last = now

    def done(self) -> None:
        cp.remove(self.path, cp.temp_path(self.path))


def _close(moderator: Any) -> None:
    """Close the classifiers (a duplicate window with ``state:`` is saved here)."""
    try:
        moderator.close()
    except (OSError, SafeguardError) as exc:
        err.print(f"[red]error:[/red] cannot save classifier state: {escape(str(exc))}")
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
    process: Callable[[Iterator[list[Post]], Callable[[Any], Any]], Iterator[list[Any]]],
    *,
    counts: dict[str, int],
    max_record_bytes: int = MAX_RECORD_BYTES,
    importer: str | None = None,
    duplicate_ids: str = "allow",
    partial: str | None = None,
    skip: tuple[int, int] | None = None,
    replay: Callable[[list[Post]], None] | None = None,
    checkpoints: _Checkpoints | None = None,
) -> dict[str, Any]:
    """Read every input, process posts in batches, write one record per input record, in order.

    ``process(batches, encode)`` turns the stream of batches into a stream of record lists, one
    record per post, in order, each made by ``encode`` (the writer's :meth:`~safeguard.io.writers.
    DecisionWriter.encode`); it may read a few batches ahead (worker processes).

    ``importer`` names the ``--from`` importer that reads every input instead of the readers.
    ``counts`` (records, errors, duplicate_ids) is updated in place. With ``partial``, records go to
    that file (see :func:`safeguard.io.writers.open_writer`); ``skip`` is ``(records, bytes)`` of a
    checkpoint to resume from: that many input records are read past (their posts shown to
    ``replay``) and the partial file is continued from that many bytes. Returns the seconds taken
    and ``cut_off``: whether the reader of stdout went away (the rest was not moderated).
    """
    from safeguard.io import fields as io_fields
    from safeguard.io import readers, writers

    try:
        field_map = io_fields.parse_field_map(field or [], option="--field")
        formats = [
            input_format or (None if name == "-" or importer else file_formats.detect_format(name)) for name in inputs
        ]
    except ConfigError as exc:
        raise fail_config(exc) from None
    started = time.perf_counter()
    skip_records, skip_bytes = skip if skip is not None else (0, None)
    known = progress is not False and importer is None and "-" not in inputs
    total = expected_records(inputs, formats) if known else None
    writer = _open_writer(output, out_format, partial, skip_bytes)
    seen = SeenIds()
    read = 0
    cut_off = False
    with ExitStack() as stack:
        shown = stack.enter_context(PostProgress(verb, show=progress, total=total, start=skip_records))
        try:
            with writer:
                chunks: deque[list[tuple[Any, Post | None, str | None]]] = deque()

                def batches() -> Iterator[list[Post]]:
                    """The posts of each batch read, its records kept for writing in order."""
                    nonlocal read
                    pending: list[tuple[Any, Post | None, str | None]] = []
                    skipped: list[Post] = []
                    for name, fmt in zip(inputs, formats, strict=True):
                        for record, post, error in _posts(readers, name, fmt, field_map, max_record_bytes, importer):
                            if post is not None and not post.id_generated and seen.seen(post.id):
                                if read >= skip_records:
                                    counts["duplicate_ids"] += 1
                                if duplicate_ids == "error":
                                    error = f"duplicate id {post.id!r}: an earlier record of this run has it"
                                    post = None
                            read += 1
                            if read <= skip_records:  # decided before the checkpoint
                                if post is not None:
                                    skipped.append(post)
                                if replay is not None and (read % batch_size == 0 or read == skip_records):
                                    if skipped:
                                        replay(skipped)
                                    skipped = []
                                continue
                            pending.append((record, post, error))
                            if len(pending) >= batch_size:
                                chunks.append(pending)
                                yield [p for _, p, _ in pending if p is not None]
                                pending = []
                    if pending:
                        chunks.append(pending)
                        yield [p for _, p, _ in pending if p is not None]
                    if read < skip_records:
                        raise InputError(
                            f"the inputs hold {read:,} records, fewer than the {skip_records:,} the checkpoint counts"
                        )

                for results_of_batch in process(batches(), type(writer).encode):
                    pending = chunks.popleft()
                    results = iter(results_of_batch)
                    for record, post, error in pending:
                        if post is None:
                            counts["errors"] += 1
                            writer.write(
                                writers.error_record(record.line, readers.record_id(record, field_map), error or "")
                            )
                        else:
                            writer.write_encoded(next(results), {"line": record.line})
                    counts["records"] += len(pending)
                    shown.update(counts["records"])
                    if checkpoints is not None:
                        checkpoints.save(writer, counts["records"], time.perf_counter() - started)
                if checkpoints is not None:  # the complete file, in case it cannot be renamed into place
                    checkpoints.save(writer, counts["records"], time.perf_counter() - started, force=True)
        except BrokenPipeError:
            _quiet_stdout()
            cut_off = True
        except writers.OutputNotPlacedError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            if checkpoints is not None:
                err.print("run the same command with --resume to move it into place, or rename it yourself")
            raise typer.Exit(exit_codes.IO) from None
        except (InputError, OSError) as exc:
            if checkpoints is not None and os.path.exists(checkpoints.path):
                err.print(f"the records decided so far are in {escape(str(partial))} (continue with --resume)")
            elif partial is not None:
                cp.remove(partial)  # nothing in it was checkpointed
            raise fail_io(exc) from None
    if checkpoints is not None and not cut_off:
        checkpoints.done()
    return {"seconds": time.perf_counter() - started, "cut_off": cut_off}


def _open_writer(output: str, out_format: str | None, partial: str | None, resume_at: int | None) -> Any:
    """The decision writer of ``output`` ('-': stdout), or the exit for a bad format or an unwritable file."""
    from safeguard.io import writers

    try:
        return writers.open_writer(None if output == "-" else output, out_format, partial=partial, resume_at=resume_at)
    except ConfigError as exc:
        raise fail_config(exc) from None
    except (OSError, SafeguardError) as exc:
        err.print(f"[red]error:[/red] cannot write {escape(output)}: {escape(str(exc))}")
        raise typer.Exit(exit_codes.IO) from None


_ENGINES = ("local", "ray")


def _stream_ray(
    ruleset: Any,
    inputs: Sequence[str],
    output: str,
    out_format: str | None,
    field: list[str] | None,
    input_format: str | None,
    batch_size: int,
    progress: bool | None,
    account: Callable[[DecisionRecord], Any],
    *,
    signals: bool,
    counts: dict[str, int],
    max_record_bytes: int,
    partial: str | None,
    actors: int | None,
    address: str | None,
) -> dict[str, Any]:
    """:func:`_stream` for ``--engine ray``: Ray reads and decides the inputs
    (:mod:`safeguard.shards.ray_engine`); the records are written here, in input order."""
    from safeguard.io import fields as io_fields
    from safeguard.io import writers
    from safeguard.shards import ray_engine

    if importlib.util.find_spec("ray") is None:
        _usage(f"--engine ray needs Ray: {install_hint('ray')}")
    try:
        field_map = io_fields.parse_field_map(field or [], option="--field")
        formats = [input_format or file_formats.detect_format(name) for name in inputs]
        ray_engine.check_ruleset(ruleset)
    except ConfigError as exc:
        raise fail_config(exc) from None
    started = time.perf_counter()
    total = expected_records(inputs, formats) if progress is not False else None
    writer = _open_writer(output, out_format, partial, None)
    encode = type(writer).encode
    seen = SeenIds()
    cut_off = False
    with ExitStack() as stack:
        shown = stack.enter_context(PostProgress("starting Ray", show=progress, total=total))
        try:
            with writer:
                outcomes = ray_engine.decide(
                    ruleset,
                    inputs,
                    formats,
                    field_map=field_map,
                    max_record_bytes=max_record_bytes,
                    batch_size=batch_size,
                    actors=actors,
                    address=address,
                    on_stage=shown.describe,
                )
                for n, outcome in enumerate(outcomes, start=1):
                    if outcome.decision is None:
                        counts["errors"] += 1
                        writer.write(writers.error_record(outcome.line, outcome.post_id, outcome.error or ""))
                    else:
                        if not outcome.id_generated and outcome.post_id is not None and seen.seen(outcome.post_id):
                            counts["duplicate_ids"] += 1
                        made = writers.decision_record(
                            outcome.decision, id_generated=outcome.id_generated, encode=encode, signals=signals
                        )
                        writer.write_encoded(account(made), {"line": outcome.line})
                    counts["records"] += 1
                    if n % batch_size == 0:
                        if n == batch_size:
                            shown.describe("moderating")
                        shown.update(n)
                shown.update(counts["records"])
        except BrokenPipeError:
            _quiet_stdout()
            cut_off = True
        except writers.OutputNotPlacedError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(exit_codes.IO) from None
        except ConfigError as exc:
            if partial is not None:
                cp.remove(partial)
            raise fail_config(exc) from None
        except (InputError, OSError, SafeguardError) as exc:
            if partial is not None:
                cp.remove(partial)
            raise fail_io(exc) from None
    return {"seconds": time.perf_counter() - started, "cut_off": cut_off}


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail on the closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _posts(
    readers: Any, name: str, fmt: str | None, field_map: dict[str, str], max_bytes: int, importer: str | None = None
) -> Iterator[Any]:
    if importer is not None:
        from safeguard.io.importers import TABLE

        records = TABLE[importer].records(name, max_bytes)
    else:
        records = readers.read_records(name, format=fmt, max_record_bytes=max_bytes)
    yield from readers.iter_posts(records, field_map)


def _print_summary(summary: dict[str, Any]) -> None:
    ruleset = summary["ruleset"]
    table = Table(title=Text(f"safeguard: {ruleset['name']} ({ruleset['hash']})"), title_justify="left")
    table.add_column("", style="bold")
    table.add_column("posts", justify="right")
    table.add_column("share", justify="right")
    total = max(1, summary["posts"])
    for action in ("allow", "hold", "remove"):
        n = summary["actions"][action]
        table.add_row(action, f"{n:,}", f"{100 * n / total:.1f}%")
    table.add_row("error records", f"{summary['errors']:,}", f"{100 * summary['errors'] / total:.1f}%")
    if summary["duplicate_ids"]:
        table.add_row(
            "duplicate ids", f"{summary['duplicate_ids']:,}", f"{100 * summary['duplicate_ids'] / total:.1f}%"
        )
    err.print(table)
    if summary["rules"]:
        rules = Table(title="rules fired", title_justify="left")
        rules.add_column("rule")
        rules.add_column("posts", justify="right")
        for rule, n in list(summary["rules"].items())[:15]:
            rules.add_row(Text(rule), f"{n:,}")
        for rule, n in list(summary["shadow"].items())[:15]:
            rules.add_row(Text(f"{rule} (shadow)"), f"{n:,}")
        err.print(rules)
    if summary["posts_with_classifier_errors"]:
        err.print(
            f"[yellow]{summary['posts_with_classifier_errors']} posts had classifier errors (see 'errors')[/yellow]"
        )
    if "queue" in summary:
        q = summary["queue"]
        err.print(
            f"review queue {escape(q['store'])}: {q['queued']:,} new items, {q['joined']:,} copies joined "
            f"an item, {q['sampled']:,} sampled allows, {q['already']:,} already queued"
        )
    rate = summary["posts_per_second"]
    err.print(
        f"{summary['posts']:,} records in {summary['seconds']:.2f}s" + (f" ({rate:,.0f} posts/s)" if rate else "")
    )
