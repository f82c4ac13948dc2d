"""The feedback classifier's encoder tier: a MiniLM encoder fine-tuned to read what a post is for and
what it is about, with a linear head per kind and per shipped aspect over its sentence embedding.

``kind_model: encoder`` runs it beside the lexical kind model and blends the two: each kind's probability
is ``(1 - kind_blend) * lexical + kind_blend * encoder``, each aspect head's likewise with
``aspect_blend``, and the blended aspect probabilities veto or add aspects at the thresholds of this
tier's head file (:func:`~safeguard.classifiers.feedback.classifier.judged_aspects`). The blend weights
and thresholds were chosen on the ``dev`` half of ``tests/fixtures/feedback``.

The encoder is an int8 ONNX graph in ``data/encoder/`` (read by
:class:`~safeguard.classifiers.toxicity.encoder.SentenceEncoder`); ``heads.npz`` beside it holds the
heads and their settings (no pickle). ``tools/finetune_feedback.py`` writes both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard import checks
from safeguard.classifiers.feedback.kinds import KINDS, STAFF_ROLES, softmax_rows
from safeguard.classifiers.toxicity.heads import read_npz, sigmoid
from safeguard.types import Post

__all__ = ["HEADS_FILE", "MAX_HEADS_BYTES", "SETTINGS", "EncoderHeads", "blend", "encoder_dir", "encoder_text"]

#: The file of an encoder directory that holds the heads.
HEADS_FILE = "heads.npz"
#: Largest heads file :meth:`EncoderHeads.load` reads.
MAX_HEADS_BYTES = 4 * 1024 * 1024
#: Settings every heads file carries, each a number in [0, 1]; ``aspect_add_threshold`` may be null (the
#: aspect heads only veto).
SETTINGS = ("kind_blend", "aspect_blend", "aspect_threshold", "aspect_add_threshold")


def encoder_dir() -> Path:
    """The shipped encoder tier's directory (it may be absent from an installation)."""
    return Path(str(resources.files("safeguard.classifiers.feedback") / "data" / "encoder"))


def encoder_text(post: Post) -> str:
    """What the encoder reads of a post: whether it is a reply and whether staff wrote it (which the
    text alone often does not say, and which tell an answer from a question or an announcement), then
    its title and text."""
    staff = post.author is not None and post.author.role in STAFF_ROLES
    return f"{'reply' if post.parent_id is not None else 'post'}{' by staff' if staff else ''}: {post.full_text}"


@dataclass(frozen=True)
class EncoderHeads:
    """Linear heads over a unit-length sentence embedding: the first :data:`KINDS` columns are the kinds'
    logits (a softmax gives their probabilities), the rest ``aspect_<name>`` logits (each a sigmoid)."""

    labels: tuple[str, ...]
    weights: npt.NDArray[np.float32]  # (dim, labels)
    bias: npt.NDArray[np.float32]  # (labels,)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.labels[: len(KINDS)] != KINDS or not all(a.startswith("aspect_") for a in self.labels[len(KINDS) :]):
            raise ValueError(f"heads must be the kinds then aspect_<name>, not {list(self.labels)}")
        if (
            self.weights.ndim != 2
            or self.weights.shape[1] != len(self.labels)
            or self.bias.shape != (len(self.labels),)
        ):
            raise ValueError("weights must be (dim, labels) and bias (labels,)")
        for key in SETTINGS:
            value = self.meta.get(key)
            if not (value is None and key == "aspect_add_threshold" and key in self.meta):
                checks.probability(key, value)

    @property
    def aspects(self) -> tuple[str, ...]:
        """The aspects with a head, in column order."""
        return tuple(label[len("aspect_") :] for label in self.labels[len(KINDS) :])

    def setting(self, key: str) -> float:
        """One of the blend weights or the veto threshold (:data:`SETTINGS`)."""
        return float(self.meta[key])

    def probabilities(
        self, embeddings: npt.NDArray[np.floating[Any]]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The kinds' probabilities (n x kinds, rows sum to 1) and the aspect heads' (n x aspects)."""
        logits = np.asarray(embeddings, dtype=np.float64) @ self.weights.astype(np.float64) + self.bias
        k = len(KINDS)
        return softmax_rows(logits[:, :k]), sigmoid(logits[:, k:])

    def save(self, path: str | Path) -> None:
        """Write the heads as an ``.npz`` with no pickled objects."""
        header = {"labels": list(self.labels), "meta": dict(self.meta)}
        with Path(path).open("wb") as fh:
            np.savez_compressed(
                fh,
                header=np.array(json.dumps(header, sort_keys=True)),
                weights=self.weights.astype(np.float32),
                bias=self.bias.astype(np.float32),
            )

    @classmethod
    def load(cls, path: str | Path) -> EncoderHeads:
        """Read heads written by :meth:`save`. ValueError for a file that is not one."""
        p = Path(path)
        header, data = read_npz(p, MAX_HEADS_BYTES, "feedback encoder heads file")
        try:
            heads = cls(
                tuple(header["labels"]),
                data["weights"].astype(np.float32),
                data["bias"].astype(np.float32),
                header.get("meta") or {},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{p}: not feedback encoder heads ({exc})") from None
        if not np.isfinite(heads.weights).all() or not np.isfinite(heads.bias).all():
            raise ValueError(f"{p}: weights are not all finite")
        return heads


def blend(lexical: npt.NDArray[np.float64], encoder: npt.NDArray[np.float64], weight: float) -> Any:
    """``(1 - weight) * lexical + weight * encoder``: the encoder tier's probabilities."""
    return (1.0 - weight) * np.asarray(lexical) + weight * np.asarray(encoder)
