"""The moderator a service runs, swapped atomically when the ruleset is reloaded."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from safeguard.errors import SafeguardError
from safeguard.moderator import Moderator
from safeguard.rules.loader import read_ruleset, ruleset_from_bytes
from safeguard.serve.runtime import Runtime, Stamp

__all__ = ["Current"]

log = logging.getLogger("safeguard.serve")


def _build(raw: bytes, path: Path) -> Moderator:
    """A moderator for the ruleset ``raw`` of the file at ``path``, every classifier it reads loaded."""
    return Moderator(ruleset_from_bytes(raw, path)).load()


class Current:
    """Holds the moderator in service.

    Requests borrow it with :meth:`use` (from their worker thread); :meth:`reload` loads the ruleset file
    again, and only when it is valid and every classifier it reads has loaded, swaps it in. The previous
    moderator is closed (a duplicate window saves its ``state:``) once the requests using it are done.

    With a :class:`~safeguard.serve.runtime.Runtime` (``safeguard serve --workers N``), the ruleset is
    shared by the worker processes: a reload publishes what it loaded, :meth:`follow` switches to what
    another worker published, and :meth:`load` at start falls back to the published ruleset when the
    file is invalid, so that a worker uvicorn starts (after SIGHUP or a crash) cannot fail on a file
    that a reload would have refused.
    """

    def __init__(
        self, rules_path: str | Path, moderator: Moderator | None = None, runtime: Runtime | None = None
    ) -> None:
        self.rules_path = Path(rules_path)
        self._moderator = moderator
        self._users: dict[int, int] = {}
        self._cond = threading.Condition()
        self._reload_lock = threading.Lock()
        self.closed = False
        self.runtime = runtime
        #: The generation of the shared ruleset this process runs (None without a runtime directory).
        self.generation: str | None = None
        #: Why the file was not loaded at start, when the shared ruleset was loaded instead.
        self.kept: SafeguardError | None = None

    @property
    def ready(self) -> bool:
        return self._moderator is not None and not self.closed

    @property
    def moderator(self) -> Moderator:
        moderator = self._moderator
        if moderator is None:
            raise RuntimeError("the ruleset is not loaded yet")
        return moderator

    def load(self) -> Moderator:
        """Load the ruleset (when not given) and every classifier it reads. Raises ConfigError."""
        if self._moderator is None:
            if self.runtime is None:
                self._moderator = _build(read_ruleset(self.rules_path), self.rules_path)
            else:
                self._moderator = self._start(self.runtime)
        return self._moderator

    def _start(self, runtime: Runtime) -> Moderator:
        """The file's ruleset, published when it differs from the shared one; the shared one when the
        file is invalid (raising the file's error when there is none, or it fails too)."""
        stamp = runtime.read()
        try:
            raw = read_ruleset(self.rules_path)
            moderator = _build(raw, self.rules_path)
        except SafeguardError as exc:
            if stamp is None:
                raise
            try:
                moderator = _build(runtime.snapshot(stamp), self.rules_path)
            except (SafeguardError, OSError):
                raise exc from None
            self.kept, self.generation = exc, stamp.generation
            return moderator
        if stamp is None or stamp.hash != moderator.ruleset.hash:
            stamp = self._publish(runtime, raw, moderator.ruleset.hash)
        self.generation = stamp.generation if stamp else None
        return moderator

    @staticmethod
    def _publish(runtime: Runtime, raw: bytes, ruleset_hash: str) -> Stamp | None:
        try:
            return runtime.publish(raw, ruleset_hash)
        except OSError as exc:  # the reload stands in this process; the other workers keep theirs
            log.error("cannot share the ruleset with the other workers: %s", exc.strerror or type(exc).__name__)
            return None

    @contextlib.contextmanager
    def use(self) -> Iterator[Moderator]:
        with self._cond:
            moderator = self.moderator
            self._users[id(moderator)] = self._users.get(id(moderator), 0) + 1
        try:
            yield moderator
        finally:
            with self._cond:
                self._users[id(moderator)] -= 1
                if not self._users[id(moderator)]:
                    del self._users[id(moderator)]
                self._cond.notify_all()

    def reload(self, *, drain_s: float = 30.0) -> tuple[dict[str, Any], dict[str, Any]]:
        """Load the ruleset file again and swap it in; returns (previous, new) ruleset identities.

        Raises :class:`~safeguard.errors.ConfigError` (or another SafeguardError) and keeps the
        running ruleset when the file is invalid or a classifier fails to load: nothing is published
        then, so no other worker changes either. A valid one is published for the other workers.
        """
        with self._reload_lock:
            raw = read_ruleset(self.rules_path)
            fresh = _build(raw, self.rules_path)
            old = self._swap(fresh)
            if self.runtime is not None:  # before the old one drains: the others need not wait for it
                stamp = self._publish(self.runtime, raw, fresh.ruleset.hash)
                if stamp is not None:
                    self.generation = stamp.generation
            return self._retire(old, drain_s), fresh.ruleset.identity

    def follow(self, *, drain_s: float = 30.0) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Switch to the ruleset another worker published, when it is not the one in service already;
        returns (previous, new) ruleset identities, or None when there was nothing to do.

        Raises SafeguardError (or OSError) and keeps the running ruleset when the published one cannot be
        loaded; that generation is not tried again.
        """
        runtime = self.runtime
        if runtime is None:
            return None
        with self._reload_lock:
            stamp = runtime.read()
            if stamp is None or stamp.generation == self.generation:
                return None
            self.generation = stamp.generation
            if self._moderator is not None and self._moderator.ruleset.hash == stamp.hash:
                return None
            fresh = _build(runtime.snapshot(stamp), self.rules_path)
            return self._retire(self._swap(fresh), drain_s), fresh.ruleset.identity

    def _swap(self, fresh: Moderator) -> Moderator | None:
        """Put ``fresh`` in service; returns the moderator it replaces."""
        with self._cond:
            old = self._moderator
            self._moderator = fresh
        return old

    def _retire(self, old: Moderator | None, drain_s: float) -> dict[str, Any]:
        """Close ``old`` once no request uses it (waiting ``drain_s`` at most); returns its ruleset identity."""
        if old is None:
            return {}
        with self._cond:
            self._cond.wait_for(lambda: id(old) not in self._users, timeout=drain_s)
        try:
            old.close()
        except Exception as exc:  # closing the old ruleset must not undo the reload
            log.error("closing the previous ruleset failed: %s", type(exc).__name__)
        return old.ruleset.identity

    def close(self) -> None:
        """Close the moderator in service (stateful classifiers save their state)."""
        self.closed = True
        if self._moderator is not None:
            self._moderator.close()
