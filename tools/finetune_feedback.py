"""Fine-tune all-MiniLM-L6-v2 to read posts' kinds and aspects: the feedback classifier's encoder tier.

    python tools/finetune_feedback.py [--out DIR] [--work build/minilm-feedback] [--epochs 4] [--seed 0]

Training data: the kind model's (``tools/train_feedback.py``: the invented posts of
``tools/data/feedback_train.jsonl`` and the labelled Reddit comments of ``tools/data/feedback_train_real.jsonl``,
whose texts are joined from ``../shared/train``). Each post is read as :func:`encoder_text` gives it
(reply or not, staff or not, title and text), cut at 128 tokens. The model is the transformer, mean pooling,
unit length, and one linear layer: a logit per kind (softmax, cross-entropy with balanced class weights)
and per shipped aspect (sigmoid, binary cross-entropy); every transformer layer trains, the token
embeddings stay frozen. The base weights come from
:func:`~safeguard.classifiers.toxicity.encoder.locate_base_model` (hashes checked).

The tuned encoder is exported as int8 ONNX to ``--out`` (default: the package's ``feedback/data/encoder``)
with ``heads.npz``. The tier's settings are then chosen on the ``dev`` half of the hand-labelled set
(``tests/fixtures/feedback``) through the exported graph, as the classifier runs it: the blend weight of
the kinds by macro-F1, and the aspects' blend weight and veto and add thresholds by F0.5 (precision
weighed twice as much as recall). Nothing reads the ``test`` half. Deterministic for a seed on one machine;
about five minutes of training on 2 CPU cores. Needs torch and transformers
(``pip install 'safeguard-moderation[transformers,train]'``).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from safeguard.classifiers.feedback import ASPECTS, KINDS, FeedbackClassifier
from safeguard.classifiers.feedback.encoder import HEADS_FILE, EncoderHeads, blend, encoder_dir, encoder_text
from safeguard.classifiers.toxicity.encoder import (
    BASE_MODEL_NAME,
    BASE_MODEL_SHA256,
    SentenceEncoder,
    export_encoder_onnx,
    locate_base_model,
)
from safeguard.classifiers.toxicity.finetune import finetune

ROOT = Path(__file__).resolve().parents[1]
MAX_TOKENS = 128
BLENDS = (0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)
VETO_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
#: None: the aspect heads only veto.
ADD_THRESHOLDS = (None, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _tool(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(texts: list[str], kinds: list[str], aspects: list[list[str]], args: argparse.Namespace) -> EncoderHeads:
    """Fine-tune the base model on the texts; write it to ``args.work / "hf"``; return its heads."""
    import torch

    y_kind = torch.from_numpy(np.array([KINDS.index(k) for k in kinds]))
    y_aspect = torch.from_numpy(np.array([[a in found for a in ASPECTS] for found in aspects], dtype=np.float32))
    counts = np.bincount(y_kind.numpy(), minlength=len(KINDS))
    class_weight = torch.tensor(len(kinds) / (len(KINDS) * counts), dtype=torch.float32)
    # Each aspect is rare: its positives weigh sqrt(negatives / positives), at most 10, as the harm heads'.
    positives = y_aspect.numpy().sum(axis=0)
    pos_weight = torch.tensor(
        np.minimum(10.0, np.sqrt((len(aspects) - positives) / np.maximum(positives, 1.0))), dtype=torch.float32
    )

    def loss(logits: Any, idx: np.ndarray) -> Any:
        rows = torch.from_numpy(idx)
        k = len(KINDS)
        return torch.nn.functional.cross_entropy(
            logits[:, :k], y_kind[rows], weight=class_weight
        ) + torch.nn.functional.binary_cross_entropy_with_logits(logits[:, k:], y_aspect[rows], pos_weight=pos_weight)

    tuned = finetune(
        locate_base_model(),
        texts,
        len(KINDS) + len(ASPECTS),
        loss,
        args.work / "hf",
        max_tokens=MAX_TOKENS,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
    )
    meta = {
        "base": BASE_MODEL_NAME,
        "base_sha256": dict(BASE_MODEL_SHA256),
        "rows": len(texts),
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "max_tokens": MAX_TOKENS,
        "seed": args.seed,
        "seconds": round(tuned.seconds),
    }
    # Provisional settings until the dev half chooses them.
    settings = {"kind_blend": 0.5, "aspect_blend": 0.5, "aspect_threshold": 0.1, "aspect_add_threshold": None}
    labels = (*KINDS, *(f"aspect_{a}" for a in ASPECTS))
    return EncoderHeads(labels, tuned.weights, tuned.bias, {**meta, **settings})


def choose(heads: EncoderHeads, out: Path, training: Any) -> EncoderHeads:
    """The heads with the tier's settings chosen on the dev half, read through the exported graph."""
    from safeguard.classifiers.feedback.classifier import judged_aspects

    evaluation = training._eval_module()
    posts, labels, missing = evaluation.load_labels("dev")
    truth = [r["kind"] for r in labels]
    true_aspects = [r["aspects"] for r in labels]
    lexical = FeedbackClassifier(kind_model="lexical")
    readings = lexical.read(posts)
    lex_kinds, lex_aspects = lexical.model_probabilities(posts, readings)
    embeddings = SentenceEncoder(out, max_tokens=MAX_TOKENS).encode([encoder_text(p) for p in posts])
    enc_kinds, enc_aspects = heads.probabilities(embeddings)
    print(f"choosing the settings on {len(posts)} dev posts" + (f" ({missing} without text)" if missing else ""))
    best_kind: tuple[float, float] | None = None
    for w in BLENDS:
        probs = blend(lex_kinds, enc_kinds, w)
        f1 = evaluation.kind_scores([KINDS[i] for i in probs.argmax(axis=1)], truth)["macro_f1"]
        print(f"  kind_blend {w:<4} dev macro-F1 {f1:.3f}")
        if best_kind is None or f1 > best_kind[0]:
            best_kind = (f1, w)
    assert best_kind is not None
    best_aspect: tuple[float, dict[str, float | None]] | None = None
    for w, veto, add in itertools.product(BLENDS, VETO_THRESHOLDS, ADD_THRESHOLDS):
        probs = blend(lex_aspects, enc_aspects, w)
        found = judged_aspects(readings, probs, heads.aspects, veto, add, ASPECTS)
        p, r, _, _ = evaluation.aspect_scores([list(f) for f in found], true_aspects)["micro"]
        score = training.f_half(p, r)
        if best_aspect is None or score > best_aspect[0]:
            best_aspect = (score, {"aspect_blend": w, "aspect_threshold": veto, "aspect_add_threshold": add})
            print(f"  aspects {best_aspect[1]}: dev precision {p:.3f} recall {r:.3f} F0.5 {score:.3f}")
    assert best_aspect is not None
    meta = {**heads.meta, "kind_blend": best_kind[1], **best_aspect[1]}
    print(f"chosen: kind_blend {best_kind[1]} (dev macro-F1 {best_kind[0]:.3f}); {best_aspect[1]}")
    return EncoderHeads(heads.labels, heads.weights, heads.bias, meta)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=encoder_dir(), help="where the tier's files go")
    parser.add_argument("--work", type=Path, default=Path("build/minilm-feedback"), help="the fine-tuned model")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true", help="choose the settings of the model already in --work")
    args = parser.parse_args(argv)
    training = _tool("train_feedback", ROOT / "tools" / "train_feedback.py")
    posts, kinds, aspects = [], [], []
    for path in (training.DATA, training.REAL):
        more_posts, more_kinds, more_aspects = training.corpus(path)
        posts += more_posts
        kinds += more_kinds
        aspects += more_aspects
    if not args.reuse:
        print(f"fine-tuning on {len(posts):,} posts")
    raw = args.work / "heads_unchosen.npz"
    if args.reuse:
        heads = EncoderHeads.load(raw)
    else:
        heads = train([encoder_text(p) for p in posts], kinds, aspects, args)
        heads.save(raw)
    manifest = export_encoder_onnx(args.work / "hf", args.out, max_tokens=MAX_TOKENS)
    heads = choose(heads, args.out, training)
    heads = EncoderHeads(heads.labels, heads.weights, heads.bias, {**heads.meta, "encoder": manifest["files_sha256"]})
    heads.save(args.out / HEADS_FILE)
    (args.work / "heads_meta.json").write_text(json.dumps(dict(heads.meta), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
