"""Batched CPU inference for torch sequence classifiers (the detoxify and transformers backends)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard.classifiers.toxicity.backend import activate, batched_scores, cpu_count

__all__ = ["TorchRunner"]


class TorchRunner:
    """Scores texts with a loaded model: length-sorted batches, duplicates scored once, no gradients."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        activation: str = "sigmoid",
        batch_size: int = 8,
        threads: int | None = None,
        max_length: int | None = None,
    ) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.activation = activation
        self.batch_size = batch_size
        torch.set_num_threads(threads or cpu_count())
        model_max = getattr(tokenizer, "model_max_length", 512) or 512
        self.max_length = min(max_length or 512, model_max if model_max < 100_000 else 512)

    def logits(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Raw model outputs for one batch."""
        inputs = self.tokenizer(texts, return_tensors="pt", truncation=True, padding=True, max_length=self.max_length)
        with self.torch.inference_mode():
            out = self.model(**inputs)[0]
        result: npt.NDArray[np.float32] = out.float().numpy()
        return result

    def _probabilities(self, texts: list[str]) -> npt.NDArray[np.float64]:
        return activate(self.logits(texts), self.activation)

    def predict(self, texts: Sequence[str], width: int) -> npt.NDArray[np.float64]:
        """Probabilities per class, shape (len(texts), width)."""
        return batched_scores(texts, self._probabilities, width, batch_size=self.batch_size)
