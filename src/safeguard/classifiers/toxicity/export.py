"""Export a configured detoxify or transformers backend to ONNX, for the ``onnx`` backend.

``export_onnx({"backend": "detoxify", "checkpoint": ..., "config_dir": ...}, Path("tox.onnx"))`` writes

* ``tox.onnx``: the model graph (inputs ``input_ids``, ``attention_mask`` and, where the model takes it,
  ``token_type_ids``; output ``logits``), fp32 or, with ``int8=True``, dynamically quantised int8 weights;
* ``tox.tokenizer.json``: the tokenizer in the ``tokenizers`` format (no transformers needed to run);
* ``tox.json``: what the onnx backend needs to know: the labels and their output columns, the activation,
  the input names and the maximum length.

Exporting needs torch, transformers and onnx; running the result needs only onnxruntime and tokenizers.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safeguard.errors import MissingDependencyError, ModelLoadError

__all__ = ["export_onnx", "metadata_path", "tokenizer_path"]

FORMAT = "safeguard-toxicity-onnx/1"


def _optimize(model: Path, config: Any, out: Path) -> Path | None:
    """Fuse transformer subgraphs with onnxruntime's optimizer; None when it cannot (the plain graph is used)."""
    heads = getattr(config, "num_attention_heads", None)
    hidden = getattr(config, "hidden_size", None)
    if not heads or not hidden:
        return None
    try:
        from onnxruntime.transformers import optimizer

        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            fused = optimizer.optimize_model(str(model), model_type="bert", num_heads=heads, hidden_size=hidden)
            fused.save_model_to_file(str(out))
        finally:
            root.setLevel(level)
    except Exception:  # an architecture the optimizer does not know: keep the exported graph
        return None
    return out


def metadata_path(model: Path) -> Path:
    """The metadata file written beside an exported model."""
    return model.with_suffix(".json")


def tokenizer_path(model: Path) -> Path:
    """The tokenizer file written beside an exported model."""
    return model.with_suffix(".tokenizer.json")


def export_onnx(
    options: Mapping[str, Any],
    output: Path,
    *,
    int8: bool = False,
    base_dir: Path | None = None,
    optimize: bool = True,
) -> Path:
    """Export the detoxify or transformers backend described by ``options`` (the YAML mapping) to ``output``.

    With ``optimize`` (the default) onnxruntime's transformer optimizer fuses attention, layer norm and
    GELU (exact GELU, so fp32 outputs still equal torch's within 1e-4); when it cannot handle the model
    the plain graph is kept. Returns ``output``. Raises ValueError for options of another backend,
    :class:`ModelLoadError` when the model cannot be loaded or exported.
    """
    from safeguard.classifiers.toxicity.classifier import make_backend
    from safeguard.classifiers.toxicity.detoxify_backend import DetoxifyBackend
    from safeguard.classifiers.toxicity.transformers_backend import TransformersBackend

    backend = make_backend(options, base_dir=base_dir)
    if isinstance(backend, DetoxifyBackend):
        loaded = backend.load_model()
        model, tokenizer = loaded.model, loaded.tokenizer
        width = len(loaded.class_names)
        columns = {label: loaded.class_names.index(label) for label in backend.labels if label in loaded.class_names}
        activation = "sigmoid"
        max_length = 512
    elif isinstance(backend, TransformersBackend):
        backend.load()
        runner = backend._runner
        model, tokenizer = runner.model, runner.tokenizer
        width = backend._width
        columns = dict(zip(backend.labels, backend._columns, strict=True))
        activation = runner.activation
        max_length = runner.max_length
    else:
        raise ValueError(
            "export-onnx exports a detoxify or transformers backend; got " + repr(options.get("backend", "default"))
        )
    if len(columns) != len(backend.labels):
        raise ModelLoadError("toxicity", "the model lacks some of the labels its backend declares")
    try:
        import onnx  # noqa: F401  (checked here so a missing exporter fails before the slow export)
        import torch
    except ImportError as exc:
        raise MissingDependencyError("toxicity", exc.name or "onnx", "onnx") from exc

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    sample = tokenizer(["an example post", "another"], return_tensors="pt", padding=True)
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            return self.inner(**dict(zip(input_names, args, strict=True)))[0]

    wrapped = LogitsOnly(model).eval()
    dynamic = {name: {0: "batch", 1: "sequence"} for name in input_names}
    dynamic["logits"] = {0: "batch"}
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model.onnx" if int8 else output
        try:
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    wrapped,
                    tuple(sample[n] for n in input_names),
                    str(fp32),
                    input_names=input_names,
                    output_names=["logits"],
                    dynamic_axes=dynamic,
                    opset_version=17,
                    dynamo=False,
                    do_constant_folding=True,
                )
        except Exception as exc:
            raise ModelLoadError("toxicity", f"ONNX export failed: {exc}") from exc
        optimized = _optimize(fp32, model.config, Path(tmp) / "optimized.onnx") if optimize else None
        if optimized is not None:
            if int8:
                fp32 = optimized
            else:
                shutil.move(str(optimized), str(output))
        if int8:
            quantize_int8(fp32, output)
    backend_tokenizer = getattr(tokenizer, "backend_tokenizer", None)
    if backend_tokenizer is None:
        raise ModelLoadError(
            "toxicity", f"the tokenizer {type(tokenizer).__name__} has no fast (tokenizers) form to export"
        )
    backend_tokenizer.save(str(tokenizer_path(output)))
    metadata = {
        "format": FORMAT,
        "labels": columns,
        "width": width,
        "activation": activation,
        "inputs": input_names,
        "max_length": int(max_length),
        "pad_id": int(tokenizer.pad_token_id or 0),
        "pad_token": str(tokenizer.pad_token or "[PAD]"),
        "int8": int8,
        "optimized": optimized is not None,
        "source": {k: str(v) for k, v in options.items()},
    }
    metadata_path(output).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return output


def quantize_int8(source: Path, target: Path, *, per_channel: bool = False, op_types: list[str] | None = None) -> None:
    """Write ``source`` (an fp32 ONNX graph) to ``target`` with its weights dynamically quantised to int8.

    ``op_types`` limits the quantised operators (None: every kind onnxruntime quantises, embeddings
    included). Needs onnx and onnxruntime.
    """
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise MissingDependencyError("toxicity", "onnxruntime", "onnx") from exc
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs advice on the root logger
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            op_types_to_quantize=op_types,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
