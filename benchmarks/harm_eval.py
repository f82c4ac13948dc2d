"""ROC AUC of the toxicity backends on held-out harm data, and the shipped policy on benign text.

    .venv/bin/python benchmarks/harm_eval.py [--backend default --backend fast ...] [--limit N]
        [--policy rules/community.yaml [--policy-limit N] [--policy-toxicity fast]] [--json PATH]

Subjects (``--backend``, repeatable; default: default, fast, model and alt-profanity-check):
a toxicity backend name, optionally with options (``model,batch_size=64``), or ``alt-profanity-check``
(the peer: its one profanity probability is the score of every label). A subject that fails to build
or to score is reported and skipped. All subjects are measured in the same run, on the same rows.

Held-out data only (rows no model is trained or calibrated on):

* Jigsaw: ``jigsaw_toxic_comments_sample`` rows of split ``test``: toxicity, insult, threat, identity_attack,
  profanity (its ``obscene`` label);
* HatemojiBuild: ``hatemojibuild_train`` rows of split ``test``: toxicity and identity_attack vs its hate label;
* every other source of the harm corpus, split ``test``: each head with known targets (one compact table);
* OLID (OffensEval 2019) test split, 860 tweets, OFF vs NOT: toxicity (never trained on; the token
  ``URL`` is given back as a link, ``http://example.com``, as benchmarks/toxicity_eval.py does).

``--limit N`` scores at most N rows of each set (a fixed random sample). The ``default`` backend's
escalated share (posts the cascade sent to the model tier) is shown per set. Then the obfuscation table
(the default backend, else the first subject): the largest move of toxicity/insult under disguise.

``--policy FILE``: ``Moderator.from_file(FILE)`` over benign text (the 3,000 UCI review sentences and
the first 20,000 Stack Exchange posts; ``--policy-limit`` caps both): share held and removed, the rules
responsible, the cascade's escalated share, posts/s; then every post of
benchmarks/data/technical_answers.jsonl it holds or removes. ``--policy-toxicity NAME`` swaps the
policy's toxicity backend (to run it before the trained weights exist).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
TECHNICAL = ROOT / "benchmarks" / "data" / "technical_answers.jsonl"
PEER = "alt-profanity-check"
DEFAULT_SUBJECTS = ("default", "fast", "model", PEER)
HEADS = ("toxicity", "insult", "threat", "identity_attack", "self_harm", "counter_speech", "profanity")
JIGSAW = "jigsaw_toxic_comments_sample"
HATEMOJI = "hatemojibuild_train"
CHUNK = 512

# The cases of benchmarks/toxicity_eval.py: plain insults and their leetspeak, zero-width, Cyrillic,
# spaced and asterisk spellings.
OBFUSCATION_CASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("you idiot", ("you 1d10t", "you id\u200biot", "you \u0456d\u0456\u043et", "you i d i o t", "you id!ot")),
    ("you are stupid", ("you are 5tup1d", "you are stu\u200bpid", "you are \u0455tup\u0456d", "you are s t u p i d")),
    ("fuck you", ("f*ck you", "fu\u200bck you", "fu\u0441k you", "f u c k you", "f**k you")),
    ("you moron", ("you m0r0n", "you mo\u200bron", "you m\u043er\u043en", "you m o r o n", "you m*ron")),
)


# ----------------------------------------------------------------------------- subjects


@dataclass
class Subject:
    """One thing measured: a name, the labels it gives and a ``predict(texts) -> {label: array}``."""

    name: str
    labels: tuple[str, ...]
    predict: Callable[[list[str]], dict[str, Any]]
    backend: Any = None


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"model,batch_size=64"`` -> ``("model", {"batch_size": 64})`` (values read as YAML scalars)."""
    name, *pairs = [part.strip() for part in spec.split(",")]
    options: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"backend option {pair!r} is not key=value")
        key, value = pair.split("=", 1)
        options[key.strip()] = yaml.safe_load(value)
    return name, options


def build_subject(spec: str) -> Subject:
    name, options = parse_spec(spec)
    if name in (PEER, "peer"):
        from profanity_check import predict_prob

        def peer(texts: list[str]) -> dict[str, Any]:
            probs = np.asarray(predict_prob(texts), dtype=np.float64)
            return dict.fromkeys(HEADS, probs)

        return Subject(PEER, HEADS, peer)
    from safeguard.classifiers.toxicity.classifier import make_backend

    backend = make_backend({"backend": name, **options}, base_dir=ROOT)
    backend.load()
    label = spec if options else name
    return Subject(label, tuple(backend.labels), backend.predict, backend)


