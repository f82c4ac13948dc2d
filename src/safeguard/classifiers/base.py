"""The classifier protocol and the registry that finds classifiers through entry points.

A classifier turns a batch of posts into signals, one mapping per post::

    class Shouting(Classifier):
        kind = "shouting"
        outputs = {"caps_ratio": float}
        cost = Cost.CHEAP

        def classify(self, posts):
            return [{"caps_ratio": caps(p.text)} for p in posts]

Rules read the signals as ``<name>.<output>``, where ``name`` is the configured instance name
(``kind`` unless the ruleset names the instance otherwise). Contract:

* The constructor only stores and validates parameters; ``load()`` does heavy imports and model
  loading, once (it is idempotent).
* ``classify(posts)`` returns one mapping per post, same length and order, with every declared
  output. Scores are floats in [0, 1]; classifiers never threshold, rules do.
* ``outputs`` may depend on the parameters (a backend declares only the labels it really produces);
  it must be known after construction, before ``load()``.
* ``stateful`` classifiers (windows over the stream) see every post in input order. They may split
  ``classify`` into ``prepare(posts)``, the work that depends on each post alone (any process may do
  it; one picklable value per post), and ``advance(posts, prepared)``, the in-order step that reads
  and updates the window; ``classify(posts)`` must equal ``advance(posts, prepare(posts))``. Parallel
  runs prepare in worker processes and advance in one process, in input order.

Third-party classifiers register under the ``safeguard.classifiers`` entry-point group; the
built-ins are registered the same way. :func:`safeguard.testing.check_classifier` is a conformance
check any plugin can run in its own tests.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any, ClassVar

from safeguard.errors import ConfigError, SafeguardError
from safeguard.options import Options, parse_options
from safeguard.types import Post

__all__ = ["Classifier", "Cost", "available", "get_classifier_class", "register"]

ENTRY_POINT_GROUP = "safeguard.classifiers"


class Cost(enum.IntEnum):
    """How expensive a classifier is; the engine runs cheaper tiers first."""

    CHEAP = 0
    MODEL = 1
    REMOTE = 2


#: Types a classifier may declare for an output.
SIGNAL_TYPES: tuple[type, ...] = (float, int, bool, str, list, dict)


class Classifier:
    """Base class for classifiers. Subclass it and set ``kind``, ``outputs`` and ``cost``."""

    kind: ClassVar[str] = ""
    outputs: Mapping[str, type] = {}
    cost: Cost = Cost.CHEAP
    stateful: ClassVar[bool] = False
    #: The classifier's options as a frozen dataclass (:mod:`safeguard.options`), or None when it takes none
    #: or checks its own (its keyword parameters are then its options).
    options_type: ClassVar[type[Options] | None] = None

    def __init__(self, *, name: str | None = None, **params: Any) -> None:
        if self.options_type is not None:
            #: The checked options (an instance of ``options_type``).
            self.options = parse_options(self.options_type, params, self.kind)
        elif params:
            unknown = ", ".join(sorted(params))
            raise ValueError(f"unknown option(s) for classifier {self.kind!r}: {unknown}")
        self.name = name or self.kind
        self._loaded = False
        self._load_lock = threading.Lock()

    def load(self) -> None:
        """Import dependencies and load models. Idempotent; called before the first ``classify``."""
        with self._load_lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    @property
    def loaded(self) -> bool:
        return self._loaded

    def _load(self) -> None:
        """Override to do the heavy work of ``load()``; runs at most once."""

    def classify(self, posts: Sequence[Post]) -> list[dict[str, Any]]:
        """Return one signals mapping per post, in order."""
        raise NotImplementedError

    def prepare(self, posts: Sequence[Post]) -> list[Any]:
        """The part of a stateful classifier's work that needs no state: one picklable value per post,
        handed to :meth:`advance`. The default hands on nothing (``advance`` does all the work)."""
        return [None] * len(posts)

    def advance(self, posts: Sequence[Post], prepared: Sequence[Any]) -> list[dict[str, Any]]:
        """Signals of ``posts`` from what :meth:`prepare` made of them, updating the classifier's state
        in order. The default ignores ``prepared`` and calls :meth:`classify`."""
        return self.classify(posts)

    def close(self) -> None:
        """Release resources and persist state (a stateful classifier's window). A no-op by default."""

    def neutral(self) -> dict[str, Any]:
        """Signals of a post that shows nothing: 0.0, 0, False, "" and empty containers.

        Rule tests fill stubbed signals that a case does not give with these values.
        """
        empty: dict[type, Any] = {float: 0.0, int: 0, bool: False, str: "", list: [], dict: {}}
        return {k: empty.get(t) for k, t in self.outputs.items()}

    def describe(self) -> dict[str, Any]:
        """What this instance is, for ``explain`` and the docs."""
        return {
            "name": self.name,
            "kind": self.kind,
            "cost": self.cost.name.lower(),
            "stateful": self.stateful,
            "outputs": {k: t.__name__ for k, t in self.outputs.items()},
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


_registry: dict[str, type[Classifier]] = {}
_registry_lock = threading.Lock()
_entry_points_loaded = False
#: Entry points that could not be loaded: kind -> why (raised by get_classifier_class for that kind).
_broken: dict[str, str] = {}


def register(cls: type[Classifier]) -> type[Classifier]:
    """Register a classifier class under its ``kind`` (usable as a decorator). Validates it first."""
    _validate_class(cls)
    with _registry_lock:
        _registry[cls.kind] = cls
    return cls


def _validate_class(cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Classifier)):
        raise SafeguardError(f"{cls!r} is not a safeguard Classifier subclass")
    if not cls.kind or not cls.kind.isidentifier():
        raise SafeguardError(f"{cls.__name__}.kind must be an identifier, got {cls.kind!r}")
    if not isinstance(cls.cost, Cost):
        raise SafeguardError(f"{cls.__name__}.cost must be a safeguard Cost")


def _load_entry_points() -> None:
    global _entry_points_loaded
    with _registry_lock:
        if _entry_points_loaded:
            return
        found = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for ep in found:
            if ep.name in _registry:
                continue
            # A plugin that cannot be loaded is kept as its error, raised when a ruleset asks for that kind:
            # one broken plugin must not stop rulesets that never use it.
            try:
                cls = ep.load()
            except ImportError as exc:
                _broken[ep.name] = f"classifier plugin {ep.name!r} ({ep.value}) failed to import: {exc}"
                continue
            try:
                _validate_class(cls)
            except SafeguardError as exc:
                _broken[ep.name] = str(exc)
                continue
            if cls.kind != ep.name:
                _broken[ep.name] = (
                    f"classifier plugin {ep.value} is registered as {ep.name!r} but its kind is {cls.kind!r}"
                )
                continue
            _registry[ep.name] = cls
        _entry_points_loaded = True


def available() -> dict[str, type[Classifier]]:
    """Every registered classifier kind and its class."""
    _load_entry_points()
    return dict(sorted(_registry.items()))


def get_classifier_class(kind: str) -> type[Classifier]:
    """The class registered for ``kind``; raises :class:`ConfigError` naming the known kinds."""
    _load_entry_points()
    try:
        return _registry[kind]
    except KeyError:
        if kind in _broken:
            raise SafeguardError(_broken[kind]) from None
        if not _registry:
            # The built-ins are entry points of the installed distribution: a source tree put on the
            # path without installing it has none.
            raise ConfigError(
                f"unknown classifier kind {kind!r}: no classifier is registered; install the package "
                "(pip install -e . in a checkout) so its entry points exist"
            ) from None
        known = ", ".join(sorted(_registry))
        raise ConfigError(f"unknown classifier kind {kind!r} (known: {known})") from None
