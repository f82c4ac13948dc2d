"""The benchmark harness: percentiles, results format, ratios, README table, skipped and failing subjects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from safeguard.bench import (
    SUBJECTS,
    Prepared,
    Settings,
    Skipped,
    Subject,
    compute_ratios,
    load_corpus,
    percentile,
    register_subject,
    render_markdown,
    run_benchmark,
    update_readme,
    validate_results,
)
from safeguard.bench.report import MARKER_END, MARKER_START
from safeguard.bench.subjects import Context, ratio_pairs
from safeguard.types import Post

ROOT = Path(__file__).resolve().parents[2]
TINY = Settings(
    posts=40,
    latency_posts=10,
    heavy_posts=4,
    heavy_latency_posts=2,
    bucket_posts=5,
    heavy_bucket_posts=2,
    sizes=(20, 40),
    size_budget_s=30,
    warmup_posts=5,
    heavy_warmup_posts=1,
)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 50, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 0, 1.0),
        ([4.0, 1.0, 3.0, 2.0], 100, 4.0),
        (list(map(float, range(1, 101))), 95, 95.05),
        (list(map(float, range(1, 101))), 99, 99.01),
        ([10.0, 20.0], 25, 12.5),
    ],
)
def test_percentile_interpolates_like_numpy(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)
    np = pytest.importorskip("numpy")
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


@pytest.mark.parametrize(("values", "q"), [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_rejects_bad_input(values: list[float], q: float) -> None:
    with pytest.raises(ValueError):
        percentile(values, q)


@pytest.mark.parametrize(
    ("speeds", "expected"),
    [
        ({"a": 100.0, "peer": 25.0}, {"a_vs_peer": 4.0}),
        ({"a": 10.0, "peer": 40.0}, {"a_vs_peer": 0.25}),
        ({"a": 10.0, "peer": None}, {}),  # the peer was skipped
        ({"a": None, "peer": 10.0}, {}),
        ({"a": 10.0}, {}),  # the peer was not measured
        ({"a": 10.0, "peer": 0.0}, {}),
    ],
)
def test_ratios_are_subject_speed_over_peer_speed(speeds: dict[str, Any], expected: dict[str, float]) -> None:
    results = [{"name": name, "posts_per_s": speed} for name, speed in speeds.items()]
    assert compute_ratios(results, [("a", "peer")]) == expected


def test_ratio_pairs_cover_the_issue() -> None:
    names = {f"{a}_vs_{b}" for a, b in ratio_pairs()}
    assert names == {
        "toxicity_vs_profanity_check",
        "pii_vs_presidio_analyzer",
        "duplicate_vs_datasketch_lsh",
        "duplicate_vs_rapidfuzz_pairwise",
        "toxicity_onnx_vs_detoxify_predict",
        "toxicity_onnx_int8_vs_detoxify_predict",
        "toxicity_torch_vs_detoxify_predict",
    }
    assert ratio_pairs(["pii", "text"]) == [("pii", "presidio_analyzer")]
    for subject, peer in ratio_pairs():
        assert SUBJECTS[peer].is_peer and not SUBJECTS[subject].is_peer


def _result(name: str, speed: float | None = 10.0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "posts_per_s": speed,
        "p50_ms": 1.0,
        "p95_ms": 2.0,
        "p99_ms": 3.0,
        "peak_rss_mb": 50.0,
        **extra,
    }


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"results": [], "ratios": {}}, "missing key 'machine'"),
        ({"machine": {}, "results": [{"name": "x"}], "ratios": {}}, "results[0] has no 'posts_per_s'"),
        ({"machine": {}, "results": [_result("x", -1.0)], "ratios": {}}, "results[0].posts_per_s is -1.0"),
        ({"machine": {}, "results": [_result("x"), _result("x")], "ratios": {}}, "'x' is repeated"),
        ({"machine": {}, "results": [_result("x", None, status="skipped")], "ratios": {}}, "gives no 'reason'"),
        ({"machine": {}, "results": [], "ratios": {"fast": 2.0}}, "not '<subject>_vs_<peer>'"),
        ({"machine": {}, "results": [], "ratios": {"a_vs_b": 0}}, "expected a positive number"),
        ([], "not a JSON object"),
    ],
)
def test_validate_results_names_each_problem(document: Any, problem: str) -> None:
    problems = validate_results(document)
    assert any(problem in p for p in problems), problems


def test_validate_results_accepts_a_conforming_document() -> None:
    document = {
        "machine": {"cpu": "x", "cores": 2},
        "results": [_result("a", 20.0), _result("peer", None, status="skipped", reason="not installed")],
        "ratios": {"a_vs_peer": 2.0},
    }
    assert validate_results(document) == []


@pytest.fixture
def test_subjects() -> Iterator[None]:
    """Subjects that fail in setup, are skipped, or count their calls; removed after the test."""
    calls: dict[str, int] = {"batch": 0, "single": 0}

    def broken(ctx: Context) -> Prepared:
        raise RuntimeError("model file is corrupt")

    def absent(ctx: Context) -> Prepared:
        raise Skipped("somepackage is not installed: pip install somepackage")

    def counting(ctx: Context) -> Prepared:
        def batch(posts: list[Post]) -> None:
            calls["batch"] += 1

        def single(post: Post) -> None:
            calls["single"] += 1

        return Prepared(batch=batch, single=single, batch_size=8)

    added = [
        Subject("t_broken", "raises in setup", broken),
        Subject("t_absent", "needs a missing package", absent, is_peer=True),
        Subject("t_counting", "counts calls", counting, peers=("t_absent",)),
    ]
    for subject in added:
        register_subject(subject)
    try:
        yield
    finally:
        for subject in added:
            SUBJECTS.pop(subject.name, None)


def _corpus_file(tmp_path: Path, n: int = 60) -> Path:
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"id": f"p{i}", "text": "word " * (i % 30 + 1) + f"post {i}"}) for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_failing_and_skipped_subjects_are_reported_not_raised(tmp_path: Path, test_subjects: None) -> None:
    document = run_benchmark(
        ["t_broken", "t_absent", "t_counting"], TINY, corpus_path=_corpus_file(tmp_path), isolate=False
    )
    assert validate_results(document) == []
    by_name = {r["name"]: r for r in document["results"]}
    assert [r["name"] for r in document["results"]] == ["t_broken", "t_absent", "t_counting"]
    assert by_name["t_broken"]["status"] == "error"
    assert "RuntimeError: model file is corrupt" in by_name["t_broken"]["reason"]
    assert by_name["t_absent"]["status"] == "skipped"
    assert "pip install somepackage" in by_name["t_absent"]["reason"]
    for name in ("t_broken", "t_absent"):
        assert by_name[name]["posts_per_s"] is None and by_name[name]["p99_ms"] is None
    counted = by_name["t_counting"]
    assert counted["status"] == "ok" and counted["posts"] == TINY.posts and counted["latency_posts"] == 10
    assert counted["p50_ms"] <= counted["p95_ms"] <= counted["p99_ms"]
    assert [s["posts"] for s in counted["by_corpus_size"]] == [20, 40]
    assert document["ratios"] == {}  # its peer was skipped


def test_only_the_named_subjects_run(tmp_path: Path, test_subjects: None) -> None:
    document = run_benchmark(["t_counting"], TINY, corpus_path=_corpus_file(tmp_path), isolate=False)
    assert [r["name"] for r in document["results"]] == ["t_counting"]


def test_unknown_subject_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown subject 'nope'"):
        run_benchmark(["text", "nope"], TINY, corpus_path=_corpus_file(tmp_path), isolate=False)


def test_text_subject_runs_in_its_own_process(tmp_path: Path) -> None:
    document = run_benchmark(["text"], TINY, corpus_path=_corpus_file(tmp_path))
    assert validate_results(document) == []
    (result,) = document["results"]
    assert result["status"] == "ok", result
    assert result["posts"] == TINY.posts and result["posts_per_s"] > 0 and result["peak_rss_mb"] > 0
    assert {b["chars"] for b in result["by_length"]} == {"0-100", "100-500", "500-2000", "2000+"}
    machine = document["machine"]
    assert machine["cores"] >= 1 and machine["python"] and "torch" in machine["versions"]


def test_unregistered_classifier_kind_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safeguard.classifiers import base

    base.available()  # entry points loaded: the registry below is all there is
    monkeypatch.setattr(base, "_registry", {k: v for k, v in base._registry.items() if k != "duplicate"})
    document = run_benchmark(["duplicate"], TINY, corpus_path=_corpus_file(tmp_path), isolate=False)
    (result,) = document["results"]
    assert result["status"] == "skipped" and "not registered" in result["reason"]


@pytest.mark.parametrize(
    ("n", "sizes"), [(200, (200,)), (5000, (1000, 5000)), (10_000, (1000, 10_000)), (50_000, (1000, 10_000, 50_000))]
)
def test_posts_option_caps_the_scaling_sizes(n: int, sizes: tuple[int, ...]) -> None:
    settings = Settings().with_posts(n)
    assert settings.posts == n and settings.sizes == sizes


def test_corpus_from_a_file_is_cycled_with_fresh_ids(tmp_path: Path) -> None:
    corpus = load_corpus(150, _corpus_file(tmp_path, 60))
    assert len(corpus.posts) == 150 and corpus.cycled
    assert len({p.id for p in corpus.posts}) == 150
    assert corpus.posts[60].text == corpus.posts[0].text


def test_corpus_file_without_posts_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="no post with text"):
        load_corpus(10, path)


def _document() -> dict[str, Any]:
    return {
        "machine": {"cpu": "Test CPU", "cores": 2, "python": "3.11.0", "platform": "Linux", "versions": {"x": "1"}},
        "results": [
            _result("pii", 9000.0, measures="PII", posts=1000),
            _result("presidio_analyzer", 3000.0, measures="Presidio", posts=1000),
            _result("spam", None, status="skipped", reason="classifier kind 'spam' is not registered"),
        ],
        "ratios": {"pii_vs_presidio_analyzer": 3.0},
    }


def test_markdown_table_has_a_row_per_subject_and_the_ratios() -> None:
    table = render_markdown(_document(), command="safeguard bench")
    assert "`safeguard bench`" in table
    assert "| `pii` | PII | 1,000 | 9,000 | 1.0 | 2.0 | 3.0 | 50 |" in table
    assert "| `spam` | skipped: classifier kind 'spam' is not registered |" in table
    assert "| `pii_vs_presidio_analyzer` | 3.00 |" in table
    assert "Test CPU" in table


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            f"# T\n\n{MARKER_START}\nold table\n{MARKER_END}\n\nrest\n",
            f"# T\n\n{MARKER_START}\nNEW\n{MARKER_END}\n\nrest\n",
        ),
        (f"{MARKER_START}{MARKER_END}", f"{MARKER_START}\nNEW\n{MARKER_END}"),
    ],
)
def test_readme_table_is_replaced_between_the_markers_only(tmp_path: Path, before: str, after: str) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(before, encoding="utf-8")
    assert update_readme(readme, "NEW\n") is True
    assert readme.read_text(encoding="utf-8") == after
    assert update_readme(readme, "NEW\n") is False  # already current


@pytest.mark.parametrize(
    "text",
    [
        "no markers",
        f"{MARKER_START} only",
        f"{MARKER_END} x {MARKER_START}",
        f"{MARKER_START}{MARKER_END}{MARKER_START}",
    ],
)
def test_readme_without_one_pair_of_markers_is_refused(tmp_path: Path, text: str) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="bench:"):
        update_readme(readme, "NEW")
    assert readme.read_text(encoding="utf-8") == text


def test_committed_results_conform_and_the_benchmarks_page_shows_them() -> None:
    results = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert results, "benchmarks/results/ holds no results"
    for path in results:
        document = json.loads(path.read_text(encoding="utf-8"))
        assert validate_results(document) == [], path
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert page.count(MARKER_START) == 1 and page.count(MARKER_END) == 1
    inside = page.split(MARKER_START)[1].split(MARKER_END)[0]
    assert "safeguard bench" in inside and "| `pipeline` |" in inside
