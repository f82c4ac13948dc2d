"""``.pre-commit-hooks.yaml``: the hooks other repositories install run real ``safeguard`` commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from typer.testing import CliRunner

from safeguard.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"id", "name", "entry", "language", "files", "exclude", "args", "pass_filenames", "description"}


def hooks() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return {h["id"]: h for h in data}


def test_hooks_are_well_formed() -> None:
    found = hooks()
    assert set(found) == {"safeguard-check", "safeguard-test"}
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for hook in found.values():
        assert set(hook) <= KEYS, set(hook) - KEYS
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"
        program, command = shlex.split(hook["entry"])
        assert program == "safeguard" and command in commands, hook["entry"]
        re.compile(hook["files"])
    assert found["safeguard-check"]["entry"] == "safeguard check"
    assert found["safeguard-test"]["entry"] == "safeguard test"


@pytest.mark.parametrize(
    ("hook", "path", "selected"),
    [
        ("safeguard-check", "rules/community.yaml", True),
        ("safeguard-check", "policies/rules/forum.yml", True),
        ("safeguard-check", "rules/community.test.yaml", False),
        ("safeguard-check", "rules/lists/insults.txt", False),
        ("safeguard-check", "docker-compose.yaml", False),
        ("safeguard-test", "rules/community.test.yaml", True),
        ("safeguard-test", "rules/lists/insults.txt", True),
        ("safeguard-test", "src/app.py", False),
    ],
)
def test_hook_file_patterns(hook: str, path: str, selected: bool) -> None:
    h = hooks()[hook]
    chosen = re.search(h["files"], path) is not None and not (h.get("exclude") and re.search(h["exclude"], path))
    assert chosen is selected


def test_hooks_pass_on_the_shipped_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each hook as pre-commit would, from the repository root, on the shipped policy."""
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    check, test = hooks()["safeguard-check"], hooks()["safeguard-test"]
    result = runner.invoke(app, [*shlex.split(check["entry"])[1:], "rules/community.yaml"])
    assert result.exit_code == 0, result.output
    assert test["pass_filenames"] is False
    result = runner.invoke(app, [*shlex.split(test["entry"])[1:], *test["args"]])
    assert result.exit_code == 0, result.output


#: The documentation page that shows the pre-commit configuration and the CI job.
CI_DOCS = ROOT / "docs" / "ci.md"


def docs_policy_section() -> str:
    text = CI_DOCS.read_text(encoding="utf-8")
    return text.split("## Policy changes in CI", 1)[1].split("\n## ", 1)[0]


def test_ci_docs_snippets_use_real_commands_and_hooks() -> None:
    section = docs_policy_section()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.+?)\n```", section, re.S)]
    assert len(blocks) == 2
    precommit, workflow = blocks
    ids = {h["id"] for repo in precommit["repos"] for h in repo["hooks"]}
    assert ids == set(hooks())
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    runs = [step["run"] for step in workflow["jobs"]["policy"]["steps"] if "run" in step]
    used = [shlex.split(r)[1] for r in runs if r.startswith("safeguard ")]
    assert {"check", "test", "diff", "evaluate", "moderate", "report"} <= set(used)
    assert set(used) <= set(commands)
    for host in ("pypi.org", "pythonhosted.org", "index-url", "extra-index"):
        assert host not in section


def test_the_documented_local_hooks_run_what_the_published_hooks_run() -> None:
    """The ``repo: local`` configuration in docs/ci.md repeats the published hooks; they must not drift."""
    text = CI_DOCS.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n# \.pre-commit-config\.yaml\n(.*?)```", text, re.S)
    assert block, "docs/ci.md shows a .pre-commit-config.yaml"
    (repo,) = yaml.safe_load(block.group(1))["repos"]
    assert repo["repo"] == "local"
    local = {h["id"]: h for h in repo["hooks"]}
    published = hooks()
    assert set(local) == set(published)
    for hook_id, hook in local.items():
        assert hook["language"] == "system"
        want = published[hook_id]
        assert shlex.split(hook["entry"]) == shlex.split(want["entry"]) + list(want.get("args", [])), hook_id
        for key in ("files", "exclude", "pass_filenames"):
            assert hook.get(key) == want.get(key), (hook_id, key)
