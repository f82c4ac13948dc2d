"""The duplicate classifier against pairwise rapidfuzz and datasketch MinHashLSH over the same window.

One stream: real posts from ../shared/eval with planted near-copies (benchmarks/duplicate_eval.py),
each copy within ``--window`` posts of its source. Every method compares each post with the posts
before it in a window of ``--window`` posts, on the same text (:func:`comparable_text`) and with the
same verification (rapidfuzz ``ratio`` >= the threshold), and reports ``of``:

* safeguard: :class:`DuplicateClassifier` (own numpy MinHash, LSH, rapidfuzz on candidates);
* pairwise: ``rapidfuzz.process.extractOne`` of each post against every post in the window (exact:
  the best recall any candidate filter can reach);
* datasketch: ``MinHash`` per post (``update_batch`` of the same shingles) in a ``MinHashLSH`` with the
  same bands and rows, entries removed as they leave the window, rapidfuzz on candidates.

Then signatures alone: our vectorised MinHash against datasketch's ``MinHash.bulk`` on the same texts.
Ratios are measured in the same run.

    python benchmarks/duplicate_vs_pairwise.py --posts 6000 --window 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from duplicate_eval import base_posts, plant, score_of
from rapidfuzz import fuzz, process

from safeguard.classifiers.duplicate import DuplicateClassifier
from safeguard.classifiers.duplicate.options import DuplicateOptions
from safeguard.classifiers.duplicate.window import comparable_text


def pairwise(texts: list[str], ids: list[str], window: int, threshold: float, min_chars: int) -> list[str]:
    kept: deque[tuple[str, str]] = deque(maxlen=window)
    out = []
    cutoff = threshold * 100
    for text, pid in zip(texts, ids, strict=True):
        of = ""
        if len(text) >= min_chars:
            choices = [t for t, _ in kept]
            best: Any = process.extractOne(text, choices, scorer=fuzz.ratio, score_cutoff=cutoff)
            if best is not None:
                # the first of equal scores: any of them lies in the right cluster
                of = kept[best[2]][1]
            kept.append((text, pid))
        else:
            kept.append(("", pid))
        out.append(of)
    return out


def shingles(text: str, k: int) -> list[bytes]:
    if len(text) < k:
        text = text + "\0" * (k - len(text))
    return [text[i : i + k].encode("utf-8") for i in range(len(text) - k + 1)]


def with_datasketch(
    texts: list[str], ids: list[str], window: int, threshold: float, min_chars: int, c: DuplicateOptions
) -> list[str]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(num_perm=c.num_perm, params=(c.bands, c.num_perm // c.bands))
    kept: deque[int] = deque()
    out = []
    cutoff = threshold * 100
    for i, (text, _pid) in enumerate(zip(texts, ids, strict=True)):
        while kept and kept[0] <= i - window:
            lsh.remove(str(kept.popleft()))
        of = ""
        if len(text) >= min_chars:
            m = MinHash(num_perm=c.num_perm, seed=c.seed)
            m.update_batch(shingles(text, c.shingle))
            best, best_score = -1, 0.0
            for key in lsh.query(m):
                j = int(key)
                score = fuzz.ratio(text, texts[j], score_cutoff=cutoff)
                if score and (score > best_score or (score == best_score and j > best)):
                    best, best_score = j, score
            if best >= 0:
                of = ids[best]
            lsh.insert(str(i), m)
            kept.append(i)
        out.append(of)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=6000, help="real posts in the stream")
    parser.add_argument("--window", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-datasketch", action="store_true")
    args = parser.parse_args()
    classifier = DuplicateClassifier(window=args.window)
    base = base_posts(args.posts)
    planted = plant(base, args.posts // 20, seed=args.seed, spread=args.window // 2)
    posts = planted.posts
    texts = [comparable_text(p.text, classifier.options.max_chars) for p in posts]
    ids = [p.id for p in posts]
    n = len(posts)
    print(f"{n} posts ({len(planted.source_of)} planted near-copies), window {args.window}, threshold 0.8")
    rows = []
    start = time.perf_counter()
    ofs = [s["of"] for i in range(0, n, 256) for s in classifier.classify(posts[i : i + 256])]
    ours = score_of(planted, ofs, time.perf_counter() - start)
    rows.append(("safeguard (own MinHash LSH + rapidfuzz)", ours))
    # 32 bands of 2 rows: more candidates, the recall of the exhaustive search
    wide = DuplicateClassifier(window=args.window, bands=32)
    start = time.perf_counter()
    ofs = [s["of"] for i in range(0, n, 256) for s in wide.classify(posts[i : i + 256])]
    ours_wide = score_of(planted, ofs, time.perf_counter() - start)
    rows.append(("safeguard, bands=32 (2 rows per band)", ours_wide))
    start = time.perf_counter()
    ofs = pairwise(texts, ids, args.window, classifier.options.threshold, classifier.options.min_chars)
    pair = score_of(planted, ofs, time.perf_counter() - start)
    rows.append(("pairwise rapidfuzz over the window", pair))
    ds = None
    if not args.no_datasketch:
        try:
            start = time.perf_counter()
            ofs = with_datasketch(
                texts, ids, args.window, classifier.options.threshold, classifier.options.min_chars, classifier.options
            )
            ds = score_of(planted, ofs, time.perf_counter() - start)
            rows.append(("datasketch MinHashLSH + rapidfuzz", ds))
        except ImportError:
            print("datasketch is not installed (pip install -e '.[bench]'): skipped")
    print(f"{'method':<42} {'recall':>7} {'precision':>9} {'posts/s':>9}")
    for label, s in rows:
        print(f"{label:<42} {s.recall:>7.4f} {s.precision:>9.4f} {n / s.seconds:>9,.0f}")
    print(f"speed-up over pairwise rapidfuzz: {pair.seconds / ours.seconds:.1f}x (default options)")
    print(f"speed-up over pairwise rapidfuzz: {pair.seconds / ours_wide.seconds:.1f}x (bands=32)")
    if ds is not None:
        print(f"speed-up over datasketch MinHashLSH: {ds.seconds / ours.seconds:.1f}x")
        signatures_only(texts, classifier.options)
    return 0


def signatures_only(texts: list[str], c: DuplicateOptions) -> None:
    from datasketch import MinHash

    from safeguard.classifiers.duplicate.minhash import MinHasher

    texts = [t for t in texts if len(t) >= c.min_chars]
    hasher = MinHasher(shingle=c.shingle, num_perm=c.num_perm, bands=c.bands, seed=c.seed)
    start = time.perf_counter()
    for i in range(0, len(texts), 256):
        hasher.signatures(texts[i : i + 256])
    own = time.perf_counter() - start
    start = time.perf_counter()
    sets = [shingles(t, c.shingle) for t in texts]
    MinHash.bulk(sets, num_perm=c.num_perm, seed=c.seed)
    theirs = time.perf_counter() - start
    print(
        f"signatures of {len(texts)} texts ({c.num_perm} permutations, {c.shingle}-char shingles): "
        f"own {len(texts) / own:,.0f}/s, datasketch MinHash.bulk {len(texts) / theirs:,.0f}/s ({theirs / own:.1f}x)"
    )


if __name__ == "__main__":
    sys.exit(main())
