"""Reddit: Pushshift-style JSON lines of comments and submissions.

Each line is one comment (it has ``body``) or submission (``selftext``, ``title`` or ``is_self``).
Field mapping:

==================  ====================================  =======================================
post field          comment                               submission
==================  ====================================  =======================================
``id``              ``name`` (``t1_`` + ``id``)           ``name`` (``t3_`` + ``id``)
``text``            ``body``                              ``selftext``, and ``url`` for link posts
``title``           -                                     ``title``
``author.id``       ``author``                            ``author``
``author.role``     ``distinguished``: ``moderator`` -> ``moderator``, ``admin`` -> ``staff``
``created_at``      ``created_utc`` (seconds)             ``created_utc``
``parent_id``       ``parent_id`` (``t1_``/``t3_``)       -
``thread_id``       ``link_id`` (``t3_``)                 its own ``name``
``meta``            ``kind``, ``subreddit``, ``score``, ``distinguished``, ``permalink``,
                    ``quotes`` and ``code`` (Markdown ``>`` lines and fenced blocks)
==================  ====================================  =======================================

Text is Markdown with ``&amp;``, ``&lt;`` and ``&gt;`` escaped as Reddit serves it; they are
unescaped, so quotes are ``>`` lines again. ``[deleted]`` and ``[removed]`` bodies: a comment whose
body is one of them, or a submission with neither title nor text left, is an **error record**
(``comment [removed]: no text to moderate``) -- there is nothing to decide, and counting it as
allowed would misreport it; a submission whose ``selftext`` is gone but whose title is there is
moderated on its title. An ``author`` of ``[deleted]`` is an unknown author. Lines are read as JSON
Lines (:func:`~safeguard.io.readers.read_records`): every line yields one record, ``line`` is its
line number, and a line over ``max_record_bytes`` is an error record.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

from safeguard.io.importers.markdown import markdown_parts, store_parts
from safeguard.io.readers import Record, read_records

__all__ = ["GONE", "records"]

#: Bodies Reddit leaves in place of deleted or removed text.
GONE = frozenset({"[deleted]", "[removed]"})
_ROLES = {"moderator": "moderator", "admin": "staff"}


def records(path: str, max_record_bytes: int) -> Iterator[Record]:
    """The comments and submissions of ``path``, as post records (see the module)."""
    for record in read_records(path, format="jsonl", max_record_bytes=max_record_bytes):
        if record.data is None:
            yield record
            continue
        try:
            data = _map(record.data)
        except (ValueError, TypeError) as exc:
            yield Record(record.source, record.line, None, str(exc))
        else:
            yield Record(record.source, record.line, data, None)


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text or None


def _map(d: dict[str, Any]) -> dict[str, Any]:
    comment = "body" in d
    if not comment and not any(k in d for k in ("selftext", "title", "is_self")):
        raise ValueError("neither a comment (body) nor a submission (selftext, title)")
    prefix = "t1_" if comment else "t3_"
    raw_id = _str(d.get("id"))
    name = _str(d.get("name")) or (prefix + raw_id.removeprefix(prefix) if raw_id else None)
    if name is None:
        raise ValueError("no id or name")
    what = "comment" if comment else "submission"
    title = None
    if comment:
        body = d.get("body")
        if not isinstance(body, str):
            raise ValueError(f"comment body must be a string, got {type(body).__name__}")
        text = html.unescape(body).strip()
        if text in GONE:
            raise ValueError(f"comment {text}: no text to moderate")
    else:
        selftext = d.get("selftext")
        text = html.unescape(selftext).strip() if isinstance(selftext, str) else ""
        if text in GONE:
            text = ""
        title_value = d.get("title")
        title = html.unescape(title_value).strip() if isinstance(title_value, str) else None
        if title in GONE:
            title = None
        url = _str(d.get("url"))
        if url and not d.get("is_self") and url not in text and "/comments/" not in url:
            text = f"{text}\n{url}".strip()
        if not text and not title:
            raise ValueError(f"submission {_str(selftext) or '[deleted]'}: no title or text to moderate")
    author_name = _str(d.get("author"))
    author: dict[str, Any] = {}
    if author_name and author_name not in GONE:
        author["id"] = author_name
    distinguished = _str(d.get("distinguished"))
    if distinguished in _ROLES:
        author["role"] = _ROLES[distinguished]
    created = d.get("created_utc")
    if isinstance(created, str) and created.strip().replace(".", "", 1).isdigit():
        created = float(created)
    quotes, code = markdown_parts(text)
    meta: dict[str, Any] = {"source": "reddit", "kind": what}
    for key in ("subreddit", "score", "distinguished", "permalink"):
        if d.get(key) is not None:
            meta[key] = d[key]
    store_parts(meta, quotes, code)
    link = _str(d.get("link_id"))
    return {
        "id": name,
        "text": text,
        "title": title,
        "author": author or None,
        "created_at": created,
        "parent_id": _str(d.get("parent_id")) if comment else None,
        "thread_id": link if comment else name,
        "meta": meta,
    }
