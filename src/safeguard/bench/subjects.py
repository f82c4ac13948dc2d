"""What ``safeguard bench`` measures: a small registry of subjects and the unmodified peers they are compared with.

A :class:`Subject` has a name, a line saying what it measures, the peer it is compared with (for the
ratios), and a ``setup`` that builds it and returns a :class:`Prepared`: a batch callable and a
single-post callable. ``setup`` raises :class:`Skipped` when the subject cannot run here (a classifier
kind that is not registered, a peer package that is not installed, no spaCy model), with the reason
and what to install.

Subjects build through the public API only: ``get_classifier_class(kind)(**options)``, ``load()``,
``classify(posts)``, or a :class:`~safeguard.moderator.Moderator` over the shipped ruleset.
"""

from __future__ import annotations

import importlib.util
import json
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeguard.bench.errors import Skipped
from safeguard.types import Post

__all__ = [
    "SUBJECTS",
    "Context",
    "Prepared",
    "Skipped",
    "Subject",
    "get_subject",
    "ratio_pairs",
    "register_subject",
    "shipped_rules",
]

#: The options the shipped policy gives each classifier (rules/community.yaml and DESIGN.md).
PII_ENTITIES: tuple[str, ...] = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN")
DUPLICATE_OPTIONS: dict[str, Any] = {"threshold": 0.85, "window": 100_000}
#: Batch size of the transformer paths (subjects and the Detoxify peer alike).
MODEL_BATCH = 32


@dataclass
class Context:
    """What a subject's setup may use: a work directory shared by the subjects of one run, and the corpus."""

    workdir: Path
    corpus: Sequence[Post]
    quick: bool = False


@dataclass
class Prepared:
    """A subject ready to measure.

    ``batch(prepare(posts))`` processes a batch (``prepare`` runs untimed: the pipeline writes its
    JSONL input there); ``single(post)`` processes one post, for latency. ``reset`` (optional) starts
    a stateful subject over, so each measurement begins from an empty window. ``batch_size`` is how
    many posts one ``batch`` call gets (0: all at once). ``info`` is recorded with the result.
    """

    batch: Callable[[Any], object]
    single: Callable[[Post], object]
    prepare: Callable[[list[Post]], Any] = list
    reset: Callable[[], None] | None = None
    batch_size: int = 256
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Subject:
    """One thing ``safeguard bench`` measures.

    ``peers`` name the subjects it is compared with (``<name>_vs_<peer>`` in the ratios). ``heavy``
    subjects (BERT-base on CPU) are measured on fewer posts, the same posts for the subjects and
    their peer. ``complexity`` is the exponent of how time grows with the corpus (2 for pairwise
    comparison), used to leave out corpus sizes that would run over the time budget. ``max_posts``
    caps the posts of the main measurement.
    """

    name: str
    measures: str
    setup: Callable[[Context], Prepared]
    peers: tuple[str, ...] = ()
    is_peer: bool = False
    heavy: bool = False
    complexity: float = 1.0
    max_posts: int | None = None
    max_posts_quick: int | None = None

    def posts_cap(self, quick: bool) -> int | None:
        """The most posts the main measurement may use, or None for no cap."""
        return self.max_posts_quick if quick and self.max_posts_quick is not None else self.max_posts


SUBJECTS: dict[str, Subject] = {}


def register_subject(subject: Subject) -> Subject:
    """Add ``subject`` to :data:`SUBJECTS` (replacing one of the same name) and return it."""
    SUBJECTS[subject.name] = subject
    return subject


def get_subject(name: str) -> Subject:
    """The subject called ``name``; KeyError naming the known subjects otherwise."""
    try:
        return SUBJECTS[name]
    except KeyError:
        raise KeyError(f"unknown subject {name!r} (known: {', '.join(SUBJECTS)})") from None


def shipped_rules() -> Path:
    """rules/community.yaml: in the working directory's checkout, else beside the imported source tree."""
    candidates = [Path.cwd() / "rules" / "community.yaml"]
    candidates += [base / "rules" / "community.yaml" for base in Path(__file__).resolve().parents]
    for path in candidates:
        if path.is_file():
            return path
    raise Skipped("rules/community.yaml not found: run from the root of a safeguard checkout")


