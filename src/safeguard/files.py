"""Reading and writing files a user names, without trusting them.

Every loader of the project (rulesets, rule test files, term lists, model and state files) reads
through :func:`read_bounded`, and every output through :func:`check_output`. The rules they apply
are defined here once:

* **Regular files only.** A FIFO, a device (``/dev/zero``), a directory or a socket is refused
  before anything is read; files under ``/proc``, ``/sys`` and ``/dev`` are refused too, because
  the kernel reports their size as 0 however much they hold. The file is opened with
  ``O_NONBLOCK`` and checked with ``fstat`` on the open descriptor, so opening a FIFO never blocks
  and a path swapped between the check and the read is caught.
* **Bounded size.** Each kind of file has a limit; a larger file is refused, and a file that grows
  past its limit while being read is refused too. Compressed content is inflated under a limit of
  its own (:func:`inflate_bounded`, :func:`open_zip_bounded`).
* **Confined paths.** A path a configuration file names is resolved against that file's directory
  and must stay inside it (:func:`confined`), unless the configuration allows otherwise.
* **Outputs that never destroy.** :func:`check_output` refuses to replace a device, a directory,
  a FIFO or a symbolic link, and checks that the directory is writable before a run starts.

Refusals raise :class:`UnsafeFileError`, which names the path; callers turn it into their own
error (a :class:`~safeguard.errors.ConfigError` with file and line, an error record ...).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from safeguard.errors import SafeguardError

__all__ = [
    "PSEUDO_FILESYSTEMS",
    "UnsafeFileError",
    "check_output",
    "check_regular",
    "config_path",
    "config_root",
    "confined",
    "expand_user",
    "inflate_bounded",
    "is_path_text",
    "open_zip_bounded",
    "read_bounded",
    "read_bounded_text",
]

#: Directories whose files are not what their size says (kernel pseudo-files, device nodes).
PSEUDO_FILESYSTEMS: tuple[str, ...] = ("/proc", "/sys", "/dev")

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFLNK: "a symbolic link",
}


class UnsafeFileError(SafeguardError, OSError):
    """A file was refused: not a regular file, too large, outside its directory, or not writable."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _pseudo(path: Path) -> str | None:
    real = os.path.realpath(path)
    for root in PSEUDO_FILESYSTEMS:
        if real == root or real.startswith(root + os.sep):
            return root
    return None


