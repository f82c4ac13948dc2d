"""Benchmark results: the machine, the JSON document, the ratios, and the Markdown table made from them.

The document is::

    {"machine": {"cpu", "cores", "python", "platform", "versions": {...}, ...},
     "results": [{"name", "posts_per_s", "p50_ms", "p95_ms", "p99_ms", "peak_rss_mb", ...}],
     "ratios": {"<subject>_vs_<peer>": x}}

A subject that did not run has ``status`` ``"skipped"`` or ``"error"``, a ``reason``, and null figures.
A ratio is the subject's posts/s over its peer's (2.0: twice as fast), present only when both ran.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "MARKER_END",
    "MARKER_START",
    "REQUIRED_RESULT_KEYS",
    "compute_ratios",
    "machine_info",
    "render_markdown",
    "update_readme",
    "validate_results",
]

MARKER_START = "<!-- bench:start -->"
MARKER_END = "<!-- bench:end -->"
REQUIRED_RESULT_KEYS: tuple[str, ...] = ("name", "posts_per_s", "p50_ms", "p95_ms", "p99_ms", "peak_rss_mb")
_FIGURES = REQUIRED_RESULT_KEYS[1:]
_PACKAGES = (
    "safeguard",
    "torch",
    "onnxruntime",
    "transformers",
    "presidio-analyzer",
    "spacy",
    "detoxify",
    "datasketch",
    "rapidfuzz",
    "alt-profanity-check",
    "scikit-learn",
    "numpy",
)


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, Python, platform and the versions of the packages measured."""
    versions: dict[str, str | None] = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": versions,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    match = re.search(r"^MemTotal:\s*(\d+) kB", text, re.MULTILINE)
    return round(int(match.group(1)) / 1024**2, 1) if match else None


def compute_ratios(results: Iterable[Mapping[str, Any]], pairs: Sequence[tuple[str, str]]) -> dict[str, float]:
    """``{"<subject>_vs_<peer>": subject posts/s / peer posts/s}`` for every pair where both have a figure."""
    speed = {r["name"]: r.get("posts_per_s") for r in results}
    ratios: dict[str, float] = {}
    for subject, peer in pairs:
        a, b = speed.get(subject), speed.get(peer)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0:
            ratios[f"{subject}_vs_{peer}"] = round(a / b, 2)
    return ratios


