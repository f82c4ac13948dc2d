"""``safeguard serve``: the moderator as an HTTP service."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
from pathlib import Path
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from safeguard.cli import exit_codes
from safeguard.cli.common import DEFAULT_RULES, RulesOpt, app, check_outputs, err, fail_config, load_moderator
from safeguard.errors import ConfigError, install_hint

if TYPE_CHECKING:
    from safeguard.serve.settings import ServeSettings


@app.command()
def serve(
    rules: RulesOpt = DEFAULT_RULES,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes, each with the ruleset loaded once.")
    ] = 1,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="API keys, one a line: 'name:SHA256HEX' or a plain key (hashed when read). Also read from "
            "SAFEGUARD_API_KEYS (comma-separated). Without any key the API is open.",
        ),
    ] = None,
    admin_keys: Annotated[
        Path | None,
        typer.Option(
            "--admin-keys",
            help="Keys for /v1/admin/* (reload), same format; also SAFEGUARD_ADMIN_KEYS. Without any, admin "
            "endpoints are off (SIGHUP still reloads).",
        ),
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1024, help="Largest request body (413 beyond it).")
    ] = 1 << 20,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Most posts in one request.")] = 256,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.001,
            help="Seconds a request may spend moderating; past it each post gets the ruleset's on_error action.",
        ),
    ] = 10.0,
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="Append the score suggestions of comments:suggestscore to this JSONL file."),
    ] = None,
    cors_origin: Annotated[
        list[str] | None, typer.Option("--cors-origin", help="Allow this origin by CORS (repeat; default: none).")
    ] = None,
    hook_secret: Annotated[
        list[str] | None,
        typer.Option(
            "--hook-secret",
            help="FORUM=FILE: serve POST /v1/hooks/FORUM (discourse, nodebb or vanilla), its deliveries signed "
            "with the secret in FILE (repeat). Also SAFEGUARD_HOOK_SECRETS ('FORUM=SECRET', comma-separated).",
        ),
    ] = None,
    hook_callback: Annotated[
        str | None,
        typer.Option("--hook-callback", help="POST each webhook decision to this URL too (in the background)."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="SAFEGUARD_REVIEW_DB",
            help="Review store (a SQLite file or a postgresql:// URL; also $SAFEGUARD_REVIEW_DB): queue every "
            "hold there, store suggestscore requests as labels, and serve the moderators' pages at /review. "
            "Sessions are signed with $SAFEGUARD_REVIEW_SECRET, else a key made at each start.",
        ),
    ] = None,
) -> None:
    """Serve the ruleset over HTTP until SIGTERM or Ctrl+C.

    Endpoints: POST /v1/moderate, /v1/classify, /v1/explain; GET /v1/ruleset, /healthz, /readyz,
    /metrics, /openapi.json; POST /v1/admin/reload; the OpenAI-compatible POST /v1/moderations and the
    Perspective-compatible POST /v1alpha1/comments:analyze and :suggestscore; POST /v1/hooks/FORUM for
    each forum given a webhook secret (signed deliveries, no API key); with --db, the review pages under
    /review (moderators log in there; no API key). Every classifier loads
    before the port answers; SIGHUP or /v1/admin/reload loads the ruleset again (an invalid one never
    replaces the running one). One JSON access-log line per request on stderr. Exit 2 for an invalid
    ruleset, key file or hook secret, or when the serve extra is not installed.

    With --workers N > 1, a reload reaches every worker: the worker that answers /v1/admin/reload (or
    gets a SIGHUP sent to its own pid) publishes the ruleset it loaded in a private runtime directory of
    this server, and the other workers switch to it within a second; an invalid file is refused there
    and changes nothing anywhere. SIGHUP to the main process makes uvicorn (0.30 or later) restart the
    workers one at a time: each new worker loads the file and shares it when it is new, or, when it is
    invalid, starts on the ruleset the others run, so an invalid file cannot stop the service.
    """
    missing = [m for m in ("fastapi", "uvicorn", "prometheus_client") if importlib.util.find_spec(m) is None]
    if missing:
        err.print(f"[red]error:[/red] serve needs {', '.join(missing)}: {escape(install_hint('serve'))}")
        raise typer.Exit(exit_codes.CONFIG)
    import uvicorn

    from safeguard.serve.app import create_app
    from safeguard.serve.settings import (
        ADMIN_KEYS_ENV,
        API_KEYS_ENV,
        REVIEW_SECRET_ENV,
        KeyRing,
        ServeSettings,
        hook_secrets,
    )

    try:
        api_ring = (KeyRing.from_file(keys) if keys else KeyRing()) + KeyRing.from_env(API_KEYS_ENV)
        admin_ring = (KeyRing.from_file(admin_keys) if admin_keys else KeyRing()) + KeyRing.from_env(ADMIN_KEYS_ENV)
        secrets = hook_secrets(hook_secret or ())
    except ConfigError as exc:
        raise fail_config(exc) from None
    if hook_callback and not hook_callback.startswith(("http://", "https://")):
        err.print("[red]error:[/red] --hook-callback must be an http:// or https:// URL")
        raise typer.Exit(exit_codes.CONFIG)
    if labels is not None:
        check_outputs((labels, "labels file"))
    review_secret = os.environ.get(REVIEW_SECRET_ENV) or None
    if db:
        _check_store(db)
        if review_secret is None and workers > 1:
            review_secret = token_urlsafe(32)  # one key for every worker of this server
    settings = ServeSettings(
        api_keys=api_ring,
        admin_keys=admin_ring,
        max_body_bytes=max_body_bytes,
        max_batch=max_batch,
        timeout_s=timeout,
        labels_path=labels.resolve() if labels else None,
        cors_origins=tuple(cors_origin or ()),
        hook_secrets=secrets,
        hook_callback=hook_callback or None,
        review_db=db or None,
        review_secret=review_secret,
    )
    if not api_ring:
        err.print("[yellow]warning:[/yellow] no API keys configured: the API is open to anyone who can reach the port")
    common = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,  # the app writes its own JSON access log
        "timeout_graceful_shutdown": int(timeout) + 5,
        "server_header": False,
    }
    # uvicorn stops gracefully on SIGTERM, then raises the signal again for the handler it found: a
    # handler that does nothing lets the command end normally (exit 0) once the service has stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    err.print(f"serving {escape(str(rules))} on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''})")
    if workers == 1:
        moderator = load_moderator(rules)  # exit 2 on an invalid ruleset; warm before the port opens
        uvicorn.run(create_app(rules.resolve(), settings, moderator=moderator), **common)  # type: ignore[arg-type]
        return
    _serve_workers(rules, settings, workers, common)


def _check_store(db: str) -> None:
    """Open the review store of ``--db`` once (creating or upgrading it): exit 2 for a bad URL, 4 when it
    cannot be reached, before any worker starts."""
    from safeguard.errors import ReviewError
    from safeguard.review import ReviewStore

    try:
        ReviewStore.open(db).close()
    except ReviewError as exc:
        err.print(f"[red]error:[/red] --db: {escape(str(exc))}")
        raise typer.Exit(exit_codes.IO if exc.code == "unavailable" else exit_codes.CONFIG) from None


def _serve_workers(rules: Path, settings: ServeSettings, workers: int, common: dict[str, Any]) -> None:
    """Run ``workers`` uvicorn worker processes that share their ruleset.

    uvicorn gives each request to one worker and a SIGHUP sent to a worker reaches that worker only, so
    the workers share the ruleset through a runtime directory (:mod:`safeguard.serve.runtime`): created
    here, private to this server and removed when it stops, it holds the ruleset checked here before
    any worker starts; a worker that reloads publishes the ruleset it loaded there, and the others
    switch to it.

    SIGHUP to this (the main) process is uvicorn's: it starts a new worker for each running one, which
    loads the ruleset file (and publishes it when it differs from the shared one). uvicorn 0.51 and
    later wait for the new worker to be ready before they stop the old one, and keep the old one if the
    new one is not ready within ``timeout_worker_healthcheck`` (5 s); 0.30 to 0.50 stop the old worker
    first; before 0.30 the supervisor does not handle SIGHUP at all. Either way an invalid file cannot
    take the service down: a new worker that cannot load the file starts on the shared ruleset instead
    (and logs ``reload_failed``), and a worker uvicorn starts again after a crash does the same.
    """
    import tempfile

    import uvicorn

    from safeguard.rules.loader import read_ruleset, ruleset_from_bytes
    from safeguard.serve.app import SETTINGS_ENV
    from safeguard.serve.runtime import Runtime

    if not rules.exists():
        err.print(f"[red]error:[/red] rules file {escape(repr(str(rules)))} not found (pass --rules FILE)")
        raise typer.Exit(exit_codes.CONFIG)
    try:
        raw = read_ruleset(rules)
        ruleset = ruleset_from_bytes(raw, rules)  # each worker loads it again; check it once here
    except ConfigError as exc:
        raise fail_config(exc) from None
    runtime = Path(tempfile.mkdtemp(prefix="safeguard-serve-"))
    try:
        Runtime(runtime).publish(raw, ruleset.hash)
        os.environ[SETTINGS_ENV] = json.dumps(
            {"rules": str(rules.resolve()), "settings": json.loads(settings.to_json()), "runtime": str(runtime)}
        )
        uvicorn.run("safeguard.serve.app:create_app_from_env", factory=True, workers=workers, **common)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
