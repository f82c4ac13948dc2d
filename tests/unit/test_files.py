"""safeguard.files: regular files only, bounded sizes, confined paths, outputs that never destroy."""

from __future__ import annotations

import gzip
import io
import os
import time
import zipfile
from pathlib import Path

import pytest
from _bounded import finishes

from safeguard.errors import SafeguardError
from safeguard.files import (
    UnsafeFileError,
    check_output,
    check_regular,
    confined,
    inflate_bounded,
    open_zip_bounded,
    read_bounded,
    read_bounded_text,
)


def test_reads_a_regular_file_within_its_limit(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_bytes(b"\xef\xbb\xbfhello\n")
    assert read_bounded(f, 100) == b"\xef\xbb\xbfhello\n"
    assert read_bounded_text(f, 100) == "hello\n"


def test_refuses_a_file_over_its_limit_and_names_it(tmp_path: Path) -> None:
    f = tmp_path / "big.txt"
    f.write_bytes(b"x" * 101)
    with pytest.raises(UnsafeFileError, match=r"big\.txt.*101 bytes, over the 100-byte limit for a term list"):
        read_bounded(f, 100, what="term list")


def test_is_part_of_the_project_error_tree_and_an_oserror() -> None:
    assert issubclass(UnsafeFileError, SafeguardError)
    assert issubclass(UnsafeFileError, OSError)


def test_missing_file_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "nope", 10)


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null", "/proc/self/environ", "/sys/kernel/mm"])
def test_refuses_devices_and_kernel_pseudo_files(path: str) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} does not exist on this system")
    with pytest.raises(UnsafeFileError, match="cannot be read from"):
        read_bounded(path, 1000)


def test_refuses_a_symlink_to_a_device(tmp_path: Path) -> None:
    link = tmp_path / "words.txt"
    link.symlink_to("/dev/zero")
    with pytest.raises(UnsafeFileError):
        read_bounded(link, 1000)


def test_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "list.txt"
    os.mkfifo(fifo)
    exc = finishes(lambda: read_bounded(fifo, 1000), seconds=5)
    assert isinstance(exc, UnsafeFileError)
    assert "a FIFO" in str(exc)


def test_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises((UnsafeFileError, IsADirectoryError)):
        read_bounded(tmp_path, 1000)


def test_invalid_utf8_names_the_byte(tmp_path: Path) -> None:
    f = tmp_path / "bad.txt"
    f.write_bytes(b"ok\n\xff\n")
    with pytest.raises(UnsafeFileError, match="byte 3"):
        read_bounded_text(f, 100)


def test_inflate_bounded_passes_small_gzip_and_plain_data() -> None:
    assert inflate_bounded(gzip.compress(b"abc" * 10), 100) == b"abc" * 10
    assert inflate_bounded(b"plain", 100) == b"plain"
    two_members = gzip.compress(b"a" * 10) + gzip.compress(b"b" * 10)
    assert inflate_bounded(two_members, 100) == b"a" * 10 + b"b" * 10


def test_inflate_bounded_refuses_a_bomb_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    with pytest.raises(UnsafeFileError, match="inflates to more than"):
        inflate_bounded(bomb, 1024 * 1024)
    with pytest.raises(UnsafeFileError, match="inflates to more than"):
        inflate_bounded(gzip.compress(b"a" * 60) + gzip.compress(b"b" * 60), 100)