def validate_results(document: Any) -> list[str]:
    """Every way ``document`` differs from the results format; an empty list when it conforms."""
    problems: list[str] = []
    if not isinstance(document, Mapping):
        return ["the document is not a JSON object"]
    for key in ("machine", "results", "ratios"):
        if key not in document:
            problems.append(f"missing key {key!r}")
    if not isinstance(document.get("machine", {}), Mapping):
        problems.append("'machine' is not an object")
    results = document.get("results", [])
    if not isinstance(results, list):
        problems.append("'results' is not a list")
        results = []
    names: set[str] = set()
    for i, result in enumerate(results):
        if not isinstance(result, Mapping):
            problems.append(f"results[{i}] is not an object")
            continue
        for key in REQUIRED_RESULT_KEYS:
            if key not in result:
                problems.append(f"results[{i}] has no {key!r}")
        name = result.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"results[{i}].name is not a non-empty string")
        elif name in names:
            problems.append(f"results[{i}].name {name!r} is repeated")
        else:
            names.add(name)
        for key in _FIGURES:
            value = result.get(key)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
                problems.append(f"results[{i}].{key} is {value!r}: expected a non-negative number or null")
        if result.get("status", "ok") != "ok" and not result.get("reason"):
            problems.append(f"results[{i}] did not run but gives no 'reason'")
    ratios = document.get("ratios", {})
    if not isinstance(ratios, Mapping):
        problems.append("'ratios' is not an object")
    else:
        for key, value in ratios.items():
            if not re.fullmatch(r"\w+_vs_\w+", str(key)):
                problems.append(f"ratio key {key!r} is not '<subject>_vs_<peer>'")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                problems.append(f"ratio {key!r} is {value!r}: expected a positive number")
    return problems


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.1f}" if 0 < value < 10 else f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ms(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 1 else f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def render_markdown(document: Mapping[str, Any], *, command: str | None = None) -> str:
    """The Markdown table of a results document: one row per subject, then the ratios and the machine."""
    machine = document.get("machine", {})
    lines = []
    if command:
        lines += [f"Measured with `{command}`; results in `{document.get('file', 'benchmarks/results/')}`.", ""]
    lines += [
        "| subject | what it measures | posts | posts/s | p50 ms | p95 ms | p99 ms | peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in document.get("results", []):
        status = r.get("status", "ok")
        if status != "ok":
            reason = str(r.get("reason", "")).replace("|", "\\|").splitlines()[0] if r.get("reason") else ""
            lines.append(f"| `{r['name']}` | {status}: {reason} | | | | | | |")
            continue
        lines.append(
            f"| `{r['name']}` | {r.get('measures', '')} | {_number(r.get('posts'))} | {_number(r['posts_per_s'])} "
            f"| {_ms(r['p50_ms'])} | {_ms(r['p95_ms'])} | {_ms(r['p99_ms'])} | {_number(r['peak_rss_mb'])} |"
        )
    ratios = document.get("ratios", {})
    if ratios:
        lines += ["", "| ratio (posts/s over the peer's, same run) | x |", "| --- | ---: |"]
        lines += [f"| `{name}` | {value:,.2f} |" for name, value in ratios.items()]
    scaling = [r for r in document.get("results", []) if r.get("by_corpus_size")]
    if scaling:
        sizes = sorted({s["posts"] for r in scaling for s in r["by_corpus_size"]})
        lines += ["", "| posts/s by corpus size | " + " | ".join(f"{s:,}" for s in sizes) + " |"]
        lines += ["| --- |" + " ---: |" * len(sizes)]
        for r in scaling:
            by = {s["posts"]: s.get("posts_per_s") for s in r["by_corpus_size"]}
            lines.append(f"| `{r['name']}` | " + " | ".join(_number(by.get(s)) for s in sizes) + " |")
    lengths = [r for r in document.get("results", []) if r.get("by_length")]
    if lengths:
        buckets = [b["chars"] for b in lengths[0]["by_length"]]
        lines += ["", "| posts/s by post length (chars) | " + " | ".join(buckets) + " |"]
        lines += ["| --- |" + " ---: |" * len(buckets)]
        for r in lengths:
            by = {b["chars"]: b.get("posts_per_s") for b in r["by_length"]}
            lines.append(f"| `{r['name']}` | " + " | ".join(_number(by.get(b)) for b in buckets) + " |")
    if machine:
        versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items() if v)
        lines += [
            "",
            f"Machine: {machine.get('cpu', '?')}, {machine.get('usable_cores', machine.get('cores', '?'))} cores, "
            f"Python {machine.get('python', '?')}, {machine.get('platform', '?')}; {versions}.",
        ]
    corpus = document.get("corpus")
    if isinstance(corpus, Mapping):
        lines += [f"Corpus: {corpus.get('source')}, {corpus.get('mean_chars')} characters per post on average."]
    return "\n".join(lines) + "\n"


def update_readme(readme: Path, table: str) -> bool:
    """Replace what lies between the bench markers in ``readme`` with ``table``; True when the file changed.

    Raises ValueError when the markers are missing, repeated or out of order.
    """
    text = readme.read_text(encoding="utf-8")
    starts, ends = text.count(MARKER_START), text.count(MARKER_END)
    if starts != 1 or ends != 1:
        raise ValueError(
            f"{readme} must hold exactly one {MARKER_START} and one {MARKER_END} (found {starts} and {ends})"
        )
    head, rest = text.split(MARKER_START)
    _, tail = rest.split(MARKER_END) if MARKER_END in rest else (None, None)
    if tail is None:
        raise ValueError(f"{MARKER_END} comes before {MARKER_START} in {readme}")
    updated = f"{head}{MARKER_START}\n{table.rstrip()}\n{MARKER_END}{tail}"
    if updated == text:
        return False
    readme.write_text(updated, encoding="utf-8")
    return True
