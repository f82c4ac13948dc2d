"""``safeguard review``: work the review queue from a terminal, and learn from the verdicts."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from safeguard.cli import exit_codes
from safeguard.cli.common import DEFAULT_RULES, app, check_outputs, console, duration, err, fail_config, rules_option
from safeguard.errors import ConfigError, ReviewError

if TYPE_CHECKING:
    from safeguard.review import ItemView, ReviewStore

review_app = typer.Typer(
    name="review",
    help="The human review queue: users, working the queue, figures, exports.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(review_app, name="review")
user_app = typer.Typer(name="user", help="Moderators and admins of a review store.", no_args_is_help=True)
review_app.add_typer(user_app, name="user")

DbOpt = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="SAFEGUARD_REVIEW_DB",
        help="The review store: a SQLite file path or a postgresql:// URL (also $SAFEGUARD_REVIEW_DB).",
    ),
]

KEYS = {"a": "approve", "r": "remove", "e": "escalate", "s": "skip", "q": "quit"}


def fail_review(error: ReviewError) -> typer.Exit:
    """Print a review store error and return the exit to raise: 4 when the database cannot be used,
    2 for a refused operation (unknown item or user, a claim by someone else, a bad argument)."""
    err.print(f"[red]error:[/red] {escape(str(error))}")
    return typer.Exit(exit_codes.IO if error.code == "unavailable" else exit_codes.CONFIG)


@contextlib.contextmanager
def open_store(db: str, **options: Any) -> Iterator[ReviewStore]:
    """The store at ``db`` for a command; errors become messages and exit codes."""
    from safeguard.review import ReviewStore

    try:
        store = ReviewStore.open(db, **options)
    except ReviewError as exc:
        raise fail_review(exc) from None
    try:
        yield store
    except ReviewError as exc:
        raise fail_review(exc) from None
    finally:
        store.close()


@review_app.command("init")
def init(
    db: DbOpt,
    keep_text: Annotated[
        bool | None,
        typer.Option(
            "--keep-text/--no-keep-text",
            help="Keep posts' text (default), or only its SHA-256 and a redacted copy from now on.",
        ),
    ] = None,
    keep_context: Annotated[
        bool | None,
        typer.Option(
            "--keep-context/--no-keep-context",
            help="Keep the allowed posts of a thread as context for moderators (default).",
        ),
    ] = None,
) -> None:
    """Create a review store (or upgrade it to this version) and set what it keeps."""
    with open_store(db, keep_text=keep_text, keep_context=keep_context) as store:
        text = "kept" if store.setting("keep_text") is not False else "not kept (SHA-256 and redacted copy)"
        context = "kept" if store.setting("keep_context") is not False else "not kept"
        err.print(f"review store {escape(store.where)} ready: post text {text}, thread context {context}")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    db: DbOpt,
    role: Annotated[str, typer.Option("--role", help="moderator or admin.")] = "moderator",
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="Read the password from the first line of this file (else prompted)."),
    ] = None,
) -> None:
    """Add a moderator or an admin. The password is stored as a salted scrypt hash."""
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            err.print(f"[red]error:[/red] cannot read {escape(str(password_file))}: {escape(str(exc))}")
            raise typer.Exit(exit_codes.IO) from None
        password = lines[0] if lines else ""
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    with open_store(db) as store:
        user = store.add_user(name, password, role=role)
    err.print(f"added {escape(user.role)} {escape(user.name)}")


@user_app.command("role")
def user_role(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[str, typer.Argument(help="moderator or admin.")],
    db: DbOpt,
) -> None:
    """Change a user's role."""
    with open_store(db) as store:
        user = store.set_role(name, role)
    err.print(f"{escape(user.name)} is now {escape(user.role)}")


@user_app.command("list")
def user_list(db: DbOpt) -> None:
    """List the users of a store."""
    with open_store(db) as store:
        users = store.users()
    table = Table(title="users", title_justify="left")
    for column in ("name", "role", "created", "disabled"):
        table.add_column(column)
    for u in users:
        table.add_row(Text(u.name), u.role, u.created_at.strftime("%Y-%m-%d %H:%M"), "yes" if u.disabled else "")
    console().print(table)


