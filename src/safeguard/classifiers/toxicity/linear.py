"""A portable TF-IDF + calibrated linear SVM ensemble, evaluated with numpy alone.

It holds the exported weights of alt-profanity-check's model (see ``tools/build_toxicity_default.py``)
and reproduces its ``predict_prob`` exactly, batch at a time, with no scikit-learn, joblib or pickle.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["LinearTextModel"]

#: scikit-learn's default token pattern: words of two or more word characters.
_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")
#: On ASCII text its tokens are the runs of ``[A-Za-z0-9_]``: bytes.translate and split find them faster.
_ASCII_NON_WORD = bytes(c if chr(c).isascii() and (chr(c).isalnum() or c == ord("_")) else 32 for c in range(256))

FloatArray = npt.NDArray[np.float64]


class LinearTextModel:
    """TF-IDF (l2-normalised word counts times idf) fed to k linear models with sigmoid calibration.

    ``predict(texts)`` gives the mean calibrated probability of the positive class. Texts must be
    lower-cased already (the vectoriser was fitted with ``lowercase=True``).
    """

    def __init__(
        self,
        vocab: Sequence[str] | npt.NDArray[np.str_],
        idf: FloatArray,
        coef: FloatArray,
        intercept: FloatArray,
        calib_a: FloatArray,
        calib_b: FloatArray,
    ) -> None:
        coef = np.asarray(coef, dtype=np.float64)
        if coef.ndim != 2 or coef.shape[1] != len(vocab) or len(idf) != len(vocab):
            raise ValueError("coef must be (models x vocabulary) and idf one value per vocabulary term")
        k = coef.shape[0]
        if not (len(intercept) == len(calib_a) == len(calib_b) == k):
            raise ValueError("intercept, calib_a and calib_b need one value per model")
        # Term ids start at 1: id 0 is a zero row, so ``filter(None, map(index.get, tokens))`` drops unknown
        # words in C.
        self.index: dict[str, int] = {str(term): i + 1 for i, term in enumerate(vocab)}
        self.idf = np.concatenate([[0.0], np.asarray(idf, dtype=np.float64)])
        # Column j of the model matrix scaled by idf: one gather per token gives its contribution.
        self.weights = np.ascontiguousarray(np.vstack([np.zeros(k), (coef * self.idf[1:]).T]))  # 1 + vocabulary x k
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.calib_a = np.asarray(calib_a, dtype=np.float64)
        self.calib_b = np.asarray(calib_b, dtype=np.float64)
        self.coef_mean = coef.mean(axis=0)

    @classmethod
    def from_npz(cls, path: Path) -> LinearTextModel:
        """Load the arrays written by the build script (no pickle)."""
        with np.load(path, allow_pickle=False) as data:
            return cls(data["vocab"], data["idf"], data["coef"], data["intercept"], data["calib_a"], data["calib_b"])

    def token_ids(self, text: str) -> list[int]:
        """Term ids of the tokens of ``text`` (repeats kept, unknown words dropped). Ids start at 1."""
        return self.term_ids(self.tokens(text))

    @staticmethod
    def tokens(text: str) -> list[str]:
        """The vectoriser's tokens of ``text`` and its runs of one word character (which are never terms)."""
        if text.isascii():
            return text.encode("ascii").translate(_ASCII_NON_WORD).decode("ascii").split()
        return _TOKEN_RE.findall(text)

    def term_ids(self, tokens: Iterable[str]) -> list[int]:
        """Term ids of ``tokens`` that are terms, in order (the vectoriser's tokens of a text give its
        :meth:`token_ids`)."""
        return list(filter(None, map(self.index.get, tokens)))

    def predict(self, texts: Sequence[str]) -> FloatArray:
        """Probability of the positive (profane) class for each text."""
        return self.predict_ids([self.token_ids(t) for t in texts])

    def predict_ids(self, ids_per_text: Sequence[Sequence[int]]) -> FloatArray:
        """As :meth:`predict`, from :meth:`token_ids` output (lets callers tokenise once)."""
        n = len(ids_per_text)
        if n == 0:
            return np.zeros(0)
        lengths = np.fromiter((len(ids) for ids in ids_per_text), dtype=np.int64, count=n)
        flat = np.fromiter(itertools.chain.from_iterable(ids_per_text), dtype=np.int64, count=int(lengths.sum()))
        return self.predict_pairs(np.repeat(np.arange(n), lengths), flat, n)

    def predict_pairs(self, row: npt.NDArray[np.int64], flat: npt.NDArray[np.int64], n: int) -> FloatArray:
        """As :meth:`predict` for ``n`` texts, from one (text, term id) pair per token, in any order."""
        k = len(self.intercept)
        if n == 0:
            return np.zeros(0)
        # Term counts per (text, term): unique pairs.
        key = row * len(self.idf) + flat
        uniq, counts = np.unique(key, return_counts=True)
        urow = uniq // len(self.idf)
        uterm = uniq % len(self.idf)
        tfidf = counts * self.idf[uterm]
        norm = np.sqrt(np.bincount(urow, weights=tfidf * tfidf, minlength=n))
        scale = np.divide(counts, norm[urow], out=np.zeros(len(counts)), where=norm[urow] > 0)
        decision = np.empty((n, k))
        for j in range(k):
            decision[:, j] = np.bincount(urow, weights=scale * self.weights[uterm, j], minlength=n)
        decision += self.intercept
        probs = 1.0 / (1.0 + np.exp(self.calib_a * decision + self.calib_b))
        return np.asarray(probs.mean(axis=1), dtype=np.float64)
