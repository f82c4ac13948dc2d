"""Checkpoints of ``safeguard moderate -o OUT``, so that ``--resume`` continues a killed run.

While the run goes, records are written to ``OUT.partial`` and, every so often, the partial file is
flushed to disk and a small JSON sidecar ``OUT.partial.checkpoint.json`` is replaced atomically. It
says how many input records are final, how long the partial file was then, what the run was (the
inputs' paths, sizes and modification times; the ruleset hash; the output format and the options
that change records) and the summary counts so far. A resumed run cuts the partial file to that
length, reads past that many input records and continues; any difference in what the run is
refuses to resume.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from safeguard.errors import SafeguardError

__all__ = [
    "FORMAT",
    "CheckpointError",
    "checkpoint_path",
    "differences",
    "file_identity",
    "partial_path",
    "read_checkpoint",
    "remove",
    "temp_path",
    "write_checkpoint",
]

FORMAT = "safeguard-moderate-checkpoint/1"
#: Largest checkpoint file read (the counts of rules fired grow with the ruleset only).
MAX_BYTES = 16 << 20


class CheckpointError(SafeguardError):
    """A checkpoint cannot be read, or belongs to another run."""


def partial_path(output: str) -> str:
    """Where the records of a run to ``output`` go until it finishes."""
    return output + ".partial"


def checkpoint_path(partial: str) -> str:
    """The checkpoint sidecar of a partial file."""
    return partial + ".checkpoint.json"


def file_identity(name: str) -> dict[str, Any]:
    """``{"path", "size", "mtime_ns"}`` of a file (``size`` and ``mtime_ns`` ``None`` when it is missing)."""
    path = os.path.abspath(name)
    try:
        st = os.stat(path)
    except OSError:
        return {"path": path, "size": None, "mtime_ns": None}
    return {"path": path, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def write_checkpoint(path: str, data: Mapping[str, Any]) -> None:
    """Replace the checkpoint at ``path`` atomically: :func:`temp_path` written, fsynced, renamed."""
    tmp = temp_path(path)
    body = json.dumps({"format": FORMAT, **data}, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def temp_path(path: str) -> str:
    """The hidden file a checkpoint is written to before it is renamed into place."""
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.tmp")


def read_checkpoint(path: str) -> dict[str, Any] | None:
    """The checkpoint at ``path``; ``None`` when there is none. Raises :class:`CheckpointError` for an
    unreadable or damaged one."""
    from safeguard.files import read_bounded_text

    if not os.path.lexists(path):
        return None
    try:
        data: Any = json.loads(read_bounded_text(path, MAX_BYTES, what="checkpoint"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read ({exc}); run without --resume to start over") from None
    ok = (
        isinstance(data, dict)
        and data.get("format") == FORMAT
        and isinstance(data.get("records"), int)
        and isinstance(data.get("bytes"), int)
        and isinstance(data.get("run"), dict)
        and isinstance(data.get("counts"), dict)
    )
    if not ok:
        raise CheckpointError(f"{path} is not a safeguard checkpoint; run without --resume to start over")
    return dict(data)


def differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between the run a checkpoint was written by and this one, one phrase each."""
    out: list[str] = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if a == b:
            continue
        if key == "inputs" and isinstance(a, list) and isinstance(b, list):
            out.extend(_input_differences(a, b))
        else:
            out.append(f"{key}: checkpoint has {_show(a)}, this run has {_show(b)}")
    return out


def _input_differences(saved: Sequence[Any], current: Sequence[Any]) -> list[str]:
    if [i.get("path") for i in saved] != [i.get("path") for i in current]:
        return [
            "inputs: checkpoint has "
            + ", ".join(str(i.get("path")) for i in saved)
            + "; this run has "
            + ", ".join(str(i.get("path")) for i in current)
        ]
    out = []
    for a, b in zip(saved, current, strict=True):
        if a.get("size") != b.get("size"):
            out.append(f"input {a.get('path')} changed size ({a.get('size')} bytes, now {b.get('size')})")
        elif a != b:
            out.append(f"input {a.get('path')} was modified since the checkpoint")
    return out


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def remove(*paths: str | Path) -> None:
    """Delete files, ignoring those already gone."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
