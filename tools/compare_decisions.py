"""Check that this checkout decides exactly as another git revision does (the engine's reference).

Runs the shipped policy (rules/community.yaml) over the example dump and N real forum posts from
../shared/eval (Reddit and Stack Exchange comments, given authors with every trust level, timestamps
and a few staff posts) with the source tree of this checkout and with the source tree of ``--base``
(default ``main``, taken with ``git archive``), each in a fresh process with a fresh moderator (the
spam and duplicate classifiers remember posts), and compares every decision field but
``elapsed_ms``: action, matches with their values, shadow matches, signals, skipped classifiers,
errors and exempt. Both runs use the same hash seed (set iteration order). Exits 1 on any difference.

    python tools/compare_decisions.py --posts 5000
    python tools/compare_decisions.py --base c1a9a2d --posts 5000 --batch 300
    python tools/compare_decisions.py --base c1a9a2d --posts 10000 --own-rules   # a policy or model change

``--own-rules`` runs each revision's own ``rules/community.yaml`` (whose lists and signals may differ), so
the comparison is of what a user of each revision would get.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ["reddit_comp551_comments.jsonl", "stackexchange_posts_comments.jsonl"]

_CHILD = r"""
import json, sys
# The installed entry points name the built-in classifiers by module path, so they load from the tree
# on PYTHONPATH (this checkout's or the base's); one the base lacks stays unregistered there, as in
# that revision (which also registered its built-ins itself).
from safeguard import Moderator
posts = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
batch = int(sys.argv[3])
moderator = Moderator.from_file(sys.argv[2])
with open(sys.argv[4], "w", encoding="utf-8") as out:
    for i in range(0, len(posts), batch):
        for decision in moderator.moderate_batch(posts[i : i + batch]):
            d = decision.to_dict()
            d.pop("elapsed_ms")
            out.write(json.dumps(d, sort_keys=True) + "\n")
"""


def _records(n: int) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT / "src"))
    from safeguard.datasets import read_eval

    out = [json.loads(line) for line in (ROOT / "examples" / "community_dump.jsonl").read_text().splitlines() if line]
    texts: list[str] = []
    for name in CORPORA:
        try:
            texts.extend(r["text"] for r in itertools.islice(read_eval(name), n))
        except FileNotFoundError:
            print(f"note: {name} not found; comparing on the example dump only", file=sys.stderr)
    texts = texts[: n // 2] + texts[len(texts) // 2 : len(texts) // 2 + (n - n // 2)] if len(texts) > n else texts
    for i, text in enumerate(texts):
        author: dict[str, Any] = {"id": f"u{i % 400}", "trust_level": i % 5, "role": "member"}
        if i % 97 == 0:
            author["role"] = "staff"
        if i % 89 == 0:
            author = {"id": f"u{i % 400}"}  # no trust level or role: rules reading them must not fire
        out.append(
            {
                "id": f"r{i}",
                "text": text,
                "author": author,
                "created_at": f"2026-10-02T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
            }
        )
    return out


def _base_tree(ref: str, into: Path) -> Path:
    """The revision's ``src`` and ``rules`` under ``into``; returns ``into``."""
    blob = subprocess.run(["git", "archive", ref, "src", "rules"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+ / 3.11.4+
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - our own repository's archive
            tar.extractall(into)
    return into


def _run(tree: Path, posts: Path, batch: int, out: Path, own_rules: bool) -> list[dict[str, Any]]:
    """Decisions of ``tree``'s source over ``posts``, with this checkout's policy or, with ``own_rules``,
    the tree's own."""
    # A fixed hash seed: the spam model sums n-gram weights in set order, which follows string
    # hashes, so its score can differ in the last bits from one process to the next otherwise.
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"}
    rules = (tree if own_rules else ROOT) / "rules" / "community.yaml"
    subprocess.run([sys.executable, "-c", _CHILD, str(posts), str(rules), str(batch), str(out)], env=env, check=True)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _differences(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """The innermost places where two decoded decisions differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out.extend(_differences(a.get(key), b.get(key), f"{path}.{key}" if path else key))
        return out
    return [] if a == b else [(path, a, b)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git revision to compare with (default: main)")
    parser.add_argument("--posts", type=int, default=5000, help="real posts besides the example dump")
    parser.add_argument("--batch", type=int, default=500, help="posts per moderate_batch call")
    parser.add_argument(
        "--own-rules", action="store_true", help="run each revision's own rules/community.yaml (a policy change)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        records = _records(args.posts)
        posts = work / "posts.jsonl"
        posts.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        base = _run(_base_tree(args.base, work / "base"), posts, args.batch, work / "base.jsonl", args.own_rules)
        here = _run(ROOT, posts, args.batch, work / "here.jsonl", args.own_rules)
    differ = [(a, b) for a, b in zip(base, here, strict=True) if a != b]
    fired = sum(1 for d in here if d["matches"] or d["shadow"])
    errors = sum(1 for d in here if d["errors"])
    print(
        f"{len(here)} decisions ({fired} with a rule fired, {errors} with errors, "
        f"{sum(1 for d in here if d['exempt'])} exempt): {len(differ)} differ from {args.base}"
    )
    moved = Counter(f"{a['action']} -> {b['action']}" for a, b in differ if a["action"] != b["action"])
    rules = Counter(
        f"{sorted(m['rule'] for m in a['matches'])} -> {sorted(m['rule'] for m in b['matches'])}"
        for a, b in differ
        if a["matches"] != b["matches"] and [m["rule"] for m in a["matches"]] != [m["rule"] for m in b["matches"]]
    )
    print(f"actions moved: {dict(moved) or 'none'}")
    totals = [Counter(d["action"] for d in run) for run in (base, here)]
    print(f"actions in all: {args.base} {dict(sorted(totals[0].items()))}, here {dict(sorted(totals[1].items()))}")
    fired_by = [Counter((d["action"], m["rule"]) for d in run for m in d["matches"]) for run in (base, here)]
    for key in sorted(set(fired_by[0]) | set(fired_by[1])):
        if fired_by[0][key] != fired_by[1][key]:
            print(f"  {key[1]} ({key[0]}): {fired_by[0][key]} -> {fired_by[1][key]}")
    for change, n in rules.most_common(10):
        print(f"  rules {change}: {n}")
    texts = {r["id"]: r["text"] for r in records}
    for a, b in [(a, b) for a, b in differ if a["action"] != b["action"]][:30]:
        print(f"  moved {a['post_id']} {a['action']} -> {b['action']}: {texts.get(a['post_id'], '')[:120]!r}")
    for a, b in differ[:5]:
        print(f"post {a['post_id']}:")
        for key, x, y in _differences(a, b):
            print(f"  {key}: {json.dumps(x, sort_keys=True)[:300]}")
            print(f"  {' ' * len(key)}  {json.dumps(y, sort_keys=True)[:300]}")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
