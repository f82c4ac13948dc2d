"""Every atheris fuzz target runs, coverage-guided, for a bounded time from its corpus without a finding.

``FUZZ_SECONDS`` sets the time per target (default 8); ``python fuzz/run.py TARGET --seconds 600`` is
the long run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "fuzz"))
from targets import TARGETS  # noqa: E402

SECONDS = int(os.environ.get("FUZZ_SECONDS", "8"))


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_target_runs_without_a_finding(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is in the dev extra")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "run.py"), target, "--seconds", str(SECONDS)],
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    tail = proc.stderr[-3000:]
    assert proc.returncode == 0, tail
    executed = [line for line in proc.stderr.splitlines() if line.startswith("stat::number_of_executed_units")]
    assert executed and int(executed[0].split(":")[-1]) > 0, tail
