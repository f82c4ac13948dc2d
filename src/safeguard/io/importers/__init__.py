"""Importers for forum exports: each turns one export file into records in the post field shape.

``safeguard moderate --from NAME`` reads its inputs with the importer :data:`TABLE` names instead of
:func:`~safeguard.io.readers.read_records`; the records it yields already have the post fields
(``id``, ``text``, ``title``, ``author``, ``created_at``, ``thread_id``, ``parent_id``, ``meta``), so
:func:`~safeguard.io.readers.iter_posts` reads them unchanged. Importers keep the rules of the
readers: one :class:`~safeguard.io.readers.Record` (post or error) per record of the export, in
order, with bounded memory, and no exception per record.

* ``stackexchange``: ``Posts.xml`` and ``Comments.xml`` of a Stack Exchange data dump
  (:mod:`.stackexchange`).
* ``discourse``: a Discourse topic or posts API response, a list of posts, or JSON lines of posts
  (:mod:`.discourse`).
* ``reddit``: Pushshift-style JSON lines of comments and submissions (:mod:`.reddit`).

HTML bodies become text with :func:`.html.html_to_text`; the quotes and code blocks it finds go to
``meta.quotes`` and ``meta.code``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from safeguard.errors import ConfigError
from safeguard.io.importers import discourse, reddit, stackexchange
from safeguard.io.readers import Record

__all__ = ["TABLE", "Importer", "get_importer"]


@dataclass(frozen=True)
class Importer:
    """A named export format and the function that reads one file of it."""

    name: str
    summary: str
    records: Callable[[str, int], Iterator[Record]]


#: Importer name -> importer, for ``--from``.
TABLE: dict[str, Importer] = {
    imp.name: imp
    for imp in (
        Importer("stackexchange", "Stack Exchange data dump Posts.xml / Comments.xml", stackexchange.records),
        Importer("discourse", "Discourse topic/posts JSON, or JSON lines of posts", discourse.records),
        Importer("reddit", "Pushshift-style JSON lines of comments and submissions", reddit.records),
    )
}


def get_importer(name: str) -> Importer:
    """The importer called ``name`` (case-insensitive); :class:`~safeguard.errors.ConfigError` naming
    the valid ones otherwise."""
    imp = TABLE.get(name.strip().lower())
    if imp is None:
        raise ConfigError(f"unknown export format {name!r}: expected one of {', '.join(TABLE)}", file="export format")
    return imp
