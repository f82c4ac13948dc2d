"""The Moderator: a ruleset and its classifiers, turning posts into decisions.

::

    from safeguard import Moderator

    moderator = Moderator.from_file("rules/community.yaml")
    decision = moderator.moderate({"id": "p1", "text": "you absolute idiot"})
    print(decision.action, decision.reasons)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

from safeguard.errors import InputError
from safeguard.parallel import Workers
from safeguard.rules.engine import Engine
from safeguard.rules.loader import Ruleset, load_ruleset, parse_ruleset
from safeguard.types import Decision, Post, lookup_path, parse_id

__all__ = ["Moderator"]

PostLike = Post | Mapping[str, Any] | str
T = TypeVar("T")


class Moderator:
    """Decides allow, hold or remove for posts under one ruleset.

    Thread-safe: one instance can serve every request thread of a forum backend. Classifiers load
    lazily on first use; call :meth:`load` at start-up to pay that cost (and see model errors) early.
    """

    def __init__(self, ruleset: Ruleset, *, workers: int = 1) -> None:
        """``workers`` above 1 decides :meth:`moderate_many` and :meth:`decide_batches` in that many
        worker processes (see :mod:`safeguard.parallel`), with the same decisions as one process."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.ruleset = ruleset
        self.workers = workers
        self._engine = Engine(ruleset)
        self._pool: Workers | None = None

    @classmethod
    def from_file(cls, path: str | Path, *, workers: int = 1) -> Moderator:
        """Load a ruleset file; raises :class:`~safeguard.errors.ConfigError` listing every problem."""
        return cls(load_ruleset(path), workers=workers)

    @classmethod
    def from_yaml(cls, text: str, *, base_dir: str | Path | None = None, workers: int = 1) -> Moderator:
        """Build from ruleset YAML text (relative list paths resolve against ``base_dir``)."""
        return cls(parse_ruleset(text, base_dir=base_dir), workers=workers)

    @property
    def stateful(self) -> tuple[str, ...]:
        """Classifiers the rules read whose signals depend on the posts seen before (a duplicate window,
        per-author counts): a run that resumes part way shows them the posts it skips."""
        return self._engine.stateful

    def load(self) -> Moderator:
        """Load every classifier a rule reads now rather than on the first post. Returns ``self``.

        With ``workers`` above 1 the worker processes start and load them (a model that cannot load
        raises here, as in one process), and this process loads only the stateful ones it advances.
        """
        if self.workers == 1:
            self._engine.load()
            return self
        pool = self._workers()
        pool.start()  # the workers load while this process does
        for name in self._engine.stateful:
            self.ruleset.classifiers[name].load()
        pool.ready()
        return self

    def _workers(self) -> Workers:
        if self._pool is None:
            self._pool = Workers(self.ruleset, self.workers)
        return self._pool

    def moderate(self, post: PostLike) -> Decision:
        """Decide one post: a :class:`Post`, a mapping with at least ``text``, or a bare string."""
        return self._engine.decide([to_post(post)])[0]

    def moderate_batch(self, posts: Sequence[PostLike]) -> list[Decision]:
        """Decide a batch at once (classifiers see it as one batch)."""
        return self._engine.decide([to_post(p) for p in posts])

    def moderate_many(self, posts: Iterable[PostLike], *, batch_size: int = 256) -> Iterator[Decision]:
        """Decide a stream of posts lazily, in batches, yielding one decision per item in input order.

        An item that is not a valid post (a mapping without text, a bad ``created_at`` ...) does not
        stop the stream: its decision has the ruleset's ``on_error`` action and the reason in
        ``errors`` (``{"source": "input", "error": ...}``), like a post a classifier failed on.
        """
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        chunks: deque[list[Post | Decision]] = deque()

        def batches() -> Iterator[list[Post]]:
            pending: list[Post | Decision] = []
            for item in posts:
                try:
                    pending.append(to_post(item))
                except InputError as exc:
                    pending.append(self._input_error(item, exc))
                if len(pending) >= batch_size:
                    chunks.append(pending)
                    yield [p for p in pending if isinstance(p, Post)]
                    pending = []
            if pending:
                chunks.append(pending)
                yield [p for p in pending if isinstance(p, Post)]

        for decisions in self.decide_batches(batches()):
            decided = iter(decisions)
            for item in chunks.popleft():
                yield item if isinstance(item, Decision) else next(decided)

    @overload
    def decide_batches(self, batches: Iterable[Sequence[PostLike]]) -> Iterator[list[Decision]]: ...

    @overload
    def decide_batches(
        self, batches: Iterable[Sequence[PostLike]], *, finish: Callable[[list[Post], list[Decision]], list[T]]
    ) -> Iterator[list[T]]: ...

    def decide_batches(
        self,
        batches: Iterable[Sequence[PostLike]],
        *,
        finish: Callable[[list[Post], list[Decision]], list[Any]] | None = None,
    ) -> Iterator[list[Any]]:
        """The decisions of each batch in turn, batches decided as :meth:`moderate_batch` would; with
        ``workers`` above 1, several at once in worker processes (reading ahead a few batches).

        ``finish(posts, decisions)``, when given, runs where the batch was decided and its result is
        yielded instead of the decisions: with workers, it turns them into what the caller keeps
        (encoded records, say) in the worker, so the decisions need not travel back. It must be
        picklable then (a module-level function, or a ``functools.partial`` of one).
        """
        if self.workers == 1:
            for batch in batches:
                posts = [to_post(p) for p in batch]
                decisions = self._engine.decide(posts)
                yield decisions if finish is None else finish(posts, decisions)
            return
        yield from self._workers().map(([to_post(p) for p in batch] for batch in batches), finish=finish)

    def _input_error(self, item: object, error: InputError) -> Decision:
        found, value = lookup_path(item, "id") if isinstance(item, Mapping) else (False, None)
        try:
            post_id = (parse_id(value) if found else None) or ""
        except InputError:
            post_id = ""
        return Decision(
            post_id=post_id,
            action=self.ruleset.on_error,
            errors=({"source": "input", "error": str(error)},),
            ruleset=self.ruleset.identity,
        )

    async def amoderate(self, post: PostLike) -> Decision:
        """:meth:`moderate` for asyncio code: runs in a worker thread, so the event loop stays free."""
        return await asyncio.to_thread(self.moderate, post)

    def classify(self, posts: Sequence[PostLike], only: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Raw signals of the named classifiers (default: every one the rules read), one mapping per post."""
        batch = [to_post(p) for p in posts]
        names = list(only) if only else sorted(self._engine.used)
        out: list[dict[str, Any]] = [{} for _ in batch]
        for name in names:
            for row, signals in zip(out, self._engine.classify(name, batch), strict=True):
                row[name] = signals
        return out

    def close(self) -> None:
        """Stop the worker processes and close every classifier: stateful ones save their state
        (``duplicate`` with ``state:``)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        for classifier in self.ruleset.classifiers.values():
            classifier.close()

    def __enter__(self) -> Moderator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        workers = f", workers={self.workers}" if self.workers != 1 else ""
        return f"Moderator(ruleset={self.ruleset.name!r}, rules={len(self.ruleset.rules)}{workers})"


def to_post(item: PostLike) -> Post:
    """A :class:`Post` from a post, a mapping (``Post.from_mapping``) or a bare text.

    Raises :class:`~safeguard.errors.InputError` for anything else or an invalid mapping.
    """
    if isinstance(item, Post):
        return item
    if isinstance(item, str):
        return Post(id="", text=item)
    if isinstance(item, Mapping):
        return Post.from_mapping(item)
    raise InputError(f"cannot moderate a {type(item).__name__}: pass a Post, a mapping or a string")
