"""How far all-MiniLM-L6-v2 gets on HatemojiBuild alone: a ceiling for the shipped encoder's size.

    python benchmarks/hatemoji_ceiling.py [--epochs 4] [--lr 5e-5]

Fine-tunes the base encoder (every layer, mean pooling, one logit) on the HatemojiBuild ``train`` rows
only (the split of :mod:`safeguard.classifiers.toxicity.harmdata`, which keeps each original with its
perturbation), prints the ROC AUC on ``dev`` after each epoch and on ``test`` once at the end. Needs torch
and transformers (``pip install 'safeguard-moderation[transformers]'``); about 6 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from safeguard.classifiers.toxicity.encoder import locate_base_model
from safeguard.classifiers.toxicity.harmdata import SOURCES, load_corpus
from safeguard.classifiers.toxicity.heads import encoder_texts, normalized_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=5e-5)
    args = parser.parse_args()
    import torch
    from sklearn.metrics import roc_auc_score
    from tokenizers import Tokenizer
    from transformers import AutoModel

    torch.manual_seed(0)
    base = locate_base_model()
    corpus = load_corpus(sources={"hatemojibuild_train.jsonl": SOURCES["hatemojibuild_train.jsonl"]})
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=64)
    tokenizer.no_padding()
    split = {s: [r for r in corpus if r.split == s] for s in ("train", "dev", "test")}
    enc = {
        s: tokenizer.encode_batch(encoder_texts(normalized_texts([r.text for r in rows]))) for s, rows in split.items()
    }
    y = {s: np.array([r.target("identity_attack") for r in rows], dtype=np.float32) for s, rows in split.items()}
    model = AutoModel.from_pretrained(str(base), local_files_only=True, use_safetensors=True)
    for p in model.embeddings.parameters():
        p.requires_grad = False
    head = torch.nn.Linear(model.config.hidden_size, 1)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": params, "lr": args.lr}, {"params": head.parameters(), "lr": 1e-3}])
    steps = args.epochs * math.ceil(len(enc["train"]) / 32)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 50) * max(0.0, 1 - s / steps))

    def batch(encodings: list, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(encodings[i].ids) for i in idx)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for k, i in enumerate(idx):
            ids[k, : len(encodings[i].ids)] = encodings[i].ids
            mask[k, : len(encodings[i].ids)] = 1
        return torch.from_numpy(ids), torch.from_numpy(mask)

    def logits(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        pooled = torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=-1)
        return head(pooled * 8.0)[:, 0]

    def auc(s: str) -> float:
        model.eval()
        with torch.no_grad():
            out = [
                logits(*batch(enc[s], list(range(i, min(i + 64, len(enc[s])))))).numpy()
                for i in range(0, len(enc[s]), 64)
            ]
        model.train()
        return float(roc_auc_score(y[s], np.concatenate(out)))

    rng = np.random.default_rng(0)
    start = time.perf_counter()
    print(
        f"train {len(enc['train'])}, dev {len(enc['dev'])}, test {len(enc['test'])}; dev AUC before: {auc('dev'):.4f}"
    )
    for epoch in range(args.epochs):
        order = rng.permutation(len(enc["train"]))
        for i in range(0, len(order), 32):
            idx = order[i : i + 32].tolist()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits(*batch(enc["train"], idx)), torch.from_numpy(y["train"][idx])
            )
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}: dev AUC {auc('dev'):.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"test AUC after {args.epochs} epochs: {auc('test'):.4f}")


if __name__ == "__main__":
    main()
