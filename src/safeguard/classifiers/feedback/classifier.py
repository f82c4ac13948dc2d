"""What members say, post by post: the ``feedback`` classifier.

Signals (``feedback.<output>``):

* ``kind``: ``question``, ``complaint``, ``praise``, ``suggestion``, ``answer`` or ``other``
  (see :mod:`safeguard.classifiers.feedback.kinds`); ``kind_score``: its probability; ``kinds``: the
  probability of each kind.
* ``sentiment``: VADER's compound polarity of the post, from -1 (negative) to 1 (positive), with a
  small lexicon of shopping words VADER lacks (``data/retail_sentiment.txt``). A polarity, not a
  probability: rules compare it with a signed threshold (``feedback.sentiment < -0.5``).
* ``aspects``: the aspects of shopping the post talks about (delivery, returns, price, stock, service,
  quality, store, website, warranty), and ``evidence``: the phrases that named each one (none for an
  aspect the kind model's aspect heads named from the post's wording alone).
* ``products`` and ``stores``: ids from the retailer's gazetteer (:mod:`.gazetteer`) named in the post;
  ``codes``: model numbers and SKUs found by pattern.

Aspect terms are whole-word phrases on normalised text, one list file per aspect in ``data/aspects``.
A term written ``~ term`` is weak: it counts only in a post that reads as shopping, one where a strong
term of any aspect, a gazetteer name, a code or a shopping word (:data:`SHOPPING_WORDS`) appears, because
"store", "app" or "return" mean other things in other talk. The title, when a post has one, is read
with the text.

Options: ``gazetteer`` (a CSV path), ``aspects`` (name to terms or list file; replaces the shipped
table), ``kind_model`` (a shipped tier by name, :data:`SHIPPED_KIND_MODELS`: ``lexical``, the default, or
``encoder``, which also runs a fine-tuned sentence encoder (:mod:`.encoder`) and blends the two; a kind model
file from ``tools/train_feedback.py``; an encoder tier's directory from ``tools/finetune_feedback.py --out``,
blended with the shipped kind model; or ``rules`` for the hand-set scores of :mod:`.kinds` alone),
``base_dir`` (what relative paths resolve against).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from safeguard import checks
from safeguard.classifiers.base import Classifier, Cost
from safeguard.classifiers.feedback.encoder import HEADS_FILE, EncoderHeads, blend, encoder_dir, encoder_text
from safeguard.classifiers.feedback.gazetteer import Gazetteer, find_codes, load_gazetteer
from safeguard.classifiers.feedback.kinds import (
    CUES,
    DENSE_FEATURES,
    KINDS,
    STAFF_ROLES,
    KindEvidence,
    dense_features,
    has_answer_markup,
    instructions,
    kind_scores,
    question_shape,
    softmax_rows,
)
from safeguard.classifiers.feedback.sentiment import Polarity
from safeguard.classifiers.lists import TermMatcher, load_list_file
from safeguard.classifiers.toxicity.encoder import shared_encoder
from safeguard.classifiers.toxicity.heads import HarmHeads
from safeguard.errors import ConfigError
from safeguard.files import config_path
from safeguard.options import OptionalCheck, Options, file_path, option
from safeguard.text import normalize_many
from safeguard.types import Post

__all__ = [
    "ASPECTS",
    "MODEL_FEATURES",
    "SHIPPED_KIND_MODELS",
    "SHOPPING_WORDS",
    "FeedbackClassifier",
    "FeedbackOptions",
    "dense_matrix",
    "judged_aspects",
    "model_features",
]

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
#: The dense features the kind model reads: the evidence of the kind, then for each shipped aspect the
#: number of its terms found (at most 3) and whether one of them is strong (not ``~``).
MODEL_FEATURES: tuple[str, ...] = (
    *DENSE_FEATURES,
    *(f"terms_{a}" for a in ASPECTS),
    *(f"strong_{a}" for a in ASPECTS),
)
#: The label of an aspect's head in a kind model.
_ASPECT_HEAD = "aspect_"
#: An aspect head's probability below which its terms are not taken as the aspect, when the model
#: file does not say.
DEFAULT_ASPECT_THRESHOLD = 0.5
#: The model file's meta key of the probability at which an aspect head names its aspect with no term
#: found (absent: the heads only veto).
ASPECT_ADD_KEY = "aspect_add_threshold"
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
#: An amount of money: a currency sign and a number, or a number and a currency's name.
_MONEY = re.compile(r"[£$€]\s?\d[\d,.]{0,12}(?![\d$])|\b\d[\d,.]{0,12}\s?(?:quid|pounds|dollars|euros)\b")
#: The shipped kind model (``tools/train_feedback.py`` writes it).
KIND_MODEL = "kinds.npz"
#: The shipped tiers by name (``kind_model: NAME``), each saying whether it runs the encoder tier: ``lexical``
#: (the default) reads the words and the evidence of :mod:`.kinds` with the shipped kind model; ``encoder``
#: blends that model with a MiniLM encoder fine-tuned for kinds and aspects (:mod:`.encoder`;
#: ``tools/finetune_feedback.py`` writes it), which reads kinds and aspects better at a fraction of the speed.
SHIPPED_KIND_MODELS: Mapping[str, bool] = {"lexical": False, "encoder": True}
_WEAK = "~ "
_KIND_LISTS = tuple(f"cue_{k}" for k in CUES)


def _data(name: str) -> Path:
    return Path(str(resources.files("safeguard.classifiers.feedback") / "data" / name))


def _shipped_aspects() -> dict[str, Path]:
    return {a: _data(f"aspects/{a}.txt") for a in ASPECTS}


def _aspects(name: str, value: Any) -> dict[str, tuple[str, ...] | str]:
    """Aspect name to its terms, or to the path of a list file."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{name} must be a non-empty mapping of aspect name to terms or a list file")
    out: dict[str, tuple[str, ...] | str] = {}
    for aspect, terms in value.items():
        if not isinstance(aspect, str) or not aspect.isidentifier():
            raise ValueError(f"aspect name {aspect!r} is not an identifier")
        if isinstance(terms, str):
            out[aspect] = terms
        elif isinstance(terms, Sequence) and all(isinstance(term, str) for term in terms):
            out[aspect] = tuple(terms)
        else:
            raise ValueError(f"aspect {aspect!r} must be a list of terms or the path of a list file")
    return out


