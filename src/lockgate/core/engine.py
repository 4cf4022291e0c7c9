"""The rules of execution, as pure functions of (state, signal, now).

`apply(state, event)` folds one history event into a run's state; replaying a history is
folding all of its events. `decide(state, signal, now, ...)` returns the events that follow
from a signal (an attempt's outcome, a resume, the clock passing a timer), applying each as
it goes, so the runner only has to persist them and carry out the StepStarted ones.

The state is mutable for speed (a run of 10,000 steps must not copy itself per event), but
only `apply` changes it, and no function here does I/O, reads the clock or draws randomness.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lockgate.core import history as h
from lockgate.core.errors import INTERRUPTED, TIMEOUT, ErrorInfo
from lockgate.core.model import Step, Workflow, resolve
from lockgate.core.retry import match_retrier

MAX_INTERRUPTIONS = 3
RESOLVED = frozenset({"SUCCEEDED", "FAILED", "SKIPPED"})


@dataclass(frozen=True, slots=True)
class AttemptSucceeded:
    step: str
    attempt: int
    result: Any


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    step: str
    attempt: int
    error: ErrorInfo


@dataclass(frozen=True, slots=True)
class Resume:
    """A process takes over a run whose previous owner is gone."""

    owner: str


@dataclass(frozen=True, slots=True)
class Tick:
    """Nothing happened but time passed (timers may be due, capacity may have freed)."""


Signal = AttemptSucceeded | AttemptFailed | Resume | Tick


class StepState:
    """Where one step (or one mapped element, `name[i]`) stands."""

    __slots__ = (
        "attempt",
        "children",
        "ended_at",
        "error",
        "failed_up",
        "index",
        "interruptions",
        "name",
        "open_children",
        "parent",
        "queue",
        "result",
        "retries",
        "running_children",
        "skipped_up",
        "spec",
        "started_at",
        "status",
        "succeeded_up",
        "waiting",
    )  # fmt: skip

    def __init__(self, name: str, spec: Step, index: int | None = None, parent: StepState | None = None) -> None:
        self.name = name
        self.spec = spec
        self.status = "PENDING"
        self.attempt = 0
        self.retries = [0] * len(spec.retry)
        self.interruptions = 0
        self.result: Any = None
        self.error: ErrorInfo | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.index = index
        self.parent = parent
        self.children: list[StepState] | None = None
        self.queue: list[int] = []  # children waiting to start, lowest index first
        self.running_children = 0
        self.open_children = 0
        self.waiting = len(spec.upstream)
        self.succeeded_up = 0
        self.failed_up = 0
        self.skipped_up = 0

    @property
    def mapped(self) -> bool:
        return self.spec.map_over is not None and self.index is None


class RunState:
    """A run as its history so far makes it."""

    def __init__(self, run_id: str, pipeline: str, workflow: Workflow, params: dict[str, Any], at: float) -> None:
        self.run_id = run_id
        self.pipeline = pipeline
        self.workflow = workflow
        self.params = params
        self.status = "RUNNING"
        self.started_at = at
        self.ended_at: float | None = None
        self.output: Any = None
        self.error: str | None = None
        self.cause: str | None = None
        self.steps: dict[str, StepState] = {}
        self.downstream: dict[str, list[str]] = {name: [] for name in workflow.steps}
        self.ready: dict[str, None] = {}
        self.running: set[str] = set()
        self.timers: list[tuple[float, int, str, str, int]] = []
        self.unresolved = len(workflow.steps)
        self.failed: list[str] = []
        self.newly_skipped: list[str] = []
        self._timer_seq = 0
        self.load: Callable[[Any], Any] = lambda value: value
        for name, spec in workflow.steps.items():
            self.steps[name] = StepState(name, spec)
            for up in spec.upstream:
                self.downstream[up].append(name)
        for name, step in self.steps.items():
            if step.waiting == 0:
                self.ready[name] = None
        if workflow.timeout is not None:
            self.push_timer(at + workflow.timeout, "run_timeout", "", 0)

    def push_timer(self, due: float, kind: str, step: str, attempt: int) -> None:
        self._timer_seq += 1
        heapq.heappush(self.timers, (due, self._timer_seq, kind, step, attempt))

    def next_wakeup(self) -> float | None:
        """When `decide(Tick)` next has something to do, if ever; drops stale timers."""
        while self.timers:
            due, _, kind, name, attempt = self.timers[0]
            if self._timer_live(kind, name, attempt):
                return due
            heapq.heappop(self.timers)
        return None

    def _timer_live(self, kind: str, name: str, attempt: int) -> bool:
        if self.status != "RUNNING":
            return False
        if kind == "run_timeout":
            return True
        step = self.steps[name]
        wanted = "RUNNING" if kind == "timeout" else "RETRYING"
        return step.status == wanted and step.attempt == attempt

    def result_of(self, name: str) -> Any:
        """A step's result for a downstream argument: None unless it succeeded."""
        step = self.steps[name]
        return self.load(step.result) if step.status == "SUCCEEDED" else None

    def items_of(self, step: StepState) -> tuple[Any, ...]:
        """The mapped arguments of element `step` (`name[i]`), read from upstream results."""
        assert step.parent is not None and step.index is not None
        lists = [resolve(t, self.result_of) for t in step.spec.map_over or ()]
        return tuple(values[step.index] for values in lists)

    def step_input(self, name: str) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments of a step's next attempt."""
        step = self.steps[name]
        items = self.items_of(step) if step.parent is not None else ()
        args = resolve(step.spec.args, self.result_of, items)
        return args["args"], args["kwargs"]