def score(subject: Subject, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Every label of ``subject`` for ``texts`` (plus ``escalated`` where the backend gives it), in chunks."""
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(texts), CHUNK):
        out = subject.predict(list(texts[start : start + CHUNK]))
        for label in (*subject.labels, "escalated"):
            if label in out:
                parts.setdefault(label, []).append(np.asarray(out[label]))
    return {label: np.concatenate(chunks) for label, chunks in parts.items()}


# ----------------------------------------------------------------------------- held-out sets


@dataclass
class Column:
    """One measured column: a heading, the label scored, and targets (1, 0, or -1 unknown) per row."""

    title: str
    label: str
    y: np.ndarray

    @property
    def n(self) -> int:
        return int((self.y >= 0).sum())

    @property
    def positives(self) -> int:
        return int((self.y == 1).sum())


@dataclass
class EvalSet:
    name: str
    split: str
    texts: list[str]
    columns: list[Column]
    total: int = 0  # rows before --limit
    # subject -> label -> scores; subject -> seconds; subject -> error
    scores: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def auc(self, subject: str, column: Column) -> float | None:
        from safeguard.classifiers.toxicity.training import auc

        got = self.scores.get(subject, {})
        if column.label not in got:
            return None
        known = column.y >= 0
        return auc(column.y[known] == 1, got[column.label][known])

    def escalated_share(self, subject: str) -> float | None:
        got = self.scores.get(subject, {})
        return float(np.mean(got["escalated"])) if "escalated" in got and len(self.texts) else None


def sample(n: int, limit: int | None) -> np.ndarray:
    """Indices of at most ``limit`` of ``n`` rows: all of them, or a fixed random sample in order."""
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def corpus_sets(limit: int | None) -> list[EvalSet]:
    from safeguard.classifiers.toxicity.harmdata import load_corpus

    try:
        rows = load_corpus()
    except FileNotFoundError as exc:
        print(f"harm corpus not found ({exc}); skipping the corpus tables", file=sys.stderr)
        return []
    by_source: dict[str, list[Any]] = {}
    for row in rows:
        if row.split == "test":
            by_source.setdefault(row.source, []).append(row)
    untested = sorted({row.source for row in rows} - set(by_source))
    if untested:
        print(f"sources without a test split (not measured): {', '.join(untested)}")
    sets: list[EvalSet] = []

    def make(name: str, source_rows: list[Any], columns: Iterable[tuple[str, str, str]]) -> EvalSet:
        keep = [source_rows[i] for i in sample(len(source_rows), limit)]
        cols = [
            Column(title, label, np.array([r.target(head) for r in keep], dtype=np.int8))
            for title, label, head in columns
        ]
        return EvalSet(name, "test", [r.text for r in keep], cols, total=len(source_rows))

    if JIGSAW in by_source:
        heads = ("toxicity", "insult", "threat", "identity_attack", "profanity")
        sets.append(make(f"Jigsaw held-out ({JIGSAW})", by_source.pop(JIGSAW), [(h, h, h) for h in heads]))
    if HATEMOJI in by_source:
        cols = [
            ("toxicity~hate", "toxicity", "identity_attack"),
            ("identity_attack~hate", "identity_attack", "identity_attack"),
        ]
        sets.append(make(f"HatemojiBuild held-out ({HATEMOJI})", by_source.pop(HATEMOJI), cols))
    for source in sorted(by_source):
        source_rows = by_source[source]
        heads = [h for h in HEADS if any(r.target(h) >= 0 for r in source_rows)]
        eval_set = make(source, source_rows, [(h, h, h) for h in heads])
        eval_set.columns = [c for c in eval_set.columns if c.n]
        sets.append(eval_set)
    return sets


def olid_set(limit: int | None) -> EvalSet | None:
    from safeguard.datasets import eval_path, read_eval

    if eval_path("olid_offenseval2019.jsonl") is None:
        print("OLID not found (../shared/eval); skipping it", file=sys.stderr)
        return None
    rows = [r for r in read_eval("olid_offenseval2019.jsonl") if r["meta"]["split"] == "test"]
    keep = [rows[i] for i in sample(len(rows), limit)]
    texts = [re.sub(r"\bURL\b", "http://example.com", r["text"]) for r in keep]
    y = np.array([int(r["label"] == "OFF") for r in keep], dtype=np.int8)
    columns = [Column("toxicity~OFF", "toxicity", y)]
    return EvalSet("OLID OffensEval 2019 (OFF vs NOT)", "test", texts, columns, len(rows))


# ----------------------------------------------------------------------------- printing


def fmt(value: float | None, width: int = 8) -> str:
    if value is None:
        return f"{'—':>{width}}"
    if isinstance(value, float) and math.isnan(value):
        return f"{'nan':>{width}}"
    return f"{value:>{width}.4f}"


def clean(value: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def measure(eval_set: EvalSet, subjects: list[Subject]) -> None:
    for subject in subjects:
        t0 = time.perf_counter()
        try:
            eval_set.scores[subject.name] = score(subject, eval_set.texts)
        except Exception as exc:  # a subject that fails is reported, not fatal
            eval_set.errors[subject.name] = f"{type(exc).__name__}: {exc}"
        eval_set.seconds[subject.name] = time.perf_counter() - t0


def print_set(eval_set: EvalSet, subjects: list[Subject]) -> dict[str, Any]:
    limited = f" (sample of {len(eval_set.texts)} of {eval_set.total})" if len(eval_set.texts) < eval_set.total else ""
    heads = ", ".join(f"{c.title}: n={c.n} pos={c.positives}" for c in eval_set.columns)
    print(f"\n== {eval_set.name}, split {eval_set.split}, n={len(eval_set.texts)}{limited}; {heads}")
    width = max(10, *(len(c.title) + 1 for c in eval_set.columns))
    print(f"  {'subject':22s}" + "".join(f"{c.title:>{width}}" for c in eval_set.columns) + "   posts/s  escalated")
    report: dict[str, Any] = {
        "split": eval_set.split,
        "n": len(eval_set.texts),
        "rows_before_limit": eval_set.total,
        "columns": {c.title: {"label": c.label, "n": c.n, "positives": c.positives} for c in eval_set.columns},
        "auc": {},
        "posts_per_s": {},
        "escalated_share": {},
        "errors": dict(eval_set.errors),
    }
    for subject in subjects:
        if subject.name in eval_set.errors:
            print(f"  {subject.name:22s} FAILED: {eval_set.errors[subject.name]}")
            continue
        aucs = {c.title: eval_set.auc(subject.name, c) for c in eval_set.columns}
        rate = len(eval_set.texts) / max(eval_set.seconds[subject.name], 1e-9)
        esc = eval_set.escalated_share(subject.name)
        esc_text = f"{esc:9.1%}" if esc is not None else f"{'':9s}"
        cells = "".join(fmt(aucs[c.title], width) for c in eval_set.columns)
        print(f"  {subject.name:22s}{cells}{rate:10.0f}  {esc_text}")
        report["auc"][subject.name] = aucs
        report["posts_per_s"][subject.name] = rate
        if esc is not None:
            report["escalated_share"][subject.name] = esc
    return report


def print_compact(sets: list[EvalSet], subjects: list[Subject]) -> dict[str, Any]:
    """Every other source's test split: one row per (source, head)."""
    print("\n== other sources, split test (one row per source and head with both classes: n, positives, ROC AUC)")
    names = [s.name for s in subjects]
    width = max(10, *(len(n) + 1 for n in names))
    print(f"  {'source':42s} {'head':16s} {'n':>6s} {'pos':>6s}" + "".join(f"{n:>{width}}" for n in names))
    report: dict[str, Any] = {}
    one_class: dict[str, list[str]] = {}
    for eval_set in sets:
        entry: dict[str, Any] = {"n": len(eval_set.texts), "rows_before_limit": eval_set.total, "heads": {}}
        entry["errors"] = dict(eval_set.errors)
        for column in eval_set.columns:
            if column.positives in (0, column.n):
                one_class.setdefault(eval_set.name, []).append(column.title)
                entry["heads"][column.title] = {"n": column.n, "positives": column.positives, "auc": None}
                continue
            aucs = {name: (None if name in eval_set.errors else eval_set.auc(name, column)) for name in names}
            print(
                f"  {eval_set.name:42s} {column.title:16s} {column.n:6d} {column.positives:6d}"
                + "".join(fmt(aucs[n], width) for n in names)
            )
            entry["heads"][column.title] = {"n": column.n, "positives": column.positives, "auc": aucs}
        for name in names:
            esc = eval_set.escalated_share(name)
            if esc is not None:
                entry.setdefault("escalated_share", {})[name] = esc
        report[eval_set.name] = entry
    if one_class:
        print("  one class only (no AUC): " + "; ".join(f"{src}: {', '.join(h)}" for src, h in one_class.items()))
    shares = {
        name: [f"{s.name}={s.escalated_share(name):.1%}" for s in sets if s.escalated_share(name) is not None]
        for name in names
    }
    for name, parts in shares.items():
        if parts:
            print(f"  escalated share ({name}): " + ", ".join(parts))
    failed = {f"{s.name}/{n}": e for s in sets for n, e in s.errors.items()}
    for where, error in failed.items():
        print(f"  FAILED {where}: {error}")
    return report


def obfuscation(subject: Subject) -> dict[str, Any]:
    labels = [label for label in ("toxicity", "insult") if label in subject.labels]
    print(f"\n== obfuscation ({subject.name}): label plain -> disguised (delta)")
    plains = [plain for plain, _ in OBFUSCATION_CASES]
    variants = [v for _, vs in OBFUSCATION_CASES for v in vs]
    got = score(subject, plains + variants)
    worst = 0.0
    rows = []
    k = len(plains)
    for i, (plain, vs) in enumerate(OBFUSCATION_CASES):
        for variant in vs:
            j = k
            k += 1
            for label in labels:
                base, moved = float(got[label][i]), float(got[label][j])
                delta = moved - base
                worst = max(worst, abs(delta))
                rows.append({"label": label, "plain": plain, "variant": variant, "plain_score": base, "score": moved})
                print(f"  {label:9s} {plain!r:18s} {base:.3f} -> {variant!r:28s} {moved:.3f} ({delta:+.3f})")
    print(f"largest move under obfuscation: {worst:.3f}")
    return {"subject": subject.name, "largest_move": worst, "cases": rows}


# ----------------------------------------------------------------------------- policy


def build_moderator(path: Path, toxicity: str | None) -> Any:
    from safeguard import Moderator

    if toxicity is None:
        return Moderator.from_file(path).load()
    name, options = parse_spec(toxicity)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.setdefault("classifiers", {})["toxicity"] = {"backend": name, **options}
    return Moderator.from_yaml(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), base_dir=path.parent).load()


