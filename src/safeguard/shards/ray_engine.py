"""Deciding inputs with Ray Data, on one machine or a cluster, with the decisions of a one-process run.

The inputs are cut into parts (:mod:`safeguard.shards.splits`) and worked in epochs of consecutive
parts (about :data:`EPOCH_BYTES` of input each), one after the other, in three stages each:

1. **Read and prepare** (:class:`_Prepare`, ``map_batches`` over a pool of actors, each loading the
   ruleset once): every part is read as the one-process reader reads it, and each post's per-post
   work for the stateful classifiers is done: the duplicate band keys and comparable text, and
   whether ``spam`` can read the post. Out come light rows: the post's place in the run, id, time,
   author and that work, collected here.
2. **Stateful signals by grouping** (:mod:`safeguard.shards.grouped`, each grouping through Ray
   Data's ``groupby().map_groups()``): band keys grouped give each post's nearest earlier copy;
   clusters grouped by their first post give sizes and authors; posts grouped by author give author
   counts. What the windows hold at the end of an epoch (the posts still in the duplicate window,
   each author's recent times) is carried into the next, so this process holds one epoch and the
   windows, whatever the length of the run.
3. **Decide** (:class:`_Decide`, actors again): each part is read again, its posts' stateful
   signals joined in, and the ruleset decides with them (:meth:`Engine.decide` with ``advanced``),
   running every stateless classifier there.

Decisions come back in input order (:func:`decide`) for the caller to write. Every stateful
classifier the rules read needs a grouped plan (:data:`PLANS`); a ruleset with another is refused.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguard import cpus
from safeguard.errors import ConfigError, MissingDependencyError, SafeguardError
from safeguard.io import readers
from safeguard.rules.engine import Engine, Failure, isolated
from safeguard.rules.loader import Ruleset, parse_ruleset
from safeguard.shards import grouped
from safeguard.shards.splits import MIN_RANGE_BYTES, RANGE_BYTES, Split, order, plan, read_split
from safeguard.types import Decision, Post

__all__ = ["EPOCH_BYTES", "PLANS", "Outcome", "check_ruleset", "decide"]

#: Input worked at once, in bytes: the epoch a Ray run reads, groups and decides before the next.
EPOCH_BYTES = 128 * 1024 * 1024

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one input record came to: a ``decision``, or the ``error`` that kept it from one."""

    source: str
    line: int
    post_id: str | None
    id_generated: bool
    decision: Decision | None
    error: str | None


# -- the ruleset in each actor ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """What an actor needs to rebuild the run's ruleset and read its inputs as this process would."""

    text: str
    file: str
    base_dir: str
    expected: str
    field_map: Mapping[str, str]
    max_record_bytes: int
    batch_size: int


def _engine(spec: _Spec) -> Engine:
    cpus.share(cpus.available())  # one CPU per actor: its models run one thread
    ruleset = parse_ruleset(spec.text, file=spec.file, base_dir=spec.base_dir)
    if ruleset.hash != spec.expected:
        raise SafeguardError(
            f"the ruleset {spec.file} hashes to {ruleset.hash} in a Ray worker, not {spec.expected}: "
            "a file it reads differs there"
        )
    return Engine(ruleset)


