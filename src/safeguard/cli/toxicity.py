"""``safeguard export-onnx``: turn a configured detoxify or transformers toxicity model into ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from safeguard.cli import exit_codes
from safeguard.cli.common import app, check_outputs, err, fail_config, rules_option
from safeguard.errors import ConfigError, SafeguardError

#: Texts the export is checked on (the torch model and the ONNX file must agree on them).
CHECK_TEXTS = (
    "Does this kettle come in black?",
    "you are a complete idiot and everyone here hates you",
    "Worst blender ever, broke in two days. Never again!!!",
    "",
    "Ünïcödé, emoji 🎉 and a long tail " + "of words " * 300,
)


def _options_from_rules(rules: Path, classifier: str) -> tuple[dict[str, Any], Path]:
    from safeguard.classifiers.toxicity import ToxicityClassifier
    from safeguard.rules.loader import load_ruleset

    if not rules.exists():
        err.print(f"[red]error:[/red] rules file {escape(repr(str(rules)))} not found")
        raise typer.Exit(exit_codes.CONFIG)
    try:
        ruleset = load_ruleset(rules)
    except ConfigError as exc:
        raise fail_config(exc) from None
    instance = ruleset.classifiers.get(classifier)
    if not isinstance(instance, ToxicityClassifier):
        found = ", ".join(n for n, c in ruleset.classifiers.items() if isinstance(c, ToxicityClassifier)) or "none"
        err.print(
            f"[red]error:[/red] {escape(str(rules))} has no toxicity classifier named {escape(repr(classifier))} "
            f"(toxicity classifiers: {escape(found)})"
        )
        raise typer.Exit(exit_codes.CONFIG)
    return dict(instance.backend_options), rules.resolve().parent


@app.command("export-onnx")
def export_onnx_command(
    output: Annotated[
        Path, typer.Argument(help="The .onnx file to write (tokenizer and metadata files go beside it).")
    ],
    rules: Annotated[Path | None, rules_option("Take the model options from this ruleset (with --classifier).")] = None,
    classifier: Annotated[
        str, typer.Option("--classifier", help="Name of the toxicity classifier in --rules.")
    ] = "toxicity",
    backend: Annotated[str | None, typer.Option("--backend", help="Without --rules: detoxify or transformers.")] = None,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="detoxify: the .ckpt file.")] = None,
    config_dir: Annotated[
        Path | None, typer.Option("--config-dir", help="detoxify: directory of the Hugging Face config and tokenizer.")
    ] = None,
    model_type: Annotated[
        str, typer.Option("--model-type", help="detoxify: original, unbiased, multilingual ...")
    ] = "original",
    model_dir: Annotated[Path | None, typer.Option("--model-dir", help="transformers: the model directory.")] = None,
    int8: Annotated[bool, typer.Option("--int8", help="Quantise weights to int8 (dynamic quantisation).")] = False,
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Compare the ONNX scores with the torch model's on sample texts.")
    ] = True,
) -> None:
    """Export a detoxify or transformers toxicity model to ONNX for the [bold]onnx[/bold] backend.

    Either name a ruleset and its classifier (--rules rules/community.yaml --classifier toxicity) or give
    the model directly (--backend detoxify --checkpoint M.ckpt --config-dir DIR, or --backend transformers
    --model-dir DIR). Then use it as: toxicity: {backend: onnx, model: OUTPUT}. Exit 0 on success, 2 on
    bad options or a model that cannot be loaded or exported.
    """
    check_outputs((str(output), "ONNX model"))
    from safeguard.classifiers.toxicity.export import export_onnx

    if rules is not None:
        if backend is not None:
            err.print("[red]error:[/red] give either --rules or --backend, not both")
            raise typer.Exit(exit_codes.CONFIG)
        options, base_dir = _options_from_rules(rules, classifier)
    elif backend == "detoxify":
        options = {"backend": "detoxify", "model_type": model_type}
        if checkpoint is not None:
            options["checkpoint"] = str(checkpoint)
        if config_dir is not None:
            options["config_dir"] = str(config_dir)
        base_dir = Path.cwd()
    elif backend == "transformers":
        if model_dir is None:
            err.print("[red]error:[/red] --backend transformers needs --model-dir DIR")
            raise typer.Exit(exit_codes.CONFIG)
        options, base_dir = {"backend": "transformers", "model_dir": str(model_dir)}, Path.cwd()
    else:
        err.print(
            "[red]error:[/red] say which model to export: --rules FILE [--classifier NAME], "
            "or --backend detoxify|transformers"
        )
        raise typer.Exit(exit_codes.CONFIG)
    try:
        written = export_onnx(options, output, int8=int8, base_dir=base_dir)
        err.print(
            f"[green]wrote[/green] {escape(str(written))} ({'int8' if int8 else 'fp32'}) "
            "and its tokenizer and metadata files"
        )
        if check:
            deviation = _compare(options, written, base_dir)
            err.print(f"max |onnx - torch| over {len(CHECK_TEXTS)} sample texts: {deviation:.2e}")
    except (ValueError, SafeguardError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(exit_codes.CONFIG) from None
    err.print(f"use it with: toxicity: {{backend: onnx, model: {written}}}", markup=False)


def _compare(options: dict[str, Any], model: Path, base_dir: Path) -> float:
    from safeguard.classifiers.toxicity.classifier import make_backend

    reference = make_backend(options, base_dir=base_dir)
    exported = make_backend({"backend": "onnx", "model": str(model)}, base_dir=base_dir)
    texts = list(CHECK_TEXTS)
    a = reference.predict(texts)
    b = exported.predict(texts)
    return max(float(abs(a[label] - b[label]).max()) for label in exported.labels)
