"""The ``text`` classifier: a post's normalised text and surface features.

The normalisation itself lives in :mod:`safeguard.text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from safeguard.classifiers import lang
from safeguard.classifiers.base import Classifier, Cost
from safeguard.text import caps_ratio, normalize_many
from safeguard.types import Post

__all__ = ["TextClassifier"]


class TextClassifier(Classifier):
    """Normalised text and surface features of a post's text; no options.

    Outputs: ``normalized`` (:func:`~safeguard.text.normalize` of the text), ``length`` (characters of the original
    text), ``caps_ratio`` (uppercase letters over letters of the original text, ``0.0`` without
    letters), ``obfuscated`` (the text disguised words: see :func:`~safeguard.text.normalize_with_flags`), ``lang``
    (the ISO 639-1 code of the text's language, ``"und"`` when it is too short to tell) and
    ``lang_score`` (the identifier's confidence, ``0.0`` for ``"und"``): see :mod:`safeguard.classifiers.lang`.
    Classifiers compute every output, so ``lang`` is worked out for every post, a whole batch at a time.
    """

    kind = "text"
    cost = Cost.CHEAP
    outputs: Mapping[str, type] = MappingProxyType(
        {
            "normalized": str,
            "length": int,
            "caps_ratio": float,
            "obfuscated": bool,
            "lang": str,
            "lang_score": float,
        }
    )

    def __init__(self, *, name: str | None = None, **params: Any) -> None:
        super().__init__(name=name, **params)

    def _load(self) -> None:
        lang.load()

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """One ``{normalized, length, caps_ratio, obfuscated, lang, lang_score}`` mapping per post, in order."""
        texts = [p.text for p in posts]
        normal = normalize_many(texts)
        # The language is read from the normalised text, so look-alike letters from another script
        # ("you іdіоt" in Cyrillic) do not make an English post look Russian.
        languages = lang.detect_languages([n for n, _ in normal])
        out: list[dict[str, Any]] = []
        for text, (normalized, obfuscated), (code, score) in zip(texts, normal, languages, strict=True):
            out.append(
                {
                    "normalized": normalized,
                    "length": len(text),
                    "caps_ratio": caps_ratio(text),
                    "obfuscated": obfuscated,
                    "lang": code,
                    "lang_score": score,
                }
            )
        return out
