"""``safeguard train spam|toxicity``: train models on a community's labelled history."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from safeguard.cli import exit_codes
from safeguard.cli.common import app, check_outputs, err
from safeguard.errors import ConfigError, InputError
from safeguard.io import formats as file_formats


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
        if not missing:
            err.print("the fields are named with --label-field and --text-field, the harmful value with --positive")
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


FromReviewOpt = Annotated[
    str | None,
    typer.Option(
        "--from-review",
        help="Train on the verdicts of this review store (a SQLite file or postgresql:// URL) instead of a "
        "labelled file: removed is positive, approved negative; 30% of the posts, by a hash of their text, "
        "are held out and compare the shipped model with the new one.",
    ),
]
ThresholdOpt = Annotated[
    float,
    typer.Option("--threshold", min=0.0, max=1.0, help="Score at which precision and recall are measured."),
]


def _review_rows(db: str) -> Any:
    from safeguard.cli.review import open_store
    from safeguard.review.training import review_rows

    with open_store(db) as store:
        rows = review_rows(store)
    if rows.skipped:
        err.print(f"{rows.skipped} reviewed posts skipped: the store keeps no text for them")
    if len(set(rows.labels)) < 2:
        err.print("[red]error:[/red] the review store needs posts moderators removed and posts they approved")
        raise typer.Exit(exit_codes.CONFIG)
    return rows


def _compare(labels: Any, before: Any, after: Any, threshold: float) -> None:
    from safeguard.classifiers.spam.train import classification_metrics

    typer.echo(f"held-out posts: {len(labels)} ({int(sum(labels))} removed by moderators)")
    typer.echo(f"{'':>8}  {'AUC':>6}  {'precision':>9}  {'recall':>6}  (at score >= {threshold})")
    for name, scores in (("before", before), ("after", after)):
        m = classification_metrics([int(x) for x in labels], scores, threshold)
        typer.echo(f"{name:>8}  {m.auc:6.4f}  {m.precision:9.4f}  {m.recall:6.4f}")


@train_app.command("spam")
def spam(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the model (JSON).")],
    input: Annotated[
        Path | None, typer.Argument(help=f"Labelled posts: {file_formats.listing(titles=True)} (optionally gzipped).")
    ] = None,
    from_review: FromReviewOpt = None,
    threshold: ThresholdOpt = 0.5,
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

    With --from-review DB the verdicts of a review store train it instead (removed is spam), and the
    shipped model and the new one are compared on the held-out 30% of the reviewed posts: AUC, and
    precision and recall at --threshold.
    """
    check_outputs((str(output), "model"), [(str(metrics_json), "metrics")] if metrics_json is not None else [])
    from safeguard.classifiers.spam.train import cross_validate, read_labelled, train

    if (input is None) == (from_review is None):
        err.print("[red]error:[/red] give a labelled file or --from-review DB (one of them)")
        raise typer.Exit(exit_codes.CONFIG)
    if from_review is not None:
        _spam_from_review(from_review, output, seed, threshold)
        return
    assert input is not None

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


def _spam_from_review(db: str, output: Path, seed: int, threshold: float) -> None:
    from safeguard.classifiers.spam.model import DEFAULT_MODEL_PATH, SpamModel
    from safeguard.classifiers.spam.train import train
    from safeguard.review.training import HELDOUT, heldout_mask

    rows = _review_rows(db)
    held = heldout_mask(rows.keys, HELDOUT)
    fit_texts = [t for t, h in zip(rows.texts, held, strict=True) if not h]
    fit_labels = [int(x) for x, h in zip(rows.labels, held, strict=True) if not h]
    test_texts = [t for t, h in zip(rows.texts, held, strict=True) if h]
    test_labels = [x for x, h in zip(rows.labels, held, strict=True) if h]
    typer.echo(f"{len(rows.texts)} reviewed posts, {sum(rows.labels)} removed; fitting on {len(fit_texts)}")
    with _training_errors(Path(db), ValueError):
        if len(set(test_labels)) < 2:
            raise ValueError("the held-out posts hold only one class: more verdicts of both kinds are needed")
        model = train(fit_texts, fit_labels, seed=seed, metadata={"created_by": "safeguard train spam --from-review"})
    _compare(test_labels, SpamModel.load(DEFAULT_MODEL_PATH).scores(test_texts), model.scores(test_texts), threshold)
    try:
        model.save(output)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write {escape(str(output))}: {escape(str(exc.strerror or exc))}")
        raise typer.Exit(exit_codes.IO) from None
    typer.echo(f"model written to {output}; use it with: spam: {{model: {output}}}")


