"""The ``toxicity`` classifier: one interface over the default, fast, model, detoxify, transformers, onnx and cascade
backends."""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from safeguard.classifiers.base import Classifier, Cost
from safeguard.classifiers.toxicity.backend import Backend
from safeguard.types import Post

__all__ = ["BACKENDS", "BACKEND_TABLE", "ToxicityClassifier", "make_backend"]

#: Backend names accepted by ``backend:`` -> (module, class). Each class takes its options as keywords
#: (and ``base_dir``, the ruleset's directory, for relative paths) and validates them in its constructor.
BACKEND_TABLE: dict[str, tuple[str, str]] = {
    "default": ("safeguard.classifiers.toxicity.harm", "CascadeHarmBackend"),
    "fast": ("safeguard.classifiers.toxicity.harm", "FastHarmBackend"),
    "model": ("safeguard.classifiers.toxicity.harm", "ModelHarmBackend"),
    "detoxify": ("safeguard.classifiers.toxicity.detoxify_backend", "DetoxifyBackend"),
    "transformers": ("safeguard.classifiers.toxicity.transformers_backend", "TransformersBackend"),
    "onnx": ("safeguard.classifiers.toxicity.onnx_backend", "OnnxBackend"),
    "cascade": ("safeguard.classifiers.toxicity.cascade", "CascadeBackend"),
}
BACKENDS: tuple[str, ...] = tuple(BACKEND_TABLE)


def make_backend(options: Mapping[str, Any], *, base_dir: Path | None = None) -> Backend:
    """Build (not load) the backend described by ``options`` (the YAML mapping, ``backend`` included).

    Raises ValueError with a precise message on bad options.
    """
    opts = dict(options)
    name = opts.pop("backend", "default")
    if not isinstance(name, str) or name not in BACKEND_TABLE:
        raise ValueError(f"unknown toxicity backend {name!r} (known: {', '.join(BACKENDS)})")
    module, cls = BACKEND_TABLE[name]
    backend_class = getattr(importlib.import_module(module), cls)
    opts["base_dir"] = base_dir
    backend: Backend = backend_class(**opts)
    return backend


class ToxicityClassifier(Classifier):
    """Toxicity scores in [0, 1] with Detoxify's label names, from a configurable backend.

    ``ToxicityClassifier()`` (``toxicity: {backend: default}``) is the embedded offline model; see
    the package docstring for the other backends and their options. ``outputs`` are the labels the
    configured backend really produces, so a rule that reads a label the backend does not give fails
    when the ruleset loads.
    """

    kind = "toxicity"
    cost = Cost.CHEAP

    def __init__(self, *, name: str | None = None, base_dir: str | Path | None = None, **options: Any) -> None:
        super().__init__(name=name)
        #: The options as given (``backend`` and the backend's own).
        self.backend_options = dict(options)
        self.backend = make_backend(options, base_dir=Path(base_dir) if base_dir is not None else None)
        self.cost = self.backend.cost
        self.outputs = {**dict.fromkeys(self.backend.labels, float), **self.backend.extra_outputs()}

    def _load(self) -> None:
        self.backend.load()

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """One mapping of label -> score per post, in order."""
        if not posts:
            return []
        self.load()
        scores = self.backend.predict([p.full_text for p in posts])
        labels = list(scores)
        columns: list[list[Any]] = []
        for label in labels:
            values = np.asarray(scores[label])
            if values.shape != (len(posts),):
                raise RuntimeError(f"toxicity backend gave {values.shape} {label} scores for {len(posts)} posts")
            kind = self.outputs.get(label, float)
            if kind is not float:
                columns.append([kind(v) for v in values.tolist()])
            elif len(posts) < 16:  # a few posts: plain floats are quicker than array calls
                columns.append([min(1.0, max(0.0, float(v))) for v in values.tolist()])  # NaN reads as 0
            else:
                # Probabilities in [0, 1]; NaN reads as 0, as above.
                clean = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
                columns.append(np.clip(clean, 0.0, 1.0).tolist())
        return _rows(labels, columns)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["backend"] = self.backend_options.get("backend", "default")
        return info


def _rows(labels: list[str], columns: list[list[Any]]) -> list[dict[str, Any]]:
    """One mapping of label -> value per row of the (equally long) ``columns``. Five labels are built as
    literals, about four times as fast as from zips."""
    if len(labels) == 5:
        a, b, c, d, e = labels
        return [{a: v, b: w, c: x, d: y, e: z} for v, w, x, y, z in zip(*columns, strict=True)]
    return list(map(dict, map(zip, itertools.repeat(labels), zip(*columns, strict=True))))