def _chunks(split: Split, spec: _Spec) -> Iterator[list[tuple[int, Any, Post | None, str | None]]]:
    """``(position, record, post, error)`` of each record of ``split``, ``batch_size`` at a time."""
    chunk: list[tuple[int, Any, Post | None, str | None]] = []
    records = read_split(split, max_record_bytes=spec.max_record_bytes)
    for position, (record, post, error) in enumerate(readers.iter_posts(records, spec.field_map)):
        chunk.append((position, record, post, error))
        if len(chunk) >= spec.batch_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _rows(batch: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = batch.to_pylist()
    return rows


def _timestamp(post: Post) -> float:
    return post.created_at.timestamp() if post.created_at is not None else math.nan


# -- grouped plans, one per stateful classifier kind ------------------------------------------------


class _DuplicatePlan:
    """``duplicate``: its window advanced epoch by epoch by :class:`grouped.DuplicateByGroups`."""

    def __init__(self, name: str, classifier: Any) -> None:
        self.name = name
        self.state = grouped.DuplicateByGroups(classifier.options)

    @staticmethod
    def columns(name: str) -> dict[str, Any]:
        import pyarrow as pa

        return {f"{name}:text": pa.string(), f"{name}:keys": pa.list_(pa.uint64())}

    @staticmethod
    def light(name: str, prepared: Sequence[Any]) -> dict[str, list[Any]]:
        ok = [p if not isinstance(p, Failure) else (None, None) for p in prepared]
        return {f"{name}:text": [t for t, _ in ok], f"{name}:keys": [k for _, k in ok]}

    @staticmethod
    def check(name: str, classifier: Any) -> None:
        if classifier.state is not None:
            raise ConfigError(
                f"classifier {name!r}: a saved window (state:) is read and written by one process; "
                "drop state: to run it on Ray"
            )

    def solve(self, rows: grouped.Columns, group: grouped.Grouper) -> dict[int, Any]:
        name = self.name
        fails = rows[f"{name}:fail"]
        results: dict[int, Any] = {at: {"failure": m} for at, m in zip(rows["order"], fails, strict=True) if m}
        ok = [i for i, m in enumerate(fails) if m is None]
        found = self.state.advance(
            [rows["id"][i] for i in ok],
            [rows["author"][i] for i in ok],
            [rows["ts"][i] for i in ok],
            [(rows[f"{name}:text"][i], rows[f"{name}:keys"][i]) for i in ok],
            group,
        )
        results.update(zip((rows["order"][i] for i in ok), found, strict=True))
        return results

    @staticmethod
    def advanced(classifier: Any, posts: Sequence[Post], results: Sequence[Any]) -> list[Any]:
        return [Failure(r["failure"]) if "failure" in r else r for r in results]


class _AuthorPlan:
    """``spam``: per-post features as in one process, author counts by :class:`grouped.AuthorsByGroups`."""

    def __init__(self, name: str, classifier: Any) -> None:
        self.name = name
        self.state = grouped.AuthorsByGroups(classifier.options.author_window_seconds)

    @staticmethod
    def columns(name: str) -> dict[str, Any]:
        return {}

    @staticmethod
    def light(name: str, prepared: Sequence[Any]) -> dict[str, list[Any]]:
        return {}

    @staticmethod
    def check(name: str, classifier: Any) -> None:
        return None

    def solve(self, rows: grouped.Columns, group: grouped.Grouper) -> dict[int, Any]:
        fails = rows[f"{self.name}:fail"]
        results: dict[int, Any] = {at: ({"failure": m} if m else 0) for at, m in zip(rows["order"], fails, strict=True)}
        counted = [
            i
            for i, m in enumerate(fails)
            if m is None and rows["author"][i] is not None and not math.isnan(rows["ts"][i])
        ]
        results.update(
            self.state.advance(
                [rows["order"][i] for i in counted],
                [rows["author"][i] for i in counted],
                [rows["ts"][i] for i in counted],
                group,
            )
        )
        return results

    @staticmethod
    def advanced(classifier: Any, posts: Sequence[Post], results: Sequence[Any]) -> list[Any]:
        prepared = isolated(classifier.prepare, list(posts))
        out: list[Any] = []
        for p, r in zip(prepared, results, strict=True):
            if isinstance(r, dict):
                out.append(Failure(r["failure"]))
            elif isinstance(p, Failure):
                out.append(p)
            else:
                out.append({**p, "author_recent_posts": r})
        return out


#: Grouped plans by classifier kind: the stateful classifiers a Ray run can advance.
PLANS: dict[str, Any] = {"duplicate": _DuplicatePlan, "spam": _AuthorPlan}


def check_ruleset(ruleset: Ruleset) -> None:
    """Raise :class:`ConfigError` unless every stateful classifier the rules read has a grouped plan."""
    engine = Engine(ruleset)
    for name in engine.stateful:
        classifier = ruleset.classifiers[name]
        plan_ = PLANS.get(classifier.kind)
        if plan_ is None:
            raise ConfigError(
                f"classifier {name!r} ({classifier.kind}) keeps state across posts and has no grouped plan "
                f"for Ray (those with one: {', '.join(sorted(PLANS))}); run it in one process or with local workers"
            )
        plan_.check(name, classifier)


# -- functions run by Ray -----------------------------------------------------------------------------


def _ray_grouper(run: _Run) -> grouped.Grouper:
    """A :data:`grouped.Grouper` that groups through Ray Data (``groupby(key).map_groups(fn)``)."""

    def group(rows: grouped.Columns, key: str, fn: Callable[[grouped.Columns], grouped.Columns]) -> grouped.Columns:
        import pyarrow as pa

        if not rows[key]:
            return {}

        def apply(batch: Any) -> Any:
            return pa.table(fn(batch.to_pydict()))

        dataset = run.ray.data.from_arrow(pa.table(rows))
        out: grouped.Columns = run.collect(dataset.groupby(key).map_groups(apply, batch_format="pyarrow")).to_pydict()
        return out

    return group


class _Stage:
    """An actor's engine, built once from the run's ``spec``, and its stateful classifiers' plans."""

    spec: _Spec  # set on the subclass a run makes (:func:`_bound`)

    def __init__(self) -> None:
        self.engine = _engine(self.spec)
        classifiers = self.engine.ruleset.classifiers
        self.stateful = {name: (classifiers[name], PLANS[classifiers[name].kind]) for name in self.engine.stateful}


class _Prepare(_Stage):
    """Stage 1, one per actor: read parts and do each post's per-post stateful work."""

    def schema(self) -> Any:
        import pyarrow as pa

        fields: dict[str, Any] = {"order": pa.int64(), "id": pa.string(), "author": pa.string(), "ts": pa.float64()}
        for name, (_, plan_) in self.stateful.items():
            fields[f"{name}:fail"] = pa.string()
            fields.update(plan_.columns(name))
        return pa.schema(list(fields.items()))

    def __call__(self, batch: Any) -> Iterator[Any]:
        import pyarrow as pa

        schema = self.schema()
        for row in _rows(batch):
            split = Split.from_dict(row)
            for chunk in _chunks(split, self.spec):
                kept = [(position, post) for position, _, post, _ in chunk if post is not None]
                posts = [post for _, post in kept]
                columns: dict[str, list[Any]] = {
                    "order": [order(split.index, position) for position, _ in kept],
                    "id": [p.id for p in posts],
                    "author": [p.author.id for p in posts],
                    "ts": [_timestamp(p) for p in posts],
                }
                for name, (classifier, plan_) in self.stateful.items():
                    prepared = isolated(classifier.prepare, posts) if posts else []
                    columns[f"{name}:fail"] = [p.message if isinstance(p, Failure) else None for p in prepared]
                    columns.update(plan_.light(name, prepared))
                yield pa.table(columns, schema=schema)


class _Decide(_Stage):
    """Stage 3, one per actor: read parts again and decide their posts with the stateful signals."""

    def __call__(self, batch: Any) -> Iterator[Any]:
        import pyarrow as pa

        for row in _rows(batch):
            split = Split.from_dict(row)
            results = {
                name: dict(zip(row["positions"], (json.loads(r) for r in row[f"r:{name}"]), strict=True))
                for name in self.stateful
            }
            for chunk in _chunks(split, self.spec):
                posts = [post for _, _, post, _ in chunk if post is not None]
                positions = [position for position, _, post, _ in chunk if post is not None]
                advanced = {
                    name: plan_.advanced(classifier, posts, [results[name][p] for p in positions])
                    for name, (classifier, plan_) in self.stateful.items()
                }
                decided = iter(self.engine.decide(posts, advanced=advanced) if posts else [])
                out: dict[str, list[Any]] = {k: [] for k in ("order", "source", "line", "id", "generated", "row")}
                for position, record, post, error in chunk:
                    out["order"].append(order(split.index, position))
                    out["source"].append(record.source)
                    out["line"].append(record.line)
                    if post is None:
                        out["id"].append(readers.record_id(record, self.spec.field_map))
                        out["generated"].append(False)
                        out["row"].append(json.dumps({"error": error or "unreadable record"}))
                    else:
                        out["id"].append(post.id)
                        out["generated"].append(post.id_generated)
                        out["row"].append(json.dumps(next(decided).to_dict(), default=str))
                yield pa.table(
                    {
                        "order": pa.array(out["order"], pa.int64()),
                        "source": pa.array(out["source"], pa.string()),
                        "line": pa.array(out["line"], pa.int64()),
                        "id": pa.array(out["id"], pa.string()),
                        "generated": pa.array(out["generated"], pa.bool_()),
                        "row": pa.array(out["row"], pa.string()),
                    }
                )


# -- the run ------------------------------------------------------------------------------------------


class _Run:
    """Ray, this run's options, and the way results come back to this process."""

    def __init__(self, ray: Any, actors: int) -> None:
        self.ray = ray
        self.actors = actors

    def collect(self, dataset: Any) -> Any:
        import pyarrow as pa

        tables = [t for t in self.ray.get(dataset.to_arrow_refs()) if t.num_rows]
        return pa.concat_tables(tables) if tables else pa.table({})

    def pool(self) -> Any:
        return self.ray.data.ActorPoolStrategy(size=self.actors)


def _bound(stage: type, spec: _Spec) -> type:
    """``stage`` with this run's ``spec``: it travels with the class, so actors take no constructor
    arguments (Ray keeps those in its object store and warns that a restart could lose them)."""
    return type(stage.__name__, (stage,), {"spec": spec})


def _start_ray(address: str | None) -> Any:
    # Ray Data reports each stage and warns while the actors of a stage hold every CPU (as they
    # should): the run reports its own progress instead. Set before Ray reads them; a user's own wins.
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")
    logging.getLogger("ray").setLevel(logging.ERROR)
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("the Ray engine", "ray", "ray") from exc
    if not ray.is_initialized():
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            configure_logging=False,
        )
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    return ray


