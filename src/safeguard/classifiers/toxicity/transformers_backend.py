"""``{backend: transformers}``: any local Hugging Face sequence-classification model directory."""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from safeguard import checks
from safeguard.classifiers.toxicity.backend import (
    KNOWN_LABELS,
    Backend,
    FloatArray,
    cached_model,
    check_options,
    standard_label,
)
from safeguard.classifiers.toxicity.detoxify_backend import validate_runtime_options
from safeguard.errors import MissingDependencyError, ModelLoadError
from safeguard.files import config_path

__all__ = ["TransformersBackend", "read_model_labels"]


def read_model_labels(config_file: Path) -> list[str]:
    """The model's label names in output order, from ``config.json``'s ``id2label``."""
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        id2label = config["id2label"]
        return [str(id2label[str(i)]) for i in range(len(id2label))]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the label names (id2label) from {config_file}: {exc}") from None


class TransformersBackend(Backend):
    """Options: ``model_dir``, ``labels`` ({model label: our label}), ``activation`` (sigmoid | softmax),
    ``batch_size`` (8), ``threads`` (CPUs), ``max_length`` (512)."""

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        model_dir: str | Path | None = None,
        labels: Mapping[str, str] | None = None,
        activation: str | None = None,
        batch_size: int = 8,
        threads: int | None = None,
        max_length: int | None = None,
        **options: Any,
    ) -> None:
        check_options("transformers", options, ())
        if model_dir is None:
            raise ValueError(
                "the transformers backend needs model_dir: a local sequence-classification model directory"
            )
        self.model_dir = config_path(model_dir, "model_dir", base_dir)
        if activation not in (None, "sigmoid", "softmax"):
            raise ValueError(f"activation must be sigmoid or softmax, got {activation!r}")
        self.activation = activation
        self.batch_size, self.threads = validate_runtime_options(batch_size, threads)
        self.max_length = None if max_length is None else checks.integer("max_length", max_length)
        if labels is None:
            names = read_model_labels(self.model_dir / "config.json")
            mapping = {n: standard_label(n) for n in names if standard_label(n) in KNOWN_LABELS}
            if not mapping:
                raise ValueError(
                    f"none of the model's labels ({', '.join(names)}) is one of ours; map them with "
                    f"labels: {{their_label: our_label}} (ours: {', '.join(KNOWN_LABELS)})"
                )
        else:
            if not isinstance(labels, Mapping) or not labels:
                raise ValueError("labels must be a non-empty mapping {model label: our label}")
            mapping = {}
            for theirs, ours in labels.items():
                if ours not in KNOWN_LABELS:
                    raise ValueError(
                        f"labels maps {theirs!r} to {ours!r}, which is not one of {', '.join(KNOWN_LABELS)}"
                    )
                if ours in mapping.values():
                    raise ValueError(f"labels maps two model labels to {ours!r}")
                mapping[str(theirs)] = ours
        self.mapping = mapping
        self.labels = tuple(mapping.values())
        self._runner: Any = None
        self._columns: list[int] = []
        self._width = 0

    def load(self) -> None:
        if self._runner is not None:
            return
        try:
            transformers: Any = importlib.import_module("transformers")
        except ImportError as exc:
            raise MissingDependencyError("toxicity", "transformers", "transformers") from exc
        from safeguard.classifiers.toxicity.torch_runner import TorchRunner

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        if not (self.model_dir / "config.json").is_file():
            raise ModelLoadError("toxicity", f"model_dir {self.model_dir} has no config.json")

        def build() -> tuple[Any, Any]:
            try:
                model = transformers.AutoModelForSequenceClassification.from_pretrained(
                    self.model_dir, local_files_only=True
                )
                tokenizer = transformers.AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ModelLoadError("toxicity", f"cannot load the model in {self.model_dir}: {exc}") from None
            return model.eval(), tokenizer

        model, tokenizer = cached_model(("transformers", str(self.model_dir.resolve())), build)
        names = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
        unknown = [t for t in self.mapping if t not in names]
        if unknown:
            raise ModelLoadError(
                "toxicity", f"labels names {', '.join(unknown)}, which the model does not have ({', '.join(names)})"
            )
        self._columns = [names.index(t) for t in self.mapping]
        self._width = len(names)
        activation = self.activation or (
            "sigmoid" if model.config.problem_type == "multi_label_classification" or len(names) == 1 else "softmax"
        )
        self._runner = TorchRunner(
            model,
            tokenizer,
            activation=activation,
            batch_size=self.batch_size,
            threads=self.threads,
            max_length=self.max_length,
        )

    def predict(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        self.load()
        probs = self._runner.predict(texts, self._width)
        return {
            label: np.ascontiguousarray(probs[:, col]) for label, col in zip(self.labels, self._columns, strict=True)
        }
