"""The repository keeps its promises: README commands, generated files, the shipped policy."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from safeguard import Action, Moderator
from safeguard.rules.casefile import run_tests
from safeguard.rules.schema import ruleset_json_schema

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    main, tests = commands
    assert "safeguard moderate examples/community_dump.jsonl --rules rules/community.yaml" in main
    assert "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_cli_reference_is_current() -> None:
    from safeguard.cli.reference import render

    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: python -m safeguard.cli.reference > docs/cli.md"
    )


def test_rules_reference_is_current() -> None:
    from safeguard.rules.reference import render

    assert (ROOT / "docs" / "rules-reference.md").read_text(encoding="utf-8") == render(), (
        "docs/rules-reference.md is stale: python -m safeguard.rules.reference > docs/rules-reference.md"
    )


def test_rules_reference_names_every_key_of_the_schema() -> None:
    from safeguard.rules.reference import render

    lines = render().splitlines()
    schema = ruleset_json_schema()
    for node in [schema, *schema["$defs"].values()]:
        for key, prop in node["properties"].items():
            default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
            description = " ".join(str(prop.get("description", "")).split())
            rows = [line for line in lines if line.startswith(f"| `{key}` |")]
            assert any(default in row and description in row for row in rows), (key, rows)


def test_shipped_schema_is_current() -> None:
    shipped = json.loads((ROOT / "schema" / "ruleset.schema.json").read_text(encoding="utf-8"))
    assert shipped == ruleset_json_schema(), "regenerate: safeguard schema > schema/ruleset.schema.json"


def test_shipped_policy_passes_its_tests_and_covers_every_rule() -> None:
    report = run_tests([ROOT / "rules"])
    assert report.exit_code == 0, [(c.name, c.explain()) for f in report.files for c in f.cases if c.failed] or [
        p.render() for f in report.files for p in f.problems
    ]
    assert all(not f.uncovered for f in report.files), [f.uncovered for f in report.files]


def test_example_dump_is_moderated_with_no_error_records() -> None:
    moderator = Moderator.from_file(ROOT / "rules" / "community.yaml")
    lines = (ROOT / "examples" / "community_dump.jsonl").read_text(encoding="utf-8").splitlines()
    posts = [json.loads(line) for line in lines if line.strip()]
    assert len(posts) >= 200
    decisions = list(moderator.moderate_many(posts))
    assert len(decisions) == len(posts)
    actions = Counter(d.action for d in decisions)
    assert actions[Action.ALLOW] > 0.7 * len(posts)
    assert actions[Action.HOLD] > 0 and actions[Action.REMOVE] > 0
    assert not any(d.errors for d in decisions)