@dataclass(frozen=True, kw_only=True)
class FeedbackOptions(Options):
    """Options of :class:`FeedbackClassifier`, all optional; paths are relative to the ruleset."""

    gazetteer: str | os.PathLike[str] | None = option(
        None, OptionalCheck(file_path), "CSV of the retailer's products and stores (SKUs, names, aliases, store ids)"
    )
    aspects: Mapping[str, tuple[str, ...] | str] | None = option(
        None, OptionalCheck(_aspects), "aspect name to its terms or a list file (default: the shipped aspects)"
    )
    kind_model: str | os.PathLike[str] | None = option(
        None,
        OptionalCheck(file_path),
        'a shipped tier ("lexical", the default; "encoder", which also runs a fine-tuned sentence encoder), '
        'a kind model file, an encoder tier directory, or "rules" for the hand-set scores alone',
    )


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

    options_type = FeedbackOptions
    options: FeedbackOptions

    def __init__(
        self, *, name: str | None = None, base_dir: str | os.PathLike[str] | None = None, **options: Any
    ) -> None:
        super().__init__(name=name, **options)
        kind_model, gazetteer, aspects = self.options.kind_model, self.options.gazetteer, self.options.aspects
        #: The encoder tier's directory, when it runs.
        self.encoder_path: Path | None = None
        if kind_model == "rules":
            self.kind_model: Path | None = None
        elif kind_model is None or kind_model in SHIPPED_KIND_MODELS:
            shipped = _data(KIND_MODEL)
            if SHIPPED_KIND_MODELS[str(kind_model or "lexical")]:
                self.encoder_path = encoder_dir()
            for needed in (shipped, *((self.encoder_path / HEADS_FILE,) if self.encoder_path else ())):
                if kind_model is not None and not needed.is_file():
                    raise ValueError(f"kind_model {kind_model!r}: this installation ships no such model ({needed})")
            self.kind_model = shipped if shipped.is_file() else None
        else:
            self.kind_model = config_path(kind_model, "kind_model", base_dir)
            if self.kind_model.is_dir():  # an encoder tier of one's own, blended with the shipped kind model
                if not (self.kind_model / HEADS_FILE).is_file():
                    raise ValueError(f"kind_model directory {str(self.kind_model)!r} has no {HEADS_FILE}")
                self.encoder_path, self.kind_model = self.kind_model, _data(KIND_MODEL)
            elif not self.kind_model.is_file():
                raise ValueError(
                    f"kind_model file {str(self.kind_model)!r} not found (shipped models: "
                    f"{', '.join(SHIPPED_KIND_MODELS)}; or rules)"
                )
        if self.encoder_path is not None:
            self.cost = Cost.MODEL  # a transformer pass per post: the engine runs cheaper tiers first
        self.gazetteer_path = config_path(gazetteer, "gazetteer", base_dir) if gazetteer is not None else None
        self.aspect_sources: dict[str, tuple[str, ...] | Path] = (
            dict(_shipped_aspects())
            if aspects is None
            else {
                aspect: config_path(value, f"aspects.{aspect}", base_dir) if isinstance(value, str) else value
                for aspect, value in aspects.items()
            }
        )
        self._matcher: TermMatcher | None = None
        self._weak: dict[str, frozenset[str]] = {}
        self._gazetteer = Gazetteer()
        self._polarity: Polarity | None = None
        self._model: HarmHeads | None = None
        self._heads: EncoderHeads | None = None
        self._encoder: Any = None

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["aspects"] = list(self.aspect_sources)
        info["gazetteer"] = str(self.gazetteer_path) if self.gazetteer_path else None
        info["kind_model"] = str(self.kind_model) if self.kind_model else "rules"
        info["encoder"] = str(self.encoder_path) if self.encoder_path else None
        return info

    @property
    def gazetteer(self) -> Gazetteer:
        """The retailer's names this instance looks for (empty without a ``gazetteer`` file); loads first."""
        self.load()
        return self._gazetteer

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
        if self.kind_model is not None:
            self._model = load_kind_model(self.kind_model)
            if self.encoder_path is not None:
                self._heads = load_encoder_heads(self.encoder_path / HEADS_FILE, _aspect_heads(self._model))
                self._encoder = shared_encoder(self.encoder_path)
                if self._heads.meta.get("encoder") != self._encoder.files_sha256():
                    raise ConfigError(
                        f"{self.encoder_path}: {HEADS_FILE} was not trained on this directory's encoder "
                        "(their sha256 differ; rerun tools/finetune_feedback.py)",
                        file=str(self.encoder_path / HEADS_FILE),
                    )
        self._matcher = TermMatcher(lists)
        self._polarity = polarity

    def read(self, posts: Sequence[Post]) -> list[Reading]:
        """What the classifier reads of each post before deciding its kind (the kind model's inputs)."""
        self.load()
        texts = [p.full_text for p in posts]
        normalized = normalize_many(texts)
        return [self._read(p, raw, norm) for p, raw, (norm, _) in zip(posts, texts, normalized, strict=True)]

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """One signals mapping per post, in order."""
        readings = self.read(posts)
        found: list[dict[str, list[str]]] = [r.aspects for r in readings]
        if self._model is not None and readings:
            kind_probs, aspect_probs = self.model_probabilities(posts, readings)
            scores = [dict(zip(KINDS, (float(p) for p in row), strict=True)) for row in kind_probs]
            heads = _aspect_heads(self._model)
            if heads:
                settings = self._heads.meta if self._heads is not None else self._model.meta
                veto = float(settings.get("aspect_threshold", DEFAULT_ASPECT_THRESHOLD))
                add = settings.get(ASPECT_ADD_KEY)
                found = judged_aspects(readings, aspect_probs, heads, veto, add, tuple(self.aspect_sources))
        else:
            scores = [kind_scores(r.evidence) for r in readings]
        out = []
        for r, probs, evidence in zip(readings, scores, found, strict=True):
            kind = max(KINDS, key=lambda k: probs[k])  # ties go to the earlier kind in KINDS
            out.append(
                {
                    "kind": kind,
                    "kind_score": probs[kind],
                    "kinds": probs,
                    "sentiment": r.evidence.sentiment,
                    "aspects": list(evidence),
                    "evidence": evidence,
                    "products": r.products,
                    "stores": r.stores,
                    "codes": r.codes,
                }
            )
        return out

    def model_probabilities(self, posts: Sequence[Post], readings: Sequence[Reading]) -> tuple[Any, Any]:
        """The kind model's probabilities of each kind (posts x :data:`KINDS`) and of each of its aspect heads
        (posts x heads), blended with the encoder tier's when it runs. ``readings`` are :meth:`read`'s."""
        self.load()
        if self._model is None:
            raise ValueError("kind_model: rules has no kind model")
        margins = self._model.margins([r.normalized for r in readings], dense_matrix(readings))
        k = len(KINDS)
        kinds = softmax_rows(margins[:, :k])
        aspects = self._model.probabilities(margins)[:, k:]
        if self._heads is not None and readings:
            embeddings = self._encoder.encode([encoder_text(p) for p in posts])
            encoder_kinds, encoder_aspects = self._heads.probabilities(embeddings)
            kinds = blend(kinds, encoder_kinds, self._heads.setting("kind_blend"))
            aspects = blend(aspects, encoder_aspects, self._heads.setting("aspect_blend"))
        return kinds, aspects

    def _read(self, post: Post, raw: str, norm: str) -> Reading:
        assert self._matcher is not None and self._polarity is not None
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
        # weak terms count only where the post reads as shopping (an amount of money included: "£179")
        shopping = evidence or products or stores or codes or found.get("shopping") or _MONEY.search(norm)
        strong = frozenset(evidence)  # the aspects a strong term named
        if weak_only and shopping:
            evidence.update(weak_only)
        evidence = {a: evidence[a] for a in self.aspect_sources if a in evidence}
        marks, sentences, ends = question_shape(norm)
        role = post.author.role if post.author is not None else None
        kind_evidence = KindEvidence(
            **{cue: len(found.get(f"cue_{cue}", ())) for cue in CUES},
            question_marks=marks,
            question_sentences=sentences,
            ends_with_question=ends,
            answer_markup=has_answer_markup(raw),
            instructions=instructions(norm),
            sentiment=self._polarity(raw),
            reply=post.parent_id is not None,
            staff=role in STAFF_ROLES,
            words=len(norm.split()),
        )
        return Reading(norm, kind_evidence, evidence, strong, products, stores, codes)