def run_policy(path: Path, toxicity: str | None, posts: list[Any]) -> tuple[list[Any], float, float]:
    """Decisions for ``posts`` from a fresh moderator (no duplicate window carried across sets)."""
    t0 = time.perf_counter()
    moderator = build_moderator(path, toxicity)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    decisions = list(moderator.moderate_many(posts, batch_size=256))
    elapsed = time.perf_counter() - t0
    moderator.close()
    return decisions, load, elapsed


def policy_summary(name: str, decisions: list[Any], load: float, elapsed: float) -> dict[str, Any]:
    from safeguard.types import Action

    n = len(decisions)
    held = sum(d.action is Action.HOLD for d in decisions)
    removed = sum(d.action is Action.REMOVE for d in decisions)
    rules: Counter[str] = Counter()
    for d in decisions:
        if d.action is not Action.ALLOW:
            rules.update(f"{m.rule} ({m.action.value})" for m in d.matches)
    errors = Counter(f"{e.get('source', '?')}: {e.get('error', e)}"[:120] for d in decisions for e in d.errors)
    ran = [d.signals["toxicity"] for d in decisions if "toxicity" in d.signals]
    escalated = [bool(s["escalated"]) for s in ran if "escalated" in s]
    rate = n / max(elapsed, 1e-9)
    pct = (lambda k: 100.0 * k / n) if n else (lambda k: 0.0)
    print(f"\n-- {name}: n={n}")
    print(f"  held    {held:6d} ({pct(held):.2f}%)")
    print(f"  removed {removed:6d} ({pct(removed):.2f}%)")
    if rules:
        print("  rules responsible (top 10): " + ", ".join(f"{r}={c}" for r, c in rules.most_common(10)))
    if escalated:
        print(f"  toxicity ran on {len(ran)} posts; cascade escalated {sum(escalated)} ({np.mean(escalated):.1%})")
    if errors:
        print("  classifier errors: " + "; ".join(f"{e} x{c}" for e, c in errors.most_common(5)))
    print(f"  {rate:.0f} posts/s (moderator load {load:.1f}s, excluded)")
    return {
        "n": n,
        "held": held,
        "held_share": held / n if n else 0.0,
        "removed": removed,
        "removed_share": removed / n if n else 0.0,
        "rules_top10": dict(rules.most_common(10)),
        "toxicity_ran": len(ran),
        "escalated_share": float(np.mean(escalated)) if escalated else None,
        "errors": dict(errors),
        "posts_per_s": rate,
        "load_s": load,
    }