@review_app.command("queue")
def queue(
    db: DbOpt,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Items to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the waiting items by priority, then age."""
    with open_store(db) as store:
        entries = store.queue(limit)
        counts = store.counts()
    if as_json:
        typer.echo(json.dumps({"counts": counts, "items": [e.to_dict() for e in entries]}, indent=2))
        return
    table = Table(
        title=f"{counts['open']} open, {counts['claimed']} claimed, {counts['done']} done", title_justify="left"
    )
    for column in ("item", "prio", "status", "rules", "post"):
        table.add_column(column, justify="right" if column in ("item", "prio") else "left")
    for e in entries:
        status = e.status + (f" ({e.claimed_by})" if e.claimed_by else "") + (" escalated" if e.escalated else "")
        rules = ", ".join(e.rules) or ("sampled allow" if e.sampled else e.action)
        table.add_row(str(e.id), str(e.priority), Text(status), Text(rules), Text(e.excerpt[:70]))
    console().print(table)


@review_app.command("next")
def next_item(
    db: DbOpt,
    user: Annotated[str, typer.Option("--user", help="The moderator working the queue.")],
    all_items: Annotated[
        bool, typer.Option("--all", help="Go on to the next item after each verdict until q or an empty queue.")
    ] = False,
) -> None:
    """Claim the next item, show it, and take one key: a approve, r remove, e escalate, s skip, q quit.

    Works over SSH: on a terminal one key press is enough; when standard input is not a terminal,
    each line is one key (the first character). Quitting (or the end of input) gives the item back.
    """
    out = console()
    decided = 0
    with open_store(db) as store:
        while True:
            item = store.claim(user)
            if item is None:
                err.print(f"the queue is empty ({decided} decided)")
                return
            show_item(out, item)
            action = _ask(out)
            if action == "quit":
                store.release(item.id, user)
                err.print(f"item {item.id} given back ({decided} decided)")
                return
            guideline = next((m.guideline for m in item.decision.matches if m.guideline), None)
            verdict = store.decide(item.id, user, action, guideline=guideline if action == "remove" else None)
            decided += action in ("approve", "remove")
            spent = f" after {verdict.seconds:.1f} s" if verdict.seconds is not None else ""
            err.print(f"item {item.id}: {action}{spent}")
            if not all_items:
                return


def show_item(out: Console, item: ItemView) -> None:
    """Print an item: its post with the evidence highlighted, the rules that fired, thread context."""
    e = item.entry
    head = f"item {e.id} · priority {e.priority} · rules: {e.action}"
    if e.sampled:
        head += " (sampled allow)"
    if e.escalated:
        head += " · escalated"
    if e.posts > 1:
        head += f" · {e.posts} copies"
    out.rule(Text(head))
    p = item.post
    before = [t for t in item.thread if _earlier(t, p)]
    after = [t for t in item.thread if not _earlier(t, p)]
    _context(out, before[-3:], f"earlier in {p.thread_id}:" if before else "")
    out.print(
        Text(
            f"{p.post_id} by {p.author.get('id') or 'unknown'}" + (f" in {p.thread_id}" if p.thread_id else ""),
            style="bold",
        )
    )
    if p.title:
        out.print(Text(p.title, style="bold"))
    body = Text(p.text)
    for m in item.decision.matches:
        for span in m.spans:
            body.stylize("bold reverse red", span["start"], span["end"])
    out.print(body)
    if not p.text_kept:
        out.print(Text("(redacted: the store keeps no text)", style="dim"))
    for m in item.decision.matches:
        line = Text(f"  {m.rule} ({m.action})", style="yellow")
        if m.reason:
            line.append(f": {m.reason}")
        if m.guideline:
            line.append(f" [{m.guideline}]", style="dim")
        out.print(line)
        evidence = {k: v for k, v in m.values.items() if k not in ("text.normalized", "post.text")}
        if evidence:
            out.print(Text("    " + json.dumps(evidence, ensure_ascii=False)[:200], style="dim"))
    for error in item.decision.errors:
        out.print(Text(f"  classifier error: {error.get('source')}: {error.get('error')}", style="red"))
    _context(out, after[:2], "later in the thread:" if after else "")
    for v in item.verdicts:
        out.print(Text(f"  earlier: {v.user} {v.action}" + (f" ({v.note})" if v.note else ""), style="dim"))


def _context(out: Console, posts: list[Any], title: str) -> None:
    if title:
        out.print(Text(title, style="dim"))
    for t in posts:
        line = Text(f"  {t.post_id} {t.author.get('id') or ''}: ", style="dim")
        line.append(" ".join(t.text.split())[:120], style="dim")
        out.print(line)


def _earlier(post: Any, than: Any) -> bool:
    if post.created_at is None or than.created_at is None:
        return True
    return bool(post.created_at <= than.created_at)


def _ask(out: Console) -> str:
    prompt = Text("[a]pprove [r]emove [e]scalate [s]kip [q]uit: ", style="bold")
    while True:
        out.print(prompt, end="")
        key = _read_key()
        out.print(key if key else "")
        if key is None:
            return "quit"
        action = KEYS.get(key.lower())
        if action is not None:
            return action
        out.print(Text(f"unknown key {key!r}", style="red"))


def _read_key() -> str | None:
    """One key from a terminal, or the first character of a line otherwise; ``None`` at the end of input."""
    stream = sys.stdin
    if stream is None:
        return None
    if stream.isatty():
        try:
            import termios
            import tty
        except ImportError:
            pass
        else:
            fd = stream.fileno()
            saved = termios.tcgetattr(fd)
            try:
                tty.setcbreak(fd)
                char = stream.read(1)
            finally:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            return char or None
    line = stream.readline()
    if not line:
        return None
    return line.strip()[:1] or " "


@review_app.command("stats")
def stats(
    db: DbOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """What the verdicts say: per rule, the share of its holds moderators upheld (removed) with a Wilson
    95% interval; median time to a verdict; queue load per day; recall estimated from sampled allows."""
    from safeguard.review.stats import review_stats

    with open_store(db) as store:
        figures = review_stats(store)
    if as_json:
        typer.echo(json.dumps(figures, indent=2, sort_keys=True))
        return
    out = console()
    items, verdicts = figures["items"], figures["verdicts"]
    out.print(
        f"items: {items['open']} open, {items['claimed']} claimed, {items['done']} done"
        f" ({items['escalated']} escalated); verdicts: " + ", ".join(f"{n} {a}" for a, n in verdicts.items())
    )
    table = Table(title="holds upheld by moderators (removed), per rule", title_justify="left")
    for column in ("rule", "decided", "upheld", "share", "95% interval"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    rows = [*figures["rules"], {"rule": "all holds", **figures["holds"]}]
    for r in rows:
        interval = r["interval"]
        table.add_row(
            Text(r["rule"]),
            str(r["decided"]),
            str(r["upheld"]),
            "" if r["share"] is None else f"{r['share']:.3f}",
            "" if interval is None else f"{interval[0]:.3f} to {interval[1]:.3f}",
        )
    out.print(table)
    wait, spent = figures["time_to_decision_seconds"], figures["seconds_spent"]
    if wait["median"] is not None:
        out.print(f"median time to a verdict: {duration(wait['median'])} ({wait['n']} items)")
    if spent["median"] is not None:
        out.print(f"median time spent on an item: {duration(spent['median'])}")
    days = Table(title="queue load per day (UTC)", title_justify="left")
    for column in ("day", "entered", "decided", "open"):
        days.add_column(column, justify="left" if column == "day" else "right")
    for d in figures["days"][-14:]:
        days.add_row(d["day"], str(d["entered"]), str(d["decided"]), str(d["open"]))
    if figures["days"]:
        out.print(days)
    r = figures["recall"]
    if r["sampled_decided"]:
        interval = r["interval"]
        out.print(
            f"sampled allows: {r['sampled_removed']} of {r['sampled_decided']} removed by moderators, "
            f"estimated miss rate {r['miss_rate']:.3f} (95% {interval[0]:.3f} to {interval[1]:.3f})"
            + (f", estimated recall {r['estimated_recall']:.3f}" if r["estimated_recall"] is not None else "")
        )
    else:
        out.print("no sampled allows decided yet: moderate with --queue-sample-allows to estimate recall")


@review_app.command("export")
def export(
    db: DbOpt,
    format: Annotated[str, typer.Option("--format", help="labels (JSON lines) or tests (a *.test.yaml file).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Where to write ('-' is stdout).")],
    rules: Annotated[Path, rules_option("The ruleset the tests run (--format tests).")] = DEFAULT_RULES,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Tests: do not mark the cases where rules and moderators disagreed as xfail."),
    ] = False,
) -> None:
    """Moderators' verdicts as labels (for `safeguard evaluate --label-field label` and
    `safeguard train ... --label-field label --positive remove`) or as rule tests (`safeguard test`)."""
    from safeguard.review.export import ExportReport, label_records, test_file

    kind = format.strip().lower()
    if kind not in ("labels", "tests"):
        err.print(f"[red]error:[/red] --format must be labels or tests, not {escape(repr(format))}")
        raise typer.Exit(exit_codes.CONFIG)
    if output != "-":
        check_outputs((output, "export"))
    report = ExportReport()
    with open_store(db) as store:
        if kind == "labels":
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in label_records(store, report))
        else:
            try:
                text = test_file(
                    store, rules, output if output != "-" else "review.test.yaml", strict=strict, report=report
                )
            except ConfigError as exc:
                raise fail_config(exc) from None
    if output == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            err.print(f"[red]error:[/red] cannot write {escape(output)}: {escape(exc.strerror or str(exc))}")
            raise typer.Exit(exit_codes.IO) from None
    line = f"exported {report.exported} reviewed posts as {kind}"
    if kind == "tests":
        line += f" ({report.disagreements} where rules and moderators disagreed"
        line += ", failing)" if strict else ", marked xfail)"
    if report.skipped:
        line += f"; {report.skipped} skipped: the store keeps no text for them"
    err.print(escape(line))
