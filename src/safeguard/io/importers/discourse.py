"""Discourse: posts from its JSON API responses, exported as a file.

A file is one of:

* one JSON document: a topic (``/t/{id}.json``, ``/t/{id}/posts.json``: ``post_stream.posts``,
  also wrapped as ``{"topic": {...}}``), the latest posts (``/posts.json``: ``latest_posts``),
  ``{"posts": [...]}``, or a list of posts or of such responses;
* JSON lines, each a post or one of the responses above.

Which one is told from the start of the file: a document begins with ``[``, or its first line is
not a complete JSON value (pretty-printed); otherwise the file is read as JSON lines. A single
document is read whole, so it must fit in :data:`DOCUMENT_FACTOR` times ``max_record_bytes``
(64 MiB by default, read with :func:`safeguard.files.read_bounded`); a larger one is one error
record suggesting JSON lines. Field mapping of a post:

=======================  ===================================================================
post field               Discourse
=======================  ===================================================================
``id``                   ``id`` (post ids are unique across topics)
``text``                 ``cooked`` (HTML, as text), else ``raw`` (Markdown, as written)
``title``                ``topic_title``, else the topic's ``title`` (first post of a topic)
``author.id``            ``user_id``, else ``username``
``author.trust_level``   ``trust_level`` (0-4)
``author.role``          ``moderator`` -> ``moderator``; ``admin`` or ``staff`` -> ``staff``;
                         otherwise ``member`` when the flags are there
``author.meta``          ``username``, ``name``
``created_at``           ``created_at``
``thread_id``            ``topic_id``
``parent_id``            the ``id`` of post ``reply_to_post_number`` of the same topic, when
                         that post came earlier in the file (else none; the number stays in
                         ``meta``)
``meta``                 ``post_number``, ``reply_to_post_number``, ``post_type``, ``hidden``,
                         ``deleted_at``, ``user_deleted``, ``score``, ``quotes``, ``code``
=======================  ===================================================================

``line``: in JSON lines, the line of the post (several posts of one response share its line); in a
single document, the post's position in the document (1, 2, ...), as the JSON parser tells no lines.
A post that cannot be mapped is an error record.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from safeguard.errors import InputError
from safeguard.files import UnsafeFileError, read_bounded
from safeguard.io.importers.html import html_to_text
from safeguard.io.importers.markdown import markdown_parts, store_parts
from safeguard.io.readers import Record, read_records

__all__ = ["DOCUMENT_FACTOR", "post_record", "records"]

#: A single JSON document may be this many times ``max_record_bytes``.
DOCUMENT_FACTOR = 16
#: Post numbers remembered per run to resolve ``reply_to_post_number`` (memory bound).
MAX_REMEMBERED = 1_000_000
_META = ("post_number", "reply_to_post_number", "post_type", "hidden", "deleted_at", "user_deleted", "score")


def records(path: str, max_record_bytes: int) -> Iterator[Record]:
    """The posts of ``path``, as post records (see the module)."""
    name = str(path)
    if name != "-" and _is_document(name, max_record_bytes):
        return _document(name, max_record_bytes * DOCUMENT_FACTOR)
    return _lines(name, max_record_bytes)


def _is_document(name: str, limit: int) -> bool:
    try:
        if os.path.isdir(name):
            raise InputError(f"cannot read {name}: is a directory")
        with open(name, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
            if head.startswith(b"["):
                return True
            if not head.startswith(b"{"):
                return False
            fh.seek(0)
            first = fh.readline(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        json.loads(first.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return len(first) <= limit  # a first line that is not whole JSON: pretty-printed
    return False


def post_record(post: Any, topic_title: str | None = None) -> dict[str, Any]:
    """The post record of one Discourse post object (the mapping above; ``parent_id`` stays empty).

    Raises :class:`ValueError` when ``post`` is not a post with an id and a text.
    """
    return _Posts().map(post, topic_title)


class _Posts:
    """Maps posts, remembering ``(topic_id, post_number) -> id`` for ``parent_id``."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, int], str] = {}

    def expand(self, value: Any) -> list[tuple[dict[str, Any], str | None]] | None:
        """The posts of a response (with the topic title, if any), or ``None`` for a bare post."""
        if isinstance(value, list):
            return [p for v in value for p in (self.expand(v) or [(v, None)])]
        if not isinstance(value, dict):
            return [(value, None)]
        if isinstance(value.get("topic"), dict) and "post_stream" in value["topic"]:
            value = value["topic"]
        stream = value.get("post_stream")
        if isinstance(stream, dict) and isinstance(stream.get("posts"), list):
            title = value.get("title") if isinstance(value.get("title"), str) else None
            return [(p, title) for p in stream["posts"]]
        for key in ("latest_posts", "posts"):
            if isinstance(value.get(key), list):
                return [(p, None) for p in value[key]]
        return None

    def map(self, post: Any, topic_title: str | None) -> dict[str, Any]:
        if not isinstance(post, dict):
            raise ValueError(f"a post must be a JSON object, got {type(post).__name__}")
        post_id = post.get("id")
        if post_id is None or isinstance(post_id, (dict, list, bool)):
            raise ValueError("post has no id")
        cooked, raw = post.get("cooked"), post.get("raw")
        meta: dict[str, Any] = {"source": "discourse"}
        if isinstance(cooked, str):
            rendered = html_to_text(cooked)
            text, quotes, code = rendered.text, rendered.quotes, rendered.code
        elif isinstance(raw, str):
            text = raw.strip()
            quotes, code = markdown_parts(text)
        else:
            raise ValueError("post has neither cooked nor raw text")
        topic = post.get("topic_id")
        topic_key = str(topic) if topic is not None and not isinstance(topic, (dict, list, bool)) else None
        number = post.get("post_number")
        if topic_key is not None and isinstance(number, int) and len(self.ids) < MAX_REMEMBERED:
            self.ids[(topic_key, number)] = str(post_id)
        reply_to = post.get("reply_to_post_number")
        parent = self.ids.get((topic_key, reply_to)) if topic_key and isinstance(reply_to, int) else None
        for key in _META:
            if post.get(key) is not None:
                meta[key] = post[key]
        store_parts(meta, quotes, code)
        title = post.get("topic_title")
        if not isinstance(title, str) and number == 1:
            title = topic_title
        return {
            "id": post_id,
            "text": text,
            "title": title if isinstance(title, str) else None,
            "author": _author(post),
            "created_at": post.get("created_at"),
            "thread_id": topic_key,
            "parent_id": parent,
            "meta": meta,
        }


