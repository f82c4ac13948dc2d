"""The rule engine: runs only the classifiers that undecided rules need, cheapest first, and decides.

For a batch of posts the engine repeats two steps until nothing is left to learn:

1. evaluate every pending rule whose signals are all known (the ``post`` fields are known from
   the start); a post that reaches REMOVE is final, its remaining rules are not needed;
2. of the classifiers that pending rules of undecided posts still need, run those of the cheapest
   cost tier, each on just the posts that need it.

Stateful classifiers (windows over the stream) see every post, in order, whether or not a rule
needed them for that post. A classifier that raises is retried post by post so one bad post does
not fail its batch; each post it fails for gets the ruleset's ``on_error`` action and the error is
recorded: a failure never becomes a silent allow. A condition that compares a post field the post
does not have (``post.author.trust_level < 1`` for a post with no author data) does not fire.

Conditions in the subset of CEL that :mod:`safeguard.rules.fastpath` evaluates exactly are run in
Python over the post's values; a post's CEL context is built only when some condition needs the CEL
runtime (one outside that subset, or a value the fast path hands to CEL), and then holds the same
variables it always did. ``Engine(ruleset, fast_path=False)`` runs every condition through CEL.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import cel

from safeguard.classifiers.base import Classifier
from safeguard.errors import SafeguardError
from safeguard.rules.fastpath import Unsupported, compile_condition
from safeguard.rules.loader import CompiledRule, Condition, Ruleset
from safeguard.rules.regex import FUNCTIONS
from safeguard.types import Action, Decision, Post, RuleMatch, dig

__all__ = ["Engine", "Failure", "isolated"]

_MAX_VALUE_CHARS = 200


class _Check:
    """A condition ready to test: its CEL program, its Python form (None: CEL only), its error source."""

    __slots__ = ("cond", "fast", "source")

    def __init__(self, cond: Condition, source: str, fast_path: bool) -> None:
        self.cond = cond
        self.source = source
        self.fast: Callable[[dict[str, Any]], bool] | None = (
            compile_condition(cond.program.source, FUNCTIONS) if fast_path else None
        )


class _Plan:
    """A rule with its checks prepared once per engine."""

    __slots__ = ("needs", "rule", "unless", "when")

    def __init__(self, rule: CompiledRule, fast_path: bool) -> None:
        self.rule = rule
        self.needs = rule.needs
        self.when = _Check(rule.when, f"rule:{rule.id}", fast_path)
        self.unless = None if rule.unless is None else _Check(rule.unless, f"rule:{rule.id}:unless", fast_path)


@dataclass(frozen=True)
class Failure:
    """A classifier's failure on one post, kept as the message its decision records."""

    message: str

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        return cls(str(exc) or type(exc).__name__)


def isolated(run: Callable[[list[Any]], Sequence[Any]], items: list[Any]) -> list[Any]:
    """``run(items)``; when that raises, ``run([item])`` for each item alone, so that only the items it
    fails on fail: each of those gets a :class:`Failure` in place of its result."""
    try:
        results = list(run(items))
        if len(results) != len(items):
            raise SafeguardError(f"returned {len(results)} results for {len(items)} posts")
        return results
    except Exception as exc:
        if len(items) == 1:
            return [Failure.of(exc)]
        return [result for item in items for result in isolated(run, [item])]


class _State:
    __slots__ = (
        "action",
        "context",
        "errors",
        "exempt",
        "failed",
        "final",
        "known",
        "matches",
        "pending",
        "post",
        "shadow",
        "signals",
        "variables",
        "view",
    )

    def __init__(self, post: Post, plans: tuple[_Plan, ...]) -> None:
        self.post = post
        self.view = post_view(post)
        # What conditions read: "post" and each known classifier's signals. The CEL context holding
        # the same (converted) is built only when a condition needs the CEL runtime.
        self.variables: dict[str, Any] = {"post": self.view}
        self.context: cel.Context | None = None
        self.known: set[str] = set()
        self.failed: set[str] = set()
        self.signals: dict[str, dict[str, Any]] = {}
        self.pending: tuple[_Plan, ...] = plans
        self.matches: list[RuleMatch] = []
        self.shadow: list[RuleMatch] = []
        self.errors: list[dict[str, str]] = []
        self.action = Action.ALLOW
        self.exempt: bool | None = None
        self.final = False


