"""The trained harm backends: ``fast`` (hashed n-grams), ``model`` (MiniLM embeddings + n-grams) and ``default``.

``default`` is the cascade that ships: the fast tier scores every post; a post goes on to the model
tier when any harm head of the fast tier reaches ``escalate_at`` or its text holds a harm cue word
(an insult, a slur, a violence or self-harm word, or the name of a group of people:
``data/harm_cues.txt``, ``data/group_words.txt``) or an emoji that does the same work (a flag, a skin
tone, a faith's symbol, an animal people are compared to, a weapon); the model's scores replace the
fast ones for those posts. Most forum posts
have no cue and a low fast score, so they never pay for the encoder.

Every backend gives the heads of its model (``toxicity``, ``insult``, ``threat``, ``identity_attack``,
``self_harm``, ``counter_speech``) and three derived signals:

* ``target``: whom the harm is aimed at, ``person``, ``group``, ``thing`` ("this kettle is fucking
  garbage") or ``none`` (see :func:`targets`); ``target_score`` is the probability behind it (for
  ``none``, one minus the largest harm score);
* ``quoted``: the share of the text's letters inside quotation marks, quoted lines (``>``) or after
  "statements like" / "saying": words the author reports rather than claims. It qualifies harm, so it
  is measured only on posts with a harm score of at least 0.2 and is 0.0 on the others.
"""

from __future__ import annotations

import io
import json
import re
import threading
import zipfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard import checks
from safeguard.classifiers.base import Cost
from safeguard.classifiers.toxicity.backend import (
    Backend,
    EscalationStats,
    FloatArray,
    cached_model,
    check_options,
)
from safeguard.classifiers.toxicity.heads import (
    DATA_DIR,
    MAX_MODEL_BYTES,
    REGIONAL_INDICATORS,
    SKIN_TONES,
    HarmHeads,
    encoder_texts,
    normalized_texts,
)
from safeguard.classifiers.toxicity.unmask import word_list
from safeguard.files import check_regular, config_path

__all__ = [
    "DATA_DIR",
    "DEFAULT_ESCALATE_AT",
    "HARM_LABELS",
    "TARGETS",
    "CascadeHarmBackend",
    "FastHarmBackend",
    "ModelHarmBackend",
    "cue_mask",
    "quoted_share",
    "targets",
]

FAST_MODEL = DATA_DIR / "harm_fast.npz"
MODEL_HEADS = DATA_DIR / "harm_model.npz"
#: Length (tokens) of the cue-bearing passages the model tier reads besides the whole text: about two
#: sentences, long enough to keep "saying X is wrong" together, short enough not to dilute X.
PASSAGE_TOKENS = 32
#: Passages read per post and harm head at most (each costs an encoder call), chosen by n-gram scores.
PASSAGES_PER_HEAD = 3

#: Heads that say a post is harmful (``counter_speech`` says the opposite).
HARM_LABELS: tuple[str, ...] = ("toxicity", "insult", "threat", "identity_attack", "self_harm")
TARGETS: tuple[str, ...] = ("person", "group", "thing", "none")


_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
#: Words that address the reader: a toxic post holding one is aimed at a person.
_SECOND_PERSON = frozenset({"you", "u", "ur", "youre", "you're", "ya", "yours", "yourself"})