def _author(post: dict[str, Any]) -> dict[str, Any]:
    author: dict[str, Any] = {}
    user_id, username = post.get("user_id"), post.get("username")
    author["id"] = user_id if user_id is not None else username
    if post.get("trust_level") is not None:
        author["trust_level"] = post["trust_level"]
    flags = [post.get(k) for k in ("moderator", "admin", "staff")]
    if post.get("moderator") is True:
        author["role"] = "moderator"
    elif post.get("admin") is True or post.get("staff") is True:
        author["role"] = "staff"
    elif any(f is not None for f in flags):
        author["role"] = "member"
    for key in ("username", "name"):
        if isinstance(post.get(key), str) and post[key]:
            author[key] = post[key]
    return author


def _lines(name: str, limit: int) -> Iterator[Record]:
    posts = _Posts()
    for record in read_records(name, format="jsonl", max_record_bytes=limit):
        if record.data is None:
            yield record
            continue
        found = posts.expand(record.data)
        for post, title in found if found is not None else [(record.data, None)]:
            yield _record(posts, name, record.line, post, title)


def _document(name: str, limit: int) -> Iterator[Record]:
    try:
        data = read_bounded(name, limit, what="Discourse JSON document")
    except UnsafeFileError as exc:
        yield Record(name, 1, None, f"{exc.reason}: write the posts as JSON lines, or raise the record size limit")
        return
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        yield Record(name, 1, None, f"invalid UTF-8: {exc.reason} at byte {exc.start}")
        return
    except json.JSONDecodeError as exc:
        yield Record(name, 1, None, f"invalid JSON: {exc}")
        return
    except RecursionError:
        yield Record(name, 1, None, "invalid JSON: nested too deeply")
        return
    del data
    posts = _Posts()
    found = posts.expand(value)
    if found is None:
        found = [(value, None)]
    for ordinal, (post, title) in enumerate(found, start=1):
        yield _record(posts, name, ordinal, post, title)


def _record(posts: _Posts, name: str, line: int, post: Any, title: str | None) -> Record:
    try:
        return Record(name, line, posts.map(post, title), None)
    except (ValueError, TypeError) as exc:
        return Record(name, line, None, str(exc))
