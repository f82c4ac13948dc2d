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

import sys
from typing import Any

import typer

# Commands register themselves on the shared app when imported.
from safeguard.cli import bench as _bench  # noqa: F401
from safeguard.cli import insights as _insights  # noqa: F401
from safeguard.cli import moderate as _moderate  # noqa: F401
from safeguard.cli import policy as _policy  # noqa: F401
from safeguard.cli import review as _review  # noqa: F401
from safeguard.cli import rules as _rules  # noqa: F401
from safeguard.cli import serve as _serve  # noqa: F401
from safeguard.cli import toxicity as _toxicity  # noqa: F401
from safeguard.cli import train as _train  # noqa: F401
from safeguard.cli.common import app, err

__all__ = ["app", "main"]


def _hide_flag_types(command: Any) -> Any:
    """``command`` and its subcommands without a type beside their flags in ``--help``: typer prints every
    option's type (``<bool>`` for a flag, which takes no value); an option's metavar, when set, replaces
    it, and an empty one prints nothing."""
    for param in command.params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    make_help = command.get_help_option

    def get_help_option(ctx: Any) -> Any:  # click makes --help when help is shown, outside ``params``
        option = make_help(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
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
