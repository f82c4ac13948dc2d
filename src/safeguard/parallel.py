"""Deciding a stream of posts on several cores, with the decisions of a one-process run.

Most of the pipeline depends on a post alone: normalisation, lists, toxicity, PII, and the features and
score of ``spam``. Two parts depend on every earlier post: the ``duplicate`` window and ``spam``'s
per-author counts. Each stateful classifier therefore splits its work (see
:class:`~safeguard.classifiers.base.Classifier`) into ``prepare`` (per post: the duplicate band keys,
the spam features and score) and ``advance`` (the window, in input order). For each batch, in input
order:

1. a worker process prepares the batch for every stateful classifier;
2. this process advances every stateful classifier over the batch, in input order, exactly as a
   one-process run would (failures isolated post by post in the same way);
3. a worker process decides the batch with those results
   (:meth:`~safeguard.rules.engine.Engine.decide` with ``advanced``), running the stateless
   classifiers its rules need.

Batches are the batches a one-process run would decide, so every decision is the same (its
``elapsed_ms`` aside). At most ``2 x workers`` batches are in flight, so memory is bounded by the
batch size and the window, whatever the length of the stream; this process advances a batch as soon
as its preparation comes back, while earlier batches are still being decided.

What a caller keeps of the decisions can be made in the worker too (``finish``: the CLI encodes each
record there), so decisions need not be sent back. Workers rebuild the ruleset from its text and load
every classifier when they start; this process loads only the stateful ones. A worker that cannot
(a list file changed under the run, a model that does not load) makes :meth:`Workers.ready` raise.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from safeguard import cpus
from safeguard.errors import SafeguardError
from safeguard.rules.engine import Engine, Failure, isolated
from safeguard.rules.loader import Ruleset, parse_ruleset
from safeguard.types import Decision, Post

__all__ = ["Workers", "resolve_workers"]

#: What becomes of a batch's decisions in the worker that made them (see ``Moderator.decide_batches``).
Finish = Callable[[list[Post], list[Decision]], list[Any]]

# The engine of this worker process, built and loaded once by _start, or why it could not load.
_engine: Engine | None = None
_load_error: str | None = None


def resolve_workers(value: int | str) -> int:
    """``value`` as a number of worker processes: a positive integer, or ``"auto"`` for the CPUs this
    process may run on. ValueError otherwise."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return cpus.available()
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"workers must be a positive integer or 'auto', got {value!r}") from None
    if isinstance(value, bool) or n < 1 or str(value).strip() != str(n):
        raise ValueError(f"workers must be a positive integer or 'auto', got {value!r}")
    return n


def _start(text: str, file: str, base_dir: str, expected: str, workers: int) -> None:
    global _engine, _load_error
    cpus.share(workers)  # one worker's models use its part of the CPUs, not all of them
    try:  # what fails here is said by _loaded and raised by the parent process
        ruleset = parse_ruleset(text, file=file, base_dir=base_dir)
        if ruleset.hash != expected:
            raise SafeguardError(
                f"the ruleset {file} hashes to {ruleset.hash} in a worker, not {expected}: a file it reads changed"
            )
        _engine = Engine(ruleset)
        _engine.load()
    except SafeguardError as exc:
        _load_error = str(exc)


def _loaded() -> str | None:
    """Why this worker's classifiers could not load, or None."""
    return _load_error


def _ready() -> Engine:
    if _engine is None or _load_error is not None:
        raise SafeguardError(f"a worker process could not load the ruleset: {_load_error}")
    return _engine


def _prepare(posts: list[Post]) -> dict[str, list[Any]]:
    engine = _ready()
    classifiers = engine.ruleset.classifiers
    return {name: isolated(classifiers[name].prepare, posts) for name in engine.stateful}


def _decide(posts: list[Post], advanced: dict[str, list[Any]], finish: Finish | None) -> list[Any]:
    decisions = _ready().decide(posts, advanced=advanced)
    return decisions if finish is None else finish(posts, decisions)


