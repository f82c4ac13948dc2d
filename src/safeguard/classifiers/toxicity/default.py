"""The embedded default backend: offline, numpy only, no download, no torch, no scikit-learn.

Scores five labels (``toxicity``, ``insult``, ``threat``, ``identity_attack``, ``self_harm``) from text
passed through :func:`safeguard.classifiers.text.normalize` and :meth:`Lexicon.unmask`, so disguised
spellings (``1d10t``, ``id\\u200biot``, Cyrillic look-alikes, ``s t u p i d``, ``f*ck``) score like
the plain words.

``toxicity`` combines two independent views of a text, each standardised on the Davidson et al. tweets
(MIT) by ``tools/build_toxicity_default.py``:

1. the linear TF-IDF model of alt-profanity-check (MIT), exported to ``data/profanity_linear.npz``, as a logit;
2. a lexical score: the strongest profane word + the strongest insulting word + the strongest
   negative word of the VADER sentiment lexicon (MIT, ``data/negativity.txt``; violence words such as
   "kill" and "dead" are left to the threat patterns, which look at what they are aimed at) + the number of profane
   or insulting words (capped at three). The parts are summed with equal weights, not fitted.

The sum of the two standardised views is mapped to a probability by a logistic curve fitted on Davidson
(balanced classes), and raised to the threat and identity-attack scores when those are higher. The other
labels come from the curated lexicons and patterns of :mod:`.lexicon`.
"""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard.classifiers.base import Cost
from safeguard.classifiers.text import normalize, normalize_many
from safeguard.classifiers.toxicity.backend import Backend, cached_model, check_options, cpu_count, forget_model
from safeguard.classifiers.toxicity.batch import WordScan, ascii_view
from safeguard.classifiers.toxicity.helpers import HelperError, Helpers
from safeguard.classifiers.toxicity.lexicon import DATA_DIR, Lexicon, apostrophe_parts, ascii_runs
from safeguard.classifiers.toxicity.linear import LinearTextModel

__all__ = [
    "DEFAULT_LABELS",
    "MIN_PARALLEL_BATCH",
    "DefaultBackend",
    "DefaultModel",
    "lexical_features",
    "relevant_words",
]

DEFAULT_LABELS: tuple[str, ...] = ("toxicity", "insult", "threat", "identity_attack", "self_harm")

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Combination:
    """Standardisation and calibration constants written by the build script."""

    linear_mean: float
    linear_std: float
    lexical_mean: float
    lexical_std: float
    slope: float
    intercept: float

    @classmethod
    def from_json(cls, path: Path) -> Combination:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: float(data[k]) for k in cls.__dataclass_fields__})


#: Violence words whose harm depends on what they are aimed at ("kill the power", "this phone is dead"):
#: they count in the negativity part only when the text names a person (a pronoun or an @mention).
CONTEXT_DEPENDENT = frozenset(
    {"kill", "kills", "killed", "killing", "killer", "shoot", "shooting", "shot", "stab", "die", "dies", "dying",
     "dead", "death", "murder", "destroy", "destroyed", "attack", "fight", "war", "weapon", "gun", "bomb"}
)  # fmt: skip


def load_negativity(path: Path) -> dict[str, float]:
    """``word<TAB>valence`` lines; returns word -> strength of the negative valence in (0, 1]."""
    out: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        word, _, value = line.partition("\t")
        out[word] = min(1.0, -float(value) / 4.0)
    return out


_PERSON_WORDS = frozenset(
    {"you", "u", "ya", "your", "ur", "yall", "y'all", "he", "she", "him", "her", "his", "hers", "they", "them",
     "their", "people", "everyone", "somebody", "someone"}
)  # fmt: skip


def _names_a_person(text: str, words: set[str] | frozenset[str]) -> bool:
    return "@" in text or not words.isdisjoint(_PERSON_WORDS)


def lexical_features(
    lexicon: Lexicon,
    negativity: dict[str, float],
    text: str,
    words: list[str] | None = None,
    wordset: set[str] | frozenset[str] | None = None,
    gate_words: set[str] | frozenset[str] | None = None,
) -> tuple[float, float, float, float, float]:
    """(lexical score, insult, threat, identity_attack, self_harm) of normalised, unmasked text.

    ``words`` is ``lexicon.words(text)``; ``wordset`` and ``gate_words`` are as for
    :meth:`Lexicon.score`, and may hold only the words of :func:`relevant_words` (the scores are the same).
    """
    if wordset is None or gate_words is None:
        words, wordset, gate_words = lexicon.word_sets(text, words, wordset, gate_words)
    if not gate_words:
        return _NO_FEATURES
    neg = 0.0
    negative = wordset & negativity.keys()
    if negative:
        if not negative.isdisjoint(CONTEXT_DEPENDENT) and not _names_a_person(text, wordset):
            negative -= CONTEXT_DEPENDENT
        neg = max(map(negativity.__getitem__, negative), default=0.0)
    if gate_words.isdisjoint(lexicon.triggers):  # no lexicon word, pattern or insult: the negativity alone
        return neg, 0.0, 0.0, 0.0, 0.0
    if words is None and not wordset.isdisjoint(lexicon.place_words):
        words = lexicon.words(text)
    scores = lexicon.score(text, words, wordset, gate_words)
    insult_word = 0.0
    count = 0
    hits = wordset & lexicon.offensive_words
    if hits:
        insults, slurs = lexicon.insults, lexicon.slurs
        insult_word = max(insults.get(w) or slurs.get(w) or 0.0 for w in hits)
        count = sum(map(words.count, hits)) if words is not None else 0
    lexical = scores.profanity + insult_word + neg + min(count, 3) / 3.0
    return lexical, scores.insult, scores.threat, scores.identity_attack, scores.self_harm


