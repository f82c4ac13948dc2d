"""Test support for users and plugin authors.

* :class:`~safeguard.classifiers.static.StaticClassifier` stands in for any classifier.
* :func:`check_classifier` is a conformance check a classifier plugin runs in its own test suite::

      from safeguard.testing import check_classifier

      def test_my_classifier_conforms():
          check_classifier(MyClassifier(threshold=0.3))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from safeguard.classifiers.base import SIGNAL_TYPES, Classifier, Cost
from safeguard.classifiers.static import StaticClassifier
from safeguard.types import Author, Post

__all__ = ["SAMPLE_POSTS", "StaticClassifier", "check_classifier"]

#: Varied posts a conformance check runs a classifier on.
SAMPLE_POSTS: tuple[Post, ...] = (
    Post(id="s1", text="Does this kettle come in black?"),
    Post(id="s2", text="Worst blender ever, broke in two days. Never again!!!", author=Author(id="u1", trust_level=0)),
    Post(id="s3", text=""),
    Post(id="s4", text="Ünïcödé, emoji 🎉, zero\u200bwidth and ＦＵＬＬＷＩＤＴＨ", title="Odd text"),
    Post(id="s5", text="x" * 5000),
    Post(id="s6", text="Call me at +1 415 555 0100 or mail a@b.example, http://deals.example/x"),
)


def check_classifier(classifier: Classifier, posts: Sequence[Post] = SAMPLE_POSTS) -> None:
    """Assert that ``classifier`` follows the protocol; raises ``AssertionError`` saying what is wrong.

    Checks: a registered-style ``kind`` and a name; declared outputs with supported types; a ``Cost``
    tier; ``load()`` idempotent; ``classify`` returns one mapping per post, in order, with exactly the
    declared outputs of the declared types, floats finite and scores in [0, 1]; an empty batch gives
    an empty list; the same posts give the same signals (stateless classifiers only).
    """
    name = type(classifier).__name__
    assert classifier.kind and classifier.kind.isidentifier(), f"{name}.kind must be an identifier"
    assert classifier.name and classifier.name.isidentifier(), f"{name}.name must be an identifier"
    assert isinstance(classifier.cost, Cost), f"{name}.cost must be a safeguard Cost"
    outputs = dict(classifier.outputs)
    for key, typ in outputs.items():
        assert key.isidentifier(), f"{name}: output name {key!r} must be an identifier"
        assert typ in SIGNAL_TYPES, f"{name}: output {key!r} has unsupported type {typ!r}"
    classifier.load()
    classifier.load()
    assert classifier.classify([]) == [], f"{name}.classify([]) must return []"
    first = classifier.classify(list(posts))
    assert isinstance(first, list), f"{name}.classify must return a list"
    assert len(first) == len(posts), f"{name}.classify returned {len(first)} results for {len(posts)} posts"
    for post, signals in zip(posts, first, strict=True):
        assert set(signals) == set(outputs), (
            f"{name}: post {post.id!r} gave signals {sorted(signals)}, declared {sorted(outputs)}"
        )
        for key, value in signals.items():
            typ = outputs[key]
            if value is None:
                continue
            ok = isinstance(value, typ) or (typ is float and isinstance(value, int) and not isinstance(value, bool))
            assert ok, f"{name}: {key} of post {post.id!r} is {type(value).__name__}, declared {typ.__name__}"
            if typ is float:
                assert math.isfinite(value), f"{name}: {key} of post {post.id!r} is not finite"
                assert 0.0 <= value <= 1.0 or not _is_score(key), (
                    f"{name}: score {key} of post {post.id!r} is {value}, outside [0, 1]"
                )
    if not classifier.stateful:
        again = classifier.classify(list(posts))
        assert again == first, f"{name}: the same posts gave different signals"
        single = [classifier.classify([p])[0] for p in posts]
        assert single == first, f"{name}: batch results differ from one-post results"


def _is_score(key: str) -> bool:
    # Counts, lengths and polarities (a sentiment runs from -1 to 1) are floats that are not probabilities.
    return not any(part in key for part in ("count", "length", "days", "ratio_raw", "size", "sentiment"))
