"""``{backend: onnx, model: PATH.onnx}``: a model written by ``safeguard export-onnx``, run with onnxruntime.

Needs onnxruntime and tokenizers only (no torch, no transformers). Options: ``model``, ``batch_size`` (8),
``threads`` (the CPUs available).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard.classifiers.toxicity.backend import (
    KNOWN_LABELS,
    Backend,
    FloatArray,
    activate,
    batched_scores,
    cached_model,
    check_options,
    cpu_count,
)
from safeguard.classifiers.toxicity.detoxify_backend import validate_runtime_options
from safeguard.classifiers.toxicity.export import FORMAT, metadata_path, tokenizer_path
from safeguard.errors import MissingDependencyError, ModelLoadError
from safeguard.files import UnsafeFileError, check_regular, config_path, read_bounded_text

__all__ = ["MAX_ONNX_BYTES", "OnnxBackend"]

#: Largest ONNX model or tokenizer file read (a fp32 detoxify export is about 500 MB).
MAX_ONNX_BYTES = 2 * 1024 * 1024 * 1024


class OnnxBackend(Backend):
    """Runs an exported model; its labels come from the metadata file written beside it."""

    def __init__(
        self,
        *,
        base_dir: Path | None = None,
        model: str | Path | None = None,
        batch_size: int = 8,
        threads: int | None = None,
        **options: Any,
    ) -> None:
        check_options("onnx", options, ())
        if model is None:
            raise ValueError("the onnx backend needs model: PATH.onnx (written by `safeguard export-onnx`)")
        self.model = config_path(model, "model", base_dir)
        self.batch_size, self.threads = validate_runtime_options(batch_size, threads)
        meta_file = metadata_path(self.model)
        try:
            meta = json.loads(read_bounded_text(meta_file, 1 << 20, what="ONNX metadata file"))
        except UnsafeFileError as exc:
            raise ValueError(str(exc)) from None
        except FileNotFoundError:
            raise ValueError(
                f"{meta_file} not found: the onnx backend reads a model exported by `safeguard export-onnx`, "
                "which writes it beside the .onnx file"
            ) from None
        except ValueError as exc:
            raise ValueError(f"{meta_file} is not valid JSON: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{meta_file} is not a safeguard ONNX metadata file (format {FORMAT})")
        labels = meta.get("labels")
        if not isinstance(labels, dict) or not labels or any(k not in KNOWN_LABELS for k in labels):
            raise ValueError(f"{meta_file}: labels must map our label names to output columns")
        self.meta = meta
        self.labels = tuple(labels)
        self._columns = [int(labels[k]) for k in self.labels]
        self._session: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        if self._session is not None:
            return
        try:
            import onnxruntime
        except ImportError as exc:
            raise MissingDependencyError("toxicity", "onnxruntime", "onnx") from exc
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingDependencyError("toxicity", "tokenizers", "onnx") from exc
        if not os.path.lexists(self.model):
            raise ModelLoadError("toxicity", f"ONNX model {self.model} does not exist")
        try:
            for file in (self.model, tokenizer_path(self.model)):
                check_regular(file, MAX_ONNX_BYTES, what="ONNX model file")
        except OSError as exc:
            raise ModelLoadError("toxicity", str(exc)) from None
        threads = self.threads or cpu_count()

        def build() -> tuple[Any, Any]:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            try:
                session = onnxruntime.InferenceSession(str(self.model), options, providers=["CPUExecutionProvider"])
                tokenizer = Tokenizer.from_file(str(tokenizer_path(self.model)))
            except Exception as exc:
                raise ModelLoadError("toxicity", f"cannot load ONNX model {self.model}: {exc}") from None
            tokenizer.enable_truncation(max_length=int(self.meta["max_length"]))
            tokenizer.enable_padding(pad_id=int(self.meta["pad_id"]), pad_token=str(self.meta["pad_token"]))
            return session, tokenizer

        self._session, self._tokenizer = cached_model(("onnx", str(self.model.resolve()), threads), build)

    def logits(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Raw outputs for one batch."""
        encodings = self._tokenizer.encode_batch(texts)
        feeds: dict[str, npt.NDArray[np.int64]] = {}
        for name in self.meta["inputs"]:
            attr = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}[name]
            feeds[name] = np.array([getattr(e, attr) for e in encodings], dtype=np.int64)
        result: npt.NDArray[np.float32] = self._session.run(["logits"], feeds)[0]
        return result

    def _probabilities(self, texts: list[str]) -> npt.NDArray[np.float64]:
        return activate(self.logits(texts), str(self.meta["activation"]))

    def predict(self, texts: Sequence[str]) -> dict[str, FloatArray]:
        self.load()
        probs = batched_scores(texts, self._probabilities, int(self.meta["width"]), batch_size=self.batch_size)
        return {
            label: np.ascontiguousarray(probs[:, col]) for label, col in zip(self.labels, self._columns, strict=True)
        }
