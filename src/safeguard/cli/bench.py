"""``safeguard bench``: throughput, latency and memory of every classifier, the pipeline and the peers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safeguard.cli import exit_codes
from safeguard.cli.common import app, check_outputs, dump_json, err
from safeguard.io import formats as file_formats

DEFAULT_RESULTS_DIR = Path("benchmarks/results")
REPRODUCE = "safeguard bench"


@app.command()
def bench(
    corpus: Annotated[
        Path | None,
        typer.Option(
            "--corpus", help=f"Posts to run on ({file_formats.listing(titles=True)}). Default: real forum posts."
        ),
    ] = None,
    posts: Annotated[
        int | None,
        typer.Option("--posts", min=1, help="Posts per subject; corpus sizes above it are left out of the scaling."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Fewer posts, sizes 1k and 10k, BERT-base on 64 posts (minutes on 2 cores).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results JSON on stdout.")] = False,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Measure just this subject (repeatable); see --list.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the results JSON here. Default: benchmarks/results/latest.json (quick.json with --quick) "
            "for a run of every subject with the default corpus and posts; partial runs are written only with -o.",
        ),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="Measure nothing: rewrite the benchmarks table from this results JSON."),
    ] = None,
    readme: Annotated[Path, typer.Option("--readme", help="Page whose bench markers --markdown rewrites.")] = Path(
        "docs/benchmarks.md"
    ),
    list_subjects: Annotated[bool, typer.Option("--list", help="List the subjects and peers, then exit.")] = False,
) -> None:
    """Measure posts/s, single-post latency p50/p95/p99 and peak memory of each subject beside its peers.

    Each subject runs in a process of its own, on the same posts; subjects that cannot run here are
    reported as skipped with what to install. Progress goes to stderr, a table and the ratios at the end.
    """
    check_outputs([(str(output), "results")] if output is not None else [])
    from safeguard.bench import SUBJECTS, Settings, render_markdown, run_benchmark, update_readme

    if list_subjects:
        for subject in SUBJECTS.values():
            vs = f" (vs {', '.join(subject.peers)})" if subject.peers else " (peer)" if subject.is_peer else ""
            typer.echo(f"{subject.name:<24} {subject.measures}{vs}")
        raise typer.Exit(exit_codes.OK)
    if markdown is not None:
        _rewrite_readme(markdown, readme, render_markdown, update_readme)
        raise typer.Exit(exit_codes.OK)

    unknown = [name for name in only or [] if name not in SUBJECTS]
    if unknown:
        err.print(
            f"[red]error:[/red] unknown subject {escape(', '.join(map(repr, unknown)))} (known: {', '.join(SUBJECTS)})"
        )
        raise typer.Exit(exit_codes.CONFIG)
    if corpus is not None and not corpus.is_file():
        err.print(f"[red]error:[/red] corpus file {escape(repr(str(corpus)))} not found")
        raise typer.Exit(exit_codes.IO)
    settings = Settings.quick() if quick else Settings()
    if posts is not None:
        settings = settings.with_posts(posts)

    def progress(i: int, total: int, result: dict[str, Any]) -> None:
        err.print(f"[{i + 1}/{total}] {result['name']}: {_summary(result)}", markup=False, highlight=False)

    err.print(f"measuring {len(only or SUBJECTS)} subject(s), each in its own process ...")
    try:
        document = run_benchmark(only or None, settings, corpus_path=corpus, progress=progress)
    except (OSError, ValueError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(exit_codes.IO) from None
    from safeguard.errors import SafeguardError

    target = output
    if target is None and not only and posts is None and corpus is None:
        target = DEFAULT_RESULTS_DIR / ("quick.json" if quick else "latest.json")
        if not DEFAULT_RESULTS_DIR.parent.is_dir():
            target = None  # not in a checkout: print only
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dump_json(document) + "\n", encoding="utf-8")
        except (OSError, SafeguardError) as exc:
            err.print(f"[red]error:[/red] cannot write {escape(str(target))}: {escape(str(exc))}")
            raise typer.Exit(exit_codes.IO) from None
        err.print(f"results written to {target}", markup=False)
    _print_table(document)
    if as_json:
        typer.echo(dump_json(document))


def _summary(result: dict[str, Any]) -> str:
    if result.get("status", "ok") != "ok":
        return f"{result['status']}: {result.get('reason')}"
    return (
        f"{_speed(result['posts_per_s'])} posts/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
        f"peak {result['peak_rss_mb']} MB"
    )


def _speed(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if value < 10 else f"{value:,.0f}"


def _print_table(document: dict[str, Any]) -> None:
    table = Table(title="safeguard bench", title_justify="left")
    for column in ("subject", "posts", "posts/s", "p50 ms", "p95 ms", "p99 ms", "peak MB"):
        table.add_column(column, justify="left" if column == "subject" else "right", no_wrap=True)
    notes = []
    for r in document["results"]:
        if r.get("status", "ok") != "ok":
            table.add_row(r["name"], r["status"], "", "", "", "", "")
            notes.append(f"{r['name']}: {r['status']}: {r.get('reason', '')}")
            continue
        table.add_row(
            r["name"],
            f"{r['posts']:,}",
            _speed(r["posts_per_s"]),
            f"{r['p50_ms']:.3f}",
            f"{r['p95_ms']:.3f}",
            f"{r['p99_ms']:.3f}",
            f"{r['peak_rss_mb']:,.0f}",
        )
    err.print(table)
    for note in notes:
        err.print(note, markup=False)
    for name, value in document["ratios"].items():
        err.print(f"{name}: {value:,.2f}x", markup=False)
    if not document["ratios"]:
        err.print("no ratio: no subject ran beside its peer")


def _rewrite_readme(results: Path, readme: Path, render: Any, update: Any) -> None:
    try:
        document = json.loads(results.read_text(encoding="utf-8"))
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {escape(str(results))}: {escape(str(exc))}")
        raise typer.Exit(exit_codes.IO) from None
    except json.JSONDecodeError as exc:
        err.print(f"[red]error:[/red] {escape(str(results))} is not JSON: {escape(str(exc))}")
        raise typer.Exit(exit_codes.CONFIG) from None
    from safeguard.bench import validate_results

    problems = validate_results(document)
    if problems:
        for problem in problems:
            err.print(f"{results}: {problem}", markup=False)
        raise typer.Exit(exit_codes.CONFIG)
    command = REPRODUCE + (" --quick" if document.get("settings", {}).get("quick_preset") else "")
    document = {**document, "file": str(results)}
    try:
        changed = update(readme, render(document, command=command))
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot update {escape(str(readme))}: {escape(str(exc))}")
        raise typer.Exit(exit_codes.IO) from None
    except ValueError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(exit_codes.CONFIG) from None
    err.print(f"{readme}: table {'updated' if changed else 'already current'}", markup=False)
