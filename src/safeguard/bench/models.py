"""Model files for the transformer subjects: a BERT-base Detoxify checkpoint with random weights, and its ONNX exports.

Speed does not depend on weight values, so the benchmark makes the model locally instead of downloading
one, with ``safeguard.classifiers.toxicity.random_model.make_detoxify_checkpoint``. The files are made
once per run in the run's work directory and shared by every subject that needs them (the safeguard
toxicity backends and stock Detoxify run the same file on the same posts).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safeguard.bench.errors import Skipped
from safeguard.errors import install_hint

__all__ = ["detoxify_checkpoint", "onnx_model"]


def detoxify_checkpoint(workdir: Path) -> tuple[Path, Path]:
    """The (checkpoint, config_dir) of a random BERT-base Detoxify model in ``workdir``, made on first use."""
    from safeguard.classifiers.toxicity.random_model import make_detoxify_checkpoint

    directory = workdir / "bert-base"
    done = directory / "paths.txt"
    if done.is_file():
        ck, cfg = done.read_text(encoding="utf-8").splitlines()[:2]
        return Path(ck), Path(cfg)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        checkpoint, config_dir = make_detoxify_checkpoint(directory, size="base", seed=0, model_type="original")
    except ImportError:
        needs = "torch and transformers are needed for the BERT-base model"
        raise Skipped(f"{needs}: {install_hint('bench')}") from None
    done.write_text(f"{checkpoint}\n{config_dir}\n", encoding="utf-8")
    return checkpoint, config_dir


def onnx_model(workdir: Path, options: Mapping[str, Any], *, int8: bool) -> Path:
    """The ONNX export (fp32 or int8) of the toxicity model ``options`` describe, made on first use."""
    from safeguard.classifiers.toxicity.export import export_onnx

    output = workdir / "bert-base" / ("model.int8.onnx" if int8 else "model.onnx")
    if not output.is_file():
        output = export_onnx(options, output, int8=int8)
    return output