def start(run_id: str, workflow: Workflow, params: dict[str, Any], now: float) -> h.RunStarted:
    """The first event of a run."""
    return h.RunStarted(at=now, run_id=run_id, pipeline=workflow.name, params=params, workflow=workflow.to_json())


def replay(events: list[h.Event], load: Callable[[Any], Any] | None = None) -> RunState:
    """Rebuild a run's state from its history (which starts with RunStarted)."""
    first = events[0]
    if not isinstance(first, h.RunStarted):
        raise ValueError(f"history starts with {first.type}, not RunStarted")
    state = RunState(first.run_id, first.pipeline, Workflow.from_json(first.workflow), first.params, first.at)
    if load is not None:
        state.load = load
    for event in events[1:]:
        apply(state, event)
    state.newly_skipped.clear()
    return state


# ----------------------------------------------------------------------------- apply


def apply(state: RunState, event: h.Event) -> None:
    """Fold one event into the state."""
    handler = _APPLY.get(type(event))
    if handler is not None:
        handler(state, event)


def _apply_started(state: RunState, e: h.StepStarted) -> None:
    step = state.steps[e.step]
    step.status = "RUNNING"
    step.attempt = e.attempt
    step.started_at = e.at if step.started_at is None else step.started_at
    step.ended_at = None
    state.running.add(e.step)
    state.ready.pop(e.step, None)
    parent = step.parent
    if parent is not None:
        parent.running_children += 1
        if step.index in parent.queue:
            parent.queue.remove(step.index)
        if not parent.queue:
            state.ready.pop(parent.name, None)
    if step.spec.timeout is not None:
        state.push_timer(e.at + step.spec.timeout, "timeout", e.step, e.attempt)


def _leave_running(state: RunState, step: StepState) -> None:
    if step.name in state.running:
        state.running.discard(step.name)
        if step.parent is not None:
            step.parent.running_children -= 1


def _apply_succeeded(state: RunState, e: h.StepSucceeded) -> None:
    step = state.steps[e.step]
    _leave_running(state, step)
    step.status = "SUCCEEDED"
    step.result = e.result
    step.error = None
    step.ended_at = e.at
    _resolved(state, step, e.at)


def _apply_failed(state: RunState, e: h.StepFailed) -> None:
    step = state.steps[e.step]
    _leave_running(state, step)
    step.error = ErrorInfo.from_json(e.error)
    step.ended_at = e.at
    step.status = "FAILED"
    if e.final:
        state.ready.pop(e.step, None)
        parent = step.parent
        if parent is not None and step.index in parent.queue:
            parent.queue.remove(step.index)
        _resolved(state, step, e.at)


def _apply_retry(state: RunState, e: h.RetryScheduled) -> None:
    step = state.steps[e.step]
    step.status = "RETRYING"
    step.retries[e.retrier] = e.retry
    state.push_timer(e.due_at, "retry", e.step, step.attempt)


def _apply_interrupted(state: RunState, e: h.StepInterrupted) -> None:
    step = state.steps[e.step]
    _leave_running(state, step)
    step.interruptions += 1
    step.status = "PENDING"
    _make_ready(state, step)


def _apply_skipped(state: RunState, e: h.StepSkipped) -> None:
    step = state.steps[e.step]
    if step.status != "SKIPPED":  # usually already derived from its upstream
        _skip(state, step, e.at)


