"""A throwaway PostgreSQL cluster for tests: initdb in a temporary directory, listening on a unix socket
there only, stopped and removed at the end. Runs the server as ``nobody`` when the tests run as root
(initdb refuses root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or ``None`` when PostgreSQL is not installed."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(candidate, "initdb"), os.X_OK) and os.access(
            os.path.join(candidate, "pg_ctl"), os.X_OK
        ):
            return Path(candidate)
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    return None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "nobody", "--", *command]
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    raise RuntimeError("running as root, and neither runuser nor setpriv is there to run PostgreSQL as nobody")


@contextmanager
def cluster() -> Iterator[str]:
    """A running cluster; yields a ``postgresql://`` URL of a fresh database ``review`` in it."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed")
    root = Path(tempfile.mkdtemp(prefix="sg-pg-"))
    try:
        if os.geteuid() == 0:
            import pwd

            nobody = pwd.getpwnam("nobody")
            os.chown(root, nobody.pw_uid, nobody.pw_gid)
        data = root / "data"
        run = lambda cmd, **kw: subprocess.run(  # noqa: E731
            _as_server_user(cmd), capture_output=True, text=True, timeout=120, cwd=root, **kw
        )
        done = run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr or done.stdout}")
        options = f"-k {root} -h '' -F -c fsync=off -c max_connections=40"
        done = run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "-l",
                str(root / "log"),
                "start",
            ]
        )
        if done.returncode != 0:
            log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr or done.stdout}\n{log}")
        try:
            import psycopg

            with psycopg.connect(host=str(root), user="postgres", dbname="postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE review")
            yield f"postgresql://postgres@/review?host={root}"
        finally:
            run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def database(base_url: str, name: str) -> Iterator[str]:
    """A new empty database ``name`` in the cluster of ``base_url``; dropped afterwards."""
    import psycopg

    host = base_url.split("host=", 1)[1]
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@/{name}?host={host}"
    finally:
        with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
