"""Randomly initialised BERT classifiers saved in Detoxify's checkpoint format, made locally.

For tests and benchmarks: nothing is downloaded, and inference speed does not depend on the weight
values, so a random BERT-base stands in for Detoxify's ``original`` model when measuring throughput.
"""

from __future__ import annotations

import itertools
import string
from pathlib import Path
from typing import Any, Literal

__all__ = ["DETOXIFY_CLASSES", "make_detoxify_checkpoint"]

#: Class names stored in Detoxify's released checkpoints, per model type.
DETOXIFY_CLASSES: dict[str, list[str]] = {
    "original": ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"],
    "original-small": ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"],
    "unbiased": [
        "toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit",
        "male", "female", "homosexual_gay_or_lesbian", "christian", "jewish", "muslim", "black", "white",
        "psychiatric_or_mental_illness",
    ],
    "unbiased-small": [
        "toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit",
        "male", "female", "homosexual_gay_or_lesbian", "christian", "jewish", "muslim", "black", "white",
        "psychiatric_or_mental_illness",
    ],
    "multilingual": [
        "toxicity", "severe_toxicity", "obscene", "identity_attack", "insult", "threat", "sexual_explicit",
    ],
}  # fmt: skip

_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_COMMON_WORDS = tuple(
    """
the a an and or but is are was were be been it this that you your i me my we our they them he she
his her not no yes to of in on at for with from by as so if then than too very just can could would
should will do does did have has had get got make made go going come order ordered delivery
delivered arrived box item product price refund return returned broken works working great good bad
terrible awful love hate thanks thank please help question answer size colour color black white
kettle blender phone charger idiot stupid moron kill die hurt fuck shit damn hell people why what
when where how who which all any
""".split()  # noqa: SIM905
)


def _vocabulary(size: Literal["tiny", "base"]) -> list[str]:
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = [*_SPECIAL, *chars, *("##" + c for c in string.ascii_lowercase + string.digits), *_COMMON_WORDS]
    if size == "base":
        target = 30522
        seen = set(vocab)
        for n in itertools.count(2):
            for letters in itertools.product(string.ascii_lowercase, repeat=n):
                for word in ("".join(letters), "##" + "".join(letters)):
                    if word not in seen:
                        seen.add(word)
                        vocab.append(word)
                    if len(vocab) >= target:
                        return vocab
    return list(dict.fromkeys(vocab))


def make_detoxify_checkpoint(
    directory: Path,
    *,
    size: Literal["tiny", "base"] = "tiny",
    seed: int = 0,
    model_type: str = "original",
) -> tuple[Path, Path]:
    """Write a random BERT classifier in Detoxify's ``.ckpt`` format plus its config and tokenizer files.

    ``tiny``: 2 layers, hidden size 32, a ~150-token WordPiece vocabulary made up here; ``base``: the
    bert-base-uncased architecture (12 layers, hidden 768, 12 heads, vocabulary 30522, built locally).
    The class names are those of Detoxify's ``model_type`` checkpoint. Returns (checkpoint path,
    config directory); the checkpoint holds only ``config`` and ``state_dict`` (loadable with
    ``weights_only=True``). Needs torch and transformers.
    """
    import importlib

    import torch

    transformers: Any = importlib.import_module("transformers")

    if size not in ("tiny", "base"):
        raise ValueError(f"size must be 'tiny' or 'base', got {size!r}")
    if model_type not in DETOXIFY_CLASSES:
        raise ValueError(f"model_type must be one of {', '.join(DETOXIFY_CLASSES)}, got {model_type!r}")
    classes = DETOXIFY_CLASSES[model_type]
    directory = Path(directory)
    config_dir = directory / f"{model_type}-{size}-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    vocab = _vocabulary(size)
    vocab_file = config_dir / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    dims = (
        {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
        if size == "tiny"
        else {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072}
    )
    config = transformers.BertConfig(
        vocab_size=len(vocab), max_position_embeddings=512, num_labels=len(classes), **dims
    )
    torch.manual_seed(seed)
    model = transformers.BertForSequenceClassification(config).eval()
    config.save_pretrained(config_dir)
    tokenizer = transformers.BertTokenizer(vocab_file=str(vocab_file), do_lower_case=True, model_max_length=512)
    tokenizer.save_pretrained(config_dir)
    checkpoint = directory / f"{model_type}-{size}-seed{seed}.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        # A local path (not "bert-base-uncased") keeps stock Detoxify off the hub.
                        "model_type": str(config_dir),
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(classes),
                    }
                },
                "dataset": {"args": {"classes": list(classes)}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return checkpoint, config_dir
