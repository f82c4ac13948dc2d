"""A classifier that returns signals it was given: the test double for rules and users' tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from safeguard.classifiers.base import SIGNAL_TYPES, Classifier, Cost
from safeguard.types import Post

__all__ = ["StaticClassifier"]


class StaticClassifier(Classifier):
    """Returns fixed signals, the same for every post, or per post id.

    ``StaticClassifier(name="toxicity", signals={"insult": 0.9})`` stands in for a toxicity model in a
    test. ``by_id={"p1": {...}}`` overrides per post; ``outputs`` declares the signal names and types
    (inferred from ``signals`` when omitted); outputs a post is not given read as neutral values.
    ``fail_on`` lists post ids for which ``classify`` raises, to test fail-closed handling.
    """

    kind = "static"
    cost = Cost.CHEAP

    def __init__(
        self,
        *,
        name: str | None = None,
        signals: Mapping[str, Any] | None = None,
        outputs: Mapping[str, type | str] | None = None,
        by_id: Mapping[str, Mapping[str, Any]] | None = None,
        fail_on: Sequence[str] = (),
        cost: Cost | str | int = Cost.CHEAP,
        function: Callable[[Post], Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(name=name)
        self.signals = dict(signals or {})
        self.by_id = {k: dict(v) for k, v in (by_id or {}).items()}
        self.fail_on = set(fail_on)
        self.function = function
        self.calls = 0
        self.posts_seen = 0
        declared: dict[str, type] = {}
        for key, typ in (outputs or {}).items():
            declared[key] = _parse_type(typ)
        for source in (self.signals, *self.by_id.values()):
            for key, value in source.items():
                declared.setdefault(key, _type_of(value))
        self.outputs = declared
        if isinstance(cost, str):
            cost = Cost[cost.upper()]
        # Per instance, so a static stand-in can pose as an expensive model in planning tests.
        self.cost = Cost(cost)

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        self.calls += 1
        self.posts_seen += len(posts)
        out = []
        for post in posts:
            if post.id in self.fail_on:
                raise RuntimeError(f"static classifier told to fail on post {post.id!r}")
            signals = self.neutral()
            signals.update(self.signals)
            signals.update(self.by_id.get(post.id, {}))
            if self.function is not None:
                signals.update(self.function(post))
            out.append(signals)
        return out


_TYPE_NAMES: dict[str, type] = {t.__name__: t for t in SIGNAL_TYPES}


def _parse_type(typ: type | str) -> type:
    if isinstance(typ, str):
        try:
            return _TYPE_NAMES[typ]
        except KeyError:
            raise ValueError(f"unknown output type {typ!r} (use one of {', '.join(_TYPE_NAMES)})") from None
    if typ not in SIGNAL_TYPES:
        raise ValueError(f"unknown output type {typ!r}")
    return typ


def _type_of(value: Any) -> type:
    for typ in (bool, int, float, str, list, dict):
        if isinstance(value, typ):
            return typ
    raise ValueError(f"cannot infer a signal type for {value!r}")