def _require(module: str, pip: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise Skipped(f"{module} is not installed: pip install {pip}")


def _clear_text_cache() -> None:
    # Normalisation and caps ratios are memoised; every measurement starts cold so repeated posts are not free.
    from safeguard.text import clear_caches

    clear_caches()


# --- safeguard classifiers ---------------------------------------------------------------------------


def _classifier(kind: str, options: Mapping[str, Any], *, batch_size: int = 256) -> Callable[[Context], Prepared]:
    """Setup of a classifier built through the public registry with ``options``."""

    def setup(ctx: Context) -> Prepared:
        from safeguard.classifiers.base import get_classifier_class
        from safeguard.errors import ConfigError, MissingDependencyError

        try:
            cls = get_classifier_class(kind)
        except ConfigError:
            raise Skipped(f"classifier kind {kind!r} is not registered in this installation") from None

        def build() -> Any:
            instance = cls(**dict(options))
            try:
                instance.load()
            except MissingDependencyError as exc:
                raise Skipped(str(exc)) from None
            return instance

        holder = [build()]

        def reset() -> None:
            _clear_text_cache()
            if holder[0].stateful:
                holder[0] = build()

        return Prepared(
            batch=lambda posts: holder[0].classify(posts),
            single=lambda post: holder[0].classify([post]),
            reset=reset,
            batch_size=batch_size,
            info={"kind": kind, "options": {k: str(v) for k, v in options.items()}},
        )

    return setup


def _lists_setup(ctx: Context) -> Prepared:
    import yaml

    rules = shipped_rules()
    data = yaml.safe_load(rules.read_text(encoding="utf-8"))
    lists = dict(data.get("lists") or {})
    if not lists:
        raise Skipped(f"{rules} has no lists")
    prepared = _classifier("lists", {"lists": lists, "base_dir": rules.parent})(ctx)
    prepared.info = {"kind": "lists", "lists": len(lists), "rules": str(rules)}
    return prepared


def _pipeline_setup(ctx: Context) -> Prepared:
    from safeguard.heap import settle_heap
    from safeguard.io import readers, writers
    from safeguard.moderator import Moderator

    rules = shipped_rules()
    moderator = Moderator.from_file(rules).load()
    settle_heap()  # as `safeguard moderate` does once its models are loaded
    counter = iter(range(1 << 62))

    def prepare(posts: list[Post]) -> Path:
        path = ctx.workdir / f"pipeline_in_{next(counter)}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for post in posts:
                fh.write(json.dumps(_post_record(post), ensure_ascii=False) + "\n")
        return path

    def run(path: Path) -> None:
        # The `safeguard moderate` path in-process: stream records, decide in batches, write decisions.
        out = ctx.workdir / "pipeline_out.jsonl"
        with writers.open_writer(out) as writer:
            good = (post for _, post, _ in readers.iter_posts(readers.read_records(path)) if post is not None)
            for decision in moderator.moderate_many(good):
                writer.write(decision.to_dict())
        path.unlink()

    return Prepared(
        batch=run,
        single=moderator.moderate,
        prepare=prepare,
        reset=_clear_text_cache,
        batch_size=0,
        info={"rules": str(rules), "ruleset": moderator.ruleset.identity, "path": "JSONL in, decisions out"},
    )


def _post_record(post: Post) -> dict[str, Any]:
    author = post.author
    return {
        "id": post.id,
        "text": post.text,
        "author": {"id": author.id, "trust_level": author.trust_level, "role": author.role},
    }


# --- the transformer toxicity path ----------------------------------------------------------------------


def _toxicity_model(kind: str) -> Callable[[Context], Prepared]:
    def setup(ctx: Context) -> Prepared:
        from safeguard.bench.models import detoxify_checkpoint, onnx_model

        _require_kind("toxicity")
        checkpoint, config_dir = detoxify_checkpoint(ctx.workdir)
        options: dict[str, Any] = {
            "backend": "detoxify",
            "model_type": "original",
            "checkpoint": str(checkpoint),
            "config_dir": str(config_dir),
        }
        if kind != "torch":
            model = onnx_model(ctx.workdir, options, int8=kind == "onnx_int8")
            options = {"backend": "onnx", "model": str(model)}
        prepared = _classifier("toxicity", options, batch_size=MODEL_BATCH)(ctx)
        prepared.info["model"] = "BERT-base, random weights"
        return prepared

    return setup


def _require_kind(kind: str) -> None:
    from safeguard.classifiers.base import available

    if kind not in available():
        raise Skipped(f"classifier kind {kind!r} is not registered in this installation")


def _detoxify_setup(ctx: Context) -> Prepared:
    _require("detoxify", "detoxify")
    from detoxify import Detoxify

    from safeguard.bench.models import detoxify_checkpoint

    checkpoint, config_dir = detoxify_checkpoint(ctx.workdir)
    model = Detoxify(checkpoint=str(checkpoint), huggingface_config_path=str(config_dir))
    return Prepared(
        batch=lambda posts: model.predict([p.text for p in posts]),
        single=lambda post: model.predict([post.text]),
        batch_size=MODEL_BATCH,
        info={"model": "BERT-base, random weights", "call": "Detoxify(...).predict(list_of_texts)"},
    )


# --- peers ---------------------------------------------------------------------------------------------


def _profanity_check_setup(ctx: Context) -> Prepared:
    _require("profanity_check", "alt-profanity-check==1.9.1")
    from profanity_check import predict_prob

    return Prepared(
        batch=lambda posts: predict_prob([p.text for p in posts]),
        single=lambda post: predict_prob([post.text]),
        info={"call": "profanity_check.predict_prob(list_of_texts)"},
    )


def _presidio(ner: bool) -> Callable[[Context], Prepared]:
    def setup(ctx: Context) -> Prepared:
        _require("presidio_analyzer", "presidio-analyzer")
        from presidio_analyzer import AnalyzerEngine

        if ner:
            model = _spacy_model()
            from presidio_analyzer.nlp_engine import NlpEngineProvider

            provider = NlpEngineProvider(
                nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}
            )
            engine = AnalyzerEngine(nlp_engine=provider.create_engine())
            entities: list[str] | None = None
            info = {"nlp_engine": f"spacy {model}", "entities": "all"}
        else:
            from presidio_analyzer.nlp_engine import NoOpNlpEngine

            # Presidio's documented set-up without NER: pattern recognizers and a no-op NLP engine.
            engine = AnalyzerEngine(nlp_engine=NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}]))
            entities = list(PII_ENTITIES)
            info = {"nlp_engine": "NoOpNlpEngine (pattern recognizers)", "entities": ",".join(PII_ENTITIES)}

        def one(post: Post) -> object:
            return engine.analyze(text=post.text, language="en", entities=entities)

        return Prepared(batch=lambda posts: [one(p) for p in posts], single=one, info=info)

    return setup