def targets(probs: dict[str, FloatArray], normalized: Sequence[str] | None = None) -> tuple[list[str], FloatArray]:
    """``target`` and ``target_score`` of each text from its head probabilities and its words.

    Below 0.5 on every harm head the target is ``none``. Otherwise: ``group`` when ``identity_attack``
    leads, or when the text names a group of people (``data/group_words.txt``) and addresses no one;
    ``person`` when the text addresses someone ("you", "u", "ur", "yours"), when ``threat`` reaches 0.5,
    or when ``insult`` reaches 0.8 (a strong insult is personal without a pronoun); ``thing`` otherwise
    ("whoever designed this lid is an idiot", "your stupid app"). ``target_score`` is the largest harm score
    behind the choice.
    """
    tox = np.asarray(probs["toxicity"], dtype=np.float64)
    insult = np.asarray(probs["insult"], dtype=np.float64)
    threat = np.asarray(probs["threat"] if "threat" in probs else np.zeros(len(tox)), dtype=np.float64)
    group = np.asarray(probs["identity_attack"], dtype=np.float64)
    names: list[str] = []
    scores = np.empty(len(tox))
    groups = _group_words()
    for i in range(len(tox)):
        harm = max(tox[i], insult[i], threat[i], group[i])
        if harm < 0.5:
            names.append("none")
            scores[i] = 1.0 - harm
            continue
        words = set(_WORD.findall(normalized[i])) if normalized is not None else set()
        addressed = not _SECOND_PERSON.isdisjoint(words)
        if group[i] >= 0.5 and group[i] >= max(insult[i], threat[i]):
            names.append("group")
            scores[i] = group[i]
        elif addressed or threat[i] >= 0.5 or insult[i] >= 0.8:
            names.append("person")
            scores[i] = max(tox[i], insult[i], threat[i])
        elif not groups.isdisjoint(words):
            names.append("group")
            scores[i] = max(tox[i], group[i])
        else:
            names.append("thing")
            scores[i] = harm
    return names, scores


#: Quoted passages: straight or curly double quotes, and markdown/e-mail quoted lines.
_QUOTED = re.compile(r'"[^"\n]{1,600}"|“[^”\n]{1,600}”|«[^»\n]{1,600}»|^[ \t]*>[^\n]*', re.MULTILINE)
#: Reported speech: what follows "statements like", "saying", "calling us" ... to the end of the sentence.
_REPORTED = re.compile(
    r"\b(statements?|comments?|posts?|things?|words?|phrases?)\s+like\b[^.!?\n\"“«]{1,300}"
    r"|\b(saying|says|said|called\s+(me|us|them|him|her)|calling\s+(me|us|them|him|her)|wrote)\b[^.!?\n\"“«]{1,300}",
    re.IGNORECASE,
)
_NON_LETTER = re.compile(r"[\W\d_]+")


#: Posts whose harm scores all stay below this get ``quoted`` 0.0 without reading their text.
QUOTED_FROM = 0.2

#: Words one of which every reported-speech match holds: a cheap test before the regex.
_REPORTING_HINTS = ("like", "sa", "wrote", "call")

#: Things that "say" what is printed on them ("it says 240V on the box", "the label said"): not speech
#: the author reports, so what follows is the author's own words.
_THING_SAYERS = frozenset(
    [
        "it",
        "which",
        "that",
        "this",
        "label",
        "box",
        "manual",
        "site",
        "website",
        "page",
        "description",
        "listing",
        "sign",
        "screen",
        "app",
        "error",
        "message",
        "receipt",
        "email",
        "e-mail",
        "instructions",
        "sticker",
        "tag",
        "packaging",
        "spec",
        "specs",
        "invoice",
        "order",
        "tracking",
    ]
)
_LAST_WORD = re.compile(r"([\w-]+)\W*$")


def _reported_by_a_person(text: str, match: re.Match[str]) -> bool:
    if match.group(1) is not None:  # "statements like ..."
        return True
    before = _LAST_WORD.search(text, max(0, match.start() - 40), match.start())
    return before is None or before.group(1).lower() not in _THING_SAYERS


def quoted_share(text: str) -> float:
    """Share of the letters of ``text`` that lie inside quotes or reported speech (0.0 to 1.0)."""
    if not any(c in text for c in '"“«>'):
        lowered = text.lower()
        if not any(h in lowered for h in _REPORTING_HINTS) or not _REPORTED.search(text):
            return 0.0
    spans = sorted(
        [m.span() for m in _QUOTED.finditer(text)]
        + [m.span() for m in _REPORTED.finditer(text) if _reported_by_a_person(text, m)]
    )
    letters = len(_NON_LETTER.sub("", text))
    if not spans or not letters:
        return 0.0
    inside = 0
    reached = 0  # spans may overlap: count each letter once
    for start, end in spans:
        start = max(start, reached)
        if end > start:
            inside += len(_NON_LETTER.sub("", text[start:end]))
            reached = end
    return inside / letters


def _word_file(name: str) -> frozenset[str]:
    return frozenset(word_list(DATA_DIR / name))


@lru_cache(maxsize=1)
def _group_words() -> frozenset[str]:
    return _word_file("group_words.txt")


