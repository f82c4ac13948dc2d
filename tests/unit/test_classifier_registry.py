"""The classifier registry: entry points are found, and one plugin that cannot load does not stop the rest."""

from __future__ import annotations

from importlib import metadata

import pytest

from safeguard.classifiers import base
from safeguard.errors import SafeguardError


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "_registry", {})
    monkeypatch.setattr(base, "_broken", {})
    monkeypatch.setattr(base, "_entry_points_loaded", False)


INSTALLED = list(metadata.entry_points(group=base.ENTRY_POINT_GROUP))


def _entry_points(*extra: metadata.EntryPoint) -> metadata.EntryPoints:
    return metadata.EntryPoints([*INSTALLED, *extra])


def test_every_builtin_is_registered(fresh_registry: None) -> None:
    kinds = set(base.available())
    assert {"static", "text", "lists", "toxicity", "spam", "pii", "duplicate", "feedback"} <= kinds


def test_a_broken_plugin_fails_only_where_it_is_asked_for(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed plugin whose module is gone (an old install, a half-removed package) must not stop a
    ruleset that never names it; naming it gives the import error."""
    broken = metadata.EntryPoint(name="sentiment2", value="no_such_module_here:Thing", group=base.ENTRY_POINT_GROUP)
    monkeypatch.setattr(base.metadata, "entry_points", lambda group: _entry_points(broken))
    assert base.get_classifier_class("lists").kind == "lists"
    assert "sentiment2" not in base.available()
    with pytest.raises(SafeguardError, match=r"'sentiment2' .* failed to import"):
        base.get_classifier_class("sentiment2")


def test_a_plugin_registered_under_another_kind_is_refused_by_name(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = metadata.EntryPoint(
        name="words", value="safeguard.classifiers.lists:ListsClassifier", group=base.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(base.metadata, "entry_points", lambda group: _entry_points(wrong))
    with pytest.raises(SafeguardError, match="registered as 'words' but its kind is 'lists'"):
        base.get_classifier_class("words")
    assert base.get_classifier_class("lists").kind == "lists"
