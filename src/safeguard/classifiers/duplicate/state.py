"""Save and restore the duplicate window: an npz file of plain arrays with a JSON header.

No pickle anywhere: strings are stored as one UTF-8 byte array plus offsets, and the file is read
with ``allow_pickle=False``. The header names the format, its version and the hashing options
(shingle, permutations, bands, seed, max_chars); band keys saved under other options would never
match new posts, so a file written with different ones is refused with a message saying what differs.

A state file is read as a regular file of at most :data:`MAX_STATE_BYTES`, and its arrays may inflate
to at most :data:`MAX_STATE_INFLATION` times its size (plus :data:`STATE_INFLATION_SLACK`): the sizes
the archive and every array header declare are checked before anything is inflated, so a small file
holding gigabytes of compressed zeros is refused, not loaded. Saving never replaces a symbolic link,
a device or a FIFO.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from safeguard.classifiers.duplicate.window import Entry
from safeguard.errors import ModelLoadError
from safeguard.files import UnsafeFileError, check_output, open_zip_bounded, read_bounded

if TYPE_CHECKING:
    from safeguard.classifiers.duplicate.options import DuplicateOptions
    from safeguard.classifiers.duplicate.window import Window

__all__ = [
    "FORMAT",
    "MAX_STATE_BYTES",
    "MAX_STATE_INFLATION",
    "STATE_INFLATION_SLACK",
    "VERSION",
    "load_state",
    "save_state",
]

#: Largest state file read (a full default window of 100,000 long posts is a few hundred MB).
MAX_STATE_BYTES = 4 * 1024**3
#: The arrays of a state file may inflate to this many times the file's size ...
MAX_STATE_INFLATION = 64
#: ... plus this much (small files of near-empty windows compress far better than text).
STATE_INFLATION_SLACK = 64 * 1024**2
#: Most archive members read (a state file holds 14 arrays).
_MAX_MEMBERS = 64

FORMAT = "safeguard-duplicate-window"
VERSION = 1
#: How band keys are computed; a file whose keys came from another scheme is refused.
ALGORITHM = "char-shingle-minhash32-multiply-add/1"


def _pack(values: Sequence[str | None]) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    encoded = [(v or "").encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    return data, offsets, np.array([v is None for v in values], dtype=np.bool_)


def _unpack(
    data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], missing: npt.NDArray[np.bool_]
) -> list[str | None]:
    raw = data.tobytes()
    bounds = offsets.tolist()
    return [None if missing[i] else raw[bounds[i] : bounds[i + 1]].decode("utf-8") for i in range(len(missing))]


def save_state(window: Window, path: Path, config: DuplicateOptions) -> None:
    """Write the window to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    entries = list(window.entries())
    n = len(entries)
    bands = config.bands
    keys = np.zeros((n, bands), dtype=np.uint64)
    indexed = np.zeros(n, dtype=np.bool_)
    for i, entry in enumerate(entries):
        if entry[4] is not None:
            keys[i] = np.array(entry[4], dtype=np.uint64)
            indexed[i] = True
    header = {
        "format": FORMAT,
        "version": VERSION,
        "algorithm": ALGORITHM,
        "hashing": config.hashing_config(),
        "start_seq": window.seq - window.count,
        "posts": n,
    }
    arrays: dict[str, Any] = {"header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)}
    columns: dict[str, list[str | None]] = {
        "ids": [e.id for e in entries],
        "authors": [e.author for e in entries],
        "texts": [e.text for e in entries],
    }
    for name, values in columns.items():
        arrays[f"{name}_data"], arrays[f"{name}_offsets"], arrays[f"{name}_missing"] = _pack(values)
    arrays["times"] = np.array([e.time for e in entries], dtype=np.float64)
    arrays["keys"] = keys
    arrays["indexed"] = indexed
    arrays["roots"] = np.array([e.root for e in entries], dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_output(path, what="duplicate window state")
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_arrays(data: bytes, path: Path) -> dict[str, npt.NDArray[Any]]:
    """The arrays of an npz file held in ``data``, inflating no more than its limits allow."""
    limit = MAX_STATE_INFLATION * len(data) + STATE_INFLATION_SLACK
    arrays: dict[str, npt.NDArray[Any]] = {}
    with open_zip_bounded(data, limit, path=path, max_members=_MAX_MEMBERS) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"unexpected member {info.filename!r}")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError(f"{info.filename} has npy format version {version}")
                if dtype.hasobject:
                    raise ValueError(f"{info.filename} holds Python objects")
                needed = math.prod(shape) * dtype.itemsize
                if needed > info.file_size:  # the array would be allocated before the data is read
                    raise ValueError(f"{info.filename} declares {needed:,} bytes of data in {info.file_size:,}")
            with archive.open(info) as member:
                arrays[info.filename[:-4]] = np.lib.format.read_array(member, allow_pickle=False)
    return arrays


def load_state(window: Window, path: Path, config: DuplicateOptions, name: str) -> None:
    """Fill an empty window from ``path``; raises :class:`ModelLoadError` for a corrupt or incompatible file."""

    def bad(why: str) -> ModelLoadError:
        return ModelLoadError(
            name, f"state file {str(path)!r} {why}; delete it to start with an empty window, or point state: elsewhere"
        )

    try:
        data = read_bounded(path, MAX_STATE_BYTES, what="duplicate window state")
    except UnsafeFileError as exc:
        raise bad(f"cannot be read: {exc.reason}") from None
    except OSError as exc:
        raise bad(f"cannot be read ({exc.strerror or exc})") from None
    try:
        arrays = _read_arrays(data, path)
    except UnsafeFileError as exc:
        raise bad(f"cannot be read as a duplicate window ({exc.reason})") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise bad(f"cannot be read as a duplicate window ({exc})") from None
    try:
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
    except (KeyError, UnicodeDecodeError, json.JSONDecodeError):
        raise bad("has no valid header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise bad(f"is not a {FORMAT} file")
    if header.get("version") != VERSION:
        raise bad(f"has format version {header.get('version')!r}; this safeguard reads version {VERSION}")
    if header.get("algorithm") != ALGORITHM:
        raise bad(f"holds band keys of hashing scheme {header.get('algorithm')!r}, not {ALGORITHM!r}")
    saved = header.get("hashing")
    wanted = config.hashing_config()
    if saved != wanted:
        diff = ", ".join(
            f"{k}: saved {saved.get(k) if isinstance(saved, dict) else None!r}, configured {v!r}"
            for k, v in wanted.items()
            if not isinstance(saved, dict) or saved.get(k) != v
        )
        raise bad(f"was written with other hashing options ({diff})")
    try:
        n = int(header["posts"])
        ids = _unpack(arrays["ids_data"], arrays["ids_offsets"], arrays["ids_missing"])
        authors = _unpack(arrays["authors_data"], arrays["authors_offsets"], arrays["authors_missing"])
        texts = _unpack(arrays["texts_data"], arrays["texts_offsets"], arrays["texts_missing"])
        times = arrays["times"].astype(np.float64).tolist()
        keys = arrays["keys"].astype(np.uint64)
        indexed = arrays["indexed"].astype(np.bool_).tolist()
        roots = arrays["roots"].astype(np.int64).tolist()
        if not (len(ids) == len(authors) == len(texts) == len(times) == len(indexed) == len(roots) == n):
            raise ValueError("columns of different lengths")
        if keys.shape != (n, config.bands):
            raise ValueError(f"keys have shape {keys.shape}")
        key_rows = keys.tolist()
        entries = [
            Entry(
                ids[i] or "",
                authors[i],
                texts[i] if indexed[i] else None,
                float(times[i]) if not math.isnan(times[i]) else math.nan,
                key_rows[i] if indexed[i] else None,
                int(roots[i]),
            )
            for i in range(n)
        ]
        start = int(header["start_seq"])
    except (KeyError, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise bad(f"is damaged ({exc})") from None
    window.restore(start, entries)
