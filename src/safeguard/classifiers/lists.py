"""Word and phrase lists matched as whole words over normalised text: the ``lists`` classifier.

::

    ListsClassifier(lists={"slurs": "lists/slurs.txt", "spam_domains": ["cheap-deals.biz"]})

gives each post ``{"slurs": [...], "spam_domains": [...]}``: the terms of each list found in the post,
as they were written in the list. Terms and posts go through the same
:func:`~safeguard.text.normalize`, so ``"1d10t"`` in a post matches ``idiot`` in a list,
and matching is whole-word: ``ass`` matches neither ``"assassin"`` nor ``"class"``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from ahocorasick_rs import AhoCorasick

from safeguard.classifiers.base import Classifier, Cost
from safeguard.errors import ConfigError
from safeguard.files import UnsafeFileError, confined, expand_user, read_bounded_text
from safeguard.text import normalize
from safeguard.types import Post

__all__ = ["MAX_LIST_FILE_BYTES", "ListsClassifier", "TermMatcher", "load_list_file"]

#: Largest term list file read (the shipped lists are a few kB each).
MAX_LIST_FILE_BYTES = 16 * 1024 * 1024


class TermMatcher:
    """Finds the terms of several named lists in normalised text, as whole words, in one pass.

    ``TermMatcher({"insults": ["idiot", "moron"], "spam": ["click here"]})``. Every term is passed
    through :func:`normalize` once, here; :meth:`find` takes text that was normalised the same way.
    All lists share one Aho-Corasick automaton searched with overlapping matches, so a candidate that
    fails the word-boundary test (``"assassin"`` inside ``"assassins"``) never hides a valid one
    (``"ass"`` in ``"ass"``), and a term inside a longer matched term is reported too (``"cheap"`` and
    ``"cheap-deals.biz"``).

    A match counts when the characters just before and after it are not alphanumeric; a term that
    starts or ends with punctuation (``".biz"``, ``"$$$"``) is not boundary-checked on that side.
    Terms of one list that normalise to the same text (``"idiot"``, ``"IDIOT"``, ``"1d10t"``) are
    reported once, as the first of them in the list. Terms that normalise to nothing are ignored.
    """

    def __init__(self, lists: Mapping[str, Sequence[str]]) -> None:
        self.names: tuple[str, ...] = tuple(lists)
        patterns: list[str] = []
        pattern_ids: dict[str, int] = {}
        # Per pattern: the (list index, original term) pairs it stands for.
        self._targets: list[list[tuple[int, str]]] = []
        seen: set[tuple[int, str]] = set()
        self.term_count = 0
        for list_index, terms in enumerate(lists.values()):
            if isinstance(terms, str):
                raise TypeError(f"terms of list {self.names[list_index]!r} must be a sequence of strings")
            for term in terms:
                normalized = normalize(term)
                if not normalized or (list_index, normalized) in seen:
                    continue
                seen.add((list_index, normalized))
                self.term_count += 1
                pid = pattern_ids.get(normalized)
                if pid is None:
                    pid = pattern_ids[normalized] = len(patterns)
                    patterns.append(normalized)
                    self._targets.append([])
                self._targets[pid].append((list_index, term))
        self._check_start = [p[0].isalnum() for p in patterns]
        self._check_end = [p[-1].isalnum() for p in patterns]
        self._automaton = AhoCorasick(patterns) if patterns else None

    def find(self, normalized_text: str) -> dict[str, list[str]]:
        """For every list name, the original terms found in ``normalized_text``, in order of first occurrence.

        ``normalized_text`` must come from :func:`normalize` (or be text already in that form).
        """
        found: dict[str, list[str]] = {name: [] for name in self.names}
        if self._automaton is None or not normalized_text:
            return found
        text = normalized_text
        n = len(text)
        check_start = self._check_start
        check_end = self._check_end
        valid: list[tuple[int, int, int]] = []
        for pid, start, end in self._automaton.find_matches_as_indexes(text, overlapping=True):
            if check_start[pid] and start and text[start - 1].isalnum():
                continue
            if check_end[pid] and end < n and text[end].isalnum():
                continue
            valid.append((start, end, pid))
        if not valid:
            return found
        valid.sort()
        reported: set[int] = set()
        names = self.names
        for _, _, pid in valid:
            if pid in reported:
                continue
            reported.add(pid)
            for list_index, term in self._targets[pid]:
                found[names[list_index]].append(term)
        return found


def load_list_file(path: str | os.PathLike[str]) -> list[str]:
    """The terms of a list file: UTF-8, one term per line.

    Surrounding whitespace is stripped; blank lines and lines whose first non-blank character is
    ``#`` are skipped (a ``#`` later in a line is part of the term, as in ``we're #1``). Raises
    :class:`~safeguard.errors.ConfigError` naming the file when it cannot be read, is not a regular
    file, holds more than :data:`MAX_LIST_FILE_BYTES` or is not UTF-8.
    """
    try:
        lines = read_bounded_text(path, MAX_LIST_FILE_BYTES, what="term list").splitlines()
    except UnsafeFileError as exc:
        raise ConfigError(f"cannot read list file {os.fspath(path)}: {exc.reason}", file=str(path)) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(f"cannot read list file {os.fspath(path)}: {reason}", file=str(path)) from exc
    terms: list[str] = []
    for line in lines:
        term = line.strip()
        if term and not term.startswith("#"):
            terms.append(term)
    return terms


#: A list given to :class:`ListsClassifier`: inline terms, or the path of a list file.
ListSource: TypeAlias = "Sequence[str] | str | os.PathLike[str]"


class ListsClassifier(Classifier):
    """Whole-word matches of named term lists; outputs one ``list`` of matched terms per list name.

    ``lists`` maps each list name (an identifier: rules read ``<name>.<list>``) to inline terms or
    to the path of a list file (see :func:`load_list_file`); relative paths are resolved against
    ``base_dir`` (the ruleset's folder, typically), or the working directory when it is ``None``.
    With ``allow_outside=False`` (what a ruleset gets unless it sets ``allow_outside: true``) a list
    file must lie inside that directory. Files are read and the automaton built in ``load()``. A
    post's title, when present, is matched together with its text; a phrase does not match across
    the title and the text.
    """

    kind = "lists"
    cost = Cost.CHEAP

    def __init__(
        self,
        *,
        name: str | None = None,
        lists: Mapping[str, ListSource] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        allow_outside: bool = True,
        **params: Any,
    ) -> None:
        super().__init__(name=name, **params)
        self.base_dir = Path(base_dir) if base_dir is not None else None
        if lists is not None and not isinstance(lists, Mapping):
            raise ValueError(f"lists must be a mapping of list name to terms or file, got {type(lists).__name__}")
        self.sources: dict[str, tuple[str, ...] | Path] = {}
        for list_name, value in (lists or {}).items():
            if not isinstance(list_name, str) or not list_name.isidentifier():
                raise ValueError(
                    f"list name {list_name!r} is not an identifier (letters, digits and _, not starting with a digit)"
                )
            if isinstance(value, (str, os.PathLike)):
                path = expand_user(value)
                root = self.base_dir if self.base_dir is not None else Path.cwd()
                if not allow_outside:
                    try:
                        path = confined(path, root)
                    except UnsafeFileError as exc:
                        raise ValueError(f"list file {exc}") from None
                elif not path.is_absolute():
                    path = root / path
                self.sources[list_name] = path
            elif isinstance(value, Sequence) and all(isinstance(t, str) for t in value):
                self.sources[list_name] = tuple(value)
            else:
                raise ValueError(
                    f"list {list_name!r} must be a list of terms or the path of a list file, got {value!r}"
                )
        self.outputs = {list_name: list for list_name in self.sources}
        self._matcher: TermMatcher | None = None

    def _load(self) -> None:
        terms: dict[str, Sequence[str]] = {}
        for list_name, source in self.sources.items():
            terms[list_name] = load_list_file(source) if isinstance(source, Path) else source
        self._matcher = TermMatcher(terms)

    @property
    def matcher(self) -> TermMatcher:
        """The term matcher, built on first use."""
        if self._matcher is None:
            self.load()
        assert self._matcher is not None
        return self._matcher

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """One ``{list name: [matched terms]}`` mapping per post, in order."""
        matcher = self.matcher
        out: list[dict[str, Any]] = []
        for post in posts:
            out.append(matcher.find(normalize(post.full_text)))
        return out
