"""safeguard: moderation for community forums.

Every post gets a decision, allow, hold (for a human) or remove, with its reasons::

    from safeguard import Moderator

    moderator = Moderator.from_file("rules/community.yaml")
    decision = moderator.moderate({"id": "p1", "text": "Worst blender ever, broke in two days"})
    decision.action   # Action.ALLOW

The public API is what ``__all__`` lists; everything else is private. Heavy parts (the rule engine,
models) are imported on first use, so ``import safeguard`` stays fast.
"""

import typing as _typing

from safeguard.errors import (
    ClassifierError,
    ConfigError,
    InputError,
    MissingDependencyError,
    ModelLoadError,
    Problem,
    ReviewError,
    SafeguardError,
)
from safeguard.types import Action, Author, Decision, Post, RuleMatch

if _typing.TYPE_CHECKING:
    from safeguard.classifiers.base import Classifier, Cost
    from safeguard.classifiers.static import StaticClassifier
    from safeguard.moderator import Moderator
    from safeguard.rules.loader import Ruleset, load_ruleset

__version__ = "0.1.0"

__all__ = [
    "Action",
    "Author",
    "Classifier",
    "ClassifierError",
    "ConfigError",
    "Cost",
    "Decision",
    "InputError",
    "MissingDependencyError",
    "ModelLoadError",
    "Moderator",
    "Post",
    "Problem",
    "ReviewError",
    "RuleMatch",
    "Ruleset",
    "SafeguardError",
    "StaticClassifier",
    "__version__",
    "load_ruleset",
]

_LAZY = {
    "Moderator": "safeguard.moderator",
    "Classifier": "safeguard.classifiers.base",
    "Cost": "safeguard.classifiers.base",
    "StaticClassifier": "safeguard.classifiers.static",
    "Ruleset": "safeguard.rules.loader",
    "load_ruleset": "safeguard.rules.loader",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'safeguard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
