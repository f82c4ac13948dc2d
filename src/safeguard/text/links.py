"""Where links and e-mail addresses are written: the one module every classifier finds them with.

Three readers, three needs, one set of patterns:

* :data:`URL_START` is where a written-out link starts (an http(s) scheme or "www."). The spam
  features add bare domains with a known top-level domain to it; language identification and
  near-duplicates mask each link to the next space (:data:`URL_RE`); PII takes it as a hint that a
  number may be part of a link.
* :func:`protected_spans` is what normalisation leaves as written: any scheme (``ftp://`` too) to the
  end of its chunk, "www." to the end of its chunk, and anything shaped like an e-mail address
  (:data:`EMAIL_RE`), so that leetspeak decoding never rewrites a link or an address.
* :data:`CONTACT_EMAIL` is an address someone can be written to (a top-level domain of letters):
  stricter than :data:`EMAIL_RE`, so that ``name@1.0.0`` in a log is protected from leetspeak but
  not counted as a contact by the spam features.
"""

from __future__ import annotations

import re

__all__ = ["CONTACT_EMAIL", "EMAIL_RE", "MARKERS", "URL_RE", "URL_START", "chunk_end", "has_marker", "protected_spans"]

#: The start of a written-out link: an http(s) scheme or "www.".
URL_START = r"(?:https?://|www\.)"
#: A written-out link, to the next whitespace.
URL_RE = re.compile(URL_START + r"\S+")
#: An address someone can be written to, as a pattern string (RE2 syntax too: the spam features compile
#: it into their one linear-time scanner).
CONTACT_EMAIL = r"(?i:[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,})"
#: What normalisation leaves as written: anything@anything.anything.
EMAIL_RE = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
#: What may start a protected span: a scheme's "://", "www." or an e-mail address's "@".
MARKERS = ("://", "www.", "@")
_MARKER_RE = re.compile("|".join(map(re.escape, MARKERS)))
#: Characters of a URL scheme (RFC 3986: letters, digits, "+", "-", ".").
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")
_NONSPACE_RE = re.compile(r"\S*")


def has_marker(text: str) -> bool:
    """Whether ``text`` holds anything :func:`protected_spans` could find (a quick check before it)."""
    for marker in MARKERS:  # noqa: SIM110 - a generator expression costs more than the three searches
        if marker in text:
            return True
    return False


def chunk_end(text: str, pos: int) -> int:
    """Index of the whitespace (or end of text) that ends the chunk ``pos`` is in."""
    m = _NONSPACE_RE.match(text, pos)
    return m.end() if m else pos


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of URLs (from the scheme or "www." to the end of the chunk) and e-mail addresses in ``text``
    (casefolded: schemes are read in lowercase), in order and not overlapping."""
    spans: list[tuple[int, int]] = []
    done = 0
    for m in _MARKER_RE.finditer(text):
        if m.start() < done:
            continue
        cs = m.start()
        while cs and not text[cs - 1].isspace():
            cs -= 1
        ce = chunk_end(text, m.end())
        chunk = text[cs:ce]
        done = ce
        i = chunk.find("://")
        if i >= 0:
            while i and chunk[i - 1] in _SCHEME_CHARS:
                i -= 1
            spans.append((cs + i, ce))
            continue
        i = chunk.find("www.")
        if i >= 0:
            spans.append((cs + i, ce))
            continue
        for email in EMAIL_RE.finditer(chunk):
            spans.append((cs + email.start(), cs + email.end()))
    return spans
