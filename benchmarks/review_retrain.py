"""The review loop end to end on labelled posts: queue, verdicts, stats, and a retrain from the verdicts.

    python benchmarks/review_retrain.py [--posts 3000] [--source davidson_hate_offensive.jsonl]

A community that removes what the shipped policy lets through: Davidson et al.'s tweets (``../shared/eval``,
rows of the ``test`` split the shipped models never trained on), where this community's moderators remove
every hateful *or offensive* tweet, swearing included, which the shipped policy allows. The script runs
``safeguard moderate --queue DB --queue-sample-allows 1`` (every post reaches the queue: holds, and the
allows as a sample), gives every queued item the verdict its label says (as the moderator ``labels``), prints
``safeguard review stats``, then ``safeguard train toxicity --from-review DB``, which retrains the toxicity
head on 70% of the verdicts and prints the held-out AUC and precision/recall before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REMOVE = {"hate_speech", "offensive_language"}


def safeguard(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "160"}
    done = subprocess.run([sys.executable, "-m", "safeguard", *args], capture_output=True, text=True, env=env)
    if done.returncode not in (0, 3):
        raise SystemExit(f"safeguard {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--source", default="davidson_hate_offensive.jsonl")
    args = parser.parse_args()
    from safeguard.classifiers.toxicity.harmdata import hash_split
    from safeguard.datasets import read_eval
    from safeguard.review import ReviewStore

    rows = [r for r in read_eval(args.source) if hash_split(str(r["id"])) == "test"][: args.posts]
    label = {str(r["id"]): r["label"] in REMOVE for r in rows}
    print(f"{len(rows)} posts of {args.source} (test split), {sum(label.values())} to remove")
    with tempfile.TemporaryDirectory() as tmp:
        dump, db = Path(tmp) / "dump.jsonl", Path(tmp) / "review.db"
        dump.write_text("".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows), encoding="utf-8")
        decisions = str(Path(tmp) / "decisions.jsonl")
        moderated = safeguard("moderate", str(dump), "-o", decisions, "--queue", str(db), "--queue-sample-allows", "1")
        print(moderated.stderr.strip())
        with ReviewStore.open(db) as store:
            store.add_user("labels", "labels-password-0123", role="admin")
            decided = 0
            while (item := store.claim("labels")) is not None:
                removed = label.get(item.post.post_id, False)
                store.decide(item.id, "labels", "remove" if removed else "approve")
                decided += 1
        print(f"{decided} items decided from the labels")
        stats = json.loads(safeguard("review", "stats", "--db", str(db), "--json").stdout)
        print("holds upheld:", stats["holds"], "\nrecall:", stats["recall"])
        for rule in stats["rules"][:8]:
            print(f"  {rule['rule']:<28} decided {rule['decided']:>5} upheld {rule['share']} {rule['interval']}")
        trained = safeguard("train", "toxicity", "--from-review", str(db), "-o", str(Path(tmp) / "community.npz"))
        print(trained.stdout + trained.stderr)


if __name__ == "__main__":
    main()