@train_app.command("toxicity")
def toxicity(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the adapted heads (.npz).")],
    data: Annotated[
        Path | None,
        typer.Option("--data", help=f"Labelled posts: {file_formats.listing(titles=True)} (optionally gzipped)."),
    ] = None,
    from_review: FromReviewOpt = None,
    threshold: ThresholdOpt = 0.5,
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
    (`pip install 'safeguard-moderation[train]'`). Exit 0 on success, 2 for unusable data, 4 for unreadable files.

    With --from-review DB the verdicts of a review store retrain the head instead (removed is harmful):
    30% of the reviewed posts, by a hash of their text, are held out, and the base head and the adapted
    one are compared on them (AUC, and precision and recall at --threshold).
    """
    check_outputs((str(output), "heads file"))
    from safeguard.classifiers.spam.train import read_labelled_rows
    from safeguard.classifiers.toxicity.harm import FAST_MODEL, MODEL_HEADS
    from safeguard.classifiers.toxicity.heads import HarmHeads, normalized_texts
    from safeguard.classifiers.toxicity.training import adapt_head

    if (data is None) == (from_review is None):
        err.print("[red]error:[/red] give --data FILE or --from-review DB (one of them)")
        raise typer.Exit(exit_codes.CONFIG)
    heldout = 0.2
    if from_review is not None:
        from safeguard.review.training import HELDOUT

        rows = _review_rows(from_review)
        texts, labels, ids, heldout, positive = rows.texts, [int(x) for x in rows.labels], rows.keys, HELDOUT, "remove"
        data = Path(from_review)
    assert data is not None
    with _training_errors(data, ValueError, ImportError):
        if from_review is None:
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
        normalized = normalized_texts(texts)
        result = adapt_head(
            base_heads,
            normalized,
            [bool(x) for x in labels],
            head=head,
            dense=dense,
            ids=ids,
            seed=seed,
            heldout=heldout,
        )
    typer.echo(
        f"held-out rows: {result.heldout_rows} ({result.heldout_positives} {positive!r}); "
        f"trained on {result.train_rows}"
    )
    typer.echo(f"{head} ROC AUC on the held-out rows: base {result.base_auc:.4f}, adapted {result.adapted_auc:.4f}")
    if from_review is not None:
        from safeguard.review.training import heldout_mask

        held = [i for i, h in enumerate(heldout_mask(ids, heldout)) if h]
        j = base_heads.labels.index(head)
        held_texts = [normalized[i] for i in held]
        held_dense = dense[held] if dense is not None else None
        _compare(
            [labels[i] for i in held],
            base_heads.predict_normalized(held_texts, held_dense)[:, j],
            result.heads.predict_normalized(held_texts, held_dense)[:, j],
            threshold,
        )
    try:
        result.heads.save(output)
    except OSError as exc:
        err.print(
            f"[red]error:[/red] cannot write {escape(str(exc.filename or output))}: {escape(str(exc.strerror or exc))}"
        )
        raise typer.Exit(exit_codes.IO) from None
    role = "model" if base_heads.dense_dim else "fast"
    typer.echo(f"heads written to {output}; use them with: toxicity: {{backend: default, {role}: {{model: {output}}}}}")
