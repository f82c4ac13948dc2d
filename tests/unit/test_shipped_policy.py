"""The policy the package carries: named by a bare name wherever the process runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from safeguard import Moderator
from safeguard.rules.casefile import PASS, run_tests
from safeguard.rules.shipped import POLICY_DIR, policy_name, ruleset_path, shipped_policies

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_carries_the_community_policy_and_the_repository_links_to_it() -> None:
    policies = shipped_policies()
    assert set(policies) == {"community"}  # the test case file is not a policy
    assert policies["community"] == POLICY_DIR / "community.yaml"
    assert (ROOT / "rules").resolve() == POLICY_DIR


def test_a_bare_name_is_a_shipped_policy_and_a_file_always_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert ruleset_path("community") == POLICY_DIR / "community.yaml"
    assert ruleset_path("nosuch") == Path("nosuch")  # left as given, so the error names it
    assert ruleset_path("community.yaml") == Path("community.yaml")  # a file name is never looked up
    (tmp_path / "community").write_text("ruleset: mine\nrules: []\n", encoding="utf-8")
    assert ruleset_path("community") == Path("community")  # an existing file named so wins
    assert ruleset_path("community", base=tmp_path / "elsewhere") == POLICY_DIR / "community.yaml"
    assert policy_name(POLICY_DIR / "community.yaml") == "community"
    assert policy_name(ROOT / "rules" / "community.yaml") == "community"  # through the link
    assert policy_name(tmp_path / "community") is None


def test_the_library_loads_the_shipped_policy_by_name_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    by_name = Moderator.from_file("community").ruleset
    by_path = Moderator.from_file(ROOT / "rules" / "community.yaml").ruleset
    assert by_name.identity == by_path.identity
    assert os.getcwd() == str(tmp_path)


def test_a_rule_test_file_can_name_the_shipped_policy(tmp_path: Path) -> None:
    cases = tmp_path / "mine.test.yaml"
    cases.write_text(
        "rules: community\ncases:\n"
        "  - name: a kettle review stays up\n"
        "    post: {id: k1, text: This kettle boils fast and looks good.}\n"
        "    expect: {action: allow}\n",
        encoding="utf-8",
    )
    report = run_tests([cases])
    assert report.exit_code == 0, report
    assert report.count(PASS) == 1
