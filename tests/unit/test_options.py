"""Classifier options as frozen dataclasses: checked once, named once, documented from the fields."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from safeguard.classifiers.base import available, get_classifier_class
from safeguard.errors import ConfigError
from safeguard.options import Integer, Number, OptionalCheck, Options, option, option_names, parse_options
from safeguard.rules.loader import load_ruleset


def _declaring() -> dict[str, type[Options]]:
    """Each built-in classifier kind that declares an options class, and the class."""
    found = {kind: getattr(get_classifier_class(kind), "options_type", None) for kind in available()}
    return {kind: t for kind, t in found.items() if t is not None}


def test_the_built_in_classifiers_with_options_declare_them_as_frozen_dataclasses() -> None:
    kinds = set(_declaring())
    assert {"duplicate", "spam", "pii", "feedback"} <= kinds
    for options_type in _declaring().values():
        assert dataclasses.is_dataclass(options_type)
        assert options_type.__dataclass_params__.frozen  # type: ignore[attr-defined]
        for f in dataclasses.fields(options_type):
            assert f.metadata.get("doc"), f"{options_type.__name__}.{f.name} says nothing of what it means"
            assert f.kw_only, f"{options_type.__name__}.{f.name} must be given by name"


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Demo(Options):
    count: int = option(3, Integer(1, 10), "a count")
    share: float | None = option(None, OptionalCheck(Number(0.0, 1.0)), "a share")
    words: list[str] = option([], None, "a mutable default")

    def validate(self) -> None:
        if self.share is not None and self.count > 5:
            raise ValueError("share needs a count of at most 5")


def test_each_field_is_checked_and_converted_then_the_rules_between_fields() -> None:
    assert _Demo().count == 3 and _Demo(share=1).share == 1.0 and isinstance(_Demo(share=1).share, float)
    with pytest.raises(ValueError, match="count must be an integer between 1 and 10, got 0"):
        _Demo(count=0)
    with pytest.raises(ValueError, match="count must be an integer, got True"):
        _Demo(count=True)
    with pytest.raises(ValueError, match=r"share must be a number in \[0, 1\], got nan"):
        _Demo(share=float("nan"))
    with pytest.raises(ValueError, match="share needs a count of at most 5"):
        _Demo(count=6, share=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        _Demo().count = 4  # type: ignore[misc]
    first, second = _Demo(), _Demo()
    first.words.append("x")
    assert second.words == []  # a mutable default is not shared


def test_unknown_names_are_refused_with_the_allowed_ones() -> None:
    assert option_names(_Demo) == ["count", "share", "words"]
    with pytest.raises(ValueError, match=r"unknown option\(s\) for classifier 'demo': cuont \(allowed: count, share"):
        parse_options(_Demo, {"cuont": 2}, "demo")
    assert parse_options(_Demo, {"count": 2}, "demo") == _Demo(count=2)


def test_a_classifier_keeps_its_checked_options() -> None:
    from safeguard.classifiers.duplicate import DuplicateClassifier

    classifier = DuplicateClassifier(threshold=1, bands=8)
    assert classifier.options.threshold == 1.0 and classifier.options.bands == 8
    with pytest.raises(ValueError, match=r"num_perm \(64\) must be a multiple of bands \(12\)"):
        DuplicateClassifier(bands=12)
    with pytest.raises(ValueError, match="unknown option"):
        DuplicateClassifier(treshold=0.9)


@pytest.mark.parametrize(
    ("classifier", "typo", "hint"),
    [
        ("duplicate", "treshold: 0.9", "did you mean 'threshold'?"),
        ("spam", "max_author: 5", "did you mean 'max_authors'?"),
        ("pii", "min_scores: 0.5", "did you mean 'min_score'?"),
        ("feedback", "gazeteer: x.csv", "did you mean 'gazetteer'?"),
    ],
)
def test_the_loader_learns_option_names_from_the_options_class(
    tmp_path: Path, classifier: str, typo: str, hint: str
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        f"ruleset: t\nclassifiers:\n  {classifier}:\n    {typo}\n"
        "rules:\n  - id: a\n    when: 'true'\n    action: hold\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_ruleset(path)
    problem = caught.value.problems[0]
    assert problem.line == 4 and hint in problem.message, problem


def test_the_rules_reference_lists_every_option_of_every_classifier() -> None:
    from safeguard.rules.reference import render

    text = render()
    for kind, options_type in _declaring().items():
        section = text.split(f"### {kind}\n", 1)[1].split("\n### ", 1)[0]
        for name in option_names(options_type):
            assert f"| `{name}` |" in section, (kind, name)
