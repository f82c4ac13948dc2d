"""A post's text cut into pieces for a page: the evidence of the rules marked, personal data hidden.

The pieces are plain text; the template escapes them and wraps the evidence in ``<mark>``. Hidden
personal data is replaced by a placeholder such as ``<EMAIL>`` (shown as text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from safeguard.review.evidence import personal_spans
from safeguard.review.views import MatchView

__all__ = ["Piece", "pieces"]


@dataclass(frozen=True)
class Piece:
    """A run of text: ``rules`` whose evidence it is (empty: none), ``personal`` the kind of personal
    data it is (``EMAIL`` ...) or ``None``, ``hidden`` when ``text`` is that kind's placeholder."""

    text: str
    rules: tuple[str, ...] = ()
    personal: str | None = None
    hidden: bool = False


def pieces(
    text: str,
    matches: Sequence[MatchView] = (),
    pii_spans: Sequence[Mapping[str, Any]] = (),
    *,
    show_personal: bool = False,
) -> list[Piece]:
    """``text`` as pieces: the spans of ``matches`` marked with their rules, personal data (the PII
    classifier's ``pii_spans``, e-mails, links, handles, numbers) hidden unless ``show_personal``."""
    evidence: list[tuple[int, int, str]] = []
    for m in matches:
        for span in m.spans:
            start, end = span.get("start"), span.get("end")
            if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
                evidence.append((start, end, m.rule))
    personal = [(p["start"], p["end"], str(p["type"])) for p in personal_spans(text, pii_spans)]
    cuts = sorted({0, len(text), *(a for a, _, _ in evidence + personal), *(b for _, b, _ in evidence + personal)})
    out: list[Piece] = []
    for a, b in pairwise(cuts):
        rules = tuple(dict.fromkeys(rule for s, e, rule in evidence if s <= a and b <= e))
        owner = next(((s, kind) for s, e, kind in personal if s <= a and b <= e), None)
        if owner is None:
            out.append(Piece(text[a:b], rules))
        elif show_personal:
            out.append(Piece(text[a:b], rules, owner[1]))
        elif a == owner[0]:
            out.append(Piece(f"<{owner[1]}>", rules, owner[1], hidden=True))
    return out
