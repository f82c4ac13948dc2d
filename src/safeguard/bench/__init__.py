"""The benchmark harness behind ``safeguard bench`` and ``benchmarks/run.py``.

Measures every classifier with its default backend, the shipped pipeline and the transformer
toxicity path, beside the unmodified peers a user would otherwise pick (Detoxify, Presidio,
datasketch, rapidfuzz, alt-profanity-check), in one run on one corpus::

    from safeguard.bench import Settings, run_benchmark, render_markdown

    document = run_benchmark(["text", "pipeline"], Settings.quick())
    print(render_markdown(document))

Figures per subject: posts/s batched, single-post latency p50/p95/p99, peak RSS (each subject in its
own process), posts/s by post length and by corpus size; ratios against the matching peer.
"""

from safeguard.bench.corpus import Corpus, load_corpus
from safeguard.bench.measure import Settings, percentile
from safeguard.bench.report import compute_ratios, machine_info, render_markdown, update_readme, validate_results
from safeguard.bench.runner import run_benchmark
from safeguard.bench.subjects import SUBJECTS, Prepared, Skipped, Subject, register_subject

__all__ = [
    "SUBJECTS",
    "Corpus",
    "Prepared",
    "Settings",
    "Skipped",
    "Subject",
    "compute_ratios",
    "load_corpus",
    "machine_info",
    "percentile",
    "register_subject",
    "render_markdown",
    "run_benchmark",
    "update_readme",
    "validate_results",
]
