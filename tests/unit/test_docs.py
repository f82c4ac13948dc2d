"""The documentation cannot go stale: the site builds strictly, its Python examples run, and every
``safeguard`` command its shell examples show exists.

A Python example whose first line is the comment ``# not run`` is skipped (for code that needs a running
server, say); every other one runs in a fresh interpreter from the repository root and must exit 0.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from safeguard.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.S | re.M)
NOT_RUN = "# not run"
#: Seconds one example may take: most load a ruleset (and its models) once, then decide a few posts.
EXAMPLE_TIMEOUT_S = 180


def blocks(lang: str) -> list[tuple[str, int, str]]:
    """(page, line, code) of every fenced block of ``lang`` in the pages."""
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group("lang") == lang:
                line = text.count("\n", 0, match.start()) + 1
                found.append((page.relative_to(ROOT).as_posix(), line, match.group("body")))
    return found


PYTHON = blocks("python")
BASH = blocks("bash")


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "cli" / "index.html").is_file()


def test_the_pages_hold_examples_to_check() -> None:
    pages = {page for page, _, _ in PYTHON}
    assert {"README.md", "docs/getting-started.md", "docs/rules.md", "docs/api.md"} <= pages
    assert len(PYTHON) >= 10
    assert sum(code.startswith(NOT_RUN) for _, _, code in PYTHON) <= 2, "run the examples; skip only a few"


@pytest.mark.parametrize(("page", "line", "code"), PYTHON, ids=[f"{p}:{n}" for p, n, _ in PYTHON])
def test_python_example_runs(page: str, line: int, code: str) -> None:
    if code.startswith(NOT_RUN):
        pytest.skip(code.splitlines()[0])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=EXAMPLE_TIMEOUT_S
    )
    assert result.returncode == 0, f"{page}:{line}\n{result.stderr[-4000:]}"


def _commands() -> dict[str, Any]:
    commands: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    return commands


def safeguard_invocations(code: str) -> list[list[str]]:
    """The words after each ``safeguard`` that a shell example runs (comments and continuations handled)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    found = []
    for raw in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw)  # a comment, not a '#' inside a word
        for match in re.finditer(r"(?:^|[\s;&|('\"])(?:\S*/)?safeguard\s+([^;&|)'\"]+)", line):
            found.append(shlex.split(match.group(1)))
    return found


def test_safeguard_invocations_are_found() -> None:
    code = (
        "python3 -m venv .venv && .venv/bin/safeguard moderate x.jsonl -o - | head  # safeguard nope\n"
        "SECRET=$(openssl rand -hex 32) safeguard serve \\\n    --rules r.yaml\n"
        "ray exec c.yaml 'safeguard moderate --engine ray x'\n"
        "pip install safeguard-moderation && python -m safeguard.cli.reference\n"
    )
    assert [w[0] for w in safeguard_invocations(code)] == ["moderate", "serve", "moderate"]


@pytest.mark.parametrize(("page", "line", "code"), BASH, ids=[f"{p}:{n}" for p, n, _ in BASH])
def test_shell_example_names_real_commands(page: str, line: int, code: str) -> None:
    commands = _commands()
    for words in safeguard_invocations(code):
        name = words[0]
        assert name in commands, f"{page}:{line}: 'safeguard {name}' is not a command ({', '.join(commands)})"
        group = getattr(commands[name], "commands", None)
        if group and len(words) > 1 and not words[1].startswith("-"):
            assert words[1] in group, f"{page}:{line}: 'safeguard {name} {words[1]}' is not a command"


def test_readme_links_lead_to_files() -> None:
    """The README's relative links (to the docs pages, mostly) work on a code host too."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t and not t.startswith("#")]
    assert any(t.startswith("docs/") for t in targets)
    for target in targets:
        assert (ROOT / target.split("#", 1)[0]).exists(), target
