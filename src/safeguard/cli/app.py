"""The ``safeguard`` command.

Exit codes, the same for every command:

==  =====================================================================================
0   success: every post moderated, every rule test passed, every ruleset valid
1   a rule test failed (``test``), a gate failed (``evaluate``), or actions changed
    (``diff --fail-on-change``)
2   invalid rules, test file or command-line usage; nothing was moderated
3   ``moderate``/``classify`` finished, but some input records could not be moderated (each
    has an error record in its place in the output); ``diff``/``evaluate``/``report`` finished,
    but some input records were not posts or decisions
4   an input or output file could not be read or written
==  =====================================================================================
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from safeguard import __version__
from safeguard.cli import exit_codes
from safeguard.errors import ConfigError, SafeguardError
from safeguard.rules.shipped import ruleset_path

app = typer.Typer(
    name="safeguard",
    help="Moderate forum posts with classifiers combined by YAML rules: allow, hold or remove, with reasons.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

err = Console(stderr=True, highlight=False)
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


def settle_heap() -> None:
    """Tune the garbage collector of a command's process once its models are loaded.

    Loaded models and term lists are millions of long-lived objects that every full collection would
    walk again; ``gc.freeze()`` sets them aside. Moderating allocates many short-lived objects, so young
    collections run less often. Worth about 10% of throughput on the shipped policy; a library user's
    process is left alone (only commands call this).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


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


def dump_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


# Commands register themselves on import.
from safeguard.cli import bench as _bench  # noqa: E402,F401
from safeguard.cli import insights as _insights  # noqa: E402,F401
from safeguard.cli import moderate as _moderate  # noqa: E402,F401
from safeguard.cli import policy as _policy  # noqa: E402,F401
from safeguard.cli import review as _review  # noqa: E402,F401
from safeguard.cli import rules as _rules  # noqa: E402,F401
from safeguard.cli import serve as _serve  # noqa: E402,F401
from safeguard.cli import toxicity as _toxicity  # noqa: E402,F401
from safeguard.cli import train as _train  # noqa: E402,F401


def _hide_flag_types(command: Any) -> Any:
    """``command`` and its subcommands without a type beside their flags in ``--help``: typer prints every
    option's type (``<bool>`` for a flag, which takes no value); an option's metavar, when set, replaces
    it, and an empty one prints nothing."""
    for param in command.params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub)
    return command


def main() -> None:
    """Entry point of the console script."""
    try:
        _hide_flag_types(typer.main.get_command(app))(prog_name="safeguard")
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
