"""Shared by the tests of hostile files: run a call that must not hang."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def finishes(fn: Callable[[], Any], seconds: float = 10.0) -> Any:
    """``fn()``'s result or exception, failing the test when it takes longer than ``seconds``."""
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # the caller asserts what it is
            out.append(exc)

    started = time.perf_counter()
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s"
    assert time.perf_counter() - started < seconds
    return out[0]
