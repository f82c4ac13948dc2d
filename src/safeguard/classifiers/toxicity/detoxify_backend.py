"""``{backend: detoxify}``: Detoxify's models, loaded safely from a local checkpoint (see :mod:`.checkpoint`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from safeguard import checks
from safeguard.classifiers.toxicity.backend import Backend, FloatArray, cached_model, check_options
from safeguard.classifiers.toxicity.checkpoint import DETOXIFY_MODELS, LoadedModel, load_detoxify
from safeguard.errors import ModelLoadError
from safeguard.files import config_path

__all__ = ["DETOXIFY_MODEL_LABELS", "DetoxifyBackend", "validate_runtime_options"]

_SIX = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
#: The labels each Detoxify model type gives (identity-group outputs of the unbiased models are not labels).
DETOXIFY_MODEL_LABELS: dict[str, tuple[str, ...]] = {
    "original": _SIX,
    "original-small": _SIX,
    "unbiased": (*_SIX, "sexual_explicit"),
    "unbiased-small": (*_SIX, "sexual_explicit"),
    "multilingual": (*_SIX, "sexual_explicit"),
}


def validate_runtime_options(batch_size: Any, threads: Any) -> tuple[int, int | None]:
    """Check ``batch_size`` (positive int) and ``threads`` (positive int or None)."""
    return checks.integer("batch_size", batch_size), None if threads is None else checks.integer("threads", threads)


class DetoxifyBackend(Backend):
    """Options: ``model_type``, ``checkpoint``, ``config_dir``, ``batch_size`` (8), ``threads`` (CPUs)."""

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        model_type: str = "original",
        checkpoint: str | Path | None = None,
        config_dir: str | Path | None = None,
        batch_size: int = 8,
        threads: int | None = None,
        **options: Any,
    ) -> None:
        check_options("detoxify", options, ())
        if model_type not in DETOXIFY_MODELS:
            raise ValueError(f"model_type must be one of {', '.join(DETOXIFY_MODELS)}, got {model_type!r}")
        self.model_type = model_type
        self.checkpoint = config_path(checkpoint, "checkpoint", base_dir) if checkpoint is not None else None
        self.config_dir = config_path(config_dir, "config_dir", base_dir) if config_dir is not None else None
        if (self.checkpoint is None) != (self.config_dir is None):
            raise ValueError("give both checkpoint and config_dir (or neither, to download when online)")
        self.batch_size, self.threads = validate_runtime_options(batch_size, threads)
        self.labels = DETOXIFY_MODEL_LABELS[model_type]
        self._loaded: LoadedModel | None = None
        self._runner: Any = None
        self._columns: list[int] = []

    def cache_key(self) -> tuple[str, ...]:
        return (
            "detoxify",
            self.model_type,
            str(self.checkpoint.resolve()) if self.checkpoint else "",
            str(self.config_dir.resolve()) if self.config_dir else "",
        )

    def load_model(self) -> LoadedModel:
        """The loaded model, shared by every instance in the process that names the same files."""
        return cached_model(self.cache_key(), lambda: load_detoxify(self.model_type, self.checkpoint, self.config_dir))

    def load(self) -> None:
        if self._runner is not None:
            return
        from safeguard.classifiers.toxicity.torch_runner import TorchRunner

        loaded = self.load_model()
        missing = [label for label in self.labels if label not in loaded.class_names]
        if missing:
            raise ModelLoadError(
                "toxicity",
                f"the checkpoint's classes ({', '.join(loaded.class_names)}) lack {', '.join(missing)}, which "
                f"model_type {self.model_type!r} gives; set model_type to the checkpoint's type",
            )
        self._columns = [loaded.class_names.index(label) for label in self.labels]
        self._loaded = loaded
        self._runner = TorchRunner(loaded.model, loaded.tokenizer, batch_size=self.batch_size, threads=self.threads)

    def predict(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        self.load()
        assert self._loaded is not None
        probs = self._runner.predict(texts, len(self._loaded.class_names))
        return {
            label: np.ascontiguousarray(probs[:, col]) for label, col in zip(self.labels, self._columns, strict=True)
        }