@lru_cache(maxsize=1)
def _harm_words() -> frozenset[str]:
    return _word_file("harm_cues.txt")


@lru_cache(maxsize=1)
def _cue_words() -> frozenset[str]:
    return _harm_words() | _group_words()


#: Emoji that stand for a group of people or for harm, the way cue words do: flags (regional indicator
#: letters), skin tones, people and religious symbols that name a group, animals and germs people are
#: compared to, weapons, and faces of disgust. Emoji-based hate often names its target only this way.
_CUE_EMOJI = frozenset(
    [
        *REGIONAL_INDICATORS,  # flags
        *SKIN_TONES,
        *(0x1F472, 0x1F473, 0x1F9D5, 0x26A7, 0x1F308),  # man with cap, turban, headscarf, transgender, rainbow
        *(0x262A, 0x2721, 0x271D, 0x2626, 0x1F54B, 0x1F54C, 0x1F54D, 0x1F54E, 0x26EA, 0x1F6D0, 0x2638),  # faiths
        *(0x1F412, 0x1F435, 0x1F98D, 0x1F9A7, 0x1F437, 0x1F416, 0x1F400, 0x1F401, 0x1F42D, 0x1FAB3, 0x1F40D),
        *(0x1F9A0, 0x1F41B, 0x1F997, 0x1F99F),  # germs and vermin
        *(0x1F52A, 0x1F5E1, 0x1F52B, 0x1F4A3, 0x1FA93, 0x2620, 0x26B0),  # knives, gun, bomb, axe, skull, coffin
        *(0x1F922, 0x1F92E),  # nauseated, vomiting
    ]
)


def cue_mask(normalized: Sequence[str], *, groups: bool = True) -> npt.NDArray[np.bool_]:
    """True for each normalised text holding a harm cue word (whole word) or cue emoji (:data:`_CUE_EMOJI`).

    ``groups=False`` leaves out what only names a group of people (group words, and emoji, flags and
    skin tones among them): a harm word alone must be there."""
    words, emoji = (_cue_words(), _CUE_EMOJI) if groups else (_harm_words(), frozenset[int]())
    return np.fromiter(
        (
            not words.isdisjoint(_WORD.findall(t)) or (not t.isascii() and not emoji.isdisjoint(map(ord, t)))
            for t in normalized
        ),
        dtype=bool,
        count=len(normalized),
    )