def _apply_mapped(state: RunState, e: h.StepMapped) -> None:
    parent = state.steps[e.step]
    state.ready.pop(e.step, None)
    parent.children = []
    parent.started_at = e.at
    for index in range(e.count):
        child = StepState(f"{e.step}[{index}]", parent.spec, index, parent)
        state.steps[child.name] = child
        parent.children.append(child)
    parent.queue = list(range(e.count))
    parent.open_children = e.count
    if e.count == 0:
        parent.status = "SUCCEEDED"
        parent.result = []
        parent.ended_at = e.at
        _resolved(state, parent, e.at)
    else:
        parent.status = "RUNNING"
        state.ready[e.step] = None


def _apply_run_end(state: RunState, e: h.Event) -> None:
    state.ended_at = e.at
    if isinstance(e, h.RunSucceeded):
        state.status, state.output = "SUCCEEDED", e.output
        return
    if isinstance(e, h.RunFailed):
        state.status, state.error, state.cause = "FAILED", e.error, e.cause
    elif isinstance(e, h.RunTimedOut):
        state.status, state.error, state.cause = "TIMED_OUT", e.error, e.cause
    elif isinstance(e, h.RunAborted):
        state.status, state.error, state.cause = "ABORTED", "lockgate.Aborted", e.cause
    for step in state.steps.values():
        if step.status in ("RUNNING", "RETRYING"):
            step.status = "ABORTED"
            step.ended_at = e.at
    state.running.clear()
    state.ready.clear()


def _apply_redriven(state: RunState, e: h.RunRedriven) -> None:
    """Reset everything that did not succeed; keep results, attempt numbers and the log."""
    state.status, state.ended_at, state.error, state.cause, state.output = "RUNNING", None, None, None, None
    state.ready.clear()
    state.running.clear()
    state.failed.clear()
    state.timers.clear()
    state.unresolved = 0
    if state.workflow.timeout is not None:
        state.push_timer(e.at + state.workflow.timeout, "run_timeout", "", 0)
    names = [name for name in state.workflow.steps if state.steps[name].status != "SUCCEEDED"]
    for name in names:
        step = state.steps[name]
        state.unresolved += 1
        ran_children = step.children is not None and step.status != "SKIPPED" and len(step.children) > 0
        _reset(step)
        if ran_children:
            redo = [child for child in step.children or () if child.status != "SUCCEEDED"]
            for child in redo:
                _reset(child)
            step.queue = [child.index for child in redo]  # type: ignore[misc]
            step.open_children = len(redo)
            step.running_children = 0
        else:
            step.children = None
    for name in names:
        step = state.steps[name]
        step.waiting = step.succeeded_up = step.failed_up = step.skipped_up = 0
        for up in step.spec.upstream:
            if state.steps[up].status == "SUCCEEDED":
                step.succeeded_up += 1
            else:
                step.waiting += 1
        if step.waiting == 0:
            if step.children is not None:
                step.status = "RUNNING"
            state.ready[name] = None


def _reset(step: StepState) -> None:
    step.status = "PENDING"
    step.retries = [0] * len(step.spec.retry)
    step.interruptions = 0
    step.error = None
    step.ended_at = None


_APPLY: dict[type, Callable[[RunState, Any], None]] = {
    h.StepStarted: _apply_started,
    h.StepSucceeded: _apply_succeeded,
    h.StepFailed: _apply_failed,
    h.RetryScheduled: _apply_retry,
    h.StepInterrupted: _apply_interrupted,
    h.StepSkipped: _apply_skipped,
    h.StepMapped: _apply_mapped,
    h.RunSucceeded: _apply_run_end,
    h.RunFailed: _apply_run_end,
    h.RunTimedOut: _apply_run_end,
    h.RunAborted: _apply_run_end,
    h.RunRedriven: _apply_redriven,
}


def _make_ready(state: RunState, step: StepState) -> None:
    if step.parent is not None:
        parent = step.parent
        parent.queue.append(step.index)  # type: ignore[arg-type]
        parent.queue.sort()
        state.ready[parent.name] = None
    elif step.children is not None:
        state.ready[step.name] = None
    else:
        state.ready[step.name] = None


