"""Building a Workflow by calling tasks: references, `>>` ordering, cycle detection."""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import enum
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lockgate.core.errors import CycleError, UsageError
from lockgate.core.model import ITEM, REF, Step, Workflow

if TYPE_CHECKING:
    from lockgate.dag.task import Task

_BUILDER: contextvars.ContextVar[Builder | None] = contextvars.ContextVar("lockgate_builder", default=None)


def current_builder() -> Builder | None:
    return _BUILDER.get()


class StepRef:
    """What a task call returns inside a pipeline: the future result of one step."""

    __slots__ = ("_builder", "name")

    def __init__(self, name: str, builder: Builder) -> None:
        self.name = name
        self._builder = builder

    def __rshift__(self, other: StepRef | list[StepRef]) -> StepRef | list[StepRef]:
        for down in other if isinstance(other, list) else [other]:
            self._builder.order(self, down)
        return other

    def __rrshift__(self, other: list[StepRef]) -> StepRef:
        for up in other:
            self._builder.order(up, self)
        return self

    def __lshift__(self, other: StepRef | list[StepRef]) -> StepRef | list[StepRef]:
        for up in other if isinstance(other, list) else [other]:
            self._builder.order(up, self)
        return other

    def __rlshift__(self, other: list[StepRef]) -> StepRef:
        for down in other:
            self._builder.order(self, down)
        return self

    def __bool__(self) -> bool:
        raise UsageError(
            f"step {self.name}'s result is not known while the pipeline is built, so `if` cannot test it; "
            "to choose which steps run, return their names from a @task.branch task, "
            "or stop what follows with lockgate.short_circuit(value)"
        )

    def __iter__(self) -> Any:
        raise UsageError(
            f"step {self.name}'s result cannot be iterated while the pipeline is built; use {self.name}.map"
        )

    def __repr__(self) -> str:
        return f"<step {self.name}>"


