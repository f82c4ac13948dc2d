"""Load a ruleset file: parse strictly, compile every expression, check every signal, in one pass.

Every problem found is collected with its file, line and column, then raised together as one
:class:`~safeguard.errors.ConfigError`, so ``safeguard check`` can list them all at once.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cel

from safeguard.classifiers.base import Classifier, available, get_classifier_class
from safeguard.classifiers.lists import MAX_LIST_FILE_BYTES
from safeguard.errors import ConfigError, Problem
from safeguard.files import UnsafeFileError, config_root, confined, read_bounded
from safeguard.options import option_names
from safeguard.rules import schema
from safeguard.rules.expressions import Reference, references
from safeguard.rules.regex import literal_patterns, pattern_error, rewrite_matches
from safeguard.rules.shipped import ruleset_path
from safeguard.rules.source import SourceFile, load_yaml
from safeguard.types import Action

__all__ = [
    "MAX_RULESET_BYTES",
    "CompiledRule",
    "Ruleset",
    "load_ruleset",
    "parse_ruleset",
    "read_ruleset",
    "ruleset_from_bytes",
]

#: Largest ruleset file read (the shipped policy is about 30 kB).
MAX_RULESET_BYTES = 4 * 1024 * 1024

#: Options the loader gives classifiers itself; a ruleset cannot set them per classifier.
_LOADER_OPTIONS = ("base_dir", "allow_outside")

#: Fields of the ``post`` variable rules can read.
POST_FIELDS: dict[str, Any] = {
    "id": str,
    "text": str,
    "title": str,
    "created_at": object,
    "thread_id": str,
    "parent_id": str,
    "meta": dict,
    "author": {
        "id": str,
        "trust_level": int,
        "role": str,
        "account_age_days": float,
        "post_count": int,
        "meta": dict,
    },
}

#: Classifiers available without configuration.
IMPLICIT_CLASSIFIERS = ("text",)


@dataclass(frozen=True)
class Condition:
    """A compiled CEL expression and what it reads."""

    source: str
    program: Any
    needs: frozenset[str]
    paths: tuple[str, ...]
    post_paths: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to run."""

    id: str
    action: Action
    when: Condition
    unless: Condition | None = None
    reason: str | None = None
    guideline: str | None = None
    shadow: bool = False
    description: str | None = None
    tags: tuple[str, ...] = ()
    line: int = 0
    priority: int | None = None

    @functools.cached_property
    def needs(self) -> frozenset[str]:
        """Names of the classifiers this rule reads (computed once: the engine asks on every pass)."""
        return self.when.needs | (self.unless.needs if self.unless else frozenset())


@dataclass
class Ruleset:
    """A loaded, validated ruleset with its classifier instances."""

    name: str
    version: int | str | None
    hash: str
    rules: list[CompiledRule]
    classifiers: dict[str, Classifier]
    on_error: Action = Action.HOLD
    exempt: Condition | None = None
    description: str | None = None
    path: Path | None = None
    lists: dict[str, list[str] | str] = field(default_factory=dict)
    #: The YAML it was parsed from and the directory its relative paths resolve against: enough for
    #: another process to build the same ruleset.
    text: str | None = None
    base_dir: Path | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """``{"name", "version", "hash"}``, recorded in every decision."""
        return {"name": self.name, "version": self.version, "hash": self.hash}

    @property
    def priorities(self) -> dict[str, int]:
        """Review queue priority of each rule that sets ``priority``, by rule id."""
        return {r.id: r.priority for r in self.rules if r.priority is not None}

    def rule(self, rule_id: str) -> CompiledRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def load_ruleset(path: str | Path) -> Ruleset:
    """Load and validate a ruleset file, or a shipped policy by name (``"community"``, see
    :func:`~safeguard.rules.shipped.ruleset_path`). Raises :class:`ConfigError` listing every problem."""
    path = ruleset_path(path)
    return ruleset_from_bytes(read_ruleset(path), path)


def read_ruleset(path: str | Path) -> bytes:
    """The bytes of a ruleset file (at most :data:`MAX_RULESET_BYTES`); :class:`ConfigError` when unreadable."""
    try:
        return read_bounded(Path(path), MAX_RULESET_BYTES, what="ruleset")
    except UnsafeFileError as exc:
        raise ConfigError([Problem(str(path), 0, 0, f"cannot read ruleset: {exc.reason}")]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(path), 0, 0, f"cannot read ruleset: {exc.strerror or exc}")]) from None


