"""Safe, exact loading of Detoxify checkpoints, without Detoxify's own loader.

Detoxify's ``load_checkpoint`` unpickles with ``weights_only=False`` (a checkpoint can run any code)
and lets ``from_pretrained`` fill missing weights with random values. Here:

* the checkpoint is read with ``torch.load(weights_only=True)``: tensors, dicts, lists, strings and
  numbers only; a checkpoint that needs anything else is refused with :class:`ModelLoadError` and
  nothing in it runs;
* its ``config`` must name an allowed architecture (BERT, RoBERTa, XLM-R, ALBERT) and tokenizer class,
  and list its classes; the class count must equal ``num_classes`` and the classifier head's rows;
* the state dict must match the model's keys exactly (only position-id buffers that newer transformers
  versions no longer save are tolerated): a checkpoint without its classifier head is an error;
* the Hugging Face config and tokenizer come from ``config_dir`` with ``local_files_only``; when
  neither a checkpoint nor a config directory is given, Detoxify's release is downloaded only when the
  machine is online (``HF_HUB_OFFLINE`` unset), with no progress bar.
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguard.classifiers.toxicity.backend import standard_label
from safeguard.errors import MissingDependencyError, ModelLoadError

__all__ = ["DETOXIFY_MODELS", "LoadedModel", "is_offline", "load_detoxify", "read_checkpoint"]

_WHO = "toxicity"

#: Detoxify's releases: download URL and (Hugging Face model id, model class, tokenizer class).
DETOXIFY_MODELS: dict[str, tuple[str, str, str, str]] = {
    "original": (
        "https://github.com/unitaryai/detoxify/releases/download/v0.1-alpha/toxic_original-c1212f89.ckpt",
        "bert-base-uncased", "BertForSequenceClassification", "BertTokenizer",
    ),
    "unbiased": (
        "https://github.com/unitaryai/detoxify/releases/download/v0.3-alpha/toxic_debiased-c7548aa0.ckpt",
        "roberta-base", "RobertaForSequenceClassification", "RobertaTokenizer",
    ),
    "multilingual": (
        "https://github.com/unitaryai/detoxify/releases/download/v0.4-alpha/multilingual_debiased-0b549669.ckpt",
        "xlm-roberta-base", "XLMRobertaForSequenceClassification", "XLMRobertaTokenizer",
    ),
    "original-small": (
        "https://github.com/unitaryai/detoxify/releases/download/v0.1.2/original-albert-0e1d6498.ckpt",
        "albert-base-v2", "AlbertForSequenceClassification", "AlbertTokenizer",
    ),
    "unbiased-small": (
        "https://github.com/unitaryai/detoxify/releases/download/v0.1.2/unbiased-albert-c8519128.ckpt",
        "albert-base-v2", "AlbertForSequenceClassification", "AlbertTokenizer",
    ),
}  # fmt: skip

_MODEL_CLASSES = frozenset(m for _, _, m, _ in DETOXIFY_MODELS.values())
_TOKENIZER_CLASSES = frozenset(t for _, _, _, t in DETOXIFY_MODELS.values()) | frozenset(
    t + "Fast" for _, _, _, t in DETOXIFY_MODELS.values()
)
#: Buffers older transformers versions saved and newer ones rebuild.
_TOLERATED_SUFFIXES = (".position_ids",)


@dataclass
class LoadedModel:
    """A loaded sequence classifier, its tokenizer and its class names (Detoxify's names)."""

    model: Any
    tokenizer: Any
    class_names: list[str]


def is_offline() -> bool:
    """True when Hugging Face downloads are switched off (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(
        os.environ.get(v, "").strip().lower() in {"1", "true", "yes", "on"}
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(_WHO, "torch", "detoxify") from exc
    return torch


def _import_transformers() -> Any:
    try:
        transformers: Any = importlib.import_module("transformers")
    except ImportError as exc:
        raise MissingDependencyError(_WHO, "transformers", "detoxify") from exc
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    return transformers


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The validated contents of a Detoxify checkpoint, read with ``weights_only=True``."""
    torch = _import_torch()
    if not path.is_file():
        raise ModelLoadError(_WHO, f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-protocol notes; the refusal below says what matters
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler refuses anything but tensors and plain containers
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            _WHO,
            f"refused to load checkpoint {path}: it is not a plain weights file (safe loading with "
            f"weights_only=True failed: {first}). Nothing in it was run. Re-save it as "
            "{'config': ..., 'state_dict': ...} with tensors only, or export it to ONNX where it was made.",
        ) from None
    return _validate(loaded, path)


def _validate(loaded: Any, path: Path) -> dict[str, Any]:
    def bad(what: str) -> ModelLoadError:
        return ModelLoadError(_WHO, f"checkpoint {path} is not a Detoxify checkpoint: {what}")

    if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
        raise bad("it needs the keys 'config' and 'state_dict'")
    try:
        args = loaded["config"]["arch"]["args"]
        classes = loaded["config"]["dataset"]["args"]["classes"]
    except (KeyError, TypeError):
        raise bad("config.arch.args and config.dataset.args.classes are required") from None
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise bad("config.dataset.args.classes must be a non-empty list of names")
    for key in ("model_name", "tokenizer_name", "num_classes"):
        if key not in args:
            raise bad(f"config.arch.args.{key} is missing")
    if args["model_name"] not in _MODEL_CLASSES:
        raise bad(f"model class {args['model_name']!r} is not one of {', '.join(sorted(_MODEL_CLASSES))}")
    if args["tokenizer_name"] not in _TOKENIZER_CLASSES:
        raise bad(f"tokenizer class {args['tokenizer_name']!r} is not one of {', '.join(sorted(_TOKENIZER_CLASSES))}")
    if args["num_classes"] != len(classes):
        raise bad(f"num_classes is {args['num_classes']} but {len(classes)} class names are listed")
    if not isinstance(loaded["state_dict"], dict):
        raise bad("state_dict must be a mapping of tensor names to tensors")
    return loaded


def _download(model_type: str) -> tuple[dict[str, Any], str]:  # pragma: no cover - needs the network
    torch = _import_torch()
    url, hub_id, _, _ = DETOXIFY_MODELS[model_type]
    try:
        loaded = torch.hub.load_state_dict_from_url(url, map_location="cpu", weights_only=True, progress=False)
    except Exception as exc:
        raise ModelLoadError(
            _WHO, f"could not download or safely load Detoxify's {model_type!r} model: {exc}"
        ) from None
    return _validate(loaded, Path(url.rsplit("/", 1)[-1])), hub_id


def load_detoxify(model_type: str, checkpoint: Path | None, config_dir: Path | None) -> LoadedModel:
    """Load a Detoxify model safely (see the module docstring)."""
    transformers = _import_transformers()
    if checkpoint is None and config_dir is None:
        if is_offline():
            raise ModelLoadError(
                _WHO,
                f"the detoxify backend needs a local model offline: pass checkpoint: PATH (a Detoxify .ckpt) "
                f"and config_dir: DIR (its Hugging Face config and tokenizer files), or unset HF_HUB_OFFLINE "
                f"to download Detoxify's {model_type!r} release",
            )
        loaded, hub_id = _download(model_type)
        source = hub_id
        local = False
    elif checkpoint is None or config_dir is None:  # the backend's constructor already refuses this
        absent = "config_dir" if config_dir is None else "checkpoint"
        raise ModelLoadError(_WHO, f"the detoxify backend needs both checkpoint and config_dir; {absent} is missing")
    else:
        if not checkpoint.is_file():
            raise ModelLoadError(_WHO, f"checkpoint {checkpoint} does not exist")
        if not config_dir.is_dir():
            raise ModelLoadError(_WHO, f"config_dir {config_dir} is not a directory")
        if not (config_dir / "config.json").is_file():
            raise ModelLoadError(_WHO, f"config_dir {config_dir} has no config.json (the Hugging Face model config)")
        loaded = read_checkpoint(checkpoint)
        source = str(config_dir)
        local = True
    args = loaded["config"]["arch"]["args"]
    classes: list[str] = list(loaded["config"]["dataset"]["args"]["classes"])
    state_dict: dict[str, Any] = loaded["state_dict"]
    model_class = getattr(transformers, args["model_name"])
    try:
        config = model_class.config_class.from_pretrained(source, num_labels=len(classes), local_files_only=local)
        tokenizer = getattr(transformers, args["tokenizer_name"]).from_pretrained(source, local_files_only=local)
    except OSError as exc:
        raise ModelLoadError(_WHO, f"could not read the config and tokenizer from {source}: {exc}") from None
    model = model_class(config)
    expected = set(model.state_dict())
    given = set(state_dict)
    missing = sorted(expected - given)
    unexpected = sorted(k for k in given - expected if not k.endswith(_TOLERATED_SUFFIXES))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(
                f"missing {len(missing)} weight(s) ({', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''})"
            )
        if unexpected:
            parts.append(
                f"unexpected {len(unexpected)} ({', '.join(unexpected[:4])}{' ...' if len(unexpected) > 4 else ''})"
            )
        raise ModelLoadError(
            _WHO,
            f"checkpoint {checkpoint or model_type} does not match {args['model_name']}: {'; '.join(parts)}. "
            "A checkpoint without its classifier head would give random scores; refusing it.",
        )
    head = [k for k in ("classifier.weight", "classifier.out_proj.weight") if k in state_dict]
    if head and int(state_dict[head[0]].shape[0]) != len(classes):
        raise ModelLoadError(
            _WHO,
            f"the classifier head has {int(state_dict[head[0]].shape[0])} outputs "
            f"but the checkpoint lists {len(classes)} classes",
        )
    try:
        model.load_state_dict({k: v for k, v in state_dict.items() if k in expected}, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(_WHO, f"checkpoint weights do not fit the model: {str(exc).splitlines()[0]}") from None
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, class_names=[standard_label(c) for c in classes])
