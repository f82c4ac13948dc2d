"""Term-list matching: one Aho-Corasick automaton (TermMatcher) against one big regex alternation.

Builds 2,000 terms and matches them over 20,000 posts (real Reddit comments from
``../shared/eval/reddit_comp551_comments.jsonl`` when that file exists, synthetic text otherwise),
once with :class:`safeguard.classifiers.lists.TermMatcher` and once with a compiled alternation
``\\b(?:t1|t2|...)\\b`` over the same normalised text, checks that both find the same terms in the
same order for every post, and prints posts per second of each.

Two regexes are timed: the plain ``\\b`` form, and the form with the exact word-boundary rule of
TermMatcher (``_`` is a boundary: ``(?<![^\\W_])(?:...)(?![^\\W_])``), which is the one checked
for equality. Normalisation is shared by both approaches, so it is timed separately.

Run from the repository root::

    .venv/bin/python benchmarks/lists_vs_regex.py [--terms 2000] [--posts 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import string
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT.parent / "shared" / "eval" / "reddit_comp551_comments.jsonl"


def load_posts(n: int, seed: int) -> tuple[list[str], str]:
    """``n`` post texts, from the Reddit corpus when present, else synthetic; and where they came from."""
    if CORPUS.exists():
        texts: list[str] = []
        with CORPUS.open(encoding="utf-8") as fh:
            for line in fh:
                texts.append(json.loads(line)["text"])
                if len(texts) >= n:
                    break
        return texts, f"{CORPUS.name} (first {len(texts):,} comments)"
    rng = random.Random(seed)
    vocab = [_random_word(rng) for _ in range(5000)]
    texts = [" ".join(rng.choices(vocab, k=rng.randint(5, 80))) + "." for _ in range(n)]
    return texts, f"synthetic ({n:,} posts)"


def _random_word(rng: random.Random) -> str:
    """A lowercase pseudo-word already in normal form (no letter three times in a row)."""
    while True:
        word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9)))
        if not re.search(r"(.)\1\1", word):
            return word


def build_terms(normalized_posts: Sequence[str], n: int, seed: int) -> list[str]:
    """``n`` distinct lowercase terms: three quarters mid-frequency corpus words, the rest generated.

    Corpus words make the lists actually match (roughly what a real word list does); generated
    words are the long tail that never matches.
    """
    rng = random.Random(seed)
    counts = collections.Counter(w for text in normalized_posts for w in re.findall(r"[a-z]{4,}", text))
    ranked = [w for w, _ in counts.most_common()]
    pool = ranked[200:20000]  # skip the stop words, keep words that occur
    real = rng.sample(pool, min(len(pool), n * 3 // 4))
    terms = list(dict.fromkeys(real))
    while len(terms) < n:
        word = _random_word(rng)
        if word not in terms:
            terms.append(word)
    return terms


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs of ``fn`` in seconds, and its result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns 1 when the two matchers disagree."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--terms", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=551)
    args = parser.parse_args(argv)

    try:
        import safeguard  # noqa: F401
    except ImportError:  # running from a source checkout that is not installed
        sys.path.insert(0, str(REPO_ROOT / "src"))
    from safeguard.classifiers.lists import TermMatcher
    from safeguard.text import normalize, normalize_with_flags

    texts, source = load_posts(args.posts, args.seed)
    uncached = normalize_with_flags.__wrapped__
    norm_s, normalized = best_time(lambda: [uncached(t)[0] for t in texts], args.repeat)
    terms = build_terms(normalized, args.terms, args.seed)
    assert all(normalize(t) == t for t in terms), "terms must already be in normal form"

    build_ac_s, matcher = best_time(lambda: TermMatcher({"terms": terms}), 1)
    alternation = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    build_re_s, word_re = best_time(lambda: re.compile(r"\b(?:" + alternation + r")\b"), 1)
    exact_re = re.compile(r"(?<![^\W_])(?:" + alternation + r")(?![^\W_])")

    def run_ac() -> list[list[str]]:
        return [matcher.find(t)["terms"] for t in normalized]

    def run_regex(rx: re.Pattern[str]) -> list[list[str]]:
        return [list(dict.fromkeys(rx.findall(t))) for t in normalized]

    ac_s, ac_out = best_time(run_ac, args.repeat)
    re_s, re_out = best_time(lambda: run_regex(word_re), args.repeat)
    exact_s, exact_out = best_time(lambda: run_regex(exact_re), args.repeat)

    disagree = [i for i, (a, b) in enumerate(zip(ac_out, exact_out, strict=True)) if a != b]
    underscore_only = sum(1 for a, b in zip(ac_out, re_out, strict=True) if a != b)
    n = len(texts)
    chars = sum(len(t) for t in texts)
    matched_posts = sum(1 for m in ac_out if m)
    total_hits = sum(len(m) for m in ac_out)

    print(f"posts: {source}, {chars / n:,.0f} chars on average")
    print(f"terms: {len(terms):,} ({args.terms * 3 // 4:,} corpus words, rest generated)")
    print(f"posts with a match: {matched_posts:,} ({matched_posts / n:.1%}), distinct terms matched: {total_hits:,}")
    print(f"normalize (uncached, shared by both): {n / norm_s:>12,.0f} posts/s")
    print(f"build: automaton {build_ac_s * 1e3:.1f} ms, regex compile {build_re_s * 1e3:.1f} ms")
    print(f"TermMatcher (Aho-Corasick):           {n / ac_s:>12,.0f} posts/s")
    print(rf"regex \b(?:...)\b:                    {n / re_s:>12,.0f} posts/s")
    print(f"regex, TermMatcher boundaries:        {n / exact_s:>12,.0f} posts/s")
    print(rf"speed-up over \b regex: {re_s / ac_s:.1f}x; over boundary-exact regex: {exact_s / ac_s:.1f}x")
    print(rf"posts where \b regex differs (only '_' counts as a word character there): {underscore_only}")
    if disagree:
        i = disagree[0]
        print(f"MISMATCH in {len(disagree)} posts; first: post {i}: {ac_out[i]} vs {exact_out[i]}")
        return 1
    print("same matches, same order: yes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