def _resolved(state: RunState, step: StepState, at: float) -> None:
    """A step reached SUCCEEDED, FAILED or SKIPPED: tell its parent or its downstream."""
    parent = step.parent
    if parent is not None:
        parent.open_children -= 1
        if parent.open_children == 0:
            children = parent.children or []
            parent.ended_at = at
            failed = [c for c in children if c.status == "FAILED"]
            if failed:
                parent.status = "FAILED"
                parent.error = failed[0].error
            else:
                parent.status = "SUCCEEDED"
                parent.result = [c.result for c in children]
            state.ready.pop(parent.name, None)
            _resolved(state, parent, at)
        return
    state.unresolved -= 1
    if step.status == "FAILED":
        state.failed.append(step.name)
    for name in state.downstream[step.name]:
        down = state.steps[name]
        if down.status != "PENDING" or down.children is not None:
            continue
        down.waiting -= 1
        if step.status == "SUCCEEDED":
            down.succeeded_up += 1
        elif step.status == "FAILED":
            down.failed_up += 1
        else:
            down.skipped_up += 1
        verdict = _rule(down)
        if verdict == "run":
            if down.name not in state.ready:
                state.ready[down.name] = None
        elif verdict == "skip":
            _skip(state, down, at)


def _skip(state: RunState, step: StepState, at: float) -> None:
    step.status = "SKIPPED"
    step.ended_at = at
    state.ready.pop(step.name, None)
    state.newly_skipped.append(step.name)
    _resolved(state, step, at)


def _rule(step: StepState) -> str:
    """'run', 'skip' or 'wait': a step's trigger rule over what its upstream did so far."""
    done = step.waiting == 0
    rule = step.spec.trigger_rule
    if rule == "all_success":
        if step.failed_up or step.skipped_up:
            return "skip"
        return "run" if done else "wait"
    if rule == "all_done":
        return "run" if done else "wait"
    if rule == "none_failed":
        if step.failed_up:
            return "skip"
        return "run" if done else "wait"
    if rule == "one_failed":
        if step.failed_up:
            return "run"
        return "skip" if done else "wait"
    # one_success
    if step.succeeded_up:
        return "run"
    return "skip" if done else "wait"


# ----------------------------------------------------------------------------- decide


def decide(
    state: RunState,
    signal: Signal,
    now: float,
    draw: Callable[[], float],
    capacity: int,
) -> list[h.Event]:
    """The events that follow from `signal`, already applied to `state`.

    `draw` gives uniform samples in [0, 1) for FULL jitter; `capacity` is how many attempts
    of this run may be running at once. Signals for a finished run yield nothing.
    """
    events: list[h.Event] = []

    def emit(event: h.Event) -> None:
        apply(state, event)
        events.append(event)

    if state.status != "RUNNING":
        return events
    if isinstance(signal, AttemptSucceeded):
        step = state.steps.get(signal.step)
        if step is not None and step.status == "RUNNING" and step.attempt == signal.attempt:
            emit(h.StepSucceeded(at=now, step=signal.step, attempt=signal.attempt, result=signal.result))
    elif isinstance(signal, AttemptFailed):
        step = state.steps.get(signal.step)
        if step is not None and step.status == "RUNNING" and step.attempt == signal.attempt:
            _fail(state, step, signal.error, now, draw, emit)
    elif isinstance(signal, Resume):
        emit(h.RunResumed(at=now, owner=signal.owner))
        for name in sorted(state.running, key=_step_order(state)):
            step = state.steps[name]
            emit(h.StepInterrupted(at=now, step=name, attempt=step.attempt))
            if step.interruptions >= MAX_INTERRUPTIONS:
                error = ErrorInfo(
                    name=INTERRUPTED,
                    cause=f"step {name} was interrupted {step.interruptions} times (its process died each time)",
                    retryable=False,
                )
                emit(h.StepFailed(at=now, step=name, attempt=step.attempt, error=error.to_json(), final=True))

    # timers
    while state.timers and state.timers[0][0] <= now and state.status == "RUNNING":
        _, _, kind, name, attempt = heapq.heappop(state.timers)
        if not state._timer_live(kind, name, attempt):
            continue
        if kind == "run_timeout":
            emit(h.RunTimedOut(at=now, error=TIMEOUT, cause=f"run exceeded its timeout of {state.workflow.timeout} s"))
        elif kind == "timeout":
            step = state.steps[name]
            error = ErrorInfo(
                name=TIMEOUT, cause=f"step {name} exceeded its timeout of {step.spec.timeout} s", retryable=True
            )
            _fail(state, step, error, now, draw, emit)
        else:
            _make_ready(state, state.steps[name])
    if state.status != "RUNNING":
        return events

    while state.newly_skipped:
        name = state.newly_skipped.pop(0)
        emit(h.StepSkipped(at=now, step=name, reason="trigger rule not met"))

    _start_ready(state, now, capacity - len(state.running), emit, draw)

    if state.unresolved == 0 and not state.running and state.status == "RUNNING":
        if state.failed:
            first = state.steps[state.failed[0]]
            why = first.error
            cause = f"step {first.name} failed: {why.cause}" if why else f"step {first.name} failed"
            emit(h.RunFailed(at=now, error=why.name if why else "States.TaskFailed", cause=cause))
        else:
            emit(h.RunSucceeded(at=now, output=resolve(state.workflow.output, state.result_of)))
    return events