def first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def policy_section(path: Path, toxicity: str | None, limit: int | None) -> dict[str, Any]:
    from safeguard.datasets import read_eval
    from safeguard.types import Action, Post

    swapped = f" (toxicity backend swapped for {toxicity})" if toxicity else ""
    print(f"\n== policy {path}{swapped} over benign text")
    report: dict[str, Any] = {"file": str(path), "toxicity_override": toxicity, "sets": {}}
    benign = (
        ("UCI review sentences", "uci_review_sentences.jsonl", 3000),
        ("Stack Exchange posts (first 20,000)", "stackexchange_posts_comments.jsonl", 20000),
    )
    for title, file, size in benign:
        n = size if limit is None else min(size, limit)
        try:
            posts = [Post(id=str(r["id"]), text=str(r["text"])) for r in read_eval(file, limit=n)]
            decisions, load, elapsed = run_policy(path, toxicity, posts)
        except Exception as exc:
            print(f"\n-- {title}: FAILED: {first_line(exc)}")
            report["sets"][title] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        report["sets"][title] = policy_summary(f"{title} ({file})", decisions, load, elapsed)

    print(f"\n-- technical answers ({TECHNICAL.relative_to(ROOT)})")
    try:
        rows = [json.loads(line) for line in TECHNICAL.read_text(encoding="utf-8").splitlines() if line.strip()]
        posts = [Post(id=r["id"], text=r["text"]) for r in rows]
        decisions, load, elapsed = run_policy(path, toxicity, posts)
    except Exception as exc:
        print(f"  FAILED: {first_line(exc)}")
        report["technical_answers"] = {"error": f"{type(exc).__name__}: {exc}"}
        return report
    summary = policy_summary("technical answers", decisions, load, elapsed)
    flagged = []
    for row, d in zip(rows, decisions, strict=True):
        if d.action is not Action.ALLOW:
            flagged.append({"id": row["id"], "kind": row["kind"], "action": d.action.value, "rules": d.rules})
            snippet = row["text"].replace("\n", " ")[:90]
            print(f"  {d.action.value.upper():6s} {row['id']} [{row['kind']}] {', '.join(d.rules)}: {snippet!r}")
    if not flagged:
        print("  every technical answer allowed")
    summary["flagged"] = flagged
    report["technical_answers"] = summary
    return report


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend", action="append", help=f"subject (repeatable; default: {', '.join(DEFAULT_SUBJECTS)})"
    )
    parser.add_argument("--limit", type=int, default=None, help="score at most N rows of each held-out set")
    parser.add_argument("--policy", type=Path, default=None, help="also run this ruleset over benign text")
    parser.add_argument("--policy-limit", type=int, default=None, help="at most N posts of each benign set")
    parser.add_argument("--policy-toxicity", default=None, help="swap the policy's toxicity backend (e.g. fast)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    print("$ " + shlex.join(["python", *(sys.argv if argv is None else ["benchmarks/harm_eval.py", *argv])]))

    report: dict[str, Any] = {"command": sys.argv if argv is None else argv, "subjects": {}, "sets": {}}
    subjects: list[Subject] = []
    for spec in args.backend or DEFAULT_SUBJECTS:
        t0 = time.perf_counter()
        try:
            subject = build_subject(spec)
        except Exception as exc:  # reported and skipped
            print(f"subject {spec!r}: not built, skipped ({type(exc).__name__}: {exc})")
            report["subjects"][spec] = {"built": False, "error": f"{type(exc).__name__}: {exc}"}
            continue
        subjects.append(subject)
        labels = ", ".join(subject.labels)
        print(f"subject {subject.name}: built in {time.perf_counter() - t0:.1f}s; labels: {labels}")
        report["subjects"][subject.name] = {"built": True, "labels": list(subject.labels)}

    if subjects:
        sets = corpus_sets(args.limit)
        olid = olid_set(args.limit)
        named = [s for s in sets if s.name.startswith(("Jigsaw", "HatemojiBuild"))]
        others = [s for s in sets if s not in named]
        for eval_set in [*named, *others, *([olid] if olid else [])]:
            measure(eval_set, subjects)
        for eval_set in named:
            report["sets"][eval_set.name] = print_set(eval_set, subjects)
        if others:
            report["sets"]["other sources"] = print_compact(others, subjects)
        if olid:
            report["sets"][olid.name] = print_set(olid, subjects)
        chosen = next((s for s in subjects if s.name == "default"), subjects[0])
        try:
            report["obfuscation"] = obfuscation(chosen)
        except Exception as exc:
            print(f"\nobfuscation table FAILED ({chosen.name}): {type(exc).__name__}: {exc}")
        for subject in subjects:
            stats = getattr(subject.backend, "stats", None)
            if isinstance(stats, dict):
                report["subjects"][subject.name]["stats"] = dict(stats)
    else:
        print("no subject could be built; nothing to measure")

    if args.policy is not None:
        report["policy"] = policy_section(args.policy, args.policy_toxicity, args.policy_limit)

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(clean(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0 if subjects or args.policy else 1


if __name__ == "__main__":
    raise SystemExit(main())
