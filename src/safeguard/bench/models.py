"""Model files for the transformer subjects: a BERT-base Detoxify checkpoint with random weights, and its ONNX exports.

Speed does not depend on weight values, so the benchmark makes the model locally instead of downloading
one. The files are made once per run in the run's work directory and shared by every subject that
needs them (the safeguard toxicity backends and stock Detoxify run the same file on the same posts).

The checkpoint comes from ``safeguard.classifiers.toxicity.random_model.make_detoxify_checkpoint``
when the toxicity classifier is installed; otherwise it is made here with the same layout (Detoxify's
``{"config": ..., "state_dict": ...}`` and a Hugging Face config directory with a WordPiece
vocabulary of 30,522 entries drawn from the benchmark corpus), so the Detoxify peer still runs.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from safeguard.bench.subjects import Skipped
from safeguard.types import Post

__all__ = ["DETOXIFY_CLASSES", "detoxify_checkpoint", "onnx_model"]

DETOXIFY_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
_BERT_BASE_VOCAB = 30522


def detoxify_checkpoint(workdir: Path, corpus: Sequence[Post]) -> tuple[Path, Path]:
    """The (checkpoint, config_dir) of a random BERT-base Detoxify model in ``workdir``, made on first use."""
    directory = workdir / "bert-base"
    checkpoint, config_dir = directory / "model.ckpt", directory / "config"
    done = directory / "paths.txt"
    if done.is_file():
        ck, cfg = done.read_text(encoding="utf-8").splitlines()[:2]
        return Path(ck), Path(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        from safeguard.classifiers.toxicity.random_model import make_detoxify_checkpoint
    except ImportError:
        checkpoint, config_dir = _make_checkpoint(directory, corpus)
    else:
        checkpoint, config_dir = make_detoxify_checkpoint(directory, size="base", seed=0, model_type="original")
    done.write_text(f"{checkpoint}\n{config_dir}\n", encoding="utf-8")
    return checkpoint, config_dir


def onnx_model(workdir: Path, options: Mapping[str, Any], *, int8: bool) -> Path:
    """The ONNX export (fp32 or int8) of the toxicity model ``options`` describe, made on first use."""
    try:
        from safeguard.classifiers.toxicity.export import export_onnx
    except ImportError:
        raise Skipped("safeguard.classifiers.toxicity.export is not installed (the toxicity classifier)") from None
    output = workdir / "bert-base" / ("model.int8.onnx" if int8 else "model.onnx")
    if not output.is_file():
        output = export_onnx(options, output, int8=int8)
    return output


def _make_checkpoint(directory: Path, corpus: Sequence[Post]) -> tuple[Path, Path]:
    try:
        import torch
        from transformers import BertConfig, BertForSequenceClassification, BertTokenizer
    except ImportError:
        needs = "torch and transformers are needed for the BERT-base model"
        raise Skipped(f"{needs}: pip install 'safeguard[bench]'") from None
    config_dir = directory / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = config_dir / "vocab.txt"
    vocab_file.write_text("\n".join(_vocabulary(corpus)) + "\n", encoding="utf-8")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=_BERT_BASE_VOCAB)  # BERT-base defaults: 12 layers, hidden 768
    config.num_labels = len(DETOXIFY_CLASSES)
    config.save_pretrained(config_dir)
    BertTokenizer(vocab_file=str(vocab_file), do_lower_case=True, model_max_length=512).save_pretrained(config_dir)
    model = BertForSequenceClassification(config)
    checkpoint = directory / "model.ckpt"
    arch = {
        # A local path here keeps Detoxify from asking the hub for the config of "bert-base-uncased".
        "model_type": str(config_dir),
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": "BertTokenizer",
        "num_classes": len(DETOXIFY_CLASSES),
    }
    torch.save(
        {
            "config": {"arch": {"args": arch}, "dataset": {"args": {"classes": DETOXIFY_CLASSES}}},
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return checkpoint, config_dir


def _vocabulary(corpus: Sequence[Post]) -> list[str]:
    """A WordPiece vocabulary of BERT-base size: special tokens, characters, then the corpus's frequent words."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127)] + [chr(c) for c in range(0xA1, 0x250)]
    vocab += chars + ["##" + c for c in chars]
    counts = collections.Counter(w for p in corpus for w in re.findall(r"[^\W\d_]{2,}", p.text.lower()))
    seen = set(vocab)
    for word, _ in counts.most_common():
        if len(vocab) >= _BERT_BASE_VOCAB:
            break
        for token in (word, "##" + word):
            if token not in seen and len(vocab) < _BERT_BASE_VOCAB:
                seen.add(token)
                vocab.append(token)
    vocab += [f"[unused{i}]" for i in range(_BERT_BASE_VOCAB - len(vocab))]
    return vocab