_NO_FEATURES = (0.0, 0.0, 0.0, 0.0, 0.0)


def relevant_words(lexicon: Lexicon, negativity: dict[str, float]) -> frozenset[str]:
    """Every word :func:`lexical_features` tests a text's word set for."""
    return lexicon.vocabulary | frozenset(negativity) | _PERSON_WORDS


class DefaultModel:
    """The loaded default model (see the module docstring). Load once; thread-safe to call."""

    def __init__(self, data_dir: Path = DATA_DIR, *, combination: Combination | None = None) -> None:
        self.linear = LinearTextModel.from_npz(data_dir / "profanity_linear.npz")
        self.lexicon = Lexicon(data_dir)
        self.negativity = load_negativity(data_dir / "negativity.txt")
        self.combination = combination or Combination.from_json(data_dir / "combination.json")
        self._relevant = relevant_words(self.lexicon, self.negativity)
        self._scan = WordScan(
            self.linear.index,
            self._relevant,
            self.negativity,
            context_dependent=CONTEXT_DEPENDENT,
            person_words=_PERSON_WORDS,
            special=self.lexicon.word_checks,
            patterns=self.lexicon.gated_checks,
        )

    def prepare(self, text: str) -> str:
        """The text the model reads: normalised, masked words unmasked."""
        return self.lexicon.unmask(normalize(text))

    def parts(self, texts: Sequence[str]) -> tuple[FloatArray, npt.NDArray[np.float64]]:
        """(linear-model logit per text, lexical features per text) for the texts.

        Each text is normalised and unmasked. In batches, one array pass (see :mod:`.batch`) gives the
        term ids of every post it can read and the lexical features of the plain ones; every other post
        is split into words once for the lexicons (and for the linear model when the pass did not read it:
        its tokens are those words when the text is ASCII without apostrophes or underscores).
        """
        lexicon, negativity, linear, relevant = self.lexicon, self.negativity, self.linear, self._relevant
        prepared = [lexicon.unmask(normalized) for normalized, _ in normalize_many(texts)]
        n = len(prepared)
        feats = np.zeros((n, 5), dtype=np.float64)
        rows: list[npt.NDArray[np.int64]] = []
        terms: list[npt.NDArray[np.int64]] = []
        others: list[int] = []
        scanned = np.zeros(n, dtype=np.bool_)
        word_sets: dict[int, tuple[set[str], set[str]]] = {}
        if n >= MIN_SCAN_BATCH:
            for start, end in _scan_chunks(prepared):
                scan = self._scan.scan(prepared[start:end])
                scanned[start:end] = scan.scanned
                feats[start:end, 0] = np.where(scan.plain, scan.negativity, 0.0)
                rows.append(scan.rows + start)
                terms.append(scan.terms)
                others.extend((np.flatnonzero(~scan.plain) + start).tolist())
                # The scan's word sets serve the posts it read (not those with chained apostrophes).
                readable = np.flatnonzero(~scan.plain & scan.scanned & ~scan.chained)
                word_sets.update(zip((readable + start).tolist(), self._scan.word_sets(scan, readable), strict=True))
        else:
            others = list(range(n))
        unscanned: list[int] = []
        ids_per_text: list[list[int]] = []
        for i in others:
            text = prepared[i]
            words: list[str] | None = None
            found: set[str] | frozenset[str]
            gate: set[str] | frozenset[str]
            known = word_sets.get(i)
            if known is not None:  # the words are read only if a check needs their places
                found, runs = known
                gate = found | runs
            else:
                # Non-ASCII symbols separate words as "?" does: the ASCII view has the same words, found faster.
                # A text the scan did not read holds a non-ASCII letter, so it has no view.
                if text.isascii():
                    view: str | None = text
                else:
                    view = ascii_view(text) if scanned[i] or n < MIN_SCAN_BATCH else None
                words = lexicon.words(text if view is None else view)
                found = relevant.intersection(words)
                if "'" in text:
                    parts = apostrophe_parts(words) if view is None else ascii_runs(view)
                    gate = found.union(relevant.intersection(parts))
                else:
                    gate = found
            feats[i] = lexical_features(lexicon, negativity, text, words, found, gate)
            if not scanned[i]:  # the scan gave the term ids of the texts it read
                unscanned.append(i)
                plain = text.isascii() and "_" not in text and "'" not in text
                ids_per_text.append(linear.term_ids(words) if plain and words is not None else linear.token_ids(text))
        if unscanned:
            lengths = np.fromiter(map(len, ids_per_text), dtype=np.int64, count=len(unscanned))
            rows.append(np.repeat(np.asarray(unscanned, dtype=np.int64), lengths))
            count = int(lengths.sum())
            terms.append(np.fromiter(itertools.chain.from_iterable(ids_per_text), dtype=np.int64, count=count))
        empty = [np.zeros(0, dtype=np.int64)]
        prob = linear.predict_pairs(np.concatenate(rows or empty), np.concatenate(terms or empty), n)
        clipped = np.clip(prob, 1e-6, 1 - 1e-6)
        logit = np.log(clipped / (1 - clipped))
        return logit, feats

    def score(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        """Scores in [0, 1] per label (:data:`DEFAULT_LABELS`), one value per text."""
        c = self.combination
        logit, feats = self.parts(texts)
        combined = (logit - c.linear_mean) / c.linear_std + (feats[:, 0] - c.lexical_mean) / c.lexical_std
        toxicity = 1.0 / (1.0 + np.exp(-(c.slope * combined + c.intercept)))
        toxicity = np.maximum.reduce([toxicity, feats[:, 2], feats[:, 3]])
        return {
            "toxicity": toxicity,
            "insult": feats[:, 1],
            "threat": feats[:, 2],
            "identity_attack": feats[:, 3],
            "self_harm": feats[:, 4],
        }


#: Batches from this size get the array pass of :mod:`.batch` (smaller ones are cheaper word by word).
MIN_SCAN_BATCH = 16

#: The array pass reads at most this many characters at once (its arrays take about 25 bytes a character).
SCAN_CHUNK_CHARS = 1 << 20


def _scan_chunks(texts: Sequence[str]) -> list[tuple[int, int]]:
    """Consecutive (start, end) slices of ``texts`` of at most :data:`SCAN_CHUNK_CHARS` characters (or one text)."""
    chunks: list[tuple[int, int]] = []
    start = size = 0
    for i, text in enumerate(texts):
        if size and size + len(text) > SCAN_CHUNK_CHARS:
            chunks.append((start, i))
            start, size = i, 0
        size += len(text) + 1
    if start < len(texts):
        chunks.append((start, len(texts)))
    return chunks


#: Batches smaller than this are scored in the calling process even with ``workers`` > 1.
MIN_PARALLEL_BATCH = 256


class DefaultBackend(Backend):
    """``{backend: default}``: the embedded model.

    Option ``workers`` (default 1): processes that score a batch together; ``"auto"`` is one per CPU
    available. With more than one, batches of at least :data:`MIN_PARALLEL_BATCH` posts are shared
    between this process and ``workers - 1`` helper processes (started with ``spawn`` at :meth:`load`,
    shared by every backend of the process; see :mod:`.helpers`) with identical results. A script that
    uses it must guard its entry point with ``if __name__ == "__main__":``.
    """

    labels = DEFAULT_LABELS
    cost = Cost.CHEAP

    def __init__(self, *, workers: Any = 1, **options: Any) -> None:
        check_options("lexicon", options, ("workers",))
        if workers == "auto":
            workers = cpu_count()
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f'workers must be a positive integer or "auto", got {workers!r}')
        self.workers: int = workers
        self._model: DefaultModel | None = None
        self._helpers: Helpers | None = None

    def load(self) -> None:
        if self._model is None:
            self._model = cached_model(("default", str(DATA_DIR)), DefaultModel)
        if self.workers > 1 and self._helpers is None:
            self._helpers = cached_model(self._helpers_key(), lambda: Helpers(self.workers - 1, DefaultModel))

    def _helpers_key(self) -> tuple[str, str, int]:
        return ("default-workers", str(DATA_DIR), self.workers)

    def predict(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        self.load()
        model = self._model
        assert model is not None
        if self._helpers is None or len(texts) < MIN_PARALLEL_BATCH:
            return model.score(texts)
        try:
            scores = self._helpers.share(texts, model.score)
        except HelperError:
            return self._recover(texts)
        return scores if scores is not None else model.score(texts)

    def _recover(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        """A helper process died: score this batch here (the scores are the same) and start new helpers next time."""
        warnings.warn(
            "a toxicity helper process stopped; this batch is scored in the main process and new helpers start "
            "with the next one",
            RuntimeWarning,
            stacklevel=3,
        )
        forget_model(self._helpers_key())
        self._helpers = None
        assert self._model is not None
        return self._model.score(texts)