@dataclass(frozen=True, slots=True)
class Reading:
    """One post as the classifier read it: its normalised text, the evidence of its kind, the aspects with
    the phrases that named them, and the retailer's names and codes in it."""

    normalized: str
    evidence: KindEvidence
    aspects: dict[str, list[str]]
    #: The aspects named by at least one strong term.
    strong: frozenset[str]
    products: list[str]
    stores: list[str]
    codes: list[str]


def dense_matrix(readings: Sequence[Reading]) -> np.ndarray:
    """The dense features of a kind model (one row per reading): :func:`model_features` of each."""
    return np.array([model_features(r) for r in readings], dtype=np.float64).reshape(len(readings), len(MODEL_FEATURES))


def model_features(r: Reading) -> list[float]:
    """A reading as the dense features of a kind model (:data:`MODEL_FEATURES`)."""
    return [
        *dense_features(r.evidence),
        *(float(min(len(r.aspects.get(a, ())), 3)) for a in ASPECTS),
        *(float(a in r.strong) for a in ASPECTS),
    ]


def judged_aspects(
    readings: Sequence[Reading],
    probs: np.ndarray,
    heads: Sequence[str],
    veto: float,
    add: float | None,
    names: Sequence[str],
) -> list[dict[str, list[str]]]:
    """Per reading, its aspects with their evidence once the aspect heads (``heads``, the aspect of each
    column of ``probs``) have judged them. An aspect its terms named is dropped when its head's probability
    is under ``veto``; unless ``add`` is None, an aspect of ``names`` no term named is added, with no
    evidence, when its head reaches ``add``. Aspects without a head (a ruleset's own) stand on their terms."""
    columns = {a: j for j, a in enumerate(heads)}
    addable = [(a, columns[a]) for a in names if a in columns] if add is not None else []
    out = []
    for r, row in zip(readings, probs, strict=True):
        kept = {a: terms for a, terms in r.aspects.items() if a not in columns or row[columns[a]] >= veto}
        added = {a for a, j in addable if a not in r.aspects and row[j] >= add}
        out.append({a: kept.get(a, []) for a in names if a in kept or a in added})
    return out


