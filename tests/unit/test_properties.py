"""Property tests: random input to every loader gives the project's own errors at worst, and counts hold.

The checks themselves are the fuzz targets in ``fuzz/targets.py`` (the same ones atheris runs); here
hypothesis drives them with random bytes and with random structured input (JSON records, CSV rows,
YAML documents) that gets further into each loader than bytes alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))
from targets import TARGETS

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
post_fields = st.sampled_from(["id", "text", "title", "author", "created_at", "thread_id", "parent_id", "meta"])
records = st.dictionaries(post_fields, json_values, max_size=6)


def _jsonl(rows: list[dict[str, object]], junk: list[bytes]) -> bytes:
    lines = [json.dumps(r).encode("utf-8", "surrogatepass") for r in rows] + junk
    return b"\n".join(lines) + b"\n"


@SETTINGS
@given(st.binary(max_size=2000))
def test_readers_survive_random_bytes(data: bytes) -> None:
    for name in ("jsonl", "compressed", "csv", "parquet", "importers", "gazetteer", "feedback"):
        TARGETS[name](data)


@SETTINGS
@given(st.lists(records, max_size=8), st.lists(st.binary(max_size=30), max_size=3))
def test_jsonl_gives_one_record_per_line(rows: list[dict[str, object]], junk: list[bytes]) -> None:
    data = _jsonl(rows, junk)
    TARGETS["jsonl"](data)
    TARGETS["compressed"](data)


cells = st.text(alphabet=st.sampled_from(list('ab ,"\n\t\r\\é')), max_size=12)


@SETTINGS
@given(st.lists(st.lists(cells, min_size=1, max_size=4), max_size=8))
def test_csv_and_tsv_rows(rows: list[list[str]]) -> None:
    for sep in (",", "\t"):
        data = ("id" + sep + "text\n" + "\n".join(sep.join(r) for r in rows)).encode("utf-8")
        TARGETS["csv"](data)


yaml_keys = st.sampled_from(
    [
        "name",
        "version",
        "rules",
        "id",
        "when",
        "action",
        "classifiers",
        "lists",
        "cases",
        "post",
        "expect",
        "text",
        "defaults",
        "on_error",
        "allow_outside",
        "&a",
        "*a",
        "<<",
    ]
)
yaml_docs = st.recursive(
    st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(yaml_keys, inner, max_size=4)),
    max_leaves=15,
)


@SETTINGS
@given(yaml_docs)
def test_ruleset_and_test_file_loaders_report_problems(doc: object) -> None:
    import yaml

    data = yaml.safe_dump(doc, allow_unicode=True).encode("utf-8")
    TARGETS["ruleset"](data)
    TARGETS["testfile"](data)


@SETTINGS
@given(st.binary(max_size=600))
def test_yaml_loaders_survive_random_bytes(data: bytes) -> None:
    TARGETS["ruleset"](data)
    TARGETS["testfile"](data)


@SETTINGS
@given(st.text(max_size=300))
def test_normalisation_batch_and_single_agree_on_any_text(text: str) -> None:
    TARGETS["normalize"](text.encode("utf-8", "surrogatepass"))
