"""Run subjects and assemble the results document (the engine behind ``safeguard bench``).

:func:`run_benchmark` loads the corpus once, writes it to a work directory, and measures each subject
in a child process of its own (``python -m safeguard.bench.child``), one after the other, so no
subject's imports, models or caches count towards another's memory or time. A subject that cannot
run is reported ``skipped`` with the reason; one that fails (or crashes its child, or runs past the
timeout) is reported ``error``: neither stops the run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import safeguard
from safeguard.bench.corpus import load_corpus, write_posts
from safeguard.bench.measure import Settings, measure_subject
from safeguard.bench.report import REQUIRED_RESULT_KEYS, compute_ratios, machine_info
from safeguard.bench.subjects import SUBJECTS, Context, Skipped, get_subject, ratio_pairs
from safeguard.types import Post

__all__ = ["not_run", "run_benchmark", "run_subject"]

#: Called with each result as it arrives: (index, total, result).
ProgressCallback = Callable[[int, int, dict[str, Any]], None]


def not_run(name: str, status: str, reason: str) -> dict[str, Any]:
    """The result of a subject that did not run: ``status`` "skipped" or "error", null figures."""
    subject = SUBJECTS.get(name)
    result: dict[str, Any] = {key: None for key in REQUIRED_RESULT_KEYS}
    result.update(name=name, status=status, reason=reason)
    if subject is not None:
        result.update(measures=subject.measures, peers=list(subject.peers))
    return result


def run_subject(name: str, corpus: Sequence[Post], settings: Settings, workdir: Path) -> dict[str, Any]:
    """Measure the subject ``name`` in this process; never raises for the subject's own failures."""
    try:
        subject = get_subject(name)
    except KeyError as exc:
        return not_run(name, "error", str(exc.args[0]))
    ctx = Context(workdir=workdir, corpus=corpus, quick=settings.quick_preset)
    try:
        return measure_subject(subject, corpus, settings, ctx)
    except Skipped as exc:
        return not_run(name, "skipped", str(exc))
    except Exception as exc:
        last = traceback.extract_tb(exc.__traceback__)[-1]
        where = f" ({Path(last.filename).name}:{last.lineno})"
        return not_run(name, "error", f"{type(exc).__name__}: {exc}{where}")


def _run_child(name: str, corpus_file: Path, settings: Settings, workdir: Path) -> dict[str, Any]:
    output = workdir / f"result_{name}.json"
    settings_json = json.dumps(dataclasses.asdict(settings))
    cmd = [sys.executable, "-m", "safeguard.bench.child", "--subject", name, "--corpus", str(corpus_file)]
    cmd += ["--workdir", str(workdir), "--settings", settings_json, "--output", str(output)]
    src = str(Path(safeguard.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=settings.timeout_s)
    except subprocess.TimeoutExpired:
        return not_run(name, "error", f"timed out after {settings.timeout_s:.0f}s")
    if proc.returncode != 0 or not output.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return not_run(name, "error", f"the measuring process exited with {proc.returncode}: {tail[0]}")
    result: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))
    return result


def run_benchmark(
    names: Sequence[str] | None = None,
    settings: Settings | None = None,
    *,
    corpus_path: str | Path | None = None,
    isolate: bool = True,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Measure the subjects ``names`` (default: all) and return the results document.

    ``isolate=False`` measures in this process (for tests: peak memory is then the process's own).
    Raises KeyError for an unknown subject name, and the corpus errors of
    :func:`~safeguard.bench.corpus.load_corpus`.
    """
    settings = settings or Settings()
    chosen = list(names) if names else list(SUBJECTS)
    for name in chosen:
        get_subject(name)
    corpus = load_corpus(settings.corpus_size(), corpus_path)
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="safeguard-bench-") as tmp:
        workdir = Path(tmp)
        corpus_file = workdir / "corpus.jsonl"
        if isolate:
            write_posts(corpus.posts, corpus_file)
        for i, name in enumerate(chosen):
            if isolate:
                result = _run_child(name, corpus_file, settings, workdir)
            else:
                result = run_subject(name, corpus.posts, settings, workdir)
            results.append(result)
            if progress is not None:
                progress(i, len(chosen), result)
    return {
        "machine": machine_info(),
        "corpus": corpus.describe(),
        "settings": {**dataclasses.asdict(settings), "isolated": isolate},
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
        "ratios": compute_ratios(results, ratio_pairs(chosen)),
    }
