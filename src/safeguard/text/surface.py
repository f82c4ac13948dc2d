"""Surface features of raw text that several classifiers read."""

from __future__ import annotations

import functools
import re

__all__ = ["caps_ratio", "non_ascii_chars"]

_ASCII_RUN_RE = re.compile(r"[\x00-\x7f]+")


def non_ascii_chars(text: str) -> set[str]:
    """The set of the non-ASCII characters of ``text`` (much faster than ``set(text)`` on mostly ASCII text)."""
    return set(_ASCII_RUN_RE.sub("", text))


_DELETE_UPPER_ASCII: dict[int, None] = dict.fromkeys(range(ord("A"), ord("Z") + 1))
_DELETE_LOWER_ASCII: dict[int, None] = dict.fromkeys(range(ord("a"), ord("z") + 1))


@functools.lru_cache(maxsize=8192)
def caps_ratio(text: str) -> float:
    """Uppercase letters over letters in ``text``; ``0.0`` when it has no letter.

    Cached like :func:`normalize`: the text and spam classifiers both read it for the same post.
    """
    if text.isascii():
        n = len(text)
        upper = n - len(text.translate(_DELETE_UPPER_ASCII))
        letters = upper + n - len(text.translate(_DELETE_LOWER_ASCII))
    else:
        upper = letters = 0
        for c in text:
            if c.isalpha():
                letters += 1
                if c.isupper():
                    upper += 1
    return upper / letters if letters else 0.0
