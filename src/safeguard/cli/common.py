"""What every command of the ``safeguard`` command line shares: the Typer app the commands register
on, the error console, the ``--rules`` option and the helpers that turn errors into exit codes.

The commands live in their own modules and import this one; :mod:`safeguard.cli.app` imports them
all, so that nothing here depends on a command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from safeguard import __version__
from safeguard.cli import exit_codes
from safeguard.errors import ConfigError, SafeguardError
from safeguard.heap import settle_heap
from safeguard.rules.shipped import ruleset_path

app = typer.Typer(
    name="safeguard",
    help="Moderate forum posts with classifiers combined by YAML rules: allow, hold or remove, with reasons.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

#: Columns a command's tables get where no terminal says how wide it is (a CI log, a file), unless
#: ``COLUMNS`` says: wide enough that a table keeps its cells instead of cutting them to fit 80.
LOG_WIDTH = 120


def console(*, stderr: bool = False) -> Console:
    """A console for a command's output: the terminal's width, or :data:`LOG_WIDTH` columns elsewhere.
    Text is never broken into lines by the console (a message with a path stays one line to copy);
    tables still fit the width."""
    fixed = Console(stderr=stderr).is_terminal or "COLUMNS" in os.environ
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=None if fixed else LOG_WIDTH)


err = console(stderr=True)
#: The shipped policy, by name: resolved to the file inside the installed package.
DEFAULT_RULES = Path("community")


def _ruleset_path(value: Path | None) -> Path | None:
    return None if value is None else ruleset_path(value)


def rules_option(help: str = "Ruleset file, or the name of a shipped policy (community).") -> Any:
    """The ``--rules`` option: a file, or a shipped policy's name turned into its file."""
    return typer.Option("--rules", "-r", help=help, callback=_ruleset_path)


RulesOpt = Annotated[Path, rules_option()]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"safeguard {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Moderate forum posts: allow, hold or remove, with reasons."""


def fail_config(error: ConfigError) -> typer.Exit:
    """Print every problem of a configuration error and return the exit to raise."""
    for problem in error.problems:
        err.print(problem.render(), markup=False)
    n = len(error.problems)
    err.print(f"[red]{n} problem{'s' if n != 1 else ''}[/red]")
    return typer.Exit(exit_codes.CONFIG)


def fail_io(error: BaseException) -> typer.Exit:
    """Print an input or output error and return the exit to raise (exit code 4)."""
    err.print(f"[red]error:[/red] {escape(str(error))}")
    return typer.Exit(exit_codes.IO)


def check_outputs(*groups: Any, missing_dirs: bool = False) -> None:
    """Refuse (exit 4) outputs that would destroy something or cannot be written and renamed:
    a symbolic link, a directory, a device, a FIFO; a missing or read-only directory. ``groups``
    are iterables of ``(path, what)``; with ``missing_dirs``, directories that do not exist yet
    are fine when the nearest existing one is writable (they are created)."""
    from safeguard.files import UnsafeFileError, check_output

    for group in groups:
        for path, what in [group] if isinstance(group, tuple) else group:
            target = Path(path)
            try:
                if missing_dirs and not target.parent.exists():
                    if os.path.lexists(target.parent):  # a dangling link where the directory should be
                        raise UnsafeFileError(target, f"cannot write the {what}: {target.parent} is not a directory")
                    ancestor = target.parent
                    while not ancestor.exists() and ancestor != ancestor.parent:
                        ancestor = ancestor.parent
                    check_output(ancestor / ".safeguard-check", what=what)
                else:
                    check_output(target, what=what)
            except UnsafeFileError as exc:
                err.print(f"[red]error:[/red] {escape(str(exc))}")
                raise typer.Exit(exit_codes.IO) from None


def load_moderator(rules: Path, *, workers: int = 1) -> Any:
    """Load a ruleset for a command, turning errors into messages and exit codes."""
    from safeguard.moderator import Moderator

    rules = ruleset_path(rules)
    if not rules.exists():
        err.print(f"[red]error:[/red] rules file {escape(repr(str(rules)))} not found (pass --rules FILE)")
        raise typer.Exit(exit_codes.CONFIG)
    try:
        moderator = Moderator.from_file(rules, workers=workers)
        moderator.load()
    except ConfigError as exc:
        raise fail_config(exc) from None
    except SafeguardError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(exit_codes.CONFIG) from None
    settle_heap()
    return moderator


def duration(seconds: float) -> str:
    """A span of time for a person to read: ``45.0 s``, ``2.5 min``, ``3.1 h``."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def dump_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)
