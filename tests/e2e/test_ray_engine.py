"""``safeguard moderate --engine ray``: Ray Data on this machine gives the records of a local run.

Ray starts locally (two CPUs, no cluster). The generated dump plants copy-paste campaigns whose copies
fall in different parts of the input and in two epochs, so the duplicate window and the author counts
are only right if they are computed across parts and carried from one epoch to the next.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _moderate_cli import DUMP, RULES, records
from _moderate_cli import moderate as run_moderate

from safeguard import Moderator
from safeguard.io.readers import iter_posts, read_records
from safeguard.rules.loader import load_ruleset
from safeguard.types import Decision

ray = pytest.importorskip("ray")


def moderate(*args: str) -> subprocess.CompletedProcess[str]:
    return run_moderate(*args, timeout=600)


def summary_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "│" in line]


def test_cli_ray_writes_the_records_of_a_local_run(tmp_path: Path) -> None:
    lines = DUMP.read_text(encoding="utf-8").splitlines()
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join([*lines[:200], "{not json", ""]) + "\n", encoding="utf-8")
    second = tmp_path / "second.jsonl.gz"  # compressed: read whole, as one part
    second.write_bytes(gzip.compress(("\n".join(lines[200:]) + "\n").encode("utf-8")))
    local, distributed = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    a = moderate(str(first), str(second), "-o", str(local), "--no-progress")
    b = moderate(str(first), str(second), "-o", str(distributed), "--no-progress", "--engine", "ray", "--workers", "2")
    assert a.returncode == b.returncode == 3, (a.stderr[-2000:], b.stderr[-2000:])
    assert records(distributed) == records(local)
    assert len(records(local)) == len(lines) + 1
    assert summary_lines(b.stderr) == summary_lines(a.stderr) != []


def _campaign_dump(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    campaigns = [
        "Huge clearance on every blender, message me on whatsapp +44 7700 900123 for the secret discount list",
        "Ordered a fridge three weeks ago and the delivery slot was cancelled again without any notice at all",
        "Claim your free loyalty voucher at bit.ly/free-voucher-claim before midnight, only for members today",
    ]
    words = ["kettle", "blender", "toaster", "fridge", "delivery", "refund", "store", "staff", "great", "broken"]
    start = datetime(2026, 10, 1, tzinfo=UTC)
    clock = start
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            clock += timedelta(seconds=rng.expovariate(1 / 40))
            if rng.random() < 0.3:
                text = list(rng.choice(campaigns))
                for _ in range(rng.randrange(3)):
                    text[rng.randrange(len(text))] = rng.choice("abcdefghij ")
                body = "".join(text)
            else:
                body = " ".join(rng.choice(words) for _ in range(rng.randrange(5, 20)))
            record: dict[str, object] = {"id": f"g{i}", "text": body}
            if rng.random() < 0.9:
                record["created_at"] = clock.isoformat()
            if rng.random() < 0.9:
                record["author"] = {"id": f"a{rng.randrange(25)}", "trust_level": rng.randrange(3)}
            fh.write(json.dumps(record) + "\n")
            if rng.random() < 0.01:
                fh.write('{"id": "broken", "text": 5}\n')


@pytest.fixture
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_campaigns_spanning_parts_get_the_local_decisions(tmp_path: Path, local_ray: None) -> None:
    from safeguard.shards import ray_engine

    dump = tmp_path / "campaigns.jsonl"
    _campaign_dump(dump, 1500, seed=7)
    ruleset = load_ruleset(RULES)
    outcomes = list(
        ray_engine.decide(
            ruleset, [str(dump)], ["jsonl"], batch_size=64, actors=2, range_bytes=16_000, epoch_bytes=130_000
        )
    )
    local: list[Decision | str] = []
    moderator = Moderator(load_ruleset(RULES))
    triples = list(iter_posts(read_records(dump)))
    decided = iter(moderator.moderate_many([p for _, p, _ in triples if p is not None], batch_size=64))
    for _, post, error in triples:
        local.append(next(decided) if post is not None else error or "")

    assert len(outcomes) == len(local) > 1500
    got = [o.decision if o.decision is not None else o.error for o in outcomes]
    for a, b in zip(got, local, strict=True):
        if isinstance(a, Decision) and isinstance(b, Decision):
            assert {**a.to_dict(), "elapsed_ms": 0} == {**b.to_dict(), "elapsed_ms": 0}
        else:
            assert a == b
    # Copies were found across parts (about 100 lines each): nearest copies 200 or more lines back.
    lines = {o.post_id: o.line for o in outcomes}
    dup = [(o.line, o.decision.signals["duplicate"]) for o in outcomes if o.decision is not None]
    assert max(d["cluster_size"] for _, d in dup) > 50
    assert sum(1 for line, d in dup if d["of"] and line - lines[d["of"]] >= 200) > 5
    counts = [o.decision.signals["spam"]["author_recent_posts"] for o in outcomes if o.decision is not None]
    assert max(counts) > 3


def test_ray_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    out = str(tmp_path / "out.jsonl")
    for extra, word in (
        (["--resume"], "--resume"),
        (["--queue", str(tmp_path / "q.db")], "--queue"),
        (["--duplicate-ids", "error"], "--duplicate-ids"),
    ):
        result = moderate(str(DUMP), "-o", out, "--engine", "ray", *extra)
        assert result.returncode == 2, result.stderr
        assert word in result.stderr and "Traceback" not in result.stderr
    result = moderate(str(DUMP), "-o", out, "--address", "auto")
    assert result.returncode == 2 and "--engine ray" in result.stderr
    result = moderate(str(DUMP), "-o", out, "--engine", "spark")
    assert result.returncode == 2 and "--engine" in result.stderr


def test_a_saved_window_is_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "ruleset: stateful\nclassifiers:\n  duplicate: {state: window.npz}\n"
        "rules:\n  - id: copy\n    when: duplicate.similarity > 0.9\n    action: hold\n",
        encoding="utf-8",
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "safeguard", "moderate", str(DUMP), "--rules", str(rules), "--engine", "ray"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "state:" in result.stderr and "Traceback" not in result.stderr
