"""The ``pii`` classifier: personal data in posts, found by Presidio's analyzer, offline.

::

    classifiers:
      pii:
        entities: [CREDIT_CARD, EMAIL_ADDRESS, PHONE_NUMBER, IBAN_CODE, US_SSN, IP_ADDRESS]
        min_score: 0.5
        entity_min_score: {PHONE_NUMBER: 0.6}
        allow_list: [support@larkmoor.com, "0800 123 4567"]
        context: {PHONE_NUMBER: [helpline]}
        regions: [US, GB, DE, FR, IN, CA, AU]
        recognizers:
          - name: gift-card
            entity: GIFT_CARD
            patterns: [{regex: '\\bLMGC-\\d{4}-\\d{4}\\b', score: 0.9}]
            context: [gift]

Signals per post, title and body together: ``entities`` (types found at or above their minimum
score, in order of first appearance, the title's first), ``count`` (spans reported) and ``scores``
(type -> highest score). Where: ``spans`` (``{type, start, end, score}``, offsets into the post's
original text) and ``redacted`` (the text with each span replaced by ``<TYPE>``); ``title_spans``
and ``redacted_title`` the same for the title (empty and the title as it is when it has none).

No model is downloaded: the analyzer runs pattern recognizers on a no-op NLP engine. With
``nlp_model: en_core_web_sm`` (an installed spaCy model) PERSON and LOCATION become available.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import re2

from safeguard import checks
from safeguard.classifiers.base import Classifier, Cost
from safeguard.classifiers.pii.context import RETAIL_CHECKED, ContextRules
from safeguard.classifiers.pii.normalize import NormalizedText, normalize_pii
from safeguard.errors import ClassifierError, MissingDependencyError
from safeguard.options import OptionalCheck, Options, Probability, option
from safeguard.text.links import URL_START
from safeguard.types import Post

__all__ = ["DEFAULT_ENTITIES", "DEFAULT_REGIONS", "PATTERN_ENTITIES", "PIIClassifier", "PIIOptions"]

#: Entities found without a model (pattern recognizers).
PATTERN_ENTITIES: tuple[str, ...] = (
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "URL",
    "US_DRIVER_LICENSE",
    "UK_NHS",
    "CRYPTO",
)
#: Entities that need ``nlp_model``.
NER_ENTITIES: tuple[str, ...] = ("PERSON", "LOCATION")
DEFAULT_ENTITIES: tuple[str, ...] = PATTERN_ENTITIES[:6]
DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN", "CA", "AU", "IE", "NL", "ES", "IT")
_ENTITY_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False

# Which entities a text can hold at all: the cheap pre-screen.
_DIGIT_RUN = re.compile(r"\d[\d \t().+\-/]{5,}\d")
#: The fewest digits a card, phone, IBAN, SSN or licence number is written with (a digit run with fewer,
#: such as "2019 - 2020" or "v1.2.3", cannot be one).
_MIN_DIGITS = 7
_IP_HINT = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:")
_URL_HINT = re.compile(rf"(?i){URL_START}|\w\.[a-z]{{2,}}\b")
_DIGIT_ENTITIES = frozenset({"CREDIT_CARD", "PHONE_NUMBER", "IBAN_CODE", "US_SSN", "US_DRIVER_LICENSE", "UK_NHS"})


def _import_presidio(classifier: str) -> None:
    """Import presidio_analyzer without letting it pull in torch and transformers.

    presidio_analyzer imports transformers (and so torch) at import time whenever they are installed,
    for an NLP engine safeguard does not use: 10 s and a GB of memory. While it is imported, the two
    are made unimportable unless something has imported them already.
    """
    if "presidio_analyzer" in sys.modules:
        return
    blocked = [m for m in ("transformers", "torch") if m not in sys.modules]
    for module in blocked:
        sys.modules[module] = None  # type: ignore[assignment]
    try:
        import presidio_analyzer  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(classifier, "presidio-analyzer", "pii") from exc
    finally:
        for module in blocked:
            if module in sys.modules and sys.modules[module] is None:
                del sys.modules[module]


def _strings(name: str, value: Any) -> tuple[str, ...]:
    """A list of non-empty strings, as a tuple."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _parse_recognizer(index: int, spec: Any) -> dict[str, Any]:
    where = f"recognizers[{index}]"
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a mapping with name, entity and patterns, got {spec!r}")
    unknown = sorted(set(spec) - {"name", "entity", "patterns", "context"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: name, entity, patterns, context")
    name, entity, patterns = spec.get("name"), spec.get("entity"), spec.get("patterns")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}.name must be a non-empty string")
    if not isinstance(entity, str) or not _ENTITY_NAME.match(entity):
        raise ValueError(f"{where}.entity must be an upper-case type name such as GIFT_CARD, got {entity!r}")
    if not isinstance(patterns, Sequence) or isinstance(patterns, str) or not patterns:
        raise ValueError(f"{where}.patterns must be a non-empty list of {{regex, score}}")
    parsed: list[tuple[str, str, float]] = []
    for j, p in enumerate(patterns):
        pwhere = f"{where}.patterns[{j}]"
        if not isinstance(p, Mapping):
            raise ValueError(f"{pwhere} must be a mapping with regex and score")
        extra = sorted(set(p) - {"name", "regex", "score"})
        if extra:
            raise ValueError(f"{pwhere}: unknown key(s) {extra}; allowed: name, regex, score")
        regex = p.get("regex")
        if not isinstance(regex, str) or not regex:
            raise ValueError(f"{pwhere}.regex must be a non-empty string")
        try:
            re2.compile(regex, _RE2_OPTIONS)
        except re2.error as exc:
            msg = exc.args[0] if exc.args else exc
            msg = msg.decode() if isinstance(msg, bytes) else str(msg)
            raise ValueError(
                f"{pwhere}.regex {regex!r} is not a valid RE2 pattern ({msg}); "
                "RE2 has no lookaround or backreferences, which keeps matching linear-time"
            ) from None
        score = checks.probability(f"{pwhere}.score", p.get("score"))
        parsed.append((str(p.get("name") or f"{name}-{j}"), regex, score))
    words = list(_strings(f"{where}.context", spec.get("context") or []))
    return {"name": name, "entity": entity, "patterns": parsed, "context": words}


def _recognizers(name: str, value: Any) -> tuple[dict[str, Any], ...]:
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a list of recognizers, got {value!r}")
    parsed = tuple(_parse_recognizer(i, r) for i, r in enumerate(value))
    names = [r["name"] for r in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"{name}: names must be unique, got {names}")
    return parsed


def _per_entity(check: Callable[[str, Any], Any], what: str) -> Callable[[str, Any], dict[str, Any]]:
    """A check of a mapping from entity type to a value that passes ``check``."""

    def checked(name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(f"{name} must map entity types to {what}, got {value!r}")
        return {entity: check(f"{name}.{entity}", v) for entity, v in value.items()}

    return checked


def _regions(name: str, value: Any) -> tuple[str, ...]:
    chosen = _strings(name, value)
    bad = [r for r in chosen if not re.fullmatch(r"[A-Z]{2}", r)]
    if bad:
        raise ValueError(f"{name} must be two-letter ISO region codes (US, GB, DE ...), got {bad}")
    return tuple(dict.fromkeys(chosen))


def _spacy_model(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.isidentifier():
        raise ValueError(f"{name} must be the name of a spaCy model package (en_core_web_sm), got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class PIIOptions(Options):
    """Options of :class:`PIIClassifier`, all optional (see its docstring for what each does)."""

    nlp_model: str | None = option(None, OptionalCheck(_spacy_model), "an installed spaCy model for PERSON, LOCATION")
    recognizers: tuple[dict[str, Any], ...] = option((), _recognizers, "custom RE2 pattern recognizers")
    entities: tuple[str, ...] | None = option(
        None,
        OptionalCheck(_strings),
        f"types to look for (default: {', '.join(DEFAULT_ENTITIES)}); custom recognizers' are added",
    )
    min_score: float = option(0.5, Probability(), "the score a span needs to be reported")
    entity_min_score: Mapping[str, float] = option(
        {}, _per_entity(checks.probability, "scores"), "per-type overrides of min_score, {PHONE_NUMBER: 0.6}"
    )
    allow_list: tuple[str, ...] = option((), _strings, "texts never reported (exact, case-insensitive)")
    context: Mapping[str, tuple[str, ...]] = option(
        {}, _per_entity(_strings, "lists of words"), "extra context words per type, {PHONE_NUMBER: [helpline]}"
    )
    regions: tuple[str, ...] | None = option(
        None,
        OptionalCheck(_regions),
        f"ISO region codes of national phone formats (default: {', '.join(DEFAULT_REGIONS)})",
    )

    def chosen_entities(self) -> tuple[str, ...]:
        """The entities looked for: those chosen (or the defaults), then each custom recognizer's."""
        chosen = list(DEFAULT_ENTITIES) if self.entities is None else list(self.entities)
        return tuple(dict.fromkeys([*chosen, *sorted({r["entity"] for r in self.recognizers})]))

    def validate(self) -> None:
        custom = {r["entity"] for r in self.recognizers}
        known = set(PATTERN_ENTITIES) | set(NER_ENTITIES) | custom
        chosen = list(DEFAULT_ENTITIES) if self.entities is None else list(self.entities)
        unknown = [e for e in chosen if e not in known]
        if unknown:
            raise ValueError(f"entities: unknown type(s) {unknown}; known: {sorted(known)}")
        ner = [e for e in chosen if e in NER_ENTITIES]
        if ner and self.nlp_model is None:
            raise ValueError(f"entities {ner} need a spaCy model: set nlp_model (for example en_core_web_sm)")
        entities = self.chosen_entities()
        for option_name, per_entity in (("entity_min_score", self.entity_min_score), ("context", self.context)):
            for entity in per_entity:
                if entity not in entities:
                    raise ValueError(f"{option_name}: {entity!r} is not one of the entities {list(entities)}")


class PIIClassifier(Classifier):
    """Personal data (cards, e-mail, phones, IBANs, SSNs, IPs ...) with spans and a redacted text.

    Options (all optional):

    * ``entities``: types to look for (default: CREDIT_CARD, EMAIL_ADDRESS, PHONE_NUMBER, IBAN_CODE,
      US_SSN, IP_ADDRESS). Pattern types: ``PATTERN_ENTITIES``; PERSON and LOCATION need ``nlp_model``;
      the entity of a custom recognizer is added automatically.
    * ``min_score``: the score (0..1) a span needs to be reported, default 0.5;
      ``entity_min_score``: per-type overrides, ``{PHONE_NUMBER: 0.6}``.
    * ``allow_list``: texts never reported (exact, case-insensitive): the retailer's own address or helpline.
    * ``context``: extra context words per type, ``{PHONE_NUMBER: [helpline]}``; a context word near a
      candidate raises its score.
    * ``regions``: ISO region codes for national phone formats (default US, GB, DE, FR, IN, CA, AU, IE, NL,
      ES, IT). International numbers (``+44 ...``) are found whatever the regions.
    * ``recognizers``: custom pattern recognizers, each ``{name, entity, patterns: [{regex, score, name?}],
      context?}``; regexes are RE2 (linear time; no lookaround or backreferences).
    * ``nlp_model``: an installed spaCy model (``en_core_web_sm``) for PERSON and LOCATION; absent, no NER
      and no download.
    """

    kind = "pii"
    cost = Cost.CHEAP
    outputs: Mapping[str, type] = {
        "entities": list,
        "count": int,
        "scores": dict,
        "spans": list,
        "redacted": str,
        "title_spans": list,
        "redacted_title": str,
    }

    options_type = PIIOptions
    options: PIIOptions

    def __init__(self, *, name: str | None = None, **options: Any) -> None:
        super().__init__(name=name, **options)
        o = self.options
        self.custom = list(o.recognizers)
        self.entities: tuple[str, ...] = o.chosen_entities()
        self.allow_list = frozenset(s.casefold().strip() for s in o.allow_list)
        context: dict[str, list[str]] = {entity: list(words) for entity, words in o.context.items()}
        for r in self.custom:
            context.setdefault(r["entity"], []).extend(r["context"])
        self.context = context
        self.regions = DEFAULT_REGIONS if o.regions is None else o.regions
        if o.nlp_model is not None:
            self.cost = Cost.MODEL
        self._rules = ContextRules(self.context)
        self._analyzer: Any = None
        self._nlp_engine: Any = None

    # ---------------------------------------------------------------- loading

    def _load(self) -> None:
        _import_presidio(self.name)
        import phonenumbers
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NoOpNlpEngine, SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        from safeguard.classifiers.pii import recognizers as ours

        bad = [r for r in self.regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ClassifierError(self.name, f"regions: unknown phone region(s) {bad}")
        model = self.options.nlp_model
        if model is not None:
            if importlib.util.find_spec(model) is None:
                raise ClassifierError(
                    self.name,
                    f"the spaCy model {model!r} is not installed; install the package "
                    f"{model!r} (python -m spacy download {model}) or remove nlp_model",
                )
            nlp_engine: Any = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model}])
        else:
            nlp_engine = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
        nlp_engine.load()
        wanted = set(self.entities)
        candidates: list[Any] = [
            recognizer
            for entity, found in ours.pattern_recognizers(self.regions).items()
            if entity in wanted
            for recognizer in found
        ]
        if self.options.nlp_model is not None:
            candidates.append(SpacyRecognizer(supported_entities=[e for e in NER_ENTITIES if e in wanted]))
        registry = RecognizerRegistry(supported_languages=["en"])
        for recognizer in candidates:
            if wanted & set(recognizer.supported_entities):
                registry.add_recognizer(recognizer)
        for spec in self.custom:
            registry.add_recognizer(ours.RE2PatternRecognizer(spec["name"], spec["entity"], spec["patterns"]))
        self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
        self._nlp_engine = nlp_engine
        self._phonenumbers = phonenumbers

    # ---------------------------------------------------------------- classifying

    def _candidate_entities(self, text: str) -> list[str]:
        """The configured entities ``text`` could contain (the pre-screen)."""
        if self.options.nlp_model is not None or self.custom:
            return list(self.entities)
        found: list[str] = []
        digits = any(sum(c.isdigit() for c in m.group()) >= _MIN_DIGITS for m in _DIGIT_RUN.finditer(text))
        for entity in self.entities:
            if entity in _DIGIT_ENTITIES:
                ok = digits
            elif entity == "EMAIL_ADDRESS":
                ok = "@" in text
            elif entity == "IP_ADDRESS":
                ok = _IP_HINT.search(text) is not None
            elif entity == "URL":
                ok = _URL_HINT.search(text) is not None
            else:
                ok = True
            if ok:
                found.append(entity)
        return found

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """One signals mapping per post (see the module docstring)."""
        if not posts:
            return []
        self.load()
        return [self._post_signals(post) for post in posts]

    def _post_signals(self, post: Post) -> dict[str, Any]:
        """The body's signals, with what the title holds (see :attr:`Post.full_text`) counted in too:
        ``spans`` and ``redacted`` stay the body's, ``title_spans`` and ``redacted_title`` are the title's."""
        body = self.analyze(post.text or "")
        title = self.analyze(post.title) if post.title else None
        if title is None:
            return {**body, "title_spans": [], "redacted_title": post.title or ""}
        scores = dict(body["scores"])
        for entity, score in title["scores"].items():
            scores[entity] = max(scores.get(entity, 0.0), score)
        return {
            "entities": list(dict.fromkeys([*title["entities"], *body["entities"]])),
            "count": title["count"] + body["count"],
            "scores": scores,
            "spans": body["spans"],
            "redacted": body["redacted"],
            "title_spans": title["spans"],
            "redacted_title": title["redacted"],
        }

    def analyze(self, text: str) -> dict[str, Any]:
        """The signals of one text."""
        norm = normalize_pii(text)
        wanted = self._candidate_entities(norm.text)
        if not wanted:
            return {"entities": [], "count": 0, "scores": {}, "spans": [], "redacted": text}
        try:
            results = self._analyzer.analyze(norm.text, language="en", entities=wanted, score_threshold=0.0)
        except Exception as exc:
            raise ClassifierError(self.name, f"presidio analyzer failed: {exc}") from exc
        return self._signals(norm, results)

    def _signals(self, norm: NormalizedText, results: Sequence[Any]) -> dict[str, Any]:
        text = norm.text
        scored: list[tuple[float, int, int, str]] = []
        for r in results:
            entity, start, end = r.entity_type, r.start, r.end
            candidate = text[start:end]
            stripped = candidate.strip()
            if not stripped:
                continue
            score = self._rules.score(entity, text, start, end, float(r.score))
            if entity == "PHONE_NUMBER" and score < 0.5 and entity in RETAIL_CHECKED and score > 0:
                score = max(score, self._phone_shape_score(stripped, float(r.score)))
            if score < self.options.entity_min_score.get(entity, self.options.min_score) or score <= 0.0:
                continue
            orig_start, orig_end = norm.original_span(start, end)
            if norm.original[orig_start:orig_end].casefold().strip() in self.allow_list:
                continue
            if stripped.casefold() in self.allow_list:
                continue
            scored.append((score, orig_start, orig_end, entity))
        # Overlapping spans: the higher score wins, then the longer span.
        scored.sort(key=lambda s: (-s[0], -(s[2] - s[1]), s[1]))
        kept: list[tuple[float, int, int, str]] = []
        for s in scored:
            if all(s[2] <= k[1] or s[1] >= k[2] for k in kept):
                kept.append(s)
        kept.sort(key=lambda s: (s[1], s[2]))
        spans = [{"type": e, "start": a, "end": b, "score": round(sc, 4)} for sc, a, b, e in kept]
        scores: dict[str, float] = {}
        for sc, _, _, e in kept:
            scores[e] = max(scores.get(e, 0.0), round(sc, 4))
        original = norm.original
        pieces: list[str] = []
        pos = 0
        for _, a, b, e in kept:
            pieces.append(original[pos:a])
            pieces.append(f"<{e}>")
            pos = b
        pieces.append(original[pos:])
        return {
            "entities": list(dict.fromkeys(e for _, _, _, e in kept)),
            "count": len(kept),
            "scores": scores,
            "spans": spans,
            "redacted": "".join(pieces),
        }

    def _phone_shape_score(self, candidate: str, score: float) -> float:
        """A formatted phone number is reportable alone: international (+44 ...) or grouped and valid."""
        if score < 0.4:  # the context recognizer's shapes need a context word
            return score
        if candidate.startswith("+"):
            return 0.6
        if re.search(r"\d[ ().-]+\d", candidate):
            return 0.5
        return score

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(
            {"entities": list(self.entities), "min_score": self.options.min_score, "nlp_model": self.options.nlp_model}
        )
        return info
