"""Stack Exchange data dumps: ``Posts.xml`` and ``Comments.xml``.

Which file it is comes from the root element (``<posts>`` or ``<comments>``); each ``<row>`` child
is one record. Field mapping:

========================  ==============================  =====================================
post field                ``Posts.xml``                   ``Comments.xml``
========================  ==============================  =====================================
``id``                    ``p`` + ``Id``                  ``c`` + ``Id``
``text``                  ``Body`` (HTML, as text)        ``Text`` (plain text, as written)
``title``                 ``Title`` (questions)           -
``author.id``             ``OwnerUserId``                 ``UserId``
``author.meta.name``      ``OwnerDisplayName``            ``UserDisplayName``
``created_at``            ``CreationDate`` (UTC)          ``CreationDate`` (UTC)
``parent_id``             ``p`` + ``ParentId`` (answers)  ``p`` + ``PostId``
``thread_id``             the question: ``p`` + ``Id``    ``p`` + ``PostId`` (the post
                          (questions), ``p`` +            commented on: ``Comments.xml`` does
                          ``ParentId`` (answers)          not say an answer's question)
``meta``                  ``kind`` (question, answer,     ``kind`` (comment), ``score``
                          post), ``post_type_id``,
                          ``score``, ``tags`` (a list),
                          ``quotes``, ``code``
========================  ==============================  =====================================

The ``p``/``c`` prefixes keep post and comment ids apart when both files are moderated in one
run (``p12`` is post 12, ``c12`` comment 12). Comment text in the dumps is the comment's source
(mini-Markdown with ``<`` kept as text), so it is not read as HTML.

Reading streams: the file is fed line by line (each line bounded like a JSON Lines record) to an
incremental :class:`xml.etree.ElementTree.XMLPullParser`, which resolves no external entities, and
each row is cleared once mapped, so memory stays bounded by the longest row. A record's ``line`` is
the line on which its row ends (dumps hold one row per line). A line over ``max_record_bytes`` is an
error record and is skipped (a dump's row is one line, so the document stays whole); a row spanning
more than ``max_record_bytes`` of lines, or XML that is not well-formed, ends the input with one
error record saying on which line parsing stopped, after every row before it. A row that cannot be
mapped (no ``Id``, an element other than ``<row>``) is an error record. A file whose root element
is neither ``<posts>`` nor ``<comments>`` raises :class:`~safeguard.errors.InputError`.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree as ET

from safeguard.errors import InputError
from safeguard.io.importers.html import html_to_text
from safeguard.io.importers.markdown import store_parts
from safeguard.io.readers import Record, _bounded_lines, _decompressing, _Overlong, _Stop

__all__ = ["records"]

_KINDS = {"1": "question", "2": "answer"}
_TAG_LIST = re.compile(r"<([^<>]+)>")


def records(path: str, max_record_bytes: int) -> Iterator[Record]:
    """The rows of a ``Posts.xml`` or ``Comments.xml`` at ``path``, as post records (see the module)."""
    name = str(path)
    if name == "-":
        if sys.stdin is None:
            raise InputError("cannot read <stdin>: standard input is closed")
        return _read("<stdin>", sys.stdin.buffer, max_record_bytes)
    if os.path.isdir(name):
        raise InputError(f"cannot read {name}: is a directory")
    try:
        raw = open(name, "rb")  # noqa: SIM115 - closed by the generator
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    return _read(name, raw, max_record_bytes)


def _read(name: str, raw: Any, limit: int) -> Iterator[Record]:
    with raw:
        try:
            fh, compression = _decompressing(raw)
        except OSError as exc:
            raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
        parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        root: ET.Element | None = None
        kind = ""
        depth = 0
        pending = 0  # bytes fed since the last row ended
        lineno = 0
        for item in _bounded_lines(fh, limit, compression):
            lineno += 1
            if isinstance(item, _Stop):
                yield Record(name, lineno, None, item.reason)
                return
            if isinstance(item, _Overlong):
                yield Record(name, lineno, None, f"row over the {limit:,}-byte limit (the whole line is skipped)")
                continue
            pending += len(item)
            try:
                parser.feed(item)
                events: list[Any] = list(parser.read_events())
            except ET.ParseError as exc:
                yield Record(name, lineno, None, _stopped(exc, lineno))
                return
            except (ValueError, LookupError) as exc:  # expat: an encoding it cannot read ("utf-7", "utf-16")
                yield Record(name, lineno, None, f"invalid XML on line {lineno}: {exc}: stopped reading this input")
                return
            for event, elem in events:
                if event == "start":
                    depth += 1
                    if root is None:
                        root, kind = elem, _root_kind(name, elem.tag)
                    continue
                depth -= 1
                if depth != 1:
                    continue
                pending = 0
                try:
                    data = _map(kind, elem)
                except (ValueError, TypeError) as exc:
                    yield Record(name, lineno, None, str(exc))
                else:
                    yield Record(name, lineno, data, None)
                elem.clear()
                if root is not None:
                    root.remove(elem)  # the root keeps no rows: memory stays bounded
            if pending > limit and depth > 1:
                yield Record(
                    name, lineno, None, f"a row runs past the {limit:,}-byte limit on line {lineno}: stopped reading"
                )
                return
        try:
            parser.close()
        except (ValueError, LookupError) as exc:
            yield Record(name, lineno + 1, None, f"invalid XML at the end of the input: {exc}")
        except ET.ParseError as exc:
            yield Record(name, lineno + 1, None, _stopped(exc, lineno, at_end=True))


def _stopped(exc: ET.ParseError, lineno: int, *, at_end: bool = False) -> str:
    reason = str(exc).split(":", 1)[0]
    column = exc.position[1] + 1 if getattr(exc, "position", None) else 0
    where = "at the end of the input" if at_end else f"on line {lineno}" + (f", column {column}" if column else "")
    return f"invalid XML {where}: {reason}: stopped reading this input"


def _root_kind(name: str, tag: str) -> str:
    if tag not in ("posts", "comments"):
        raise InputError(
            f"cannot read {name}: not a Stack Exchange Posts.xml or Comments.xml (its root element is <{tag}>)"
        )
    return tag


def _map(kind: str, row: ET.Element) -> dict[str, Any]:
    if row.tag != "row":
        raise ValueError(f"unexpected element <{row.tag}> (expected <row>)")
    a = row.attrib
    row_id = a.get("Id", "").strip()
    if not row_id:
        raise ValueError("row has no Id")
    created = a.get("CreationDate") or None
    if created and not created.endswith("Z") and "+" not in created[10:]:
        created += "+00:00"  # dump times are UTC
    if kind == "comments":
        post = a.get("PostId", "").strip()
        return {
            "id": f"c{row_id}",
            "text": a.get("Text", "").strip(),
            "author": _author(a.get("UserId"), a.get("UserDisplayName")),
            "created_at": created,
            "parent_id": f"p{post}" if post else None,
            "thread_id": f"p{post}" if post else None,
            "meta": {"source": "stackexchange", "kind": "comment", "score": _int(a.get("Score"))},
        }
    type_id = a.get("PostTypeId", "").strip()
    parent = a.get("ParentId", "").strip()
    body = html_to_text(a.get("Body", ""))
    meta: dict[str, Any] = {
        "source": "stackexchange",
        "kind": _KINDS.get(type_id, "post"),
        "post_type_id": _int(type_id),
        "score": _int(a.get("Score")),
    }
    tags = a.get("Tags")
    if tags:
        meta["tags"] = _TAG_LIST.findall(tags) or [t for t in tags.split("|") if t]
    store_parts(meta, body.quotes, body.code)
    return {
        "id": f"p{row_id}",
        "text": body.text,
        "title": a.get("Title") or None,
        "author": _author(a.get("OwnerUserId"), a.get("OwnerDisplayName")),
        "created_at": created,
        "parent_id": f"p{parent}" if parent else None,
        "thread_id": f"p{parent}" if parent and type_id == "2" else f"p{row_id}",
        "meta": meta,
    }


def _author(user_id: str | None, display: str | None) -> dict[str, Any] | None:
    author: dict[str, Any] = {}
    if user_id and user_id.strip():
        author["id"] = user_id.strip()
    if display:
        author["name"] = display
    return author or None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
