"""The rules of execution, as pure functions of (state, signal, now).

`apply(state, event)` (core.replay) folds one history event into a run's state; replaying a
history is folding all of its events. `decide(state, signal, now, ...)` returns the events that
follow from a signal (an attempt's outcome, a resume, the clock passing a timer), applying each
as it goes, so the runner only has to persist them and carry out the StepStarted ones.

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
from lockgate.core.model import resolve
from lockgate.core.replay import BRANCH_ERROR, apply, branch_problem, make_ready, replay, start
from lockgate.core.retry import match_retrier
from lockgate.core.state import MAX_INTERRUPTIONS, RunState, StepState

__all__ = [
    "AttemptFailed", "AttemptInterrupted", "AttemptSucceeded", "Resume", "RunState", "Signal", "StepState", "Tick",
    "apply", "decide", "replay", "start",
]  # fmt: skip


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
class AttemptInterrupted:
    """The worker running an attempt died while the run's driver lived: the step runs again
    without spending a retry (MAX_INTERRUPTIONS of them fail it)."""

    step: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Resume:
    """A process takes over a run whose previous owner is gone.

    `interrupt`: the running steps died with that owner (local executors); False when they run
    elsewhere (a worker pool) and the new owner only waits for their outcomes.
    """

    owner: str
    interrupt: bool = True
    counted: bool = True  # the interruptions count toward MAX_INTERRUPTIONS (see h.StepInterrupted)


@dataclass(frozen=True, slots=True)
class Tick:
    """Nothing happened but time passed (timers may be due, capacity may have freed)."""


Signal = AttemptSucceeded | AttemptFailed | AttemptInterrupted | Resume | Tick


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
            problem = branch_problem(state, step, signal.result) if step.spec.control == "branch" else None
            if problem is not None:
                error = ErrorInfo(name=BRANCH_ERROR, cause=problem, retryable=False)
                emit(h.StepFailed(at=now, step=signal.step, attempt=signal.attempt, error=error.to_json(), final=True))
            else:
                emit(h.StepSucceeded(at=now, step=signal.step, attempt=signal.attempt, result=signal.result))
    elif isinstance(signal, AttemptFailed):
        step = state.steps.get(signal.step)
        if step is not None and step.status == "RUNNING" and step.attempt == signal.attempt:
            _fail(state, step, signal.error, now, draw, emit)
    elif isinstance(signal, AttemptInterrupted):
        step = state.steps.get(signal.step)
        if step is not None and step.status == "RUNNING" and step.attempt == signal.attempt:
            _interrupt(step, now, emit)
    elif isinstance(signal, Resume):
        emit(h.RunResumed(at=now, owner=signal.owner))
        if signal.interrupt:
            for name in sorted(state.running, key=_step_order(state)):
                _interrupt(state.steps[name], now, emit, signal.counted)

    # timers
    while state.timers and state.timers[0][0] <= now and state.status == "RUNNING":
        _, _, kind, name, attempt = heapq.heappop(state.timers)
        if not state.timer_live(kind, name, attempt):
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
            make_ready(state, state.steps[name])
    if state.status != "RUNNING":
        return events

    while state.newly_skipped:
        name = state.newly_skipped.pop(0)
        emit(h.StepSkipped(at=now, step=name, reason=state.skip_reasons.pop(name, "trigger rule not met")))

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


def _interrupt(step: StepState, now: float, emit: Callable[[h.Event], None], counted: bool = True) -> None:
    emit(h.StepInterrupted(at=now, step=step.name, attempt=step.attempt, counted=counted))
    if step.deaths >= MAX_INTERRUPTIONS:
        error = ErrorInfo(
            name=INTERRUPTED,
            cause=f"step {step.name} was interrupted {step.deaths} times (its process died each time)",
            retryable=False,
        )
        emit(h.StepFailed(at=now, step=step.name, attempt=step.attempt, error=error.to_json(), final=True))


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