class Engine:
    """Decides batches of posts under one :class:`Ruleset`. Thread-safe.

    ``fast_path=False`` evaluates every condition with the CEL runtime (the reference the fast path
    is tested against); decisions are the same either way.
    """

    def __init__(self, ruleset: Ruleset, *, fast_path: bool = True) -> None:
        self.ruleset = ruleset
        self.fast_path = fast_path
        self._plans = tuple(_Plan(rule, fast_path) for rule in ruleset.rules)
        # (pending rules, known classifiers) -> (rules ready to test, rules still waiting), and the
        # classifiers a pending set needs: the same for most posts of a batch, so worked out once.
        # Keys hold the id of a tuple this cache (or self._plans) keeps alive.
        self._splits: dict[tuple[int, frozenset[str]], tuple[tuple[_Plan, ...], tuple[_Plan, ...]]] = {}
        self._pending_needs: dict[int, frozenset[str]] = {id(self._plans): _union(self._plans)}
        self._exempt = None if ruleset.exempt is None else _Check(ruleset.exempt, "exempt", fast_path)
        self._names = tuple(sorted(ruleset.classifiers))
        self._locks = {name: threading.Lock() for name in ruleset.classifiers}
        used: set[str] = set()
        for rule in ruleset.rules:
            used |= rule.needs
        if ruleset.exempt is not None:
            used |= ruleset.exempt.needs
        self.used = frozenset(used)
        # The signals each classifier's rules read: only those enter the CEL context (None: all of them).
        conditions = [c for r in ruleset.rules for c in (r.when, r.unless) if c is not None]
        if ruleset.exempt is not None:
            conditions.append(ruleset.exempt)
        reads: dict[str, set[str] | None] = {}
        for cond in conditions:
            for dotted in cond.paths:
                head, _, rest = dotted.partition(".")
                if head == "post":
                    continue
                if not rest:
                    reads[head] = None
                elif (keys := reads.setdefault(head, set())) is not None:
                    keys.add(rest.partition(".")[0])
        self._reads: dict[str, frozenset[str] | None] = {
            k: None if v is None else frozenset(v) for k, v in reads.items()
        }
        self.stateful = tuple(name for name, c in ruleset.classifiers.items() if c.stateful and name in self.used)

    def load(self) -> None:
        """Load every classifier some rule reads (models included), so failures surface now."""
        for name in sorted(self.used):
            self.ruleset.classifiers[name].load()

    def decide(
        self,
        posts: Sequence[Post],
        stubs: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        *,
        advanced: Mapping[str, Sequence[Mapping[str, Any] | Failure]] | None = None,
    ) -> list[Decision]:
        """Decide a batch. ``stubs`` gives signals per classifier name (one mapping per post) that are
        used instead of running that classifier, as rule tests do. ``advanced`` gives, for every
        stateful classifier, what it returned for these posts (a mapping or a :class:`Failure` per
        post) when run elsewhere in input order; the engine uses it exactly where it would have run
        the classifier, so the decisions are those of a run that did."""
        start = time.perf_counter()
        rs = self.ruleset
        plans = self._plans
        states = [_State(p, plans) for p in posts]
        if advanced is not None:
            if set(advanced) != set(self.stateful):
                raise SafeguardError(f"advanced signals must cover exactly the stateful classifiers {self.stateful}")
            for name, rows in advanced.items():
                if len(rows) != len(posts):
                    raise SafeguardError(f"advanced signals for {name!r}: {len(rows)} rows for {len(posts)} posts")
        if stubs:
            for name, per_post in stubs.items():
                if len(per_post) != len(posts):
                    raise SafeguardError(f"stub signals for {name!r}: {len(per_post)} rows for {len(posts)} posts")
                for st, sig in zip(states, per_post, strict=True):
                    self._learn(st, name, dict(sig))
        ran_stateful: set[str] = set(stubs or ())
        while True:
            for st in states:
                if not st.final:
                    self._evaluate(st)
            needed: dict[str, list[int]] = {}
            for i, st in enumerate(states):
                if st.final:
                    continue
                for name in self._needs(st):
                    needed.setdefault(name, []).append(i)
            if not needed:
                break
            tier = min(rs.classifiers[name].cost for name in needed)
            for name, idx in sorted(needed.items()):
                if rs.classifiers[name].cost != tier:
                    continue
                if name in self.stateful:
                    idx = list(range(len(states)))
                    ran_stateful.add(name)
                self._run(name, [states[i] for i in idx], given=advanced.get(name) if advanced else None)
        for name in self.stateful:
            # Every post is shown to a stateful classifier, needed or not, and its signals are kept, so
            # that what a decision records does not depend on the other posts of its batch.
            if name not in ran_stateful:
                self._run(name, states, given=advanced.get(name) if advanced else None)
        elapsed = round((time.perf_counter() - start) * 1000.0 / max(1, len(posts)), 4)
        return [self._decision(st, elapsed) for st in states]

    # -- planning -------------------------------------------------------------------------------

    def _needs(self, st: _State) -> set[str]:
        if st.exempt is None and self._exempt is not None:
            return set(self._exempt.cond.needs - st.known - st.failed)
        needs = self._pending_needs.get(id(st.pending)) if not st.failed else None
        if needs is None:
            needs = _union(st.pending)
        return set(needs - st.known - st.failed)

    def _run(
        self,
        name: str,
        states: list[_State],
        *,
        given: Sequence[Mapping[str, Any] | Failure] | None = None,
    ) -> None:
        """Run ``name`` on the posts of ``states`` (or take its ``given`` results) and learn its signals;
        the posts it fails on fail alone."""
        if given is None:
            classifier: Classifier = self.ruleset.classifiers[name]
            given = isolated(lambda posts: self._classify(name, classifier, posts), [st.post for st in states])
        for st, result in zip(states, given, strict=True):
            if isinstance(result, Failure):
                self._fail(st, name, result.message)
            else:
                self._learn(st, name, result if isinstance(result, dict) else dict(result))

    def classify(self, name: str, posts: list[Post]) -> list[dict[str, Any]]:
        """Run one classifier on ``posts`` (loading it first), under its lock; checks the result count."""
        classifier = self.ruleset.classifiers.get(name)
        if classifier is None:
            known = ", ".join(sorted(self.ruleset.classifiers))
            raise SafeguardError(f"no classifier named {name!r} in this ruleset (known: {known})")
        return self._classify(name, classifier, posts)

    def _classify(self, name: str, classifier: Classifier, posts: list[Post]) -> list[dict[str, Any]]:
        with self._locks[name]:
            classifier.load()
            results = classifier.classify(posts)
        if len(results) != len(posts):
            raise SafeguardError(f"returned {len(results)} results for {len(posts)} posts")
        return results

    def _learn(self, st: _State, name: str, signals: dict[str, Any]) -> None:
        st.known.add(name)
        st.signals[name] = signals
        st.variables[name] = signals
        if st.context is not None:
            st.context.add_variable(name, self._readable(name, signals))

    def _readable(self, name: str, signals: dict[str, Any]) -> dict[str, Any]:
        """The signals of ``name`` that enter the CEL context: only those some condition reads."""
        keys = self._reads.get(name)
        if keys is None:
            return signals
        return {k: signals[k] for k in keys if k in signals}

    def _context(self, st: _State) -> cel.Context:
        """The post's CEL context, built on first need: ``post`` and every signal learned so far."""
        variables: dict[str, Any] = {"post": st.view}
        for name, signals in st.signals.items():
            variables[name] = self._readable(name, signals)
        st.context = cel.Context(variables, functions=FUNCTIONS)
        return st.context

    def _fail(self, st: _State, name: str, message: str) -> None:
        st.failed.add(name)
        st.errors.append({"source": f"classifier:{name}", "error": message})
        if self.ruleset.on_error > st.action:
            st.action = self.ruleset.on_error

    # -- evaluation -----------------------------------------------------------------------------

    def _evaluate(self, st: _State) -> None:
        if st.exempt is None:
            exempt = self._exempt
            if exempt is None:
                st.exempt = False
            elif exempt.cond.needs <= st.known:
                st.exempt = self._test(st, exempt) is True
                if st.exempt:
                    st.pending = ()
                    st.final = True
                    return
            elif not exempt.cond.needs.isdisjoint(st.failed):
                st.exempt = False  # fail closed: the error is recorded, rules still apply
            else:
                return
        if st.failed:
            ready, still = self._split_failed(st)
        else:
            key = (id(st.pending), frozenset(st.known))
            split = self._splits.get(key)
            if split is None:
                known = st.known
                ready = tuple(p for p in st.pending if p.needs <= known)
                still = tuple(p for p in st.pending if not p.needs <= known)
                # setdefault: when threads race, all use the one tuple stored (and kept alive) here
                split = self._splits.setdefault(key, (ready, still))
                self._pending_needs[id(split[1])] = _union(split[1])
            ready, still = split
        variables = st.variables
        for plan in ready:
            fast = plan.when.fast  # _test, inlined for the common case: a condition decided in Python
            fired: bool | None
            if fast is not None:
                try:
                    fired = fast(variables)
                except Unsupported:
                    fired = self._test(st, plan.when, fast=False)
            else:
                fired = self._test(st, plan.when)
            if fired and plan.unless is not None:
                fired = self._test(st, plan.unless) is False
            if fired is True:
                rule = plan.rule
                match = RuleMatch(
                    rule=rule.id,
                    action=rule.action,
                    reason=rule.reason,
                    guideline=rule.guideline,
                    values=self._values(st, rule.when),
                )
                if rule.shadow:
                    st.shadow.append(match)
                else:
                    st.matches.append(match)
                    if rule.action > st.action:
                        st.action = rule.action
        st.pending = still
        if st.action is Action.REMOVE or not still:
            st.final = True

    @staticmethod
    def _split_failed(st: _State) -> tuple[tuple[_Plan, ...], tuple[_Plan, ...]]:
        """Ready and waiting rules of a post one of whose classifiers failed; its rules are dropped."""
        ready: list[_Plan] = []
        still: list[_Plan] = []
        for plan in st.pending:
            if not plan.needs.isdisjoint(st.failed):
                continue  # its classifier failed: on_error already applied and recorded
            (ready if plan.needs <= st.known else still).append(plan)
        return tuple(ready), tuple(still)

    def _test(self, st: _State, check: _Check, *, fast: bool = True) -> bool | None:
        if fast and check.fast is not None:
            try:
                return check.fast(st.variables)
            except Unsupported:
                pass  # not decidable in Python (or a value CEL reports as an error): CEL decides
        context = st.context if st.context is not None else self._context(st)
        cond = check.cond
        try:
            result = cond.program.execute(context)
        except Exception as exc:
            if _reads_missing(st.view, cond.post_paths):
                return False
            self._rule_error(st, check.source, f"cannot evaluate: {exc}")
            return None
        if not isinstance(result, bool):
            self._rule_error(st, check.source, f"condition gave {type(result).__name__} {result!r}, not true or false")
            return None
        return result

    def _rule_error(self, st: _State, source: str, message: str) -> None:
        st.errors.append({"source": source, "error": message})
        if self.ruleset.on_error > st.action:
            st.action = self.ruleset.on_error

    def _values(self, st: _State, cond: Condition) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for dotted in cond.paths:
            parts = dotted.split(".")
            root: Any = st.view if parts[0] == "post" else st.signals.get(parts[0])
            found, value = dig(root, parts[1:])
            if not found or isinstance(value, dict):
                continue
            if isinstance(value, str) and len(value) > _MAX_VALUE_CHARS:
                value = value[:_MAX_VALUE_CHARS] + "…"
            elif isinstance(value, datetime):
                value = value.isoformat()
            out[dotted] = value
        return out

    def _decision(self, st: _State, elapsed_ms: float) -> Decision:
        signals = st.signals
        failed = st.failed
        skipped = tuple(n for n in self._names if n not in signals and n not in failed)
        return Decision(
            post_id=st.post.id,
            action=Action.ALLOW if st.exempt else st.action,
            matches=tuple(st.matches),
            shadow=tuple(st.shadow),
            signals={k: _jsonable(v) for k, v in signals.items()},
            skipped=skipped,
            errors=tuple(st.errors),
            exempt=bool(st.exempt),
            ruleset=self.ruleset.identity,
            elapsed_ms=elapsed_ms,
        )


