"""The file formats posts are read from and decisions written to: one table, from which the readers,
the writers, format detection and the help texts all take their names and extensions.

Adding a format is one row here, a reader in :mod:`.readers` and a writer in :mod:`.writers`
(each keyed by the row's name); tests check that every row has both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from safeguard.errors import ConfigError

__all__ = [
    "COMPRESSED",
    "FORMATS",
    "TABLE",
    "Format",
    "detect_format",
    "listing",
    "normalize_format",
]


@dataclass(frozen=True)
class Format:
    """One file format."""

    #: The canonical name (``--format`` values, :func:`normalize_format`'s result).
    name: str
    #: What people call it in prose.
    title: str
    #: Other names accepted for it.
    aliases: tuple[str, ...]
    #: File extensions that mean it, the first the usual one.
    extensions: tuple[str, ...]
    #: A line-oriented text format: it may be compressed (:data:`COMPRESSED`), read from standard
    #: input, written to standard output and continued at a byte offset.
    text: bool
    #: The field separator of a delimited text format; None for the others.
    delimiter: str | None = None


TABLE: dict[str, Format] = {
    f.name: f
    for f in (
        Format("jsonl", "JSON Lines", ("ndjson", "json"), (".jsonl", ".ndjson", ".json"), text=True),
        Format("csv", "CSV", (), (".csv",), text=True, delimiter=","),
        Format("tsv", "TSV", (), (".tsv",), text=True, delimiter="\t"),
        Format("parquet", "Parquet", ("pq",), (".parquet", ".pq"), text=False),
    )
}

#: Canonical format names, in table order.
FORMATS: tuple[str, ...] = tuple(TABLE)
#: Compression suffixes looked through for the text formats.
COMPRESSED: tuple[str, ...] = (".gz", ".bz2", ".xz")

_BY_NAME = {alias: f.name for f in TABLE.values() for alias in (f.name, *f.aliases)}
_BY_EXTENSION = {ext: f.name for f in TABLE.values() for ext in f.extensions}


def listing(names: tuple[str, ...] = FORMATS, *, titles: bool = False) -> str:
    """``"jsonl, csv, tsv or parquet"`` (with ``titles``: ``"JSON Lines, CSV, TSV or Parquet"``)."""
    words = [TABLE[n].title if titles else n for n in names]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def normalize_format(format: str) -> str:
    """Canonical name of a format name or alias (``ndjson`` -> ``jsonl``, ``pq`` -> ``parquet``).

    Raises :class:`~safeguard.errors.ConfigError` for an unknown format.
    """
    fmt = _BY_NAME.get(format.strip().lower().lstrip("."))
    if fmt is None:
        raise ConfigError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}", file="format")
    return fmt


def detect_format(path: str | Path) -> str:
    """The format of ``path`` from its extension (see :data:`TABLE`); a trailing compression suffix
    (:data:`COMPRESSED`) is looked through for the text formats. ``"-"`` (standard input or output)
    is JSON Lines. Raises :class:`~safeguard.errors.ConfigError` for anything else."""
    name = str(path)
    if name == "-":
        return "jsonl"
    lower = Path(name).name.lower()
    compressed = lower.endswith(COMPRESSED)
    if compressed:
        lower = lower.rsplit(".", 1)[0]
    fmt = _BY_EXTENSION.get(os.path.splitext(lower)[1])
    if fmt is None:
        extensions = ", ".join(ext for f in TABLE.values() for ext in f.extensions)
        raise ConfigError(
            f"cannot tell the format from the file extension ({extensions}, optionally {COMPRESSED[0]}): "
            f"name the format ({'|'.join(FORMATS)})",
            file=name,
        )
    if compressed and not TABLE[fmt].text:
        raise ConfigError(
            f"compressed {TABLE[fmt].title} files are not supported ({TABLE[fmt].title} compresses its own pages)",
            file=name,
        )
    return fmt
