"""Fine-tuning all-MiniLM-L6-v2 with a linear layer over its pooled embedding: the one training loop of the
shipped encoders (the harm encoder, ``tools/finetune_minilm.py``; the feedback encoder tier,
``tools/finetune_feedback.py``), which differ only in their texts, heads and loss.

The model is the transformer, mean pooling, unit length, times a fixed scale (so the linear layer learns at
a useful rate), then one linear layer. The token embeddings stay frozen, and the lower ``frozen_layers``
transformer layers too. AdamW (the encoder at ``lr``, the layer at 1e-3), a 50-step warm-up and a linear
decay to zero, gradients clipped at 1. Texts are batched with others of similar token counts (little
padding), the batches taken in a random order each epoch. Deterministic for a seed on one machine.
Needs torch and transformers, imported here only.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard.errors import MissingDependencyError

__all__ = ["SCALE", "Finetuned", "finetune"]

#: What the unit-length embedding is multiplied by before the linear layer.
SCALE = 8.0


@dataclass(frozen=True)
class Finetuned:
    """The trained linear layer over the unit-length embedding (the scale folded in) and the seconds spent."""

    weights: npt.NDArray[np.float32]  # (dim, outputs)
    bias: npt.NDArray[np.float32]  # (outputs,)
    seconds: float


def finetune(
    base: Path,
    texts: Sequence[str],
    outputs: int,
    loss: Callable[[Any, npt.NDArray[np.int64]], Any],
    out: Path,
    *,
    max_tokens: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    frozen_layers: int = 0,
) -> Finetuned:
    """Fine-tune the model of ``base`` (a checked directory from
    :func:`~safeguard.classifiers.toxicity.encoder.locate_base_model`) on ``texts``, cut at ``max_tokens``,
    with a linear layer of ``outputs`` logits; ``loss(logits, rows)`` gives the batch's loss from its logits
    (a torch tensor, batch x outputs) and the indices of its texts. Writes the tuned Hugging Face model and
    the tokenizer to ``out``."""
    try:
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel
    except ImportError as exc:
        raise MissingDependencyError("toxicity", exc.name or "torch", "transformers") from exc

    torch.manual_seed(seed)
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    encodings = tokenizer.encode_batch(list(texts))
    lengths = np.array([len(e.ids) for e in encodings])

    model = AutoModel.from_pretrained(str(base), local_files_only=True, use_safetensors=True)
    for p in model.embeddings.parameters():
        p.requires_grad = False
    for layer in model.encoder.layer[:frozen_layers]:
        for p in layer.parameters():
            p.requires_grad = False
    head = torch.nn.Linear(model.config.hidden_size, outputs)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": params, "lr": lr}, {"params": head.parameters(), "lr": 1e-3}])
    rng = np.random.default_rng(seed)
    order = np.argsort(lengths + rng.random(len(lengths)), kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    steps = len(batches) * epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps))
    start = time.perf_counter()
    step = 0
    model.train()
    for epoch in range(epochs):
        for b in rng.permutation(len(batches)):
            idx = batches[b]
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for k, i in enumerate(idx):
                ids[k, : lengths[i]] = encodings[i].ids
                mask[k, : lengths[i]] = 1
            ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
            hidden = model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            m = mask_t.unsqueeze(-1).float()
            pooled = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)
            batch_loss = loss(head(pooled * SCALE), idx)
            optimizer.zero_grad()
            batch_loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 50 == 0 or step == steps:
                rate = step * batch_size / (time.perf_counter() - start)
                print(
                    f"epoch {epoch + 1} step {step}/{steps} loss {batch_loss.item():.4f} ({rate:.0f} texts/s)",
                    flush=True,
                )
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    shutil.copyfile(base / "tokenizer.json", out / "tokenizer.json")
    return Finetuned(
        head.weight.detach().numpy().T.astype(np.float32) * SCALE,
        head.bias.detach().numpy().astype(np.float32),
        time.perf_counter() - start,
    )
