"""Fuzz targets: one function per loader, each taking raw bytes and checking what must always hold.

Every target feeds its bytes to one loader and checks two things:

* nothing escapes but the project's own errors (:class:`~safeguard.errors.SafeguardError`);
* the loader's counts hold (every input line becomes exactly one record; a batch gives one result
  per text, the same as one text at a time).

A target raises :class:`AssertionError` (or lets a foreign exception through) on a finding. The
same functions run under atheris (``python fuzz/run.py TARGET``, coverage-guided) and under
hypothesis (``tests/unit/test_properties.py``, in every test run).
"""

from __future__ import annotations

import contextlib
import gzip
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safeguard.errors import SafeguardError
from safeguard.io.readers import Record, iter_posts

__all__ = ["TARGETS", "Target"]

Target = Callable[[bytes], None]

#: Where each target writes the file it loads; reused from call to call.
_WORKDIR = Path(tempfile.mkdtemp(prefix="safeguard-fuzz-"))
_LISTS_DIR = _WORKDIR / "lists"
_LISTS_DIR.mkdir()
(_LISTS_DIR / "words.txt").write_text("idiot\nmoron\n", encoding="utf-8")
_RULESET = _WORKDIR / "rules.yaml"
_RULESET.write_text(
    "name: fuzz\nversion: 1\nclassifiers:\n  lists: {lists: {insults: lists/words.txt}}\n"
    "rules:\n  - id: insult\n    when: size(lists.insults) > 0\n    action: hold\n",
    encoding="utf-8",
)


def _write(name: str, data: bytes) -> Path:
    path = _WORKDIR / name
    path.write_bytes(data)
    return path


def _lines(data: bytes) -> int:
    """Lines of ``data`` holding something other than whitespace, as the JSON Lines reader counts them."""
    text = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    return sum(1 for line in text.split(b"\n") if line.strip())


def _records(path: Path, fmt: str) -> list[object]:
    from safeguard.io.readers import iter_posts, read_records

    try:
        records = list(read_records(path, format=fmt))
    except SafeguardError:
        return []
    lines = [r.line for r in records]
    assert lines == sorted(lines) and len(set(lines)) == len(lines), f"record lines out of order: {lines[:20]}"
    for r in records:
        assert (r.data is None) != (r.error is None)
    results = list(iter_posts(records))
    assert len(results) == len(records)
    for _, post, error in results:
        assert (post is None) != (error is None)
        if post is not None:
            post.text.encode("utf-8")
            post.id.encode("utf-8")
    return records


#: First bytes that make a reader take a file for compressed (gzip, bzip2, xz).
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def jsonl(data: bytes) -> None:
    """JSON Lines: one record per non-blank line, whatever the bytes."""
    records = _records(_write("posts.jsonl", data), "jsonl")
    if not data.startswith(_COMPRESSED_MAGIC):  # those are read as compressed streams (see gz_bytes)
        assert len(records) == _lines(data), f"{len(records)} records from {_lines(data)} lines"


def compressed(data: bytes) -> None:
    """Compressed JSON Lines: a whole gzip stream reads as the plain text does; arbitrary bytes named
    .gz (truncated, corrupt) end in an error record or an error, never a crash."""
    _records(_write("raw.jsonl.gz", data), "jsonl")
    records = _records(_write("posts.jsonl.gz", gzip.compress(data, mtime=0)), "jsonl")
    if not data.startswith(_COMPRESSED_MAGIC):
        assert len(records) == _lines(data), f"{len(records)} records from {_lines(data)} lines"


def csv(data: bytes) -> None:
    """CSV and TSV: records in line order, each data or error."""
    _records(_write("posts.csv", data), "csv")
    _records(_write("posts.tsv", data), "tsv")


def parquet(data: bytes) -> None:
    """Parquet: arbitrary bytes (mostly corrupt files) never crash the reader."""
    _records(_write("posts.parquet", data), "parquet")


def _checked(records: list[Record]) -> list[Record]:
    # Posts of one JSON document share its line, so lines only never go back.
    lines = [r.line for r in records]
    assert lines == sorted(lines), f"record lines out of order: {lines[:20]}"
    for _, post, error in iter_posts(records):
        assert (post is None) != (error is None)
        if post is not None:
            post.text.encode("utf-8")
    return records