def ruleset_from_bytes(raw: bytes, path: str | Path) -> Ruleset:
    """Validate ``raw`` as the ruleset file at ``path`` (its problems name that file, its relative
    list paths resolve next to it), so that bytes read once can be checked and kept exactly."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(str(path), 0, 0, f"ruleset is not UTF-8: {exc}")]) from None
    return parse_ruleset(text, file=str(path), base_dir=Path(path).parent, raw=raw)


def parse_ruleset(
    text: str, *, file: str = "<ruleset>", base_dir: str | Path | None = None, raw: bytes | None = None
) -> Ruleset:
    """Validate ruleset YAML given as text. Relative list paths resolve against ``base_dir``."""
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    source = load_yaml(text, file)
    problems = list(source.problems)
    if problems:
        raise ConfigError(problems)
    spec, structural = schema.validate(schema.RulesetSpec, source)
    problems.extend(structural)
    data = source.data if isinstance(source.data, dict) else {}

    classifiers, list_bytes, failed = _build_classifiers(data, source, base, problems)
    outputs: dict[str, Mapping[str, type] | None] = {name: dict(c.outputs) for name, c in classifiers.items()}
    # A classifier whose options already gave a problem: rules reading it are not reported again.
    outputs.update(dict.fromkeys(failed))

    exempt = None
    if isinstance(data.get("exempt"), str):
        exempt = _compile(data["exempt"], ("exempt",), source, outputs, problems)

    rules: list[CompiledRule] = []
    seen: dict[str, int] = {}
    raw_rules: list[Any] = data["rules"] if isinstance(data.get("rules"), list) else []
    for i, item in enumerate(raw_rules):
        if not isinstance(item, dict):
            continue
        rule_id = item.get("id")
        line = source.locate(("rules", i)).line
        if isinstance(rule_id, str):
            if rule_id in seen:
                problems.append(
                    source.problem(("rules", i, "id"), f"duplicate rule id {rule_id!r} (first on line {seen[rule_id]})")
                )
            else:
                seen[rule_id] = line
        when = _compile(item.get("when"), ("rules", i, "when"), source, outputs, problems)
        unless = None
        if item.get("unless") is not None:
            unless = _compile(item.get("unless"), ("rules", i, "unless"), source, outputs, problems)
        try:
            action = Action.parse(item.get("action", ""))
        except ValueError:
            action = Action.ALLOW  # reported by the schema check
        if when is not None:
            rules.append(
                CompiledRule(
                    id=str(rule_id),
                    action=action,
                    when=when,
                    unless=unless,
                    reason=item.get("reason"),
                    guideline=item.get("guideline"),
                    shadow=item.get("mode") == "shadow",
                    description=item.get("description"),
                    tags=tuple(item.get("tags") or ()),
                    line=line,
                    priority=item.get("priority") if isinstance(item.get("priority"), int) else None,
                )
            )

    if problems or spec is None:
        problems.sort(key=lambda p: (p.line, p.column))
        raise ConfigError(problems)

    digest = hashlib.sha256(raw if raw is not None else text.encode("utf-8"))
    for name in sorted(list_bytes):
        digest.update(name.encode() + b"\0" + list_bytes[name])
    # Drop classifiers no rule reads: they would never run.
    used = set().union(*(r.needs for r in rules)) if rules else set()
    if exempt is not None:
        used |= exempt.needs
    return Ruleset(
        name=spec.ruleset,
        version=spec.version,
        hash="sha256:" + digest.hexdigest()[:16],
        rules=rules,
        classifiers={n: c for n, c in classifiers.items() if n in used or n in (spec.classifiers or {})},
        on_error=Action.parse(spec.on_error),
        exempt=exempt,
        description=spec.description,
        path=Path(file) if file and not file.startswith("<") else None,
        lists=dict(spec.lists),
        text=text,
        base_dir=base,
    )


def _build_classifiers(
    data: dict[str, Any], source: SourceFile, base: Path, problems: list[Problem]
) -> tuple[dict[str, Classifier], dict[str, bytes], set[str]]:
    """The classifiers, the bytes of each term list (for the ruleset's hash), and the names of the
    configured classifiers that could not be built (their problems are already in ``problems``)."""
    out: dict[str, Classifier] = {}
    list_bytes: dict[str, bytes] = {}
    failed: set[str] = set()
    allow_outside = data.get("allow_outside") is True
    configured = data.get("classifiers")
    if isinstance(configured, dict):
        for name, options in configured.items():
            path = ("classifiers", name)
            if not isinstance(options, dict):
                options = {} if options is None else None
                if options is None:
                    problems.append(source.problem(path, f"options of classifier {name!r} must be a mapping"))
                    continue
            if not str(name).isidentifier():
                problems.append(source.problem(path, f"classifier name {name!r} must be an identifier", key=True))
                continue
            if name in ("post",):
                problems.append(source.problem(path, f"{name!r} is reserved", key=True))
                continue
            opts = dict(options)
            kind = opts.pop("kind", name)
            try:
                cls = get_classifier_class(str(kind))
            except ConfigError as exc:
                problems.append(source.problem(path, exc.problems[0].message, key=True))
                continue
            instance = _instantiate(cls, name, opts, base, allow_outside, source, path, problems)
            if instance is not None:
                out[name] = instance
            else:
                failed.add(str(name))
    lists = data.get("lists")
    if isinstance(lists, dict) and lists:
        if "lists" in out:
            problems.append(source.problem(("lists",), "'lists' is configured twice", key=True))
        else:
            good: dict[str, Any] = {}
            for lname, value in lists.items():
                lpath = ("lists", lname)
                if not str(lname).isidentifier():
                    problems.append(source.problem(lpath, f"list name {lname!r} must be an identifier", key=True))
                    continue
                if isinstance(value, str):
                    try:
                        file_path = confined(value, base, allow_outside=allow_outside)
                        list_bytes[lname] = read_bounded(file_path, MAX_LIST_FILE_BYTES, what="term list")
                    except OSError as exc:
                        reason = exc.reason if isinstance(exc, UnsafeFileError) else exc.strerror
                        problems.append(source.problem(lpath, f"cannot read list file {value!r}: {reason}"))
                        good[lname] = []  # rules reading it are still checked, without a second problem
                        continue
                    good[lname] = str(file_path)
                elif isinstance(value, list) and all(isinstance(t, str) for t in value):
                    good[lname] = list(value)
                    list_bytes[lname] = "\n".join(value).encode()
                else:
                    problems.append(source.problem(lpath, f"list {lname!r} must be a file path or a list of terms"))
            cls = get_classifier_class("lists")
            instance = _instantiate(cls, "lists", {"lists": good}, base, allow_outside, source, ("lists",), problems)
            if instance is not None:
                out["lists"] = instance
    for name in IMPLICIT_CLASSIFIERS:
        if name not in out:
            out[name] = get_classifier_class(name)(name=name)
    return out, list_bytes, failed


def _instantiate(
    cls: type[Classifier],
    name: str,
    options: dict[str, Any],
    base: Path,
    allow_outside: bool,
    source: SourceFile,
    path: tuple[str | int, ...],
    problems: list[Problem],
) -> Classifier | None:
    kwargs = dict(options)
    reserved = [k for k in _LOADER_OPTIONS if k in kwargs]
    for key in reserved:
        where = " (set allow_outside at the top of the ruleset)" if key == "allow_outside" else ""
        problems.append(
            source.problem((*path, key), f"option {key!r} of classifier {name!r} is set by the loader{where}", key=True)
        )
    if reserved:
        return None
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        params = {}  # type: ignore[assignment]
    if "base_dir" in params:
        kwargs["base_dir"] = base
    if "allow_outside" in params:
        kwargs["allow_outside"] = allow_outside
    # A classifier with an options dataclass takes its fields; any other, its keyword parameters.
    options_type = getattr(cls, "options_type", None)
    if options_type is not None:
        allowed = option_names(options_type)
        accepts_any = False
    else:
        allowed = [n for n, p in params.items() if n not in ("name", *_LOADER_OPTIONS) and p.kind is not p.VAR_KEYWORD]
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not accepts_any:
        unknown = [k for k in kwargs if k not in allowed and k not in _LOADER_OPTIONS]
        for key in unknown:
            hint = difflib.get_close_matches(key, allowed, n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed) or 'none'})"
            problems.append(
                source.problem((*path, key), f"unknown option {key!r} for classifier {name!r}{extra}", key=True)
            )
        if unknown:
            return None
    try:
        # Model and state paths the options name stay in the ruleset's directory (files.config_path).
        with config_root(base, allow_outside=allow_outside):
            return cls(name=name, **kwargs)
    except UnsafeFileError as exc:
        problems.append(source.problem(path, f"classifier {name!r}: cannot use {exc.path!r}: {exc.reason}", key=True))
        return None
    except (TypeError, ValueError, ConfigError) as exc:
        message = exc.problems[0].message if isinstance(exc, ConfigError) else str(exc)
        problems.append(source.problem(path, f"classifier {name!r}: {message}", key=True))
        return None


def _compile(
    expr: Any,
    path: tuple[str | int, ...],
    source: SourceFile,
    outputs: Mapping[str, Mapping[str, type] | None],
    problems: list[Problem],
) -> Condition | None:
    if not isinstance(expr, str):
        return None  # the schema check reports missing or mistyped expressions
    if not expr.strip():
        problems.append(source.problem(path, "empty expression"))
        return None
    try:
        program = cel.compile(expr)
    except Exception as exc:  # the CEL parser raises ValueError with a position in the message
        offset, message = _parse_cel_error(str(exc))
        problems.append(source.problem(path, f"invalid expression: {message}", offset=offset))
        return None
    bad_pattern = False
    for pattern, offset in literal_patterns(expr):
        reason = pattern_error(pattern)
        if reason:
            problems.append(source.problem(path, f"invalid regular expression: {reason}", offset=offset))
            bad_pattern = True
    if bad_pattern:
        return None
    program = cel.compile(rewrite_matches(expr))
    refs = references(expr)
    needs: set[str] = set()
    paths: list[str] = []
    post_paths: list[tuple[str, ...]] = []
    ok = True
    known_names = {"post", *outputs}
    for ref in refs:
        head = ref.path[0]
        if head == "post":
            problem = _check_post_path(ref)
            if problem:
                problems.append(source.problem(path, problem, offset=ref.offset))
                ok = False
                continue
            post_paths.append(ref.path)
        elif head in outputs:
            declared = outputs[head]
            if declared is None:  # its classifier failed to build, and said so
                ok = False
                continue
            needs.add(head)
            if len(ref.path) > 1:
                signal = ref.path[1]
                if signal not in declared:
                    hint = difflib.get_close_matches(signal, list(declared), n=1)
                    extra = (
                        f"did you mean {head}.{hint[0]}?" if hint else f"it gives: {', '.join(declared) or 'nothing'}"
                    )
                    problems.append(
                        source.problem(path, f"unknown signal {head}.{signal} ({extra})", offset=ref.offset)
                    )
                    ok = False
                    continue
        else:
            hint = difflib.get_close_matches(head, sorted(known_names | set(available())), n=1)
            if head == "lists":
                msg = "unknown name 'lists': define term lists in the ruleset's `lists:` section"
            elif hint and hint[0] in known_names:
                msg = f"unknown name {head!r} (did you mean {hint[0]!r}?)"
            else:
                configured = ", ".join(sorted(known_names))
                msg = f"unknown name {head!r}: no classifier of that name is configured (known: {configured})"
            problems.append(source.problem(path, msg, offset=ref.offset))
            ok = False
            continue
        paths.append(ref.dotted)
    if not ok:
        return None
    return Condition(
        source=expr,
        program=program,
        needs=frozenset(needs),
        paths=tuple(dict.fromkeys(paths)),
        post_paths=tuple(dict.fromkeys(post_paths)),
    )


def _check_post_path(ref: Reference) -> str | None:
    node: Any = POST_FIELDS
    for depth, part in enumerate(ref.path[1:], start=1):
        if isinstance(node, dict):
            if part not in node:
                hint = difflib.get_close_matches(part, list(node), n=1)
                prefix = ".".join(ref.path[:depth])
                extra = f" (did you mean {prefix}.{hint[0]}?)" if hint else f" (fields: {', '.join(node)})"
                return f"unknown field {prefix}.{part}{extra}"
            node = node[part]
        else:
            return None  # below meta or a scalar: maps are open, scalars report at run time
    return None


def _parse_cel_error(message: str) -> tuple[int | None, str]:
    """Pull the column and the gist out of the CEL parser's message."""
    m = re.search(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)", message)
    if not m:
        return None, message.splitlines()[0] if message else "cannot parse"
    column = int(m.group(2))
    gist = m.group(3)
    gist = re.sub(r" expecting \{.*\}$", "", gist)
    return column - 1, gist
