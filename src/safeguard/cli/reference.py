"""Render the command reference (``cli/README.md``) from the Typer app itself.

Regenerate with ``python -m safeguard.cli.reference > cli/README.md``; a test fails when the file
and the app disagree.
"""

from __future__ import annotations

import click
import typer.main

from safeguard.cli.app import app

__all__ = ["render"]


def render() -> str:
    """The Markdown reference of every command, its arguments and options."""
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    lines = [
        "# safeguard command reference",
        "",
        "Generated from the CLI by `python -m safeguard.cli.reference > cli/README.md`; do not edit by hand.",
        "",
        (root.help or "").strip(),
        "",
        "Exit codes: 0 success; 1 a rule test failed; 2 invalid rules, test file or usage;",
        "3 some input records could not be moderated (error records in their place); 4 an input or output",
        "file could not be read or written.",
        "",
    ]
    ctx = click.Context(root, info_name="safeguard")
    for name in root.list_commands(ctx):
        command = root.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = click.Context(command, info_name=name, parent=ctx)
        lines += [
            f"## safeguard {name}",
            "",
            "```",
            f"safeguard {name} {' '.join(command.collect_usage_pieces(sub))}",
            "```",
            "",
        ]
        lines += [(command.help or "").strip(), ""]
        args = [p for p in command.params if isinstance(p, click.Argument)]
        opts = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
        if args:
            lines += ["| argument | description |", "| --- | --- |"]
            for a in args:
                lines.append(f"| `{a.human_readable_name}` | {_help(a)} |")
            lines.append("")
        if opts:
            lines += ["| option | description | default |", "| --- | --- | --- |"]
            for o in opts:
                names = ", ".join(f"`{n}`" for n in [*o.opts, *o.secondary_opts])
                default = "" if o.default in (None, False, (), []) or o.name == "help" else f"`{_default(o.default)}`"
                lines.append(f"| {names} | {_help(o)} | {default} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _help(param: click.Parameter) -> str:
    text = getattr(param, "help", None) or ""
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: object) -> str:
    return str(value)


if __name__ == "__main__":
    print(render(), end="")