def test_inflate_bounded_refuses_truncated_and_corrupt_streams() -> None:
    data = gzip.compress(os.urandom(5000))
    with pytest.raises(UnsafeFileError, match="truncated"):
        inflate_bounded(data[: len(data) // 2], 10_000)
    with pytest.raises(UnsafeFileError, match="not a valid gzip"):
        inflate_bounded(b"\x1f\x8b" + b"\xff" * 40, 10_000)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_open_zip_bounded_reads_a_small_archive() -> None:
    archive = open_zip_bounded(_zip({"a.npy": b"abc", "b.npy": b"de"}), 5)
    assert archive.read("a.npy") == b"abc" and archive.read("b.npy") == b"de"


def test_open_zip_bounded_refuses_a_bomb_before_inflating_it() -> None:
    bomb = _zip({"zeros.npy": b"\0" * (200 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    started = time.perf_counter()
    with pytest.raises(UnsafeFileError, match=r"state\.npz: inflates to 209,715,200 bytes, over the 1,048,576-byte"):
        open_zip_bounded(bomb, 1024 * 1024, path="state.npz")
    assert time.perf_counter() - started < 1.0  # refused from the declared sizes, nothing inflated


def test_open_zip_bounded_never_inflates_past_a_lying_declared_size() -> None:
    bomb = bytearray(_zip({"zeros.npy": b"\0" * (50 * 1024 * 1024)}))
    central = bomb.index(b"PK\x01\x02")
    bomb[central + 24 : central + 28] = (1000).to_bytes(4, "little")  # claims 1,000 inflated bytes
    archive = open_zip_bounded(bytes(bomb), 10_000)
    with archive.open("zeros.npy") as member, pytest.raises(zipfile.BadZipFile):
        while member.read(4096):
            assert member.tell() <= 1000


def test_open_zip_bounded_refuses_what_is_not_a_zip_and_too_many_members() -> None:
    with pytest.raises(UnsafeFileError, match="not a valid zip archive"):
        open_zip_bounded(b"not a zip" * 10, 1000, path="x.npz")
    with pytest.raises(UnsafeFileError, match="3 archive members, over the limit of 2"):
        open_zip_bounded(_zip({"a": b"", "b": b"", "c": b""}), 1000, max_members=2)


def test_confined_keeps_paths_inside_the_directory(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    assert confined("lists/a.txt", tmp_path) == (tmp_path / "lists" / "a.txt").resolve()
    for outside in ("../../../../etc/passwd", "/etc/passwd", "/proc/self/environ", "lists/../../x"):
        with pytest.raises(UnsafeFileError, match="is outside"):
            confined(outside, tmp_path)
    assert confined("/etc/passwd", tmp_path, allow_outside=True) == Path("/etc/passwd").resolve()


def test_confined_follows_symlinks_before_checking(tmp_path: Path) -> None:
    (tmp_path / "escape.txt").symlink_to("/etc/hostname")
    with pytest.raises(UnsafeFileError, match="is outside"):
        confined("escape.txt", tmp_path)


def test_check_output_accepts_new_and_regular_files(tmp_path: Path) -> None:
    assert check_output(tmp_path / "new.jsonl") == tmp_path / "new.jsonl"
    existing = tmp_path / "old.jsonl"
    existing.write_text("x")
    assert check_output(existing) == existing


def test_check_output_refuses_what_it_would_destroy(tmp_path: Path) -> None:
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "target.jsonl")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path, kind in ((link, "symbolic link"), (tmp_path, "directory"), (fifo, "FIFO"), (Path("/dev/null"), "device")):
        with pytest.raises(UnsafeFileError, match=kind):
            check_output(path)


def test_check_output_refuses_a_missing_or_readonly_directory(tmp_path: Path) -> None:
    with pytest.raises(UnsafeFileError, match="does not exist"):
        check_output(tmp_path / "missing" / "summary.json")
    if os.geteuid() == 0:
        pytest.skip("root can write to any directory")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UnsafeFileError, match="not writable"):
            check_output(ro / "out.jsonl")
    finally:
        ro.chmod(0o700)


def test_check_regular_refuses_what_read_bounded_refuses(tmp_path: Path) -> None:
    f = tmp_path / "model.onnx"
    f.write_bytes(b"x" * 10)
    assert check_regular(f, 10) == 10
    with pytest.raises(UnsafeFileError, match="over the 9-byte limit"):
        check_regular(f, 9)
    fifo = tmp_path / "fifo.onnx"
    os.mkfifo(fifo)
    with pytest.raises(UnsafeFileError, match="a FIFO"):
        check_regular(fifo, 100)  # returns at once: the FIFO is opened without blocking
    with pytest.raises(UnsafeFileError, match="cannot be read from /dev"):
        check_regular("/dev/zero", 100)


@pytest.mark.parametrize("backend", ["fast", "model"])
def test_a_harm_model_that_is_a_fifo_is_refused_without_hanging(backend: str, tmp_path: Path) -> None:
    from safeguard.classifiers.toxicity.harm import FastHarmBackend, ModelHarmBackend

    fifo = tmp_path / "heads.npz"
    os.mkfifo(fifo)
    cls = {"fast": FastHarmBackend, "model": ModelHarmBackend}[backend]
    with pytest.raises(ValueError, match="is a FIFO"):
        cls(model=str(fifo))


def test_an_onnx_model_that_is_a_device_is_a_model_load_error(tmp_path: Path) -> None:
    import json

    pytest.importorskip("onnxruntime")
    from safeguard.classifiers.toxicity.export import FORMAT
    from safeguard.classifiers.toxicity.onnx_backend import OnnxBackend
    from safeguard.errors import ModelLoadError

    link = tmp_path / "model.onnx"
    link.symlink_to("/dev/zero")
    meta = {"format": FORMAT, "labels": {"toxicity": 0}, "max_length": 64, "pad_id": 0, "pad_token": "[PAD]"}
    (tmp_path / "model.json").write_text(json.dumps(meta))
    backend = OnnxBackend(model=str(link))
    with pytest.raises(ModelLoadError, match="cannot be read from /dev"):
        backend.load()
    (tmp_path / "model.json").unlink()
    (tmp_path / "model.json").symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="cannot be read from /dev"):
        OnnxBackend(model=str(link))
