"""Train the shipped harm models: ``data/harm_fast.npz`` (fast tier) and ``data/harm_model.npz`` (model tier).

    .venv/bin/python tools/train_toxicity.py [--seed 0] [--cache /tmp/harm-cache] [--only fast|model]

Reads the harm corpus (:mod:`safeguard.classifiers.toxicity.harmdata`: ``../shared/train`` plus the
Jigsaw sample and Davidson et al. from ``../shared/eval``; never OLID), trains the fast tier's n-gram
heads, embeds every text with the shipped int8 MiniLM encoder, trains one head per label over the
embedding, and blends each with the n-gram head of the same label (a logistic regression over the two
margins, fitted on the ``dev`` rows neither head saw); writes both files into the package, and prints
the held-out ``test`` split figures of each source for both tiers. CPU only; deterministic for a seed.
The n-gram fits and the encoder (about 100,000 texts) take most of the time; ``--cache`` keeps the
embeddings so a second run only refits.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from safeguard.classifiers.toxicity.features import HashedNgrams
from safeguard.classifiers.toxicity.harm import FAST_MODEL, MODEL_HEADS
from safeguard.classifiers.toxicity.harmdata import HEADS, HarmRow, capped_train_rows, load_corpus
from safeguard.classifiers.toxicity.heads import HarmHeads, encoder_texts, normalized_texts
from safeguard.classifiers.toxicity.training import (
    LinearHeads,
    auc,
    design_matrix,
    fit_blends,
    fit_dense_heads,
    fit_heads,
    fold_blends,
)

#: Inverse regularisation strength of the n-gram heads and of the embedding heads.
FAST_C = 4.0
MODEL_C = 1.0
#: Tokens the encoder reads per text. It was fine-tuned on 64 (tools/finetune_minilm.py); reading 128 costs
#: 1.46x the time on forum text and keeps the end of longer posts (64 lost 0.02 to 0.04 AUC on the OpenAI set).
MAX_TOKENS = 128
#: Heads whose margins join another head's blend: swearing is part of what makes a post toxic.
EXTRA = {"toxicity": ["profanity"]}


def build(extractor: HashedNgrams, heads: LinearHeads, meta: dict[str, object]) -> HarmHeads:
    """A heads file whose probabilities are the sigmoid of the (blended, calibrated) margins."""
    n = len(heads.labels)
    assert heads.sparse is not None
    return HarmHeads(extractor, heads.labels, heads.sparse, heads.bias, np.ones(n), np.zeros(n), meta, heads.dense)


def report(name: str, rows: list[HarmRow], probs: np.ndarray, split_name: str = "test") -> None:
    split = np.array([r.split for r in rows])
    source = np.array([r.source for r in rows])
    what = "rows never trained or calibrated on" if split_name == "test" else "calibration rows: for comparing runs"
    print(f"\n{name}: ROC AUC on each source's {split_name} split ({what})")
    print(f"{'source':36s} " + " ".join(f"{h:>15s}" for h in HEADS))
    for s in sorted(set(source)):
        cells = []
        for j, head in enumerate(HEADS):
            t = np.array([r.target(head) for r in rows])
            sel = (split == split_name) & (source == s) & (t != -1)
            a = auc(t[sel] == 1, probs[sel, j]) if sel.any() else float("nan")
            cells.append(f"{a:15.3f}" if a == a else f"{'':>15s}")
        print(f"{s:36s} " + " ".join(cells))


def embeddings(
    texts: list[str], cache: Path | None, encoder_dir: Path | None = None, max_tokens: int = MAX_TOKENS
) -> np.ndarray:
    from safeguard.classifiers.toxicity.encoder import SentenceEncoder

    enc = SentenceEncoder(encoder_dir, max_tokens=max_tokens)
    enc.load()
    digest = hashlib.sha256("\0".join(texts).encode("utf-8", "surrogatepass"))
    # One text per call or batches: an int8 graph's embeddings differ between the two.
    digest.update(json.dumps([enc.files_sha256(), max_tokens, enc.rows_alone], sort_keys=True).encode())
    key = digest.hexdigest()[:16]
    path = cache / f"embeddings-{key}.npy" if cache else None
    if path is not None and path.is_file():
        cached: np.ndarray = np.load(path, allow_pickle=False)
        return cached
    out = np.zeros((len(texts), enc.dim), dtype=np.float32)
    step = 2048
    start = time.perf_counter()
    for i in range(0, len(texts), step):
        out[i : i + step] = enc.encode(texts[i : i + step])
        done = min(i + step, len(texts))
        rate = done / (time.perf_counter() - start)
        print(f"  embedded {done}/{len(texts)} ({rate:.0f} texts/s)", file=sys.stderr, flush=True)
    if path is not None:
        np.save(path, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="Directory that keeps features and embeddings.")
    parser.add_argument("--only", choices=("fast", "model"), default=None)
    parser.add_argument("--out-dir", type=Path, default=FAST_MODEL.parent)
    parser.add_argument("--encoder", type=Path, default=None, help="Encoder directory (default: the shipped one).")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help="Tokens the encoder reads per text.")
    parser.add_argument(
        "--dense-per-source", type=int, default=6000, help="Training rows per source for the embedding heads."
    )
    args = parser.parse_args(argv)
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = load_corpus()
    texts = [r.text for r in rows]
    normalized = normalized_texts(texts)
    extractor = HashedNgrams(bits=18, max_chars=1000)
    x = design_matrix(extractor, normalized)
    print(f"{len(rows)} rows, {x.nnz} n-gram entries ({time.perf_counter() - t0:.0f} s)")
    meta = {"trained_by": "tools/train_toxicity.py", "seed": args.seed, "sources": sorted({r.source for r in rows})}
    if args.only in (None, "fast"):
        fitted = fit_heads(x, rows, c=FAST_C, seed=args.seed, log=print)
        raw = LinearHeads(HEADS, np.array([h.bias for h in fitted]), sparse=np.stack([h.coef for h in fitted], 1))
        assert raw.sparse is not None
        calibrations = [[(h.calib_a, h.calib_b) for h in fitted]]
        blends = fit_blends([x @ raw.sparse + raw.bias], HEADS, rows, calibrations, extra=EXTRA)
        info = {
            **meta,
            "tier": "fast",
            "heads": {
                h.name: {"rows": h.train_rows, "positives": h.positives, "calibrated_on": blends[h.name].fitted_on}
                for h in fitted
            },
        }
        fast = build(extractor, fold_blends(blends, [raw], HEADS), info)
        fast.save(args.out_dir / FAST_MODEL.name)
        report("fast tier", rows, fast.predict_normalized(normalized))
        print(f"fast tier written ({time.perf_counter() - t0:.0f} s)")
    if args.only in (None, "model"):
        fast = HarmHeads.load(args.out_dir / FAST_MODEL.name)
        # The embedding heads train on at most --dense-per-source rows of each source; every dev and test
        # row is embedded (the blends fit on dev, the report reads test).
        keep = sorted(
            set(capped_train_rows(rows, args.dense_per_source, args.seed))
            | {i for i, r in enumerate(rows) if r.split != "train"}
        )
        rows = [rows[i] for i in keep]
        normalized = [normalized[i] for i in keep]
        emb = embeddings(encoder_texts(normalized), args.cache, args.encoder, args.max_tokens)
        dense_heads = fit_dense_heads(emb, rows, heads=fast.labels, c=MODEL_C, seed=args.seed)
        sparse_in = LinearHeads(fast.labels, fast.bias.astype(np.float64), sparse=fast.weights.astype(np.float64))
        dense_in = LinearHeads(
            fast.labels, np.array([h.bias for h in dense_heads]), dense=np.stack([h.coef for h in dense_heads], 1)
        )
        assert dense_in.dense is not None
        blends = fit_blends(
            [fast.margins(normalized), emb @ dense_in.dense + dense_in.bias],
            fast.labels,
            rows,
            [
                list(zip(fast.calib_a.tolist(), fast.calib_b.tolist(), strict=True)),
                [(h.calib_a, h.calib_b) for h in dense_heads],
            ],
            extra=EXTRA,
        )
        model = build(
            extractor,
            fold_blends(blends, [sparse_in, dense_in], fast.labels),
            {
                **meta,
                "tier": "model",
                "encoder": "all-MiniLM-L6-v2 fine-tuned on the harm corpus, int8 ONNX (data/minilm)",
                "max_tokens": args.max_tokens,
                "blends": {name: vars(b) for name, b in blends.items()},
                "dense_heads": {h.name: {"rows": h.train_rows, "positives": h.positives} for h in dense_heads},
            },
        )
        model.save(args.out_dir / MODEL_HEADS.name)
        for name, b in blends.items():
            terms = " + ".join(f"{('n-grams', 'embedding')[k]}:{head} x {w:.3f}" for k, head, w in b.terms)
            print(f"{name}: {terms} + {b.c:.3f} (fitted on {b.fitted_on})")
        probs = model.predict_normalized(normalized, emb)
        report("model tier", rows, probs, "dev")
        report("model tier", rows, probs)
        print(f"model tier written ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
