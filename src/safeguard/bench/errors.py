"""Why a benchmark subject cannot run."""

from __future__ import annotations

__all__ = ["Skipped"]


class Skipped(Exception):
    """A subject cannot run in this installation; the message says why and what to install."""