def _aspect_heads(model: HarmHeads) -> tuple[str, ...]:
    """The aspects a kind model has heads for, in column order."""
    return tuple(label[len(_ASPECT_HEAD) :] for label in model.labels[len(KINDS) :])


def load_encoder_heads(path: Path, aspects: Sequence[str]) -> EncoderHeads:
    """The encoder tier's heads; ConfigError when the file is not heads whose aspects are ``aspects`` (the
    kind model's, which they blend with)."""
    try:
        heads = EncoderHeads.load(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the feedback encoder's heads {path}: {exc}", file=str(path)) from None
    if heads.aspects != tuple(aspects):
        raise ConfigError(f"{path}: its aspect heads are not the kind model's ({list(aspects)})", file=str(path))
    return heads


def load_kind_model(path: str | os.PathLike[str]) -> HarmHeads:
    """A kind model written by ``tools/train_feedback.py``; ConfigError when the file is not one for
    this version's evidence (its first labels must be :data:`KINDS`, any others ``aspect_<name>``,
    and its dense features :data:`MODEL_FEATURES`)."""
    try:
        heads = HarmHeads.load(Path(path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read kind model {os.fspath(path)}: {exc}", file=os.fspath(path)) from None
    kinds, aspects = heads.labels[: len(KINDS)], heads.labels[len(KINDS) :]
    if (
        kinds != KINDS
        or not all(label.startswith(_ASPECT_HEAD) for label in aspects)
        or tuple(heads.meta.get("dense_features", ())) != MODEL_FEATURES
    ):
        raise ConfigError(
            f"{os.fspath(path)} is not a kind model for this version (labels or features differ)",
            file=os.fspath(path),
        )
    for key in ("aspect_threshold", ASPECT_ADD_KEY):
        value = heads.meta.get(key)
        try:
            if value is not None:
                checks.probability(key, value)
        except ValueError as exc:
            where = os.fspath(path)
            raise ConfigError(f"{where}: {exc}", file=where) from None
    return heads
