"""The moderator a service runs, swapped atomically when the ruleset is reloaded."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from safeguard.moderator import Moderator

__all__ = ["Current"]

log = logging.getLogger("safeguard.serve")


class Current:
    """Holds the moderator in service.

    Requests borrow it with :meth:`use` (from their worker thread); :meth:`reload` loads the ruleset file
    again, and only when it is valid and every classifier it reads has loaded, swaps it in. The previous
    moderator is closed (a duplicate window saves its ``state:``) once the requests using it are done.
    """

    def __init__(self, rules_path: str | Path, moderator: Moderator | None = None) -> None:
        self.rules_path = Path(rules_path)
        self._moderator = moderator
        self._users: dict[int, int] = {}
        self._cond = threading.Condition()
        self._reload_lock = threading.Lock()
        self.closed = False

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
            self._moderator = Moderator.from_file(self.rules_path).load()
        return self._moderator

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
        running ruleset when the file is invalid or a classifier fails to load.
        """
        with self._reload_lock:
            fresh = Moderator.from_file(self.rules_path).load()
            with self._cond:
                old = self._moderator
                self._moderator = fresh
            if old is not None:
                self._retire(old, drain_s)
            return (old.ruleset.identity if old else {}), fresh.ruleset.identity

    def _retire(self, old: Moderator, drain_s: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: id(old) not in self._users, timeout=drain_s)
        try:
            old.close()
        except Exception as exc:  # closing the old ruleset must not undo the reload
            log.error("closing the previous ruleset failed: %s", type(exc).__name__)

    def close(self) -> None:
        """Close the moderator in service (stateful classifiers save their state)."""
        self.closed = True
        if self._moderator is not None:
            self._moderator.close()