def _union(plans: Sequence[_Plan]) -> frozenset[str]:
    """The classifiers any of ``plans`` reads."""
    return frozenset().union(*(p.needs for p in plans))


def post_view(post: Post) -> dict[str, Any]:
    """The ``post`` variable rules read. Absent strings read as ""; absent author facts as null."""
    a = post.author
    return {
        "id": post.id,
        "text": post.text,
        "title": post.title or "",
        "created_at": post.created_at,
        "thread_id": post.thread_id,
        "parent_id": post.parent_id,
        "meta": _celable(post.meta),
        "author": {
            "id": a.id,
            "trust_level": a.trust_level,
            "role": a.role,
            "account_age_days": a.account_age_days,
            "post_count": a.post_count,
            "meta": _celable(a.meta),
        },
    }


def _celable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _celable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_celable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool, datetime)):
        return value
    return str(value)


_PLAIN = frozenset({str, int, float, bool, type(None)})
_STR = frozenset({str})
_PLAIN_OR_LIST = _PLAIN | {list}


def _jsonable(signals: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(signals)
    kinds = set(map(type, out.values()))
    if kinds <= _PLAIN:
        return out  # the common case: scalars only
    if kinds <= _PLAIN_OR_LIST and _PLAIN.issuperset(
        map(type, itertools.chain.from_iterable([v for v in out.values() if type(v) is list]))
    ):
        return out  # scalars and lists of scalars (term lists, domains)
    for k, v in out.items():  # replaces values of existing keys only
        kind = type(v)
        if kind in _PLAIN:
            continue
        if kind is list:
            if _PLAIN.issuperset(map(type, v)):
                continue
        elif kind is dict and _STR.issuperset(map(type, v)) and _PLAIN.issuperset(map(type, v.values())):
            continue
        v = _celable(v)
        out[k] = v.isoformat() if isinstance(v, datetime) else v
    return out


def _reads_missing(view: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> bool:
    for path in paths:
        found, value = dig(view, path[1:])
        if not found or value is None:
            return True
    return False
