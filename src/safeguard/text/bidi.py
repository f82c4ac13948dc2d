"""Text in the order a reader sees it: bidirectional overrides undone."""

from __future__ import annotations

from safeguard.text.tables import BIDI_ISOLATES, BIDI_OPENERS, PARAGRAPH_ENDS, PDF, PDI, RLO

__all__ = ["resolve_bidi"]


def resolve_bidi(text: str) -> str:
    """``text`` in the order a reader sees it: what a right-to-left override (U+202E) reverses is reversed,
    and every bidirectional control character is dropped.

    ``"\u202etoidi na era uoy"`` displays as "you are an idiot", so that is what the rules must read.
    Embeddings, isolates and marks do not reorder letters of one direction, so they are only dropped.
    Runs nest: a run closes at its PDF (or PDI for an isolate, which also closes the runs opened inside
    it), and at the end of the paragraph. Text in right-to-left scripts is stored in reading order and
    is left as it is.
    """
    # Each open run: (opener, pieces). A closed run becomes one piece of its parent, so an override
    # reverses the order of its pieces and keeps the inside of a nested run as the nested run decided.
    stack: list[tuple[str, list[str]]] = [("", [])]

    def close() -> None:
        opener, pieces = stack.pop()
        stack[-1][1].append("".join(reversed(pieces)) if opener == RLO else "".join(pieces))

    for c in text:
        if c in BIDI_OPENERS:
            stack.append((c, []))
        elif c == PDF:
            if len(stack) > 1 and stack[-1][0] not in BIDI_ISOLATES:
                close()
        elif c == PDI:
            if any(opener in BIDI_ISOLATES for opener, _ in stack[1:]):
                while stack[-1][0] not in BIDI_ISOLATES:
                    close()
                close()
        elif c in PARAGRAPH_ENDS:
            while len(stack) > 1:
                close()
            stack[0][1].append(c)
        else:
            stack[-1][1].append(c)
    while len(stack) > 1:
        close()
    return "".join(stack[0][1])
