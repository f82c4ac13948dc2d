"""Recall and precision of the duplicate classifier on near-copies planted into real forum posts.

Takes N real posts (Reddit and Stack Exchange comments from ../shared/eval, exact repeats removed),
picks sources among them, makes near-copies with realistic small edits (typos, changed words, text
appended or prepended, whitespace, case and punctuation changes, swapped URLs), posts each copy from
a different author (some from the source's own author) at a random later place in the stream, and
streams everything through :class:`DuplicateClassifier` in order. A planted copy counts as found when
``duplicate.of`` names its source or another copy of the same source; every other post that gets a
non-empty ``duplicate.of`` is a false positive (strict: natural repeats in the corpus count against
us). The SMS and YouTube spam sets add their natural exact repeats as a second check.

    python benchmarks/duplicate_eval.py --posts 20000 --sources 1000
"""

from __future__ import annotations

import argparse
import random
import re
import string
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from safeguard.classifiers.duplicate import DuplicateClassifier
from safeguard.datasets import read_eval
from safeguard.text import normalize
from safeguard.types import Author, Post

CORPORA = ("reddit_comp551_comments.jsonl", "stackexchange_posts_comments.jsonl")

_APPENDED = (
    "Check it out here: https://deals-hub.example/offer",
    "DM me for details.",
    "Thoughts?",
    "Anyone else?",
    "Just my two cents.",
    "Please share!",
    "EDIT: typo",
    "Thanks in advance!",
    "lol",
    "Source: trust me",
    "http://tinyurl.example/x7Kq2",
    "#ad",
)
_PREPENDED = ("Hey guys, ", "UPDATE: ", "Reposting this: ", "PSA: ", "Honestly ", "So ", "Not sure but ", "FYI ")
_URL_RE = re.compile(r"https?://\S+|www\.\S+")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")
_FILLER = ("really", "just", "very", "totally", "actually", "basically", "quite", "pretty", "new", "great")


def _typo(text: str, rng: random.Random) -> str:
    words = list(_WORD_RE.finditer(text))
    if not words:
        return text
    m = rng.choice(words)
    w = m.group()
    i = rng.randrange(len(w))
    op = rng.randrange(4)
    if op == 0:
        w2 = w[:i] + w[i + 1 :]
    elif op == 1:
        w2 = w[:i] + rng.choice(string.ascii_lowercase) + w[i:]
    elif op == 2 and len(w) > 1:
        j = min(i, len(w) - 2)
        w2 = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    else:
        w2 = w[:i] + rng.choice(string.ascii_lowercase) + w[i + 1 :]
    return text[: m.start()] + w2 + text[m.end() :]


def _change_word(text: str, rng: random.Random) -> str:
    words = list(_WORD_RE.finditer(text))
    if not words:
        return text
    m = rng.choice(words)
    return text[: m.start()] + rng.choice(_FILLER) + text[m.end() :]


def _insert_word(text: str, rng: random.Random) -> str:
    words = list(_WORD_RE.finditer(text))
    if not words:
        return text
    m = rng.choice(words)
    return text[: m.start()] + rng.choice(_FILLER) + " " + text[m.start() :]


def _append(text: str, rng: random.Random) -> str:
    return text.rstrip() + rng.choice((" ", "\n\n", " - ")) + rng.choice(_APPENDED)


def _prepend(text: str, rng: random.Random) -> str:
    return rng.choice(_PREPENDED) + text


def _surface(text: str, rng: random.Random) -> str:
    op = rng.randrange(4)
    if op == 0:
        return text.upper() if len(text) < 200 else text.lower()
    if op == 1:
        return re.sub(r"\s+", lambda m: rng.choice((" ", "  ", "\n", " ")), text)
    if op == 2:
        return re.sub(r"[.,!?]", lambda m: rng.choice(("", "!", "...", m.group())), text)
    return text.strip() + "!!!"


def _swap_url(text: str, rng: random.Random) -> str:
    new = f"https://{rng.choice(('shop', 'deal', 'promo', 'get'))}{rng.randrange(1000)}.example/{rng.randrange(10**6)}"
    if _URL_RE.search(text):
        return _URL_RE.sub(new, text, count=1)
    return text.rstrip() + " " + new


EDITS: dict[str, Callable[[str, random.Random], str]] = {
    "typo": _typo,
    "change_word": _change_word,
    "insert_word": _insert_word,
    "append": _append,
    "prepend": _prepend,
    "surface": _surface,
    "swap_url": _swap_url,
}


def near_copy(text: str, rng: random.Random, edits: int | None = None) -> tuple[str, list[str]]:
    """A near-copy of ``text`` with 1 to 3 random small edits (or ``edits``); returns it and the edit names."""
    names = rng.choices(list(EDITS), k=edits if edits is not None else rng.randint(1, 3))
    for name in names:
        text = EDITS[name](text, rng)
    return text, names


