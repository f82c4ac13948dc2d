"""The runtime directory the worker processes of one ``safeguard serve --workers N`` share.

uvicorn gives each request to one worker, ``POST /v1/admin/reload`` included, and a SIGHUP sent to a
worker reaches that worker only; yet every worker must answer with the same ruleset. So the worker
that loads a ruleset publishes it here, and the others watch the stamp and switch to it.

``safeguard serve`` creates the directory (private, under the temporary directory) before uvicorn
starts, publishes the ruleset it has just checked, passes the path to the workers with their settings,
and removes the directory when the server stops. In it:

* ``ruleset-<generation>.yaml``: the exact bytes of a ruleset a worker validated and loaded. A stamp
  names one and it is never rewritten, so a worker that follows loads what the publisher loaded, even
  when the file has been edited since; list files it names are read again, next to the ruleset file.
* ``generation``: the stamp, ``{"generation", "hash", "snapshot"}``, replaced atomically (written to a
  temporary file, then renamed over the old one).

Publishing takes no lock. Two workers publishing at the same moment leave one complete stamp, the
last one renamed, naming a complete snapshot; every worker, the other publisher included, sees the
stamp change and switches to it, so they all end on the same ruleset.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["KEEP_S", "STAMP", "Runtime", "Stamp"]

#: The stamp's file name.
STAMP = "generation"
#: Seconds a snapshot is kept once another is published (a follower reads it within a second or two).
KEEP_S = 600.0


@dataclass(frozen=True)
class Stamp:
    """The ruleset the workers should run: a generation id, its ruleset hash and its snapshot's file name."""

    generation: str
    hash: str
    snapshot: str


class Runtime:
    """One server's runtime directory (see the module docstring)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._last: tuple[int, int, int] | None = None

    @property
    def stamp_path(self) -> Path:
        return self.directory / STAMP

    def read(self) -> Stamp | None:
        """The stamp; None when none has been published (or it cannot be read)."""
        try:
            data = json.loads(self.stamp_path.read_bytes())
            return Stamp(str(data["generation"]), str(data["hash"]), Path(str(data["snapshot"])).name)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def snapshot(self, stamp: Stamp) -> bytes:
        """The ruleset bytes ``stamp`` names. Raises OSError."""
        return (self.directory / stamp.snapshot).read_bytes()

    def changed(self) -> bool:
        """Whether the stamp file looks different from the last time this was asked: one ``os.stat``,
        cheap enough to ask every half second. True the first time."""
        try:
            st = os.stat(self.stamp_path)
            last: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            last = None
        changed = self._last is None or last != self._last
        self._last = last
        return changed

    def publish(self, raw: bytes, ruleset_hash: str) -> Stamp:
        """Make the ruleset ``raw`` (whose hash is ``ruleset_hash``) the one every worker runs. Raises OSError."""
        generation = uuid.uuid4().hex
        stamp = Stamp(generation, ruleset_hash, f"ruleset-{generation}.yaml")
        self._write(stamp.snapshot, raw)  # before the stamp that names it
        self._write(STAMP, json.dumps(asdict(stamp)).encode("utf-8"))
        self._prune(keep=stamp.snapshot)
        return stamp

    def _write(self, name: str, data: bytes) -> None:
        temporary = self.directory / f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            temporary.write_bytes(data)
            os.replace(temporary, self.directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def _prune(self, keep: str) -> None:
        """Remove the snapshots but ``keep`` written over :data:`KEEP_S` seconds ago, so reloads do not pile up.

        A worker that still reads one after that finds it gone, logs the failed reload and switches to the
        stamp's next snapshot as it sees the stamp change again."""
        cutoff = time.time() - KEEP_S
        for path in self.directory.glob("ruleset-*.yaml"):
            if path.name != keep:
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
