"""What a moderator is shown of a post: evidence spans of the rules that fired, and redacted text.

A rule match records the values that made it fire (``lists.insults: ["clown"]``, ``pii.entities``).
:func:`evidence_spans` turns them into character ranges of the text shown, so a terminal or a web
page can highlight them. :func:`redact` is the text a store keeps when it may not keep posts' text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["evidence_spans", "normalized_digest", "personal_spans", "redact", "text_digest"]

#: Most spans recorded for one rule match (a list term found a thousand times is not more evidence).
MAX_SPANS_PER_MATCH = 50

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|io|xyz|shop|online|me|ly|co|uk)\b\S*")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{2,}")
_NUMBER = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def text_digest(text: str) -> str:
    """The SHA-256 of a post's text (UTF-8), in hex."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def normalized_digest(text: str, normalized: str | None = None) -> str:
    """The SHA-256 of a post's normalised text, so reposts with other spacing, case or disguises share it.

    ``normalized`` is the ``text.normalized`` signal when the decision has it; otherwise the text is
    normalised here the same way.
    """
    if normalized is None:
        from safeguard.text import normalize

        normalized = normalize(text)
    return text_digest(" ".join(normalized.split()))


def redact(text: str, pii_spans: Sequence[Mapping[str, Any]] = ()) -> str:
    """``text`` with personal data replaced by placeholders: the PII classifier's spans (``<PHONE_NUMBER>``),
    then e-mail addresses, links, @handles and long digit runs (``<EMAIL>``, ``<URL>``, ``<HANDLE>``,
    ``<NUMBER>``). The words around them stay, so a moderator can still judge the post."""
    spans = sorted(
        (int(s["start"]), int(s["end"]), str(s.get("type") or "PII"))
        for s in pii_spans
        if isinstance(s, Mapping) and isinstance(s.get("start"), int) and isinstance(s.get("end"), int)
    )
    out, last = [], 0
    for start, end, kind in spans:
        if start < last or end > len(text) or start >= end:
            continue
        out.append(text[last:start])
        out.append(f"<{kind}>")
        last = end
    out.append(text[last:])
    redacted = "".join(out)
    for pattern, placeholder in ((_EMAIL, "<EMAIL>"), (_URL, "<URL>"), (_HANDLE, "<HANDLE>"), (_NUMBER, "<NUMBER>")):
        redacted = pattern.sub(placeholder, redacted)
    return redacted


def personal_spans(text: str, pii_spans: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Character ranges of ``text`` that :func:`redact` would replace: ``[{"start", "end", "type"}]``,
    sorted and not overlapping. The PII classifier's spans come first (type ``PHONE_NUMBER`` ...), then
    e-mail addresses, links, @handles and long digit runs not already covered (``EMAIL``, ``URL``,
    ``HANDLE``, ``NUMBER``), so a page can show the text with these parts hidden until asked."""
    taken: list[tuple[int, int, str]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b, _ in taken)

    for span in pii_spans:
        if not isinstance(span, Mapping):
            continue
        start, end = span.get("start"), span.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text) and free(start, end):
            taken.append((start, end, str(span.get("type") or "PII")))
    for pattern, kind in ((_EMAIL, "EMAIL"), (_URL, "URL"), (_HANDLE, "HANDLE"), (_NUMBER, "NUMBER")):
        for m in pattern.finditer(text):
            if m.end() > m.start() and free(m.start(), m.end()):
                taken.append((m.start(), m.end(), kind))
    return [{"start": a, "end": b, "type": k} for a, b, k in sorted(taken)]


def evidence_spans(text: str, match: Mapping[str, Any], signals: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Character ranges of ``text`` that made one rule match fire: ``[{"start", "end", "evidence"}]``.

    Terms of term lists (``lists.NAME`` values) are found case-insensitively as whole words; a match
    that read the PII classifier gets the classifier's spans of the entities it named. A term the
    rules saw only after normalisation (``1d10t`` read as ``idiot``) has no span in the raw text and
    stays in the match's values alone. Spans are sorted and do not overlap.
    """
    values = match.get("values") or {}
    found: list[tuple[int, int, str]] = []
    for key, value in values.items():
        if key.startswith("lists.") and isinstance(value, list):
            for term in value:
                if not isinstance(term, str) or not term.strip():
                    continue
                pattern = re.compile(r"(?<!\w)" + re.escape(term) + r"(?!\w)", re.IGNORECASE)
                for m in pattern.finditer(text):
                    found.append((m.start(), m.end(), term))
                    if len(found) >= MAX_SPANS_PER_MATCH:
                        break
    if any(key.startswith("pii.") for key in values):
        pii = signals.get("pii") or {}
        entities = values.get("pii.entities")
        wanted = set(entities) if isinstance(entities, list) else None
        for span in pii.get("spans") or []:
            if not isinstance(span, Mapping):
                continue
            start, end, kind = span.get("start"), span.get("end"), span.get("type")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
                continue
            if wanted is None or kind in wanted:
                found.append((start, end, str(kind)))
    spans: list[dict[str, Any]] = []
    for start, end, what in sorted(found):
        if spans and start < spans[-1]["end"]:
            continue
        spans.append({"start": start, "end": end, "evidence": what})
    return spans[:MAX_SPANS_PER_MATCH]