def _step_order(state: RunState) -> Callable[[str], tuple[int, int]]:
    order = {name: i for i, name in enumerate(state.workflow.steps)}

    def key(name: str) -> tuple[int, int]:
        step = state.steps[name]
        if step.parent is not None:
            return order[step.parent.name], step.index or 0
        return order[name], -1

    return key


def _fail(
    state: RunState,
    step: StepState,
    error: ErrorInfo,
    now: float,
    draw: Callable[[], float],
    emit: Callable[[h.Event], None],
) -> None:
    index = match_retrier(step.spec.retry, error)
    if index is not None:
        retry = step.retries[index] + 1
        wait = step.spec.retry[index].delay(retry, draw())
        if wait is not None:
            emit(h.StepFailed(at=now, step=step.name, attempt=step.attempt, error=error.to_json(), final=False))
            emit(h.RetryScheduled(at=now, step=step.name, retrier=index, retry=retry, wait=wait, due_at=now + wait))
            return
    emit(h.StepFailed(at=now, step=step.name, attempt=step.attempt, error=error.to_json(), final=True))


def _start_ready(
    state: RunState,
    now: float,
    slots: int,
    emit: Callable[[h.Event], None],
    draw: Callable[[], float],
) -> None:
    seen: set[str] = set()
    while True:
        fresh = [name for name in state.ready if name not in seen]
        if not fresh:
            return
        seen.update(fresh)
        slots = _start_some(state, fresh, now, slots, emit, draw)


def _start_some(
    state: RunState,
    names: list[str],
    now: float,
    slots: int,
    emit: Callable[[h.Event], None],
    draw: Callable[[], float],
) -> int:
    """Start what `names` allow; returns the slots left. Steps made ready meanwhile wait a pass."""
    for name in names:
        if slots <= 0 or state.status != "RUNNING":
            return 0
        if name not in state.ready:
            continue
        step = state.steps[name]
        if step.mapped:
            if step.children is None:
                count = _map_width(state, step, now, draw, emit)
                if count is None or state.status != "RUNNING":
                    continue
                emit(h.StepMapped(at=now, step=name, count=count))
                if step.children is None or not step.queue:
                    continue
            limit = step.spec.map_concurrency
            while step.queue and slots > 0 and (limit is None or step.running_children < limit):
                assert step.children is not None
                child = step.children[step.queue[0]]
                emit(h.StepStarted(at=now, step=child.name, attempt=child.attempt + 1))
                slots -= 1
        else:
            emit(h.StepStarted(at=now, step=name, attempt=step.attempt + 1))
            slots -= 1
    return slots


def _map_width(
    state: RunState,
    step: StepState,
    now: float,
    draw: Callable[[], float],
    emit: Callable[[h.Event], None],
) -> int | None:
    """How many elements a mapped step fans out to, or None after failing it for bad input."""
    widths = []
    for template in step.spec.map_over or ():
        values = resolve(template, state.result_of)
        if not isinstance(values, list):
            cause = f"step {step.name} maps over a {type(values).__name__}, not a list"
            error = ErrorInfo(name="lockgate.MapInputError", cause=cause, retryable=False)
            emit(h.StepFailed(at=now, step=step.name, attempt=0, error=error.to_json(), final=True))
            return None
        widths.append(len(values))
    if len(set(widths)) > 1:
        cause = f"step {step.name} maps over lists of different lengths {widths}"
        error = ErrorInfo(name="lockgate.MapInputError", cause=cause, retryable=False)
        emit(h.StepFailed(at=now, step=step.name, attempt=0, error=error.to_json(), final=True))
        return None
    return widths[0] if widths else 0
