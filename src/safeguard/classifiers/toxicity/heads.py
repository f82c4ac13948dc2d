"""Harm heads: one logistic head per label over hashed n-grams and, for the model tier, a sentence embedding.

The fast tier reads hashed word and character n-grams alone (numpy only); the model tier adds the
all-MiniLM-L6-v2 embedding of the text (:mod:`.encoder`) as dense features beside the same n-grams, so
both tiers share one file format and one scoring path. Texts are normalised first
(:func:`safeguard.text.normalize_many`: look-alike letters, leetspeak, zero-width characters and
spaced-out letters undone), then turned into features by
:class:`~safeguard.classifiers.toxicity.features.HashedNgrams`. Each head's margin is mapped to a
probability by a logistic curve fitted on held-out data (Platt scaling), so ``0.7`` means about the
same for every head. The weights, the calibration and the feature settings live in one ``.npz`` file
(no pickle); ``tools/train_toxicity.py`` and ``safeguard train toxicity`` write it.
"""

from __future__ import annotations

import functools
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard.classifiers.toxicity.datadir import DATA_DIR
from safeguard.classifiers.toxicity.features import HashedNgrams, token_class
from safeguard.files import UnsafeFileError, open_zip_bounded, read_bounded

__all__ = [
    "DATA_DIR",
    "MAX_MODEL_BYTES",
    "REGIONAL_INDICATORS",
    "SKIN_TONES",
    "HarmHeads",
    "encoder_texts",
    "normalized_texts",
    "read_npz",
    "sigmoid",
]

FloatArray = npt.NDArray[np.float64]


#: Largest model file :meth:`HarmHeads.load` reads.
MAX_MODEL_BYTES = 64 * 1024 * 1024


def normalized_texts(texts: Sequence[str]) -> list[str]:
    """The texts the harm models read: normalised (see :mod:`safeguard.text`), masked words
    read as the word they hide (:mod:`.unmask`)."""
    from safeguard.classifiers.toxicity.unmask import unmask
    from safeguard.text import normalize_many

    return [unmask(t) for t, _ in normalize_many(list(texts))]


#: Names for emoji whose Unicode name says little to a language model.
_EMOJI_NAMES = {
    0x1F52A: "kitchen knife",
    0x1F3FB: "light skin tone",
    0x1F3FC: "medium light skin tone",
    0x1F3FD: "medium skin tone",
    0x1F3FE: "medium dark skin tone",
    0x1F3FF: "dark skin tone",
}


@functools.lru_cache(maxsize=4096)
def _emoji_words(c: str) -> str:
    cp = ord(c)
    name = _EMOJI_NAMES.get(cp) or unicodedata.name(c, "").lower()
    return f" ({name}) " if name else " "


#: Emoji sequences that name one thing, as they stand after normalisation (which drops the zero-width
#: joiners and variation selectors between their parts).
_SEQUENCES = {
    "\U0001f3f3\U0001f308": "rainbow flag",
    "\U0001f3f3\u26a7": "transgender flag",
    "\U0001f3f4\u2620": "pirate flag",
}
_SEQUENCE = re.compile("|".join(map(re.escape, _SEQUENCES)))
#: Regional indicator letters: a flag is two of them, the country's ISO 3166 code.
REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
#: Skin tone modifiers.
SKIN_TONES = range(0x1F3FB, 0x1F400)
_FLAG = re.compile(f"[{chr(REGIONAL_INDICATORS[0])}-{chr(REGIONAL_INDICATORS[-1])}]{{2}}")


@functools.lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    out = {}
    for line in (DATA_DIR / "flags.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, _, name = line.partition("\t")
            out[code] = name
    return out


def _flag_words(m: re.Match[str]) -> str:
    code = "".join(chr(ord(c) - REGIONAL_INDICATORS[0] + ord("A")) for c in m.group())
    name = _countries().get(code)
    return f" (flag of {name.split(' (')[0].lower()}) " if name else f" (flag {code.lower()}) "


def encoder_texts(normalized: Sequence[str]) -> list[str]:
    """The texts the sentence encoder reads: normalised text with each emoji or pictograph written as its
    name ("i would love to (kitchen knife) some (man) (dark skin tone)"), a flag as its country ("(flag
    of pakistan)") and a few joined sequences as what they show ("(rainbow flag)"), because the
    encoder's vocabulary has no emoji and would read them all as one unknown token."""
    out = []
    for text in normalized:
        if text.isascii():
            out.append(text)
            continue
        text = _FLAG.sub(_flag_words, _SEQUENCE.sub(lambda m: f" ({_SEQUENCES[m.group()]}) ", text))
        out.append("".join(_emoji_words(c) if token_class(ord(c)) == 2 else c for c in text))
    return out


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -40.0, 40.0)))
    return out


def read_npz(path: Path, max_bytes: int, what: str) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    """The JSON ``header`` and the other arrays of an ``.npz`` written with no pickled objects, read whole
    from a file of at most ``max_bytes`` whose members may inflate to four times that. ValueError, naming
    ``what``, for a file that is not one."""
    try:
        raw = read_bounded(path, max_bytes, what=what)
    except UnsafeFileError as exc:
        raise ValueError(str(exc)) from None
    try:  # an .npz is a zip: its members must not inflate too far
        open_zip_bounded(raw, 4 * max_bytes, path=path).close()
    except UnsafeFileError as exc:
        raise ValueError(f"{path}: not a safeguard {what} ({exc.reason})") from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        header = json.loads(str(arrays.pop("header")))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a safeguard {what} ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: not a safeguard {what} (its header is not a mapping)")
    return header, arrays


