"""The built wheel installs outside the repository and moderates with the policy it carries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from collections import Counter
from pathlib import Path

import pytest

from safeguard.errors import DISTRIBUTION

ROOT = Path(__file__).resolve().parents[2]
DUMP = ROOT / "examples" / "community_dump.jsonl"

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_the_wheel_installs_in_a_fresh_venv_and_moderates_with_the_packaged_policy(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (the dev extra)")
    dist = tmp_path / "dist"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ROOT)],
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("*.whl")
    assert wheel.name.startswith(DISTRIBUTION.replace("-", "_") + "-")

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    installed = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], cwd=tmp_path
    )
    assert installed.returncode == 0, installed.stderr
    # The dependencies come from this environment's site-packages, after the fresh one: a path line
    # in a .pth file does not run that directory's own .pth files, so the source tree this test runs
    # from (an editable install) stays out of reach.
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path).stdout.strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}} | {"HF_HUB_OFFLINE": "1"}
    where = _run([str(python), "-c", "import safeguard; print(safeguard.__file__)"], work, env)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout

    out = work / "decisions.jsonl"
    run = _run([str(env_dir / "bin" / "safeguard"), "moderate", str(DUMP), "-o", str(out), "--no-progress"], work, env)
    assert run.returncode == 0, run.stderr
    assert not (work / "rules").exists()
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == sum(1 for line in DUMP.read_text(encoding="utf-8").splitlines() if line.strip())
    packaged = Counter(r["action"] for r in records)

    # The same decisions as the policy in this checkout.
    here = work / "here.jsonl"
    source = _run(
        [
            sys.executable,
            "-m",
            "safeguard",
            "moderate",
            str(DUMP),
            "--rules",
            str(ROOT / "rules" / "community.yaml"),
            "-o",
            str(here),
            "--no-progress",
        ],
        ROOT,
        env,
    )
    assert source.returncode == 0, source.stderr
    expected = [json.loads(line) for line in here.read_text(encoding="utf-8").splitlines()]
    assert [(r["post_id"], r["action"], r["matches"]) for r in records] == [
        (r["post_id"], r["action"], r["matches"]) for r in expected
    ]
    assert packaged["remove"] > 0 and packaged["hold"] > 0
