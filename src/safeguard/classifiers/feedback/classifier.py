"""What members say, post by post: the ``feedback`` classifier.

Signals (``feedback.<output>``):

* ``kind``: ``question``, ``complaint``, ``praise``, ``suggestion``, ``answer`` or ``other``
  (see :mod:`safeguard.classifiers.feedback.kinds`); ``kind_score``: its probability; ``kinds``: the
  probability of each kind.
* ``sentiment``: VADER's compound polarity of the post, from -1 (negative) to 1 (positive), with a
  small lexicon of shopping words VADER lacks (``data/retail_sentiment.txt``). A polarity, not a
  probability: rules compare it with a signed threshold (``feedback.sentiment < -0.5``).
* ``aspects``: the aspects of shopping the post talks about (delivery, returns, price, stock, service,
  quality, store, website, warranty), and ``evidence``: the phrases that named each one.
* ``products`` and ``stores``: ids from the retailer's gazetteer (:mod:`.gazetteer`) named in the post;
  ``codes``: model numbers and SKUs found by pattern.

Aspect terms are whole-word phrases on normalised text, one list file per aspect in ``data/aspects``.
A term written ``~ term`` is weak: it counts only in a post that reads as shopping, one where a strong
term of any aspect, a gazetteer name, a code or a shopping word (:data:`SHOPPING_WORDS`) appears, because
"store", "app" or "return" mean other things in other talk. The title, when a post has one, is read
with the text.

Options: ``gazetteer`` (a CSV path), ``aspects`` (name to terms or list file; replaces the shipped
table), ``base_dir`` (what relative paths resolve against).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from safeguard.classifiers.base import Classifier, Cost
from safeguard.classifiers.feedback.gazetteer import Gazetteer, find_codes, load_gazetteer
from safeguard.classifiers.feedback.kinds import (
    CUES,
    KINDS,
    KindEvidence,
    has_answer_markup,
    instructions,
    kind_scores,
    question_shape,
)
from safeguard.classifiers.feedback.sentiment import Polarity
from safeguard.classifiers.lists import TermMatcher, load_list_file
from safeguard.classifiers.text import normalize_many
from safeguard.files import config_path
from safeguard.types import Post

__all__ = ["ASPECTS", "SHOPPING_WORDS", "FeedbackClassifier"]

#: The shipped aspects, in the order reports list them.
ASPECTS: tuple[str, ...] = (
    "delivery",
    "returns",
    "price",
    "stock",
    "service",
    "quality",
    "store",
    "website",
    "warranty",
)
#: Words that make a post read as shopping, so weak aspect terms count in it.
SHOPPING_WORDS: tuple[str, ...] = (
    "order",
    "ordered",
    "orders",
    "bought",
    "buy",
    "buying",
    "purchase",
    "purchased",
    "customer",
    "customers",
    "retailer",
    "receipt",
    "item",
    "items",
    "product",
    "products",
    "shopping",
    "shopper",
    "warranty",
    "refund",
    "delivery",
)
_STAFF_ROLES = frozenset({"staff", "moderator", "admin"})
_WEAK = "~ "
_KIND_LISTS = tuple(f"cue_{k}" for k in CUES)


def _data(name: str) -> Path:
    return Path(str(resources.files("safeguard.classifiers.feedback") / "data" / name))


def _shipped_aspects() -> dict[str, Path]:
    return {a: _data(f"aspects/{a}.txt") for a in ASPECTS}


class FeedbackClassifier(Classifier):
    """Kind, sentiment, aspects, products and stores of each post (see the module docs)."""

    kind = "feedback"
    cost = Cost.CHEAP
    outputs: Mapping[str, type] = {
        "kind": str,
        "kind_score": float,
        "kinds": dict,
        "sentiment": float,
        "aspects": list,
        "evidence": dict,
        "products": list,
        "stores": list,
        "codes": list,
    }

    def __init__(
        self,
        *,
        name: str | None = None,
        gazetteer: str | os.PathLike[str] | None = None,
        aspects: Mapping[str, Sequence[str] | str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(name=name, **params)
        self.gazetteer_path = config_path(gazetteer, "gazetteer", base_dir) if gazetteer is not None else None
        if aspects is None:
            self.aspect_sources: dict[str, tuple[str, ...] | Path] = dict(_shipped_aspects())
        elif not isinstance(aspects, Mapping) or not aspects:
            raise ValueError("aspects must be a non-empty mapping of aspect name to terms or a list file")
        else:
            self.aspect_sources = {}
            for aspect, value in aspects.items():
                if not isinstance(aspect, str) or not aspect.isidentifier():
                    raise ValueError(f"aspect name {aspect!r} is not an identifier")
                if isinstance(value, str):
                    self.aspect_sources[aspect] = config_path(value, f"aspects.{aspect}", base_dir)
                elif isinstance(value, Sequence) and all(isinstance(t, str) for t in value):
                    self.aspect_sources[aspect] = tuple(value)
                else:
                    raise ValueError(f"aspect {aspect!r} must be a list of terms or the path of a list file")
        self._matcher: TermMatcher | None = None
        self._weak: dict[str, frozenset[str]] = {}
        self._gazetteer = Gazetteer()
        self._polarity: Polarity | None = None

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["aspects"] = list(self.aspect_sources)
        info["gazetteer"] = str(self.gazetteer_path) if self.gazetteer_path else None
        return info

    def _load(self) -> None:
        polarity = Polarity()
        lists: dict[str, list[str]] = {}
        for aspect, source in self.aspect_sources.items():
            terms = load_list_file(source) if isinstance(source, Path) else list(source)
            strong = [t for t in terms if not t.startswith(_WEAK)]
            weak = [t[len(_WEAK) :].strip() for t in terms if t.startswith(_WEAK)]
            lists[f"aspect_{aspect}"] = strong + weak
            self._weak[aspect] = frozenset(weak)
        for cue, phrases in CUES.items():
            lists[f"cue_{cue}"] = list(phrases)
        lists["shopping"] = list(SHOPPING_WORDS)
        if self.gazetteer_path is not None:
            self._gazetteer = load_gazetteer(self.gazetteer_path)
            for signal, names in self._gazetteer.terms().items():
                lists[f"gaz_{signal}"] = names
        self._matcher = TermMatcher(lists)
        self._polarity = polarity

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """One signals mapping per post, in order."""
        self.load()
        assert self._matcher is not None
        texts = [_joined(p) for p in posts]
        normalized = normalize_many(texts)
        return [self._one(p, raw, norm) for p, raw, (norm, _) in zip(posts, texts, normalized, strict=True)]

    def _one(self, post: Post, raw: str, norm: str) -> dict[str, Any]:
        assert self._matcher is not None
        found = self._matcher.find(norm)
        gaz = self._gazetteer
        products = gaz.ids("products", found.get("gaz_products", ()))
        stores = gaz.ids("stores", found.get("gaz_stores", ()))
        codes = find_codes(raw)
        evidence: dict[str, list[str]] = {}
        weak_only: dict[str, list[str]] = {}
        for aspect, weak in self._weak.items():
            terms = found.get(f"aspect_{aspect}")
            if not terms:
                continue
            if any(t not in weak for t in terms):
                evidence[aspect] = terms
            else:
                weak_only[aspect] = terms
        if weak_only and (evidence or products or stores or codes or found.get("shopping")):
            evidence.update(weak_only)
        evidence = {a: evidence[a] for a in self.aspect_sources if a in evidence}
        assert self._polarity is not None
        sentiment = self._polarity(raw)
        marks, sentences, ends = question_shape(norm)
        words = len(norm.split())
        role = post.author.role if post.author is not None else None
        scores = kind_scores(
            KindEvidence(
                **{cue: len(found.get(f"cue_{cue}", ())) for cue in CUES},
                question_marks=marks,
                question_sentences=sentences,
                ends_with_question=ends,
                answer_markup=has_answer_markup(raw),
                instructions=instructions(norm),
                sentiment=sentiment,
                reply=post.parent_id is not None,
                staff=role in _STAFF_ROLES,
                words=words,
            )
        )
        kind = max(KINDS, key=lambda k: scores[k])  # ties go to the earlier kind in KINDS
        return {
            "kind": kind,
            "kind_score": scores[kind],
            "kinds": scores,
            "sentiment": sentiment,
            "aspects": list(evidence),
            "evidence": evidence,
            "products": products,
            "stores": stores,
            "codes": codes,
        }


def _joined(post: Post) -> str:
    """Title and text as one text; the title ends a sentence of its own (normalisation squeezes newlines)."""
    if not post.title:
        return post.text
    title = post.title.rstrip()
    return f"{title}{'' if title[-1:] in '.!?' else '.'}\n{post.text}"
