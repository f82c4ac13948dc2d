"""``matches()`` in rule conditions, backed by RE2: linear time, and each pattern compiled once.

The CEL runtime compiles a ``matches`` pattern anew on every evaluation (tens of microseconds for a
simple pattern, milliseconds for a long alternation). The loader rewrites ``x.matches(p)`` to
``x.sg_matches(p)``, which this module serves from a cache of compiled RE2 patterns. RE2 guarantees
time linear in the text, whatever the pattern, so a user's pattern cannot stall moderation.

A rule only asks whether a pattern matches, so :func:`regex_match` runs a second compiled form of
each pattern whose groups capture nothing (RE2's ``never_capture``: the same language, found by the
DFA alone, without the pass that locates groups) on the text's UTF-8 bytes, encoded once for the
several patterns that test the same text, which is what ``re2``'s ``search`` does for a ``str``
less the group offsets it would decode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import cel
import re2

from safeguard.rules.lexer import tokens

__all__ = ["FUNCTIONS", "literal_patterns", "pattern_error", "pattern_matcher", "regex_match", "rewrite_matches"]

FUNCTION_NAME = "sg_matches"
_MAX_CACHED = 4096
_cache: dict[str, Any] = {}
_lock = threading.Lock()
_options = re2.Options()
_options.log_errors = False


def _compiled(pattern: str) -> Any:
    found = _cache.get(pattern)
    if found is None:
        found = re2.compile(pattern, _options)
        with _lock:
            if len(_cache) >= _MAX_CACHED:
                _cache.clear()
            _cache[pattern] = found
    return found


_match_options = re2.Options()
_match_options.log_errors = False
_match_options.never_capture = True
#: re2's compiled-program type exposes Match(anchor, bytes, start, end) -> spans; None if this build differs.
_UNANCHORED = getattr(getattr(getattr(getattr(re2, "_re2", None), "RE2", None), "Anchor", None), "UNANCHORED", None)
_NULL_SPAN = (-1, -1)
_NO_MATCHER = object()
_matchers: dict[str, Any] = {}
#: The last text encoded and its UTF-8 bytes (one tuple, so threads read a consistent pair).
_last_encoded: tuple[str, bytes] = ("", b"")


def _matcher(pattern: str) -> Any:
    """The capture-free RE2 program of ``pattern``, or None where this ``re2`` build offers none."""
    found = _matchers.get(pattern, _NO_MATCHER)
    if found is _NO_MATCHER:
        found = None
        if _UNANCHORED is not None:
            try:
                found = getattr(re2.compile(pattern, _match_options), "_regexp", None)
            except re2.error:
                found = None
            if found is not None and not hasattr(found, "Match"):
                found = None
        with _lock:
            if len(_matchers) >= _MAX_CACHED:
                _matchers.clear()
            _matchers[pattern] = found
    return found


def _utf8(text: str) -> bytes:
    """``text`` in UTF-8; the last text is kept, as the rules run several patterns over one text in a row."""
    global _last_encoded
    last = _last_encoded
    if last[0] is text:
        return last[1]
    data = text.encode("utf-8")
    _last_encoded = (text, data)
    return data


def regex_match(text: str, pattern: str) -> bool:
    """True when ``pattern`` (RE2 syntax) matches anywhere in ``text``, as CEL's ``matches``."""
    matcher = _matcher(pattern) if type(text) is str else None
    if matcher is None:
        return _compiled(pattern).search(text) is not None
    data = _utf8(text)
    return bool(matcher.Match(_UNANCHORED, data, 0, len(data))[0] != _NULL_SPAN)


def pattern_matcher(pattern: str) -> Callable[[str], bool]:
    """``regex_match(text, pattern)`` as a function of the text, the pattern's program looked up once."""
    program = _matcher(pattern)
    if program is None:
        return lambda text: regex_match(text, pattern)
    match = program.Match

    def test(text: str) -> bool:
        if type(text) is not str:
            return regex_match(text, pattern)
        data = _utf8(text)
        return bool(match(_UNANCHORED, data, 0, len(data))[0] != _NULL_SPAN)

    return test


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` is not a valid RE2 pattern, or None when it is."""
    try:
        _compiled(pattern)
    except re2.error as exc:
        message = exc.args[0] if exc.args else exc
        return message.decode() if isinstance(message, bytes) else str(message)
    return None


def rewrite_matches(source: str) -> str:
    """``source`` with every ``matches(`` call (method or function form) sent to the cached RE2 version."""
    out = []
    last = 0
    toks = tokens(source)
    for i, (kind, value, start) in enumerate(toks):
        if kind == "ident" and value == "matches" and i + 1 < len(toks) and toks[i + 1].is_op("("):
            out.append(source[last:start])
            out.append(FUNCTION_NAME)
            last = start + len(value)
    out.append(source[last:])
    return "".join(out)


def literal_patterns(source: str) -> list[tuple[str, int]]:
    """The string-literal patterns passed to ``matches`` and their 0-based offsets in ``source``."""
    found = []
    toks = tokens(source)
    for i, (kind, value, _) in enumerate(toks):
        if kind != "ident" or value != "matches" or i + 2 >= len(toks) or not toks[i + 1].is_op("("):
            continue
        # method form: x.matches("p"); function form: matches(x, "p")
        j = i + 2
        if not (i > 0 and toks[i - 1].is_op(".")):
            while j < len(toks) and not toks[j].is_op(","):
                j += 1
            j += 1
        if j < len(toks) and toks[j][0] == "string":
            try:
                pattern = cel.evaluate(toks[j][1])
            except Exception:
                continue
            if isinstance(pattern, str):
                found.append((pattern, toks[j][2]))
    return found


FUNCTIONS = {FUNCTION_NAME: regex_match}
