"""Offline language identification for the ``text`` classifier's ``lang`` and ``lang_score`` signals.

The model is py3langid's (naive Bayes over byte n-grams), shipped in its 4.6 MB registry wheel and read with
``numpy.load(allow_pickle=False)``: nothing is downloaded or unpickled. It was chosen over
lingua-language-detector (a 96 MB wheel): with the same 30 languages it labelled as many English texts "en"
(99.1% against 98.8% of 3,000 short review sentences, 100% against 99.3% of 2,000 Stack Exchange posts) while
being 5 to 16 times as fast on one core, and it gives the same confidence on every run (lingua's move in the last
bits; its low-accuracy mode labels 6% of the reviews otherwise). :func:`detect_languages` walks py3langid's
automaton for a whole batch at once with numpy (the same features and scores, 4 to 5 times as fast again), so the
text classifier, which runs on every post, stays cheap.

Only :data:`LANGUAGES` are told apart: the restriction makes short English text less often taken for a neighbour
(Frisian, Faroese...); a post in another language gets the nearest of these. A text with fewer than three words
(tokens with a letter and no digit) once URLs, e-mail addresses and @mentions are set aside, such as an empty
text, emoji, numbers or a bare link, is :data:`UNDETERMINED`.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import unicodedata
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from safeguard.text.links import URL_RE

__all__ = ["LANGUAGES", "MAX_CHARS", "UNDETERMINED", "detect_language", "detect_languages", "load"]

#: ISO 639-1 codes the identifier chooses from.
LANGUAGES: tuple[str, ...] = (
    "ar", "bg", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "hu", "id",
    "it", "ja", "ko", "nl", "no", "pl", "pt", "ro", "ru", "sv", "th", "tr", "uk", "vi", "zh",
)  # fmt: skip

#: The code of a text too short, or with too few letters, to tell.
UNDETERMINED = "und"

#: Only the start of a long text is read.
MAX_CHARS = 1000

# Words needed to tell the language (a word: a token with a letter and no digit, so not "1d10t" or "4k");
# CJK, kana and Thai letters, written without spaces, count one word per two letters.
_MIN_WORDS = 3
_AT_RE = re.compile(r"(?<!\S)\S*@\S*")  # e-mail addresses and @mentions
_WORD_RE = re.compile(r"(?<!\S)[^\s\d]*[^\W\d_][^\s\d]*(?!\S)")  # a token with a letter and no digit
_UNSPACED_RE = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# The model's automaton recognises byte n-grams (an Aho-Corasick automaton): its state after a byte depends only
# on the last few bytes read (at most 6 for this model; the tests check it). So a text is cut into chunks of
# _CHUNK bytes, each read from the start state after the _WARM_UP bytes before it, and the chunks of a whole batch
# are walked side by side with numpy, one step per byte of a chunk. No UTF-8 text holds the byte 0xFF, and no
# n-gram does: it leads back to the start state and pads the chunks. Batches under _MIN_CHUNKS chunks are read
# in Python, byte by byte (one numpy step costs more than that).
_CHUNK = 56
_WARM_UP = 8
_PAD = 0xFF
_MIN_CHUNKS = 24


@dataclass(frozen=True)
class _Model:
    nextmove: npt.NDArray[np.uint32]  # state transitions: nextmove[rowbase[state] + byte]
    rowbase: npt.NDArray[np.int64]
    output: npt.NDArray[np.int32]  # the feature a state emits, or -1
    nextmove_py: array[int]  # the same three for the Python loop (indexing numpy arrays one item at a time is slow)
    rowbase_py: list[int]
    output_py: list[int]
    ptc: npt.NDArray[np.float32]  # log P(feature | language), features x languages
    pc: npt.NDArray[np.float32]  # log prior of each language
    labels: tuple[str, ...]
    features: int


_model: _Model | None = None
_lock = threading.Lock()


def load() -> None:
    """Load the model now (the first detection does otherwise); once per process, thread-safe."""
    _get_model()


def _get_model() -> _Model:
    global _model
    model = _model
    if model is None:
        with _lock:
            if _model is None:
                _model = _load_model()
            model = _model
    return model


def _load_model() -> _Model:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    labels = tuple(str(c) for c in identifier.nb_classes)
    if len(set(labels)) != len(labels):  # script aliases (srl -> sr) would need folding
        raise RuntimeError(f"py3langid model has duplicate labels among {labels}")
    nextmove_py: array[int] = identifier.tk_nextmove
    output_py = list(identifier.tk_output)
    rowbase_py = [r << 8 for r in identifier.tk_row]
    nextmove = np.frombuffer(nextmove_py, dtype=np.dtype(f"u{nextmove_py.itemsize}")).astype(np.uint32, copy=False)
    # What the chunked walk relies on: the start state emits nothing, and the padding byte leads back to it.
    if output_py[0] >= 0 or nextmove[_PAD::256].any():
        raise RuntimeError("py3langid model: unexpected automaton (start state or padding byte)")
    ptc = np.ascontiguousarray(identifier.nb_ptc, dtype=np.float32)
    return _Model(
        nextmove=nextmove,
        rowbase=np.asarray(rowbase_py, dtype=np.int64),
        output=np.asarray(output_py, dtype=np.int32),
        nextmove_py=nextmove_py,
        rowbase_py=rowbase_py,
        output_py=output_py,
        ptc=ptc,
        pc=np.asarray(identifier.nb_pc, dtype=np.float32),
        labels=labels,
        features=ptc.shape[0],
    )


def _sample(text: str) -> bytes | None:
    """The bytes the model reads of ``text`` (as py3langid encodes them), or None when it is too short to tell."""
    # Lower case (py3langid lowers only all-caps text): shouting with a few lowercase letters reads better.
    text = text[:MAX_CHARS].lower()
    if "://" in text or "www." in text:
        text = URL_RE.sub(" ", text)
    if "@" in text:
        text = _AT_RE.sub(" ", text)
    words = sum(1 for _ in itertools.islice(_WORD_RE.finditer(text), _MIN_WORDS))
    if words < _MIN_WORDS and (text.isascii() or words + len(_UNSPACED_RE.findall(text)) // 2 < _MIN_WORDS):
        return None
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.encode("utf-8", errors="surrogatepass")


def _feature_keys(model: _Model, samples: list[bytes]) -> npt.NDArray[np.int64]:
    """``text index * features + feature`` for every feature the automaton emits on each sample, in no order."""
    chunks = np.fromiter(((len(s) + _CHUNK - 1) // _CHUNK for s in samples), dtype=np.int64, count=len(samples))
    total = int(chunks.sum())
    if total < _MIN_CHUNKS:
        return _feature_keys_py(model, samples)
    # Each text padded to whole chunks and preceded by the warm-up: chunk c of text t starts at
    # offsets[t] + c * _CHUNK in the buffer, and is read from there for _WARM_UP + _CHUNK bytes.
    pad = bytes([_PAD])
    buffer = b"".join(pad * _WARM_UP + s + pad * (-len(s) % _CHUNK) for s in samples)
    offsets = np.cumsum(chunks * _CHUNK + _WARM_UP) - (chunks * _CHUNK + _WARM_UP)
    first = np.cumsum(chunks) - chunks  # each text's first chunk
    text = np.repeat(np.arange(len(samples), dtype=np.int64), chunks)
    starts = offsets[text] + (np.arange(total, dtype=np.int64) - first[text]) * _CHUNK
    data = np.frombuffer(buffer, dtype=np.uint8)
    columns = data[np.arange(_WARM_UP + _CHUNK, dtype=np.int64)[:, None] + starts[None, :]]  # step x chunk
    states = np.empty((_WARM_UP + _CHUNK, total), dtype=np.uint32)
    base = np.full(total, model.rowbase[0], dtype=np.int64)
    index = np.empty(total, dtype=np.int64)
    nextmove, rowbase = model.nextmove, model.rowbase
    for i in range(_WARM_UP + _CHUNK):
        np.add(base, columns[i], out=index)
        np.take(nextmove, index, out=states[i])
        np.take(rowbase, states[i], out=base)
    emitted = model.output[states[_WARM_UP:]]  # what the warm-up emits belongs to the chunk before
    steps, where = np.nonzero(emitted >= 0)
    return text[where] * model.features + emitted[steps, where]


def _feature_keys_py(model: _Model, samples: list[bytes]) -> npt.NDArray[np.int64]:
    """:func:`_feature_keys` one byte at a time, as py3langid reads (faster for a few short texts)."""
    nm, rb, out = model.nextmove_py, model.rowbase_py, model.output_py
    keys: list[int] = []
    append = keys.append
    start = rb[0]
    for t, sample in enumerate(samples):
        offset = t * model.features
        b = start
        for byte in sample:
            state = nm[b + byte]
            f = out[state]
            if f >= 0:
                append(offset + f)
            b = rb[state]
    return np.asarray(keys, dtype=np.int64)


def _probabilities(model: _Model, samples: list[bytes]) -> npt.NDArray[np.float32]:
    """py3langid's normalised scores (``norm_probs=True``) of each sample, one row per sample."""
    n = len(samples)
    keys, counts = np.unique(_feature_keys(model, samples), return_counts=True)
    texts = keys // model.features
    weighted = model.ptc.take(keys % model.features, axis=0)
    weighted *= np.log1p(counts.astype(np.float32))[:, None]
    scores = np.zeros((n, len(model.labels)), dtype=np.float32)  # no feature: uniform, like py3langid
    if len(keys):
        starts = np.flatnonzero(np.concatenate([[True], texts[1:] != texts[:-1]]))
        scores[texts[starts]] = np.add.reduceat(weighted, starts, axis=0) + model.pc
    # A temperature of sqrt(bytes) keeps the softmax calibrated across lengths.
    scores *= np.asarray([1.0 / math.sqrt(len(s) or 1) for s in samples], dtype=np.float32)[:, None]
    scores -= scores.max(axis=1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=1, keepdims=True)
    return scores


def detect_languages(texts: Sequence[str]) -> list[tuple[str, float]]:
    """``(code, confidence)`` of each text, in order: an ISO 639-1 code of :data:`LANGUAGES` and the model's
    probability for it (rounded to 4 places), or ``("und", 0.0)`` for a text too short to tell.

    Reads the first :data:`MAX_CHARS` characters. Deterministic: a text gets the same answer whatever batch it
    is in. Thread-safe; loads the model on first use.
    """
    samples = [_sample(t) for t in texts]
    known = [i for i, s in enumerate(samples) if s is not None]
    out: list[tuple[str, float]] = [(UNDETERMINED, 0.0)] * len(samples)
    if not known:
        return out
    model = _get_model()
    probs = _probabilities(model, [s for s in samples if s is not None])
    best = probs.argmax(axis=1)
    confidence = probs[np.arange(len(known)), best]
    for i, b, c in zip(known, best.tolist(), confidence.tolist(), strict=True):
        out[i] = (model.labels[b], round(c, 4))
    return out


def detect_language(text: str) -> tuple[str, float]:
    """:func:`detect_languages` of one text."""
    return detect_languages([text])[0]