class Builder:
    """Collects the steps a pipeline function creates while it runs in build mode."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.specs: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, str]] = {}  # step -> {upstream: location}
        self._calls: dict[str, int] = {}  # task name -> how many steps it has made
        self.groups: list[str] = []  # the `with group(...)` blocks the next step is made in
        self.gates: list[str] = []  # short-circuit steps every later step waits for

    def __enter__(self) -> Builder:
        self._token = _BUILDER.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _BUILDER.reset(self._token)

    def add(
        self,
        task: Task[Any, Any],
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        map_over: tuple[Any, ...] | None,
        max_concurrency: int | None = None,
    ) -> StepRef:
        location = _caller_location()
        _check_call(task, args, kwargs, map_over, location)
        if task.control and map_over is not None:
            raise UsageError(f"{location}: step {task.name}: a branch or short-circuit step cannot be mapped")
        group = ".".join(self.groups)
        base = f"{group}.{task.name}" if group else task.name
        count = self._calls.get(base, 0) + 1
        name = base if count == 1 else f"{base}__{count}"
        while name in self.specs:  # a task explicitly named like a generated name
            count += 1
            name = f"{base}__{count}"
        self._calls[base] = count
        upstream: dict[str, None] = {}
        where = f"{location}: step {name}"
        arg_template = {
            "args": [self.template(a, upstream, f"{where}: argument {i + 1}") for i, a in enumerate(args)],
            "kwargs": {k: self.template(v, upstream, f"{where}: argument {k!r}") for k, v in kwargs.items()},
        }
        maps = None
        if map_over is not None:
            maps = tuple(self.template(values, upstream, f"{where}: mapped argument") for values in map_over)
            arg_template["args"] = [{ITEM: i} for i in range(len(map_over))]
        self.specs[name] = {
            "name": name,
            "task": task.key,
            "args": arg_template,
            "upstream": upstream,
            "trigger_rule": task.trigger_rule,
            "retry": task.retry,
            "timeout": task.timeout,
            "map_over": maps,
            "map_concurrency": max_concurrency or task.max_concurrency,
            "location": location,
            "control": task.control,
            "group": group,
            "queue": task.queue,
            "pool": task.pool,
            "priority": task.priority,
        }
        self.orders[name] = {gate: location for gate in self.gates}
        return StepRef(name, self)

    def order(self, up: StepRef, down: StepRef) -> None:
        for ref in (up, down):
            if not isinstance(ref, StepRef) or ref._builder is not self:
                raise UsageError(f"{_caller_location(2)}: >> joins steps of this pipeline, not {ref!r}")
        self.orders[down.name].setdefault(up.name, _caller_location(2))

    def template(self, value: Any, upstream: dict[str, None], where: str) -> Any:
        """A JSON template of an argument: step references become markers, the rest JSON."""
        if isinstance(value, StepRef):
            upstream[value.name] = None
            return {REF: value.name}
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value
        if isinstance(value, decimal.Decimal):
            return float(value)
        if isinstance(value, (dt.datetime, dt.date, dt.time)):
            return value.isoformat()
        if isinstance(value, (list, tuple)):
            return [self.template(v, upstream, where) for v in value]
        if isinstance(value, dict):
            out = {}
            for key, v in value.items():
                if not isinstance(key, str):
                    raise UsageError(f"{where}: dictionary key {key!r} is not a string (arguments travel as JSON)")
                out[key] = self.template(v, upstream, where)
            return out
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, enum.Enum):  # a parameter typed by an Enum: its value travels
            return self.template(value.value, upstream, where)
        raise UsageError(f"{where}: a {type(value).__name__} cannot be passed between steps (arguments travel as JSON)")

    def workflow(self, output: Any, timeout: float | None, source: str, meta: dict[str, Any] | None = None) -> Workflow:
        """The steps in dependency order; raises CycleError naming the loop."""
        upstream = {
            name: list(dict.fromkeys([*spec["upstream"], *self.orders[name]])) for name, spec in self.specs.items()
        }
        try:
            order = _topological(upstream)
        except CycleError as exc:
            file = self.specs[exc.steps[0]]["location"].rpartition(":")[0]
            where = f" in {file}" if file else ""
            loop = " -> ".join(exc.steps)
            raise CycleError(f"pipeline {self.pipeline}{where} has a cycle: {loop}", exc.steps) from None
        steps = {}
        for name in order:
            spec = dict(self.specs[name])
            spec["upstream"] = tuple(upstream[name])
            spec["retry"] = tuple(spec["retry"])
            steps[name] = Step(**spec)
        output_template = self.template(output, {}, f"pipeline {self.pipeline}: return value")
        return Workflow(
            name=self.pipeline, steps=steps, output=output_template, timeout=timeout, source=source, meta=meta or {}
        )


def _check_call(
    task: Task[Any, Any], args: tuple[Any, ...], kwargs: Mapping[str, Any], map_over: tuple[Any, ...] | None, where: str
) -> None:
    """Refuse a call the task's signature cannot take, now rather than when the step runs."""
    import inspect

    try:
        signature = inspect.signature(task.fn)
    except (TypeError, ValueError):  # builtins without a signature: let the step find out
        return
    positional = tuple(None for _ in map_over) if map_over is not None else args
    try:
        signature.bind(*positional, **kwargs)
    except TypeError as exc:
        raise UsageError(f"{where}: step {task.name}: {exc}") from None


def _topological(upstream: dict[str, list[str]]) -> list[str]:
    pending = {name: len(ups) for name, ups in upstream.items()}
    downstream: dict[str, list[str]] = {name: [] for name in upstream}
    for name, ups in upstream.items():
        for up in ups:
            downstream[up].append(name)
    order = [name for name, count in pending.items() if count == 0]
    for name in order:
        for down in downstream[name]:
            pending[down] -= 1
            if pending[down] == 0:
                order.append(down)
    if len(order) < len(upstream):
        cycle = _find_cycle({n: u for n, u in upstream.items() if pending[n] > 0})
        raise CycleError(f"pipeline has a cycle: {' -> '.join(cycle)}", cycle)
    return order


def _find_cycle(upstream: dict[str, list[str]]) -> list[str]:
    """One loop among steps that all still wait on something, listed in flow order."""
    start = next(iter(upstream))
    seen: dict[str, int] = {}
    path: list[str] = []
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(up for up in upstream[node] if up in upstream)
    loop = path[seen[node] :]
    loop.reverse()  # walked against the arrows; show them in flow order
    order = {name: i for i, name in enumerate(upstream)}
    first = min(range(len(loop)), key=lambda i: order[loop[i]])  # start at the earliest-defined step
    loop = loop[first:] + loop[:first]
    return [*loop, loop[0]]


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _caller_location(depth: int = 1) -> str:
    """`file.py:line` of the first frame outside lockgate, relative to the current folder."""
    frame = sys._getframe(depth)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "<unknown>"
    filename = frame.f_code.co_filename
    try:
        relative = os.path.relpath(filename)
        if not relative.startswith(".."):
            filename = relative
    except ValueError:
        pass
    return f"{filename}:{frame.f_lineno}"