class HarmHeads:
    """Per-label logistic heads over :class:`HashedNgrams` features and optional dense features.

    ``weights`` is (buckets x labels), ``dense`` (dense features x labels, zero rows for the fast tier),
    ``bias``, ``calib_a`` and ``calib_b`` one value per label; a label's probability is
    ``sigmoid(calib_a * margin + calib_b)``.
    """

    def __init__(
        self,
        extractor: HashedNgrams,
        labels: Sequence[str],
        weights: npt.ArrayLike,
        bias: npt.ArrayLike,
        calib_a: npt.ArrayLike,
        calib_b: npt.ArrayLike,
        meta: Mapping[str, Any] | None = None,
        dense: npt.ArrayLike | None = None,
    ) -> None:
        self.extractor = extractor
        self.labels = tuple(labels)
        w = np.asarray(weights, dtype=np.float32)
        if w.shape != (extractor.width, len(self.labels)):
            raise ValueError(f"weights must be {extractor.width} x {len(self.labels)}, got {w.shape}")
        # Bucket-major weights: one gather per n-gram gives every head's weight.
        self.rows = np.ascontiguousarray(w)
        self.columns = np.ascontiguousarray(w.T)
        self.bias = self._vector(bias, "bias")
        self.calib_a = self._vector(calib_a, "calib_a")
        self.calib_b = self._vector(calib_b, "calib_b")
        self.meta = dict(meta or {})
        d = np.zeros((0, len(self.labels))) if dense is None else np.asarray(dense, dtype=np.float64)
        if d.ndim != 2 or d.shape[1] != len(self.labels) or not np.isfinite(d).all():
            raise ValueError(f"dense weights must be (features x {len(self.labels)}) and finite")
        self.dense = d

    @property
    def dense_dim(self) -> int:
        """Dense features the heads read (0 for the fast tier)."""
        return int(self.dense.shape[0])

    def _vector(self, values: npt.ArrayLike, name: str) -> FloatArray:
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (len(self.labels),) or not np.isfinite(v).all():
            raise ValueError(f"{name} must hold one finite value per label ({len(self.labels)})")
        return v

    @property
    def weights(self) -> npt.NDArray[np.float32]:
        return np.ascontiguousarray(self.columns.T)

    def margins(self, texts: Sequence[str], dense: npt.ArrayLike | None = None) -> FloatArray:
        """Raw head outputs (n x labels) for already normalised ``texts`` and their dense features."""
        n = len(texts)
        out = np.empty((n, len(self.labels)))
        if n == 0:
            return out
        blocks = self.extractor.blocks(texts)
        scale = self.extractor.scales(n, blocks)
        out[:] = 0.0
        for row, col, kind in blocks:
            # Rows are sorted within a block: sum each text's run of weight rows, then scale it once.
            starts = np.flatnonzero(np.concatenate(([True], row[1:] != row[:-1])))
            docs = row[starts]
            # np.take copies whole rows; indexing with ``self.rows[col]`` takes the general path and
            # costs about twice as much here (benchmarks/results/harm_speed.txt).
            sums = np.add.reduceat(np.take(self.rows, col, axis=0), starts, axis=0)
            out[docs] += sums * scale[kind, docs, None]
        out += self.bias
        if self.dense_dim:
            if dense is None:
                raise ValueError(f"these heads need {self.dense_dim} dense features per text")
            x = np.asarray(dense, dtype=np.float64)
            if x.shape != (n, self.dense_dim):
                raise ValueError(f"dense features must be {n} x {self.dense_dim}, got {x.shape}")
            # Not ``x @ self.dense``: BLAS picks its kernel by the number of rows, so a text's scores
            # would move in the last bits with its batch; each row summed alone does not.
            out += np.einsum("nd,dl->nl", x, self.dense)
        return out

    def predict_normalized(self, texts: Sequence[str], dense: npt.ArrayLike | None = None) -> FloatArray:
        """Calibrated probabilities (n x labels) for already normalised ``texts``."""
        return self.probabilities(self.margins(texts, dense))

    def probabilities(self, margins: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities from raw :meth:`margins` (n x labels)."""
        return sigmoid(np.asarray(margins) * self.calib_a + self.calib_b)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> None:
        """Write the model as a compressed ``.npz`` with no pickled objects (weights in float16)."""
        header = {"labels": list(self.labels), "features": self.extractor.to_dict(), "meta": self.meta}
        with Path(path).open("wb") as fh:
            np.savez_compressed(
                fh,
                header=np.array(json.dumps(header, sort_keys=True)),
                weights=self.weights.astype(np.float16),
                dense=self.dense,
                bias=self.bias,
                calib_a=self.calib_a,
                calib_b=self.calib_b,
            )

    @classmethod
    def load(cls, path: str | Path) -> HarmHeads:
        """Read a model written by :meth:`save`. ValueError for a file that is not one."""
        p = Path(path)
        header, data = read_npz(p, MAX_MODEL_BYTES, "harm model")
        try:
            return cls(
                HashedNgrams.from_dict(header["features"]),
                header["labels"],
                data["weights"].astype(np.float32),
                data["bias"],
                data["calib_a"],
                data["calib_b"],
                header.get("meta") or {},
                data.get("dense"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{p}: not a safeguard harm model ({exc})") from None
