"""Where the toxicity classifier's shipped files live: term lists, trained heads and the encoder."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DATA_DIR"]

#: The shipped model and word files.
DATA_DIR = Path(__file__).resolve().parent / "data"
