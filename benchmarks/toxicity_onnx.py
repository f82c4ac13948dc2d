"""ONNX backend vs stock ``Detoxify.predict`` on the same architecture and the same real forum posts.

    PYTHONPATH=src HF_HUB_OFFLINE=1 python benchmarks/toxicity_onnx.py [--posts 1000] [--size base]

The model is a randomly initialised BERT-base in Detoxify's checkpoint format
(:func:`make_detoxify_checkpoint`; speed does not depend on the weight values). The posts are the first
``posts/2`` of the Reddit comments and of the Stack Exchange posts in ``../shared/eval``. Threads = the
CPUs available (2 on the CI machine), for both.

* stock: ``Detoxify(checkpoint=..., huggingface_config_path=...).predict`` on consecutive chunks of 8 posts
  in input order (its own padding: every post of a chunk padded to the longest, truncated at 512 tokens;
  one call on all posts would pad every post to the longest of all and needs gigabytes for attention).
  Detoxify reads the base config by the checkpoint's ``model_type`` even when given a config path, so
  the benchmark's copy of the checkpoint names the local config directory there; the class is unmodified.
* safeguard detoxify: the same checkpoint through ``{backend: detoxify}`` (torch; length-sorted batches of
  8, duplicates scored once).
* safeguard onnx fp32 / int8: exported with :func:`export_onnx`, run through ``{backend: onnx}``.

Prints posts/s of each, the ratio to stock, and the largest deviation from the torch scores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from safeguard.classifiers.toxicity import ToxicityClassifier
from safeguard.classifiers.toxicity.backend import cpu_count
from safeguard.classifiers.toxicity.export import export_onnx
from safeguard.classifiers.toxicity.random_model import make_detoxify_checkpoint
from safeguard.datasets import read_eval
from safeguard.types import Post

SIX = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]


def forum_posts(n: int) -> list[str]:
    half = n // 2
    texts = [r["text"] for r in read_eval("reddit_comp551_comments.jsonl", limit=half)]
    texts += [r["text"] for r in read_eval("stackexchange_posts_comments.jsonl", limit=n - half)]
    return texts


def timed(label: str, fn, n: int, baseline: float | None = None) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - t0
    rate = n / elapsed
    ratio = f"  {rate / baseline:5.1f}x stock" if baseline else ""
    print(f"{label:28s} {elapsed:8.1f} s  {rate:8.2f} posts/s{ratio}", flush=True)
    return rate, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--size", choices=["tiny", "base"], default="base")
    parser.add_argument("--skip-stock", action="store_true", help="do not run stock Detoxify (slow)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from detoxify import Detoxify

    torch.set_num_threads(cpu_count())
    texts = forum_posts(args.posts)
    posts = [Post(id=str(i), text=t) for i, t in enumerate(texts)]
    lengths = sorted(len(t) for t in texts)
    print(
        f"{len(texts)} posts (reddit + stackexchange), chars median {lengths[len(lengths) // 2]}, "
        f"max {lengths[-1]}; threads {cpu_count()}; BERT-{args.size}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, config_dir = make_detoxify_checkpoint(Path(tmp), size=args.size, seed=0)
        options = {"backend": "detoxify", "checkpoint": str(ckpt), "config_dir": str(config_dir)}
        t0 = time.perf_counter()
        fp32 = export_onnx(options, Path(tmp) / "model.onnx")
        int8 = export_onnx(options, Path(tmp) / "model-int8.onnx", int8=True)
        print(f"export fp32 + int8: {time.perf_counter() - t0:.1f} s")

        stock_rate = None
        if not args.skip_stock:
            loaded = torch.load(ckpt, weights_only=True)
            loaded["config"]["arch"]["args"]["model_type"] = str(config_dir)
            local = Path(tmp) / "stock.ckpt"
            torch.save(loaded, local)
            stock = Detoxify(checkpoint=str(local), huggingface_config_path=str(config_dir))

            def run_stock() -> np.ndarray:
                out = []
                for i in range(0, len(texts), 8):
                    scores = stock.predict(texts[i : i + 8])
                    out.append(np.array([scores[c] for c in SIX]).reshape(len(SIX), -1).T)
                return np.vstack(out)

            stock_rate, _ = timed("stock Detoxify.predict", run_stock, len(texts))

        torch_clf = ToxicityClassifier(**options)
        torch_clf.load()
        _, torch_rows = timed("safeguard detoxify (torch)", lambda: torch_clf.classify(posts), len(texts), stock_rate)
        reference = np.array([[r[c] for c in SIX] for r in torch_rows])  # type: ignore[attr-defined]
        for name, path in (("fp32", fp32), ("int8", int8)):
            clf = ToxicityClassifier(backend="onnx", model=str(path))
            clf.load()
            _, rows = timed(f"safeguard onnx {name}", lambda c=clf: c.classify(posts), len(texts), stock_rate)
            got = np.array([[r[c] for c in SIX] for r in rows])  # type: ignore[attr-defined]
            print(f"    max |onnx {name} - torch| = {np.abs(got - reference).max():.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