def _spacy_model() -> str:
    for name in ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_trf"):
        if importlib.util.find_spec(name) is not None:
            return name
    raise Skipped("no spaCy model installed: python -m spacy download en_core_web_lg")


def _shingles(text: str) -> set[bytes]:
    words = text.lower().split()
    if len(words) < 3:
        return {" ".join(words).encode()} if words else {b""}
    return {" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)}


def _datasketch_setup(ctx: Context) -> Prepared:
    _require("datasketch", "datasketch")
    from datasketch import MinHash, MinHashLSH

    threshold, window = float(DUPLICATE_OPTIONS["threshold"]), int(DUPLICATE_OPTIONS["window"])
    num_perm = 128
    state: dict[str, Any] = {}

    def reset() -> None:
        state["lsh"] = MinHashLSH(threshold=threshold, num_perm=num_perm)
        state["keys"] = deque()

    def step(post: Post, minhash: Any) -> list[str]:
        lsh, keys = state["lsh"], state["keys"]
        found = lsh.query(minhash)
        key = f"{post.id}#{len(keys)}"
        lsh.insert(key, minhash)
        keys.append(key)
        if len(keys) > window:
            lsh.remove(keys.popleft())
        return list(found)

    def batch(posts: list[Post]) -> list[list[str]]:
        hashes = MinHash.bulk([_shingles(p.text) for p in posts], num_perm=num_perm)
        return [step(p, h) for p, h in zip(posts, hashes, strict=True)]

    reset()
    return Prepared(
        batch=batch,
        single=lambda post: batch([post]),
        reset=reset,
        info={"num_perm": num_perm, "threshold": threshold, "window": window, "shingles": "word 3-grams"},
    )


def _rapidfuzz_setup(ctx: Context) -> Prepared:
    _require("rapidfuzz", "rapidfuzz")
    from rapidfuzz import fuzz, process

    cutoff, window = 100 * float(DUPLICATE_OPTIONS["threshold"]), int(DUPLICATE_OPTIONS["window"])
    earlier: deque[str] = deque(maxlen=window)

    def step(post: Post) -> object:
        text = post.text.lower()
        found = process.extractOne(text, earlier, scorer=fuzz.ratio, score_cutoff=cutoff) if earlier else None
        earlier.append(text)
        return found

    return Prepared(
        batch=lambda posts: [step(p) for p in posts],
        single=step,
        reset=earlier.clear,
        info={"scorer": "fuzz.ratio", "score_cutoff": cutoff, "window": window},
    )


def _text_setup(ctx: Context) -> Prepared:
    return _classifier("text", {})(ctx)


def _builtin_subjects() -> Iterator[Subject]:
    yield Subject("text", "normalisation and surface features (text classifier)", _text_setup)
    yield Subject("lists", "the shipped term lists of rules/community.yaml, whole-word", _lists_setup)
    yield Subject(
        "toxicity",
        "toxicity classifier, default backend",
        _classifier("toxicity", {"backend": "default"}),
        peers=("profanity_check",),
    )
    yield Subject(
        "pii",
        f"PII classifier, {len(PII_ENTITIES)} pattern entities",
        _classifier("pii", {"entities": PII_ENTITIES}),
        peers=("presidio_analyzer",),
    )
    yield Subject("spam", "spam classifier, embedded default model", _classifier("spam", {}))
    yield Subject(
        "duplicate",
        "near-duplicates of earlier posts, threshold 0.85, window 100k",
        _classifier("duplicate", DUPLICATE_OPTIONS),
        peers=("datasketch_lsh", "rapidfuzz_pairwise"),
    )
    yield Subject("pipeline", "rules/community.yaml with default backends: JSONL in, decisions out", _pipeline_setup)
    for kind, label in (("torch", "detoxify backend (torch)"), ("onnx", "ONNX fp32"), ("onnx_int8", "ONNX int8")):
        yield Subject(
            f"toxicity_{kind}",
            f"toxicity, BERT-base random weights, {label}",
            _toxicity_model(kind),
            peers=("detoxify_predict",),
            heavy=True,
        )
    yield Subject(
        "detoxify_predict",
        "stock Detoxify.predict on the same BERT-base checkpoint",
        _detoxify_setup,
        is_peer=True,
        heavy=True,
    )
    yield Subject(
        "presidio_analyzer",
        "stock Presidio AnalyzerEngine, pattern recognizers, same entities",
        _presidio(False),
        is_peer=True,
    )
    yield Subject(
        "presidio_analyzer_spacy",
        "stock Presidio AnalyzerEngine with spaCy NER",
        _presidio(True),
        is_peer=True,
        max_posts=2000,
        max_posts_quick=500,
    )
    yield Subject(
        "datasketch_lsh",
        "datasketch MinHashLSH (128 perms, word 3-grams) over the same window",
        _datasketch_setup,
        is_peer=True,
    )
    yield Subject(
        "rapidfuzz_pairwise",
        "rapidfuzz fuzz.ratio of each post against every earlier one in the window",
        _rapidfuzz_setup,
        is_peer=True,
        complexity=2.0,
        max_posts=3000,
        max_posts_quick=1000,
    )
    yield Subject(
        "profanity_check",
        "alt-profanity-check predict_prob",
        _profanity_check_setup,
        is_peer=True,
    )


for _subject in _builtin_subjects():
    register_subject(_subject)


def ratio_pairs(names: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The (subject, peer) pairs whose speed ratio is reported, for the subjects ``names`` (default: all)."""
    chosen = SUBJECTS if names is None else {n: SUBJECTS[n] for n in names if n in SUBJECTS}
    return [(s.name, peer) for s in chosen.values() for peer in s.peers]