def _word_grams(norm: str, n: int = 8) -> set[int]:
    words = norm.split()
    return {hash(tuple(words[i : i + n])) for i in range(len(words) - n + 1)}


def base_posts(n: int, *, min_chars: int = 0, dropped: list[int] | None = None) -> list[Post]:
    """``n`` real posts, alternating the corpora, with the corpus's own repeats removed.

    Dropped: exact repeats after normalisation, and posts that share a run of 8 words with an
    earlier kept post (bot templates, quotes, edited reposts). That test is independent of the
    classifier's MinHash and ratio, so the remaining posts are ground-truth negatives. The number
    of posts dropped is appended to ``dropped``.
    """
    per = [iter(read_eval(name)) for name in CORPORA]
    seen: set[str] = set()
    grams: set[int] = set()
    out: list[Post] = []
    skipped = 0
    while len(out) < n and per:
        for it in list(per):
            rec = next(it, None)
            if rec is None:
                per.remove(it)
                continue
            norm = normalize(rec["text"])
            if len(norm) < min_chars:
                continue
            mine = _word_grams(norm)
            if norm in seen or not grams.isdisjoint(mine):
                skipped += 1
                continue
            seen.add(norm)
            grams |= mine
            out.append(Post(id=str(rec["id"]), text=rec["text"], author=Author(id=f"u{len(out) % 7919}")))
            if len(out) >= n:
                break
    if dropped is not None:
        dropped.append(skipped)
    return out


@dataclass
class Planted:
    """A stream with planted near-copies and its ground truth."""

    posts: list[Post]
    #: copy id -> source id
    source_of: dict[str, str] = field(default_factory=dict)
    #: copy id -> edit names
    edits: dict[str, list[str]] = field(default_factory=dict)


def plant(base: Sequence[Post], sources: int, *, seed: int = 7, min_chars: int = 40, spread: int = 2000) -> Planted:
    """Plant 1 to 4 near-copies of each of ``sources`` posts, each within ``spread`` posts after its source."""
    rng = random.Random(seed)
    eligible = [i for i, p in enumerate(base) if len(normalize(p.text)) >= min_chars]
    chosen = rng.sample(eligible, min(sources, len(eligible)))
    inserts: dict[int, list[Post]] = {}
    result = Planted(posts=[])
    for k, i in enumerate(chosen):
        src = base[i]
        for c in range(rng.randint(1, 4)):
            text, names = near_copy(src.text, rng)
            same = rng.random() < 0.2
            author = src.author if same else Author(id=f"campaign{k}-{c}")
            copy = Post(id=f"copy{k}-{c}", text=text, author=author)
            at = min(len(base), i + 1 + rng.randrange(spread))
            inserts.setdefault(at, []).append(copy)
            result.source_of[copy.id] = src.id
            result.edits[copy.id] = names
    for i in range(len(base) + 1):
        result.posts.extend(inserts.get(i, ()))
        if i < len(base):
            result.posts.append(base[i])
    return result


@dataclass
class Score:
    planted: int
    found: int
    flagged: int
    false_positives: int
    seconds: float
    misses: list[tuple[str, str, list[str]]]
    wrong: list[tuple[str, str, str]]
    #: similarity of each missed copy to its source: below the threshold, or missed by LSH
    miss_ratios: list[float]

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return (self.flagged - self.false_positives) / self.flagged if self.flagged else 1.0


def score(planted: Planted, classifier: DuplicateClassifier, *, batch: int = 256) -> Score:
    """Stream ``planted.posts`` through ``classifier`` in order and score ``duplicate.of``."""
    classifier.load()
    start = time.perf_counter()
    signals: list[dict[str, Any]] = []
    posts = planted.posts
    for i in range(0, len(posts), batch):
        signals.extend(classifier.classify(posts[i : i + batch]))
    seconds = time.perf_counter() - start
    return score_of(planted, [s["of"] for s in signals], seconds, classifier.options.max_chars)


def score_of(planted: Planted, ofs: Sequence[str], seconds: float, max_chars: int = 2000) -> Score:
    """Score the ``of`` each post got ("" for none), from any method."""
    posts = planted.posts
    cluster = dict(planted.source_of)
    text_of = {p.id: p.text for p in posts}
    found = flagged = fp = 0
    misses: list[tuple[str, str, list[str]]] = []
    wrong: list[tuple[str, str, str]] = []
    ratios: list[float] = []
    for post, of in zip(posts, ofs, strict=True):
        src = planted.source_of.get(post.id)
        if of:
            flagged += 1
            if src is not None and (of == src or cluster.get(of) == src):
                found += 1
            else:
                fp += 1
                sim = _ratio(text_of[post.id], text_of[of], max_chars)
                wrong.append((text_of[post.id][:120], text_of[of][:120], f"{sim:.3f}"))
        elif src is not None:
            misses.append((text_of[src][:150], post.text[:150], planted.edits[post.id]))
            ratios.append(_ratio(text_of[src], post.text, max_chars))
    return Score(len(planted.source_of), found, flagged, fp, seconds, misses, wrong, ratios)