def _with_derived(probs: dict[str, FloatArray], texts: Sequence[str], normalized: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(probs)
    target, score = targets(probs, normalized)
    out["target"] = np.array(target, dtype=object)
    out["target_score"] = score
    # ``quoted`` only qualifies harm, so it is measured where some harm score reaches QUOTED_FROM.
    harm = np.maximum.reduce([np.asarray(probs[k]) for k in HARM_LABELS if k in probs])
    quoted = np.zeros(len(texts))
    for i in np.flatnonzero(harm >= QUOTED_FROM).tolist():
        quoted[i] = quoted_share(texts[i])
    out["quoted"] = quoted
    return out


DERIVED_OUTPUTS: dict[str, type] = {"target": str, "target_score": float, "quoted": float}
#: The model tier's output naming the harm heads whose score a passage gave (see :meth:`ModelHarmBackend.read`).
PASSAGE_OUTPUTS: dict[str, type] = {"passage_heads": list}


def _passage_heads(passage: npt.NDArray[np.bool_], labels: Sequence[str]) -> npt.NDArray[np.object_]:
    """Per text, the harm heads (in label order) whose score came from a passage: ``passage`` is (texts x
    labels), True where a passage rather than the text's opening gave the score."""
    harm = [(j, label) for j, label in enumerate(labels) if label in HARM_LABELS]
    out = np.empty(len(passage), dtype=object)
    for i, row in enumerate(passage.tolist()):
        out[i] = [label for j, label in harm if row[j]]
    return out


def _heads(path: Path) -> HarmHeads:
    return cached_model(("harm-heads", str(path)), lambda: HarmHeads.load(path))


class FastHarmBackend(Backend):
    """``{backend: fast, model: PATH}``: the n-gram heads alone (numpy only). ``model`` defaults to the
    shipped ``data/harm_fast.npz``; a file written by ``safeguard train toxicity`` works too."""

    cost = Cost.CHEAP

    def __init__(self, *, base_dir: Path | None = None, model: Any = None, **options: Any) -> None:
        check_options("fast", options, ())
        self.path = FAST_MODEL if model is None else config_path(model, "model", base_dir)
        self.labels = _labels_of(self.path)
        self.heads: HarmHeads | None = None

    def extra_outputs(self) -> dict[str, type]:
        return dict(DERIVED_OUTPUTS)

    def load(self) -> None:
        if self.heads is None:
            self.heads = _heads(self.path)

    def scores(self, normalized: Sequence[str]) -> FloatArray:
        self.load()
        assert self.heads is not None
        if self.heads.dense_dim:
            raise ValueError(f"{self.path}: a model-tier file; use backend: model")
        return self.heads.predict_normalized(normalized)

    def predict(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        normalized = normalized_texts(texts)
        probs = self.scores(normalized)
        return _with_derived({label: probs[:, j] for j, label in enumerate(self.labels)}, texts, normalized)


class ModelHarmBackend(Backend):
    """``{backend: model, model: PATH, encoder: DIR, batch_size: 32, threads: N, max_tokens: N,
    passage_tokens: 32}``: heads over the MiniLM sentence embedding (onnxruntime, int8) and the n-grams.
    Defaults are the shipped files; ``max_tokens`` defaults to the length the heads were trained with (their
    file says; else 128); ``passage_tokens`` is the length of the cue-bearing passages also read (see
    :meth:`scores`; ``0`` reads the text as a whole only)."""

    cost = Cost.MODEL

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        model: Any = None,
        encoder: Any = None,
        batch_size: int = 32,
        threads: int | None = None,
        max_tokens: int | None = None,
        passage_tokens: int = PASSAGE_TOKENS,
        **options: Any,
    ) -> None:
        check_options("model", options, ())
        # name, value, least integer, and the one other value it may take (max_tokens: None, the heads'
        # own length; passage_tokens: 0, the whole text only)
        for name, value, lo, other in (
            ("batch_size", batch_size, 1, ()),
            ("max_tokens", max_tokens, 8, (None,)),
            ("passage_tokens", passage_tokens, 8, (0,)),
        ):
            if isinstance(value, int) and not isinstance(value, bool):
                ok = value >= lo or value in other
            else:
                ok = value is None and None in other
            if not ok:
                also = "".join(f"{o} or " for o in other if o is not None)
                raise ValueError(f"{name} must be {also}an integer >= {lo}, got {value!r}")
        self.passage_tokens = passage_tokens
        if threads is not None:
            checks.integer("threads", threads)
        self.path = MODEL_HEADS if model is None else config_path(model, "model", base_dir)
        self.encoder_dir = None if encoder is None else config_path(encoder, "encoder", base_dir)
        self.batch_size, self.threads, self.max_tokens = batch_size, threads, max_tokens
        self.labels = _labels_of(self.path)
        self.heads: HarmHeads | None = None
        self.encoder: Any = None
        self._lock = threading.Lock()

    def extra_outputs(self) -> dict[str, type]:
        return {**DERIVED_OUTPUTS, **PASSAGE_OUTPUTS}

    def load(self) -> None:
        with self._lock:
            if self.heads is not None:
                return
            from safeguard.classifiers.toxicity.encoder import shared_encoder

            heads = _heads(self.path)
            trained = heads.meta.get("max_tokens")
            tokens = self.max_tokens or (trained if isinstance(trained, int) and trained >= 8 else 128)
            self.encoder = shared_encoder(
                self.encoder_dir, max_tokens=tokens, batch_size=self.batch_size, threads=self.threads
            )
            if heads.dense_dim != self.encoder.dim:
                raise ValueError(
                    f"{self.path}: heads read {heads.dense_dim} dense features, the encoder gives {self.encoder.dim}"
                )
            self.heads = heads

    def scores(self, texts: Sequence[str], normalized: Sequence[str]) -> FloatArray:
        """Probabilities (n x labels), as :meth:`read` gives them."""
        return self.read(texts, normalized)[0]

    def read(self, texts: Sequence[str], normalized: Sequence[str]) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Probabilities (n x labels), and where each came from: True where a passage gave it. The encoder
        reads a text's first ``max_tokens``; the rest of a longer text would go unread, so each passage of
        ``passage_tokens`` past them that holds a harm word (:func:`cue_mask` without ``groups``: read
        alone, a passage that only names a group reads as an attack on it far more often than it is one)
        is read too, and each head takes its highest score over the text and those passages. Short
        passages, because a sentence embedding is an average: one harmful sentence in a long harmless
        stretch reads diluted. Passages without one are not paid for. A passage is read without the post
        around it (a game's "kill you", a quoted line of a play), so a policy may want more than a
        passage's word before it removes a post: ``passage_heads`` names the heads a passage decided."""
        self.load()
        assert self.heads is not None
        pieces = [[text] for text in normalized]
        if self.passage_tokens:
            for parts, windows in zip(pieces, self.encoder.windows(normalized), strict=True):
                rest = [p for rest in self.encoder.windows(windows[1:], self.passage_tokens) for p in rest]
                parts.extend(
                    self._strongest([p for p, cue in zip(rest, cue_mask(rest, groups=False), strict=True) if cue])
                )
        flat = [piece for parts in pieces for piece in parts]
        probs = self.heads.predict_normalized(flat, self.encoder.encode(encoder_texts(flat)))
        if len(flat) == len(normalized):
            return probs, np.zeros(probs.shape, dtype=bool)
        return _worst_piece(probs, np.array([len(parts) for parts in pieces]), self.labels)

    def _strongest(self, passages: list[str]) -> list[str]:
        """A post's ``passages`` (in text order), at most :data:`PASSAGES_PER_HEAD` per harm head: those whose
        n-grams alone (the heads without the embedding) score highest on it. One huge post costs the
        encoder a bounded number of reads, and decoys strong on one head (a run of "this queue is killing
        me") do not push out the passage that is strongest on another."""
        harm = [j for j, label in enumerate(self.labels) if label in HARM_LABELS]
        if len(passages) <= PASSAGES_PER_HEAD * len(harm):
            return passages
        assert self.heads is not None
        lexical = self.heads.predict_normalized(passages, np.zeros((len(passages), self.heads.dense_dim)))
        chosen = {i for j in harm for i in np.argsort(-lexical[:, j], kind="stable")[:PASSAGES_PER_HEAD].tolist()}
        return [passages[i] for i in sorted(chosen)]

    def predict(self, texts: Sequence[str]) -> dict[str, Any]:
        normalized = normalized_texts(texts)
        probs, passage = self.read(texts, normalized)
        out = _with_derived({label: probs[:, j] for j, label in enumerate(self.labels)}, texts, normalized)
        out["passage_heads"] = _passage_heads(passage, self.labels)
        return out


def _worst_piece(
    probs: FloatArray, counts: npt.NDArray[np.int_], labels: Sequence[str]
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """One row per text from the rows of its ``counts`` pieces (the text's opening first, then its
    passages): each head's largest score, except ``counter_speech``, which is that of the piece with the
    largest harm score (whether the harm a post holds is reported or rejected is a property of the
    passage that holds it, not of another one); and True where that score is a passage's, not beaten
    or matched by the opening's."""
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = np.maximum.reduceat(probs, starts, axis=0)
    passage = out > probs[starts]
    if "counter_speech" in labels:
        harm = probs[:, [j for j, label in enumerate(labels) if label in HARM_LABELS]].max(axis=1)
        owner = np.repeat(np.arange(len(counts)), counts)
        # The worst piece of each text: the last row of its group after sorting by (text, harm).
        worst = np.lexsort((harm, owner))[np.cumsum(counts) - 1]
        out[:, list(labels).index("counter_speech")] = probs[worst, list(labels).index("counter_speech")]
    return out, passage


#: Fast-tier scores that send a post to the model tier. ``toxicity`` is the broadest head (angry product
#: feedback reaches 0.3), so it needs more than the heads that name a harm.
DEFAULT_ESCALATE_AT: dict[str, float] = {
    "toxicity": 0.5,
    "insult": 0.3,
    "threat": 0.3,
    "identity_attack": 0.3,
    "self_harm": 0.3,
}


def _escalate_at(value: Any) -> dict[str, float]:
    def number(v: Any) -> bool:
        return not isinstance(v, bool) and isinstance(v, (int, float)) and 0 <= v <= 1

    if number(value):
        return dict.fromkeys(HARM_LABELS, float(value))
    if isinstance(value, dict) and value and all(k in HARM_LABELS and number(v) for k, v in value.items()):
        return {k: float(v) for k, v in value.items()}
    raise ValueError(
        f"escalate_at must be a number in [0, 1] or a mapping of {', '.join(HARM_LABELS)} to such numbers, "
        f"got {value!r}"
    )


class CascadeHarmBackend(EscalationStats, Backend):
    """``{backend: default, escalate_at: {...}, cues: true, fast: {...}, model: {...}}``: the shipped cascade.

    ``fast`` and ``model`` take the options of the ``fast`` and ``model`` backends. A post whose fast
    score of any head reaches its ``escalate_at`` (a number for every harm head, or a mapping of head to
    number; default :data:`DEFAULT_ESCALATE_AT`), or that holds a harm cue word (``cues: true``), is
    scored by the model tier; ``escalate_at: 1`` with ``cues: false`` keeps nearly everything on the
    fast tier, ``escalate_at: 0`` sends everything on. Adds ``escalated``; :attr:`stats` counts posts
    seen and escalated.
    """

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        escalate_at: Any = None,
        cues: bool = True,
        fast: Any = None,
        model: Any = None,
        **options: Any,
    ) -> None:
        check_options("default", options, ())
        self.escalate_at = _escalate_at(DEFAULT_ESCALATE_AT if escalate_at is None else escalate_at)
        if not isinstance(cues, bool):
            raise ValueError(f"cues must be true or false, got {cues!r}")
        for role, value in (("fast", fast), ("model", model)):
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"{role} must be a mapping of {role} backend options, got {value!r}")
        self.cues = cues
        self.fast = FastHarmBackend(base_dir=base_dir, **(fast or {}))
        self.model = ModelHarmBackend(base_dir=base_dir, **(model or {}))
        self.labels = tuple(label for label in self.fast.labels if label in self.model.labels)
        self.cost = Cost.MODEL
        self.reset_stats()

    def extra_outputs(self) -> dict[str, type]:
        return {**DERIVED_OUTPUTS, **PASSAGE_OUTPUTS, "escalated": bool}

    def load(self) -> None:
        self.fast.load()
        self.model.load()

    def route(self, normalized: Sequence[str], fast: FloatArray) -> npt.NDArray[np.bool_]:
        """True for each post the model tier should score, from its fast scores and its words."""
        escalate = np.zeros(len(normalized), dtype=bool)
        for label, at in self.escalate_at.items():
            if label in self.fast.labels:
                escalate |= fast[:, self.fast.labels.index(label)] >= at
        if self.cues:
            escalate |= cue_mask(normalized)
        return escalate

    def predict(self, texts: Sequence[str]) -> dict[str, Any]:
        normalized = normalized_texts(texts)
        fast = self.fast.scores(normalized)
        escalate = self.route(normalized, fast)
        chosen = np.flatnonzero(escalate)
        out = {label: fast[:, self.fast.labels.index(label)].copy() for label in self.labels}
        passage = np.zeros((len(texts), len(self.labels)), dtype=bool)  # the fast tier reads the whole text
        if len(chosen):
            slow, from_passage = self.model.read(
                [texts[i] for i in chosen.tolist()], [normalized[i] for i in chosen.tolist()]
            )
            for j, label in enumerate(self.labels):
                out[label][chosen] = slow[:, self.model.labels.index(label)]
                passage[chosen, j] = from_passage[:, self.model.labels.index(label)]
        self.count(len(texts), len(chosen))
        result = _with_derived(out, texts, normalized)
        result["passage_heads"] = _passage_heads(passage, self.labels)
        result["escalated"] = escalate
        return result


def _labels_of(path: Path) -> tuple[str, ...]:
    """The labels of the heads file at ``path``, read without loading its weights."""
    try:
        check_regular(path, MAX_MODEL_BYTES, what="harm model")
        with zipfile.ZipFile(path) as archive, archive.open("header.npy") as fh:
            raw = fh.read(1 << 20)
        text = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
        labels = json.loads(str(text))["labels"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a safeguard harm model ({exc})") from None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ValueError(f"{path}: not a safeguard harm model (labels)")
    return tuple(labels)
