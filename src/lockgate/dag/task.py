"""`@task`: a plain function that, called inside a pipeline, adds a step instead of running."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

from lockgate.core.errors import UsageError
from lockgate.core.model import TRIGGER_RULES
from lockgate.core.retry import RetryPolicy, validate_retriers

P = ParamSpec("P")
R = TypeVar("R")

# Every Task ever created, by key ("module:qualname"), so a resumed run can find its code.
REGISTRY: dict[str, Task[Any, Any]] = {}


class Task(Generic[P, R]):
    """A function with its step options; calling it outside a pipeline just calls it."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        retry: RetryPolicy | Sequence[RetryPolicy] | None = None,
        timeout: float | None = None,
        trigger_rule: str = "all_success",
        max_concurrency: int | None = None,
        control: str = "",
        queue: str = "default",
        pool: str | None = None,
        priority: int = 0,
    ) -> None:
        if not callable(fn):
            raise UsageError(f"@task applies to a function, not {fn!r}")
        self.fn = fn
        self.name = name or fn.__name__
        if retry is None:
            self.retry: tuple[RetryPolicy, ...] = ()
        elif isinstance(retry, RetryPolicy):
            self.retry = (retry,)
        else:
            self.retry = tuple(retry)
        validate_retriers(self.retry, f"task {self.name}")
        if trigger_rule not in TRIGGER_RULES:
            raise UsageError(
                f"task {self.name}: trigger rule {trigger_rule!r} is not one of {', '.join(TRIGGER_RULES)}"
            )
        self.timeout = timeout
        self.trigger_rule = trigger_rule
        self.max_concurrency = max_concurrency
        self.control = control  # "branch": its result names the downstream steps to follow
        if queue != "default":
            _check_queue(queue, self.name)
        self.queue = queue
        self.pool = pool
        self.priority = int(priority)
        self.key = f"{fn.__module__}:{fn.__qualname__}"
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]
        REGISTRY[self.key] = self

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        from lockgate.dag.graph import current_builder

        builder = current_builder()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs, map_over=None)  # type: ignore[return-value]

    def map(self, *iterables: Any, max_concurrency: int | None = None, **kwargs: Any) -> Any:
        """Fan out: one step per element of the positional iterables (zipped); keywords are shared.

        Inside a pipeline the result is a list of the elements' results, in order; outside,
        it is that list, computed here.
        """
        from lockgate.dag.graph import current_builder

        builder = current_builder()
        if builder is None:
            return [self.fn(*values, **kwargs) for values in zip(*iterables, strict=True)]  # type: ignore[call-arg]
        if not iterables:
            raise UsageError(f"{self.name}.map needs at least one iterable to map over")
        return builder.add(self, (), kwargs, map_over=iterables, max_concurrency=max_concurrency)

    def options(
        self,
        *,
        name: str | None = None,
        retry: RetryPolicy | Sequence[RetryPolicy] | None = None,
        timeout: float | None = None,
        trigger_rule: str | None = None,
        max_concurrency: int | None = None,
    ) -> Task[P, R]:
        """A copy of this task with some options changed (same code, same key)."""
        copy = object.__new__(Task)
        copy.__dict__.update(self.__dict__)
        if name is not None:
            copy.name = name
        if retry is not None:
            copy.retry = (retry,) if isinstance(retry, RetryPolicy) else tuple(retry)
            validate_retriers(copy.retry, f"task {copy.name}")
        if timeout is not None:
            copy.timeout = timeout
        if trigger_rule is not None:
            if trigger_rule not in TRIGGER_RULES:
                raise UsageError(
                    f"task {copy.name}: trigger rule {trigger_rule!r} is not one of {', '.join(TRIGGER_RULES)}"
                )
            copy.trigger_rule = trigger_rule
        if max_concurrency is not None:
            copy.max_concurrency = max_concurrency
        return copy

    def __repr__(self) -> str:
        return f"<task {self.key}>"


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    name: str | None = None,
    retry: RetryPolicy | Sequence[RetryPolicy] | None = None,
    timeout: float | None = None,
    trigger_rule: str = "all_success",
    max_concurrency: int | None = None,
    queue: str = "default",
    pool: str | None = None,
    priority: int = 0,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retry: RetryPolicy | Sequence[RetryPolicy] | None = None,
    timeout: float | None = None,
    trigger_rule: str = "all_success",
    max_concurrency: int | None = None,
    queue: str = "default",
    pool: str | None = None,
    priority: int = 0,
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Make a function a task: `@task` or `@task(retry=Retry(...), timeout=300, trigger_rule=...)`.

    `timeout` is in seconds per attempt; `max_concurrency` caps the running elements of a `.map`.
    `queue`, `pool` and `priority` route its attempts on a worker cluster (executor "celery"): the
    queue must be one of the settings' queues, a pool's slots are shared by the whole cluster, and
    higher priorities are sent first within a queue.
    """

    def wrap(f: Callable[P, R]) -> Task[P, R]:
        return Task(
            f,
            name=name,
            retry=retry,
            timeout=timeout,
            trigger_rule=trigger_rule,
            max_concurrency=max_concurrency,
            queue=queue,
            pool=pool,
            priority=priority,
        )

    return wrap(fn) if fn is not None else wrap


def _branch(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retry: RetryPolicy | Sequence[RetryPolicy] | None = None,
    timeout: float | None = None,
    trigger_rule: str = "all_success",
    queue: str = "default",
    pool: str | None = None,
    priority: int = 0,
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """`@task.branch`: a task that returns the name (or a list of names) of the downstream steps to
    follow; its other direct downstream steps are SKIPPED, and the skip spreads by trigger rules."""

    def wrap(f: Callable[P, R]) -> Task[P, R]:
        return Task(
            f,
            name=name,
            retry=retry,
            timeout=timeout,
            trigger_rule=trigger_rule,
            control="branch",
            queue=queue,
            pool=pool,
            priority=priority,
        )

    return wrap(fn) if fn is not None else wrap


task.branch = _branch  # type: ignore[attr-defined]


def _check_queue(queue: str, task_name: str) -> None:
    """Refuse, when the file is loaded, a queue no worker can be asked to serve."""
    import sys

    from lockgate.config import load

    known = load().queues()
    if queue in known:
        return
    frame = sys._getframe(1)
    here = __file__.rsplit("/", 1)[0]
    while frame is not None and frame.f_code.co_filename.startswith(here):
        frame = frame.f_back  # type: ignore[assignment]
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}: " if frame is not None else ""
    raise UsageError(f"{where}task {task_name}: unknown queue {queue!r} (queues: {', '.join(known)})")