def _ratio(a: str, b: str, max_chars: int) -> float:
    from rapidfuzz.fuzz import ratio

    from safeguard.classifiers.duplicate.window import comparable_text

    return float(ratio(comparable_text(a, max_chars), comparable_text(b, max_chars))) / 100.0


def natural_repeats(name: str, classifier: DuplicateClassifier) -> tuple[int, int, int]:
    """(posts whose normalised text repeats an earlier one of at least min_chars, found of them, extra flags)."""
    recs = list(read_eval(name))
    posts = [Post(id=str(r["id"]), text=r["text"], author=Author(id=f"a{i}")) for i, r in enumerate(recs)]
    classifier.load()
    signals = classifier.classify(posts)
    seen: dict[str, str] = {}
    repeats = found = extra = 0
    for post, sig in zip(posts, signals, strict=True):
        norm = normalize(post.text)
        is_repeat = norm in seen and len(norm) >= classifier.options.min_chars
        repeats += is_repeat
        if sig["of"]:
            if is_repeat:
                found += 1
            else:
                extra += 1
        seen.setdefault(norm, post.id)
    return repeats, found, extra


SWEEP: tuple[dict[str, Any], ...] = (
    {"shingle": 3},
    {"shingle": 4},
    {"shingle": 5},
    {"shingle": 6},
    {"shingle": 5, "num_perm": 64, "bands": 32},
    {"shingle": 5, "num_perm": 60, "bands": 20},
    {"shingle": 5, "num_perm": 32, "bands": 8},
    {"shingle": 5, "threshold": 0.75},
    {"shingle": 5, "threshold": 0.85},
    {"shingle": 5, "threshold": 0.9},
)


def sweep(posts: int, sources: int, seed: int) -> int:
    """Recall, precision and speed for each option set of :data:`SWEEP` on the same stream."""
    from safeguard.classifiers.duplicate import DuplicateClassifier

    base = base_posts(posts)
    planted = plant(base, sources, seed=seed)
    print(f"{len(planted.posts)} posts, {len(planted.source_of)} planted near-copies")
    print(f"{'options':<48} {'recall':>7} {'precision':>9} {'posts/s':>8} {'LSH misses':>10}")
    for options in SWEEP:
        classifier = DuplicateClassifier(**options)
        s = score(planted, classifier)
        lsh = sum(r >= classifier.options.threshold for r in s.miss_ratios)
        label = ", ".join(f"{k}={v}" for k, v in options.items())
        print(f"{label:<48} {s.recall:>7.4f} {s.precision:>9.4f} {len(planted.posts) / s.seconds:>8,.0f} {lsh:>10}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20000, help="real posts in the stream")
    parser.add_argument("--sources", type=int, default=1000, help="posts that get near-copies")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=None, help="override the default threshold")
    parser.add_argument("--show", type=int, default=5, help="misses and false positives to print")
    parser.add_argument(
        "--sweep", action="store_true", help="compare shingle sizes, band layouts and thresholds instead"
    )
    args = parser.parse_args(argv)
    if args.sweep:
        return sweep(args.posts, args.sources, args.seed)
    options: dict[str, Any] = {}
    if args.threshold is not None:
        options["threshold"] = args.threshold
    classifier = DuplicateClassifier(**options)
    dropped: list[int] = []
    base = base_posts(args.posts, dropped=dropped)
    planted = plant(base, args.sources, seed=args.seed, min_chars=classifier.options.min_chars)
    s = score(planted, classifier)
    print(f"stream: {len(base)} real posts ({dropped[0]} of the corpus's own repeats left out)")
    print(f"        + {s.planted} planted near-copies of {args.sources} sources (seed {args.seed})")
    print(f"classifier: {classifier.describe_config()}")
    print(f"recall    {s.recall:.4f}  ({s.found}/{s.planted})")
    print(f"precision {s.precision:.4f}  ({s.flagged - s.false_positives}/{s.flagged}; {s.false_positives} false)")
    print(f"speed     {len(planted.posts) / s.seconds:,.0f} posts/s")
    below = sum(r < classifier.options.threshold for r in s.miss_ratios)
    print(f"misses: {below} below the threshold, {len(s.miss_ratios) - below} not found as LSH candidates")
    for src, copy, edits in s.misses[: args.show]:
        print(f"  missed {edits}: {src!r}\n      -> {copy!r}")
    for post, of, sim in s.wrong[: args.show]:
        print(f"  false positive (similarity {sim}): {post!r}\n      of {of!r}")
    for name in ("sms_spam_collection.jsonl", "youtube_spam_collection.jsonl"):
        repeats, found, extra = natural_repeats(name, DuplicateClassifier(**options))
        print(f"{name}: {found}/{repeats} natural exact repeats found; {extra} other posts flagged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
