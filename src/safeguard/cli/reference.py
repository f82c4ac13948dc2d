"""Render the command reference (``docs/cli.md``) from the Typer app itself.

Regenerate with ``python -m safeguard.cli.reference > docs/cli.md``; a test fails when the file
and the app disagree.
"""

from __future__ import annotations

from typing import Any

import typer.main

from safeguard.cli.app import app

__all__ = ["render"]


def render() -> str:
    """The Markdown reference of every command, its arguments and options."""
    root: Any = typer.main.get_command(app)
    lines = [
        "# Command reference",
        "",
        "Generated from the CLI by `python -m safeguard.cli.reference > docs/cli.md`; do not edit by hand.",
        "",
        (root.help or "").strip(),
        "",
        "Exit codes: 0 success; 1 a rule test failed, an evaluate gate failed or diff --fail-on-change saw",
        "a change; 2 invalid rules, test file or usage; 3 some input records could not be moderated (error",
        "records in their place); 4 an input or output file could not be read or written.",
        "",
    ]
    for name, command in root.commands.items():
        if command.hidden:
            continue
        args = [p for p in command.params if p.param_type_name == "argument"]
        opts = [p for p in command.params if p.param_type_name == "option" and not p.hidden]
        usage = " ".join(["[OPTIONS]", *(_arg_usage(a) for a in args)])
        lines += [f"## safeguard {name}", "", "```", f"safeguard {name} {usage}", "```", ""]
        lines += [(command.help or "").strip(), ""]
        if args:
            lines += ["| argument | description |", "| --- | --- |"]
            for a in args:
                lines.append(f"| `{_arg_usage(a)}` | {_help(a)} |")
            lines.append("")
        if opts:
            lines += ["| option | description | default |", "| --- | --- | --- |"]
            for o in opts:
                names = ", ".join(f"`{n}`" for n in [*o.opts, *o.secondary_opts])
                default = "" if o.default in (None, False, (), []) or o.name == "help" else f"`{o.default}`"
                lines.append(f"| {names} | {_help(o)} | {default} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _arg_usage(arg: Any) -> str:
    text = str(arg.metavar or arg.name).upper()
    if getattr(arg, "nargs", 1) != 1:
        text += "..."
    return text if arg.required else f"[{text}]"


def _help(param: Any) -> str:
    text = getattr(param, "help", None) or ""
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    print(render(), end="")