def decide(
    ruleset: Ruleset,
    inputs: Sequence[str],
    formats: Sequence[str],
    *,
    field_map: Mapping[str, str] | None = None,
    max_record_bytes: int = readers.MAX_RECORD_BYTES,
    batch_size: int = 256,
    actors: int | None = None,
    address: str | None = None,
    range_bytes: int | None = None,
    epoch_bytes: int = EPOCH_BYTES,
    on_stage: Callable[[str], None] | None = None,
) -> Iterator[Outcome]:
    """Decide every record of ``inputs`` with Ray Data, yielding one :class:`Outcome` per record in
    input order; the decisions are those of one process reading the same inputs.

    ``address`` names a running Ray cluster (``"auto"``, ``"ray://host:10001"``); without it Ray starts
    on this machine. ``actors`` is the size of each actor pool (default: the cluster's CPUs). The inputs
    are worked in epochs of about ``epoch_bytes`` (whole parts), each read, grouped and decided in turn
    with the windows carried from one to the next, so this process holds one epoch's light rows and
    results at a time. ``on_stage`` is told the name of each stage as it starts."""
    if ruleset.text is None:
        raise SafeguardError("a Ray run needs a ruleset loaded from its text (load_ruleset or parse_ruleset)")
    check_ruleset(ruleset)
    ray = _start_ray(address)
    size = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    # Four parts per actor at least, in the run and in each epoch, so that no actor waits long on
    # another's last part.
    per_epoch = max(MIN_RANGE_BYTES, epoch_bytes // (4 * size))
    parts = plan(inputs, formats, at_least=4 * size, range_bytes=min(range_bytes or RANGE_BYTES, per_epoch))
    run = _Run(ray, size)
    spec = _Spec(
        text=ruleset.text,
        file=str(ruleset.path or "<ruleset>"),
        base_dir=str(ruleset.base_dir or Path.cwd()),
        expected=ruleset.hash,
        field_map=dict(field_map or {}),
        max_record_bytes=max_record_bytes,
        batch_size=batch_size,
    )
    try:
        yield from _pipeline(ray, run, spec, ruleset, parts, on_stage or (lambda _: None), epoch_bytes)
    except ray.exceptions.RayError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise SafeguardError(f"the Ray run failed: {lines[-1] if lines else type(exc).__name__}") from exc


def _pipeline(
    ray: Any,
    run: _Run,
    spec: _Spec,
    ruleset: Ruleset,
    parts: Sequence[Split],
    stage: Callable[[str], None],
    epoch_bytes: int,
) -> Iterator[Outcome]:
    engine = Engine(ruleset)
    plans = {name: PLANS[ruleset.classifiers[name].kind](name, ruleset.classifiers[name]) for name in engine.stateful}
    group = _ray_grouper(run)
    last = -1
    for epoch in _epochs(parts, epoch_bytes):
        source = ray.data.from_items([p.to_dict() for p in epoch], override_num_blocks=len(epoch))
        results: dict[str, dict[int, Any]] = {}
        if plans:
            stage("reading and preparing")
            light = source.map_batches(
                _bound(_Prepare, spec), batch_size=1, batch_format="pyarrow", compute=run.pool(), num_cpus=1
            )
            rows = run.collect(light)
            columns: grouped.Columns = rows.sort_by("order").to_pydict() if rows.num_rows else {}
            del rows
            for name, plan_ in plans.items():
                stage(f"grouping {name}")
                results[name] = plan_.solve(columns, group) if columns else {}
            del columns
        stage("deciding")
        work = _with_results(ray, epoch, results)
        del results
        decided = work.map_batches(
            _bound(_Decide, spec), batch_size=1, batch_format="pyarrow", compute=run.pool(), num_cpus=1
        )
        for batch in decided.iter_batches(batch_format="pyarrow", batch_size=None):
            cols = batch.to_pydict()
            for at, src, line, post_id, generated, row in zip(*(cols[k] for k in _OUT), strict=True):
                if at <= last:
                    raise SafeguardError("Ray returned decisions out of input order")
                last = at
                data = json.loads(row)
                if "error" in data and len(data) == 1:
                    yield Outcome(src, line, post_id, False, None, data["error"])
                else:
                    yield Outcome(src, line, post_id, generated, Decision.from_dict(data), None)


def _epochs(parts: Sequence[Split], epoch_bytes: int) -> Iterator[list[Split]]:
    """Consecutive parts of about ``epoch_bytes`` of input at most (a part larger alone)."""
    epoch: list[Split] = []
    size = 0
    for part in parts:
        length = part.end - part.start if part.end >= 0 else _file_size(part.path, epoch_bytes)
        if epoch and size + length > epoch_bytes:
            yield epoch
            epoch, size = [], 0
        epoch.append(part)
        size += length
    if epoch:
        yield epoch


def _file_size(path: str, unknown: int) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return unknown


_OUT = ("order", "source", "line", "id", "generated", "row")


def _with_results(ray: Any, parts: Sequence[Split], results: Mapping[str, Mapping[int, Any]]) -> Any:
    """One row per part: the part, and for each stateful classifier its posts' results (JSON)."""
    import pyarrow as pa

    from safeguard.shards.splits import POSITION_BITS

    mask = (1 << POSITION_BITS) - 1
    per_part: dict[int, dict[str, Any]] = {p.index: {"positions": []} | {f"r:{n}": [] for n in results} for p in parts}
    names = list(results)
    if names:
        for at in sorted(results[names[0]]):
            row = per_part[at >> POSITION_BITS]
            row["positions"].append(at & mask)
            for name in names:
                row[f"r:{name}"].append(json.dumps(results[name][at]))
    tables = []
    for part in parts:
        row = per_part[part.index]
        columns: dict[str, Any] = {k: [v] for k, v in part.to_dict().items()}
        columns["positions"] = pa.array([row["positions"]], pa.list_(pa.int64()))
        for name in names:
            columns[f"r:{name}"] = pa.array([row[f"r:{name}"]], pa.list_(pa.string()))
        tables.append(pa.table(columns))
    # one block per part, made here: a task to split them would wait for CPUs the actors hold
    return ray.data.from_arrow(tables)