class Workers:
    """A pool of worker processes deciding batches under one ruleset, stateful classifiers advanced
    here. :meth:`start` and :meth:`ready` load them ahead (else the first :meth:`map` does); :meth:`close`
    (or ``with``) stops the processes."""

    def __init__(self, ruleset: Ruleset, workers: int) -> None:
        if ruleset.text is None:
            raise SafeguardError("a parallel run needs a ruleset loaded from its text (load_ruleset or parse_ruleset)")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.ruleset = ruleset
        self.workers = workers
        self.stateful = Engine(ruleset).stateful
        self._pool: ProcessPoolExecutor | None = None
        self._started: Future[str | None] | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            rs = self.ruleset
            assert rs.text is not None
            base_dir = str(rs.base_dir or Path.cwd())
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                # Workers start fresh: a forked copy of a process holding model threads can deadlock.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=(rs.text, str(rs.path or "<ruleset>"), base_dir, rs.hash, self.workers),
            )
        return self._pool

    def start(self) -> None:
        """Start the worker processes loading their classifiers, without waiting (see :meth:`ready`)."""
        if self._started is None:
            self._started = self._executor().submit(_loaded)

    def ready(self) -> None:
        """Wait until a worker has loaded every classifier; raises
        :class:`~safeguard.errors.SafeguardError` when it could not (each loads the same files)."""
        self.start()
        assert self._started is not None
        try:
            error = self._started.result()
        except BrokenProcessPool as exc:
            self.close()
            raise SafeguardError(f"a worker process failed: {exc}") from exc
        if error is not None:
            self.close()
            raise SafeguardError(f"a worker process could not load the ruleset: {error}")

    def _advance(self, posts: list[Post], prepared: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Each stateful classifier's results for ``posts``, advanced here in order; a post whose
        preparation failed keeps its failure and is not shown to the window, as in one process."""
        return {name: self._advance_one(name, posts, prepared[name]) for name in self.stateful}

    def _advance_one(self, name: str, posts: list[Post], prepared: list[Any]) -> list[Any]:
        classifier = self.ruleset.classifiers[name]
        ok = [i for i, p in enumerate(prepared) if not isinstance(p, Failure)]
        results = list(prepared)
        if ok:
            done = isolated(lambda idx: classifier.advance([posts[i] for i in idx], [prepared[i] for i in idx]), ok)
            for i, result in zip(ok, done, strict=True):
                results[i] = result
        return results

    def map(self, batches: Iterable[Sequence[Post]], finish: Finish | None = None) -> Iterator[list[Any]]:
        """The decisions of each batch, in order, as :meth:`Engine.decide` would give them batch by
        batch; with ``finish`` (picklable), ``finish(posts, decisions)`` of each, run in the worker."""
        pool = self._executor()
        prepares: deque[tuple[list[Post], Future[dict[str, list[Any]]]]] = deque()
        decides: deque[Future[list[Any]]] = deque()
        source = iter(batches)
        exhausted = False
        try:
            while True:
                while not exhausted and len(prepares) + len(decides) < 2 * self.workers:
                    try:
                        posts = list(next(source))
                    except StopIteration:
                        exhausted = True
                        break
                    if self.stateful:
                        prepares.append((posts, pool.submit(_prepare, posts)))
                    else:
                        decides.append(pool.submit(_decide, posts, {}, finish))
                if prepares and decides and not prepares[0][1].done() and not decides[0].done():
                    first: list[Future[Any]] = [prepares[0][1], decides[0]]
                    wait(first, return_when=FIRST_COMPLETED)
                if prepares and (prepares[0][1].done() or not decides):
                    posts, prepared = prepares.popleft()
                    decides.append(pool.submit(_decide, posts, self._advance(posts, prepared.result()), finish))
                elif decides:
                    yield decides.popleft().result()
                elif exhausted:
                    return
        except BrokenProcessPool as exc:
            self.close()
            raise SafeguardError(f"a worker process failed: {exc}") from exc
        finally:
            for _, waiting in prepares:
                waiting.cancel()
            for deciding in decides:
                deciding.cancel()

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._started = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