def importers(data: bytes) -> None:
    """Forum exports (Stack Exchange XML, Discourse JSON, Reddit JSON lines): records in order, each a
    post or an error, whatever the bytes; an export whose file cannot be read at all is a SafeguardError."""
    from safeguard.io.importers import TABLE

    for name, importer in TABLE.items():
        path = _write(f"export-{name}", data)
        with contextlib.suppress(SafeguardError):
            _checked(list(importer.records(str(path), 1 << 16)))


def ruleset(data: bytes) -> None:
    """Ruleset YAML: valid, or a ConfigError listing problems with file and line."""
    from safeguard.errors import ConfigError
    from safeguard.rules.loader import parse_ruleset

    text = data.decode("utf-8", "replace")
    try:
        parse_ruleset(text, file="fuzz.yaml", base_dir=_WORKDIR)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError without problems"
        for p in exc.problems:
            assert p.file and p.message


def testfile(data: bytes) -> None:
    """Rule test file: runs, or reports problems; never raises."""
    from safeguard.rules.casefile import run_tests

    path = _write("fuzz.test.yaml", data)
    report = run_tests([path])
    assert report.exit_code in (0, 1, 2)


def normalize(data: bytes) -> None:
    """Normalisation: the batch path gives what one text at a time gives, for any text."""
    from safeguard.text import clear_caches, normalize_many, normalize_with_flags

    text = data.decode("utf-8", "surrogateescape")  # invalid bytes become lone surrogates: those too
    texts = [text, text.upper(), "ok " + text]
    clear_caches()
    batch = normalize_many(texts)
    clear_caches()
    one = [normalize_with_flags(t) for t in texts]
    assert batch == one, f"batch {batch!r} != one at a time {one!r}"
    for normalized, _ in batch:
        assert isinstance(normalized, str)


def gazetteer(data: bytes) -> None:
    """Gazetteer CSV: names by product and store, or a ConfigError with the file and line."""
    from safeguard.classifiers.feedback.gazetteer import load_gazetteer
    from safeguard.errors import ConfigError

    try:
        found = load_gazetteer(_write("gazetteer.csv", data))
    except ConfigError as exc:
        assert exc.problems and exc.problems[0].file.endswith("gazetteer.csv"), exc
        return
    for signal, names in found.names.items():
        assert signal in ("products", "stores")
        assert all(ids and all(i in found.labels[signal] for i in ids) for ids in names.values())


def feedback(data: bytes) -> None:
    """The feedback classifier: a batch gives what one post at a time gives, kinds sum to one, sentiment
    stays in [-1, 1], for any text."""
    from safeguard.types import Post

    text = data.decode("utf-8", "surrogateescape")
    posts = [Post(id="a", text=text), Post(id="b", text=text.upper(), parent_id="a"), Post(id="c", text="ok " + text)]
    classifier = _feedback_classifier()
    batch = classifier.classify(posts)
    assert batch == [classifier.classify([p])[0] for p in posts]
    for signals in batch:
        assert abs(sum(signals["kinds"].values()) - 1.0) < 1e-6
        assert -1.0 <= signals["sentiment"] <= 1.0
        assert set(signals["aspects"]) == set(signals["evidence"])


#: One classifier for every call of :func:`feedback` (loading it is the slow part).
_FEEDBACK: Any = None


def _feedback_classifier() -> Any:
    global _FEEDBACK
    if _FEEDBACK is None:
        from safeguard.classifiers.feedback import FeedbackClassifier

        _FEEDBACK = FeedbackClassifier()
    return _FEEDBACK


#: Every target, by name.
TARGETS: dict[str, Target] = {
    "jsonl": jsonl,
    "compressed": compressed,
    "csv": csv,
    "parquet": parquet,
    "importers": importers,
    "ruleset": ruleset,
    "testfile": testfile,
    "normalize": normalize,
    "gazetteer": gazetteer,
    "feedback": feedback,
}