def _open_regular(p: Path, limit: int, what: str) -> int:
    """A descriptor of ``p`` opened without blocking, once ``fstat`` shows a regular file of at most
    ``limit`` bytes; the caller closes it."""
    root = _pseudo(p)
    if root is not None:
        raise UnsafeFileError(p, f"a {what} cannot be read from {root}")
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(p, f"is {_kind(st.st_mode)}, not a regular file: a {what} must be a regular file")
        if st.st_size > limit:
            raise UnsafeFileError(p, f"is {st.st_size:,} bytes, over the {limit:,}-byte limit for a {what}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_regular(path: str | os.PathLike[str], limit: int, *, what: str = "file") -> int:
    """The size of ``path`` once it is known to be a regular file of at most ``limit`` bytes, for files
    another library opens by name (an ONNX model, a tokenizer). The same refusals as :func:`read_bounded`."""
    fd = _open_regular(Path(path), limit, what)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def read_bounded(path: str | os.PathLike[str], limit: int, *, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises :class:`UnsafeFileError` when ``path`` is not a regular file (a FIFO, a device, a
    directory, anything under :data:`PSEUDO_FILESYSTEMS`) or holds more than ``limit`` bytes, and
    ``OSError`` (``FileNotFoundError``, ``PermissionError`` ...) when it cannot be opened. ``what``
    names the kind of file in messages ("term list", "ruleset" ...).
    """
    p = Path(path)
    fd = _open_regular(p, limit, what)
    try:
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UnsafeFileError(p, f"grew past the {limit:,}-byte limit for a {what} while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_bounded_text(path: str | os.PathLike[str], limit: int, *, what: str = "file") -> str:
    """:func:`read_bounded`, decoded as UTF-8 (a leading byte-order mark is dropped).

    Invalid UTF-8 raises :class:`UnsafeFileError` naming the byte offset.
    """
    data = read_bounded(path, limit, what=what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsafeFileError(path, f"is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def inflate_bounded(data: bytes, limit: int, *, path: str | os.PathLike[str] = "<data>") -> bytes:
    """``data`` gunzipped (or as is when it is not gzip), refusing more than ``limit`` inflated bytes.

    Reads in bounded steps, so a small file that inflates to gigabytes ("a zip bomb") is refused
    after ``limit`` bytes, not after filling memory. Raises :class:`UnsafeFileError`.
    """
    if data[:2] != b"\x1f\x8b":
        if len(data) > limit:
            raise UnsafeFileError(path, f"is {len(data):,} bytes, over the {limit:,}-byte limit")
        return data
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    out: list[bytes] = []
    total = 0
    pending = data
    try:
        while pending:
            chunk = decompressor.decompress(pending, limit + 1 - total)
            out.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UnsafeFileError(path, f"inflates to more than the {limit:,}-byte limit")
            pending = decompressor.unconsumed_tail
            if decompressor.eof:
                if decompressor.unused_data:  # a second gzip member: inflate it under the same limit
                    rest = inflate_bounded(decompressor.unused_data, limit - total, path=path)
                    out.append(rest)
                break
            if not chunk and not pending:
                break
        if not decompressor.eof:
            raise UnsafeFileError(path, "is a truncated gzip stream")
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise UnsafeFileError(path, f"is not a valid gzip stream: {exc}") from None
    return b"".join(out)


def open_zip_bounded(
    data: bytes, limit: int, *, path: str | os.PathLike[str] = "<data>", max_members: int = 1000
) -> zipfile.ZipFile:
    """A zip archive over ``data`` whose members declare at most ``limit`` inflated bytes in all.

    The sizes the archive declares are checked before any member is inflated; :mod:`zipfile` never
    inflates a member past its declared size (a member that holds more fails its CRC check with
    :class:`zipfile.BadZipFile`), so reading the archive costs at most ``limit`` bytes. Raises
    :class:`UnsafeFileError` for an archive over the limit, with more than ``max_members`` members,
    or that is not a zip archive.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise UnsafeFileError(path, f"is not a valid zip archive: {exc}") from None
    members = archive.infolist()
    if len(members) > max_members:
        archive.close()
        raise UnsafeFileError(path, f"holds {len(members):,} archive members, over the limit of {max_members:,}")
    declared = sum(m.file_size for m in members)
    if declared > limit:
        archive.close()
        raise UnsafeFileError(path, f"inflates to {declared:,} bytes, over the {limit:,}-byte limit")
    return archive


def expand_user(path: str | os.PathLike[str]) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded. Unlike :meth:`pathlib.Path.expanduser`, an
    unknown user or a missing home directory leaves the path as written instead of raising, so the
    file is then simply not found."""
    return Path(os.path.expanduser(os.fspath(path)))


def confined(path: str | os.PathLike[str], root: str | os.PathLike[str], *, allow_outside: bool = False) -> Path:
    """``path`` resolved against the directory ``root``; it must stay inside ``root``.

    Relative paths are read from ``root``; symbolic links are followed before the check, so a link
    that points outside counts as outside. With ``allow_outside`` any path is accepted (still
    resolved against ``root``). Raises :class:`UnsafeFileError` naming both paths.
    """
    if not is_path_text(path):
        raise UnsafeFileError(path, "is not a file name")
    base = Path(root).resolve()
    candidate = expand_user(path)
    full = (base / candidate).resolve()
    if not allow_outside and not full.is_relative_to(base):
        raise UnsafeFileError(
            path, f"is outside {base} (set allow_outside: true in the ruleset to read files from elsewhere)"
        )
    return full


def check_output(path: str | os.PathLike[str], *, what: str = "output") -> Path:
    """Check, before a run starts, that ``path`` can be written as a new regular file and renamed
    into place; returns it.

    Refused (:class:`UnsafeFileError`): a path that is a symbolic link (the link would be replaced,
    not its target), a directory, a device, a FIFO or a socket; a directory that does not exist or
    cannot be written to. An existing regular file is fine: it is replaced only when the run ends.
    """
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UnsafeFileError(p, f"cannot write the {what}: {exc.strerror or exc}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UnsafeFileError(p, f"is {_kind(st.st_mode)}: refusing to replace it with the {what}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UnsafeFileError(p, f"cannot write the {what}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UnsafeFileError(p, f"cannot write the {what}: directory {parent} is not writable")
    return p


#: The directory that paths named by the configuration being loaded must stay in, and whether the
#: configuration lets them leave it (``allow_outside``). ``None`` outside a ruleset load.
_CONFIG_ROOT: ContextVar[tuple[Path, bool] | None] = ContextVar("safeguard_config_root", default=None)


@contextlib.contextmanager
def config_root(root: str | os.PathLike[str], *, allow_outside: bool = False) -> Iterator[None]:
    """While the ``with`` block runs, :func:`config_path` keeps every path inside ``root`` (a ruleset's
    directory) unless ``allow_outside``. The ruleset loader builds its classifiers inside this block."""
    token = _CONFIG_ROOT.set((Path(root), allow_outside))
    try:
        yield
    finally:
        _CONFIG_ROOT.reset(token)


def is_path_text(value: Any) -> bool:
    """Whether ``value`` can name a file: a non-empty string or path-like without a NUL character (which
    no file name holds, and which the operating system refuses with a ``ValueError``)."""
    return isinstance(value, (str, os.PathLike)) and bool(str(value)) and "\0" not in str(value)


def config_path(value: Any, option: str, base_dir: str | os.PathLike[str] | None = None) -> Path:
    """The path a configuration option names (a model, a state file ...), relative to ``base_dir``
    (the ruleset's directory) when not absolute; ``~`` is expanded.

    Raises ``ValueError`` when ``value`` is not a path, and :class:`UnsafeFileError` when a ruleset is
    being loaded (:func:`config_root`) and the path leaves its directory without ``allow_outside``.
    """
    if not is_path_text(value):
        raise ValueError(f"{option} must be a path, got {value!r}")
    path = expand_user(value)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    scope = _CONFIG_ROOT.get()
    if scope is not None:
        confined(path, scope[0], allow_outside=scope[1])
    return path
