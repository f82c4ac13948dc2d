"""``safeguard train spam|toxicity``: train models on a community's labelled history."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from safeguard.cli import exit_codes
from safeguard.cli.app import app, check_outputs, err
from safeguard.errors import ConfigError, InputError


@contextlib.contextmanager
def _training_errors(data: Path, *extra: type[Exception]) -> Iterator[None]:
    """Turn the errors of reading labelled data (and ``extra`` kinds) into a message and an exit code:
    4 when the data file is missing, 2 otherwise."""
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(problem.render(), markup=False)
        raise typer.Exit(exit_codes.CONFIG) from None
    except InputError as exc:
        missing = not data.exists() and str(data) != "-"
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(exit_codes.IO if missing else exit_codes.CONFIG) from None
    except extra as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(exit_codes.CONFIG) from None


train_app = typer.Typer(
    name="train",
    help="Train models on labelled history (past moderator decisions).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(train_app, name="train")


@train_app.command("spam")
def spam(
    input: Annotated[Path, typer.Argument(help="Labelled posts: JSONL, CSV, TSV or Parquet (optionally gzipped).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the model (JSON).")],
    label_field: Annotated[str, typer.Option("--label-field", help="Record field holding the label.")] = "label",
    positive: Annotated[str, typer.Option("--positive", help="Label value that means spam.")] = "spam",
    text_field: Annotated[str, typer.Option("--text-field", help="Record field holding the post text.")] = "text",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the cross-validation folds.")] = 0,
    folds: Annotated[int, typer.Option("--folds", min=2, max=20, help="Cross-validation folds.")] = 5,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="Input format when the extension does not say.")
    ] = None,
    metrics_json: Annotated[
        Path | None, typer.Option("--metrics-json", help="Also write the cross-validated metrics as JSON here.")
    ] = None,
) -> None:
    """Train a spam model and print cross-validated metrics (AUC, precision, recall, F1 at score 0.5).

    Rows whose label equals --positive are spam, every other labelled row is not; rows with an empty
    label are skipped. The model is a JSON file: use it with `spam: {model: PATH}` in a ruleset.
    Deterministic for a given --seed. Exit 0 on success, 2 for unusable data, 4 for unreadable files.
    """
    check_outputs((str(output), "model"), [(str(metrics_json), "metrics")] if metrics_json is not None else [])
    from safeguard.classifiers.spam.train import cross_validate, read_labelled, train

    with _training_errors(input):
        texts, labels = read_labelled(
            input, text_field=text_field, label_field=label_field, positive=positive, format=input_format
        )
        cv = cross_validate(texts, labels, folds=folds, seed=seed)
        model = train(
            texts,
            labels,
            seed=seed,
            metadata={
                "training_data": str(input),
                "label_field": label_field,
                "positive": positive,
                "text_field": text_field,
                "metrics": cv.to_dict(),
                "created_by": "safeguard train spam",
            },
        )
    positives = sum(labels)
    typer.echo(f"{len(texts)} labelled rows, {positives} {positive!r}, {len(texts) - positives} other")
    typer.echo(f"{folds}-fold cross-validation (stratified, seed {seed}), spam at score >= 0.5:")
    typer.echo(f"{'fold':>8}  {'AUC':>6}  {'precision':>9}  {'recall':>6}  {'F1':>6}  {'rows':>6}")
    for i, m in enumerate(cv.folds, 1):
        typer.echo(f"{i:>8}  {m.auc:6.4f}  {m.precision:9.4f}  {m.recall:6.4f}  {m.f1:6.4f}  {m.n:6d}")
    o = cv.overall
    typer.echo(f"{'all':>8}  {o.auc:6.4f}  {o.precision:9.4f}  {o.recall:6.4f}  {o.f1:6.4f}  {o.n:6d}  (out of fold)")
    try:
        model.save(output)
        if metrics_json is not None:
            metrics_json.write_text(json.dumps(cv.to_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        err.print(
            f"[red]error:[/red] cannot write {escape(str(exc.filename or output))}: {escape(str(exc.strerror or exc))}"
        )
        raise typer.Exit(exit_codes.IO) from None
    typer.echo(
        f"model written to {output} ({len(model.tokens)} n-gram weights); use it with: spam: {{model: {output}}}"
    )


@train_app.command("toxicity")
def toxicity(
    data: Annotated[
        Path, typer.Option("--data", help="Labelled posts: JSONL, CSV, TSV or Parquet (optionally gzipped).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the adapted heads (.npz).")],
    label_field: Annotated[str, typer.Option("--label-field", help="Record field holding the verdict.")] = "label",
    positive: Annotated[
        str, typer.Option("--positive", help="Label value that means harmful (e.g. remove); every other value is not.")
    ] = "remove",
    head: Annotated[str, typer.Option("--head", help="Which head the verdicts retrain.")] = "toxicity",
    base: Annotated[
        str, typer.Option("--base", help="fast (n-grams, quick) or model (adds MiniLM embeddings), or a heads file.")
    ] = "fast",
    text_field: Annotated[str, typer.Option("--text-field", help="Record field holding the post text.")] = "text",
    id_field: Annotated[
        str, typer.Option("--id-field", help="Record field whose hash picks the held-out rows.")
    ] = "id",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fit.")] = 0,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="Input format when the extension does not say.")
    ] = None,
) -> None:
    """Retrain one harm head on a community's own verdicts and compare it with the base on held-out rows.

    A fifth of the rows (by a hash of --id-field, or of the row number) never train anything: the
    AUC of the base head and of the adapted head on them is printed. The output holds every head of
    the base (the others unchanged); point a ruleset at it with
    `toxicity: {backend: default, fast: {model: OUT}}` (--base fast) or
    `toxicity: {backend: default, model: {model: OUT}}` (--base model). Needs scikit-learn
    (`pip install 'safeguard[train]'`). Exit 0 on success, 2 for unusable data, 4 for unreadable files.
    """
    check_outputs((str(output), "heads file"))
    from safeguard.classifiers.spam.train import read_labelled_rows
    from safeguard.classifiers.toxicity.harm import FAST_MODEL, MODEL_HEADS
    from safeguard.classifiers.toxicity.heads import HarmHeads, normalized_texts
    from safeguard.classifiers.toxicity.training import adapt_head

    with _training_errors(data, ValueError, ImportError):
        texts, labels, ids = read_labelled_rows(
            data,
            text_field=text_field,
            label_field=label_field,
            positive=positive,
            format=input_format,
            id_field=id_field,
        )
        base_heads = HarmHeads.load({"fast": FAST_MODEL, "model": MODEL_HEADS}.get(base, Path(base)))
    positives = sum(labels)
    typer.echo(f"{len(texts)} labelled rows, {positives} {positive!r}, {len(texts) - positives} other")
    dense = None
    if base_heads.dense_dim:
        from safeguard.classifiers.toxicity.encoder import SentenceEncoder

        encoder = SentenceEncoder()
        encoder.load()
        dense = encoder.encode(texts)
    with _training_errors(data, ValueError, ImportError):
        result = adapt_head(
            base_heads, normalized_texts(texts), [bool(x) for x in labels], head=head, dense=dense, ids=ids, seed=seed
        )
    typer.echo(
        f"held-out rows: {result.heldout_rows} ({result.heldout_positives} {positive!r}); "
        f"trained on {result.train_rows}"
    )
    typer.echo(f"{head} ROC AUC on the held-out rows: base {result.base_auc:.4f}, adapted {result.adapted_auc:.4f}")
    try:
        result.heads.save(output)
    except OSError as exc:
        err.print(
            f"[red]error:[/red] cannot write {escape(str(exc.filename or output))}: {escape(str(exc.strerror or exc))}"
        )
        raise typer.Exit(exit_codes.IO) from None
    role = "model" if base_heads.dense_dim else "fast"
    typer.echo(f"heads written to {output}; use them with: toxicity: {{backend: default, {role}: {{model: {output}}}}}")
