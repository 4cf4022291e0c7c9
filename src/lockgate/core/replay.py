"""Folding history events into a run's state: `apply` one, `replay` all.

Everything derived (readiness, upstream counters, skips, timers) is recomputed here from the
events, so a replayed run and a live one are the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lockgate.core import history as h
from lockgate.core.errors import ErrorInfo
from lockgate.core.model import Workflow
from lockgate.core.state import RESOLVED, RunState, StepState


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
    state.skip_reasons.clear()
    return state


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
    control = step.spec.control
    if control == "branch":
        chosen = set(branch_targets(state, step, e.result) or ())
        for name in state.downstream[step.name]:
            if name not in chosen:
                _skip_outright(state, name, e.at, f"branch {step.name} did not choose it")
    elif control == "short_circuit" and not e.result:
        for name in downstream_of(state, [step.name]):
            _skip_outright(state, name, e.at, f"short-circuited by {step.name}")


BRANCH_ERROR = "lockgate.BranchError"


def branch_targets(state: RunState, step: StepState, result: Any) -> list[str] | None:
    """The direct downstream steps a branch result names (a step name or its task's name, one
    or a list), or None when the result names something else."""
    names = [result] if isinstance(result, str) else result
    if names is None:
        return []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return None
    downstream = state.downstream[step.name]
    chosen = []
    for wanted in names:
        matches = [d for d in downstream if d == wanted or _task_name(state, d) == wanted]
        if len(matches) != 1:
            return None
        chosen.append(matches[0])
    return chosen


def branch_problem(state: RunState, step: StepState, result: Any) -> str | None:
    """Why a branch step's result cannot be followed, if it cannot."""
    if branch_targets(state, step, result) is not None:
        return None
    allowed = ", ".join(state.downstream[step.name]) or "none"
    return (
        f"branch {step.name} returned {result!r}: expected the name (or a list of names) of steps "
        f"directly after it ({allowed})"
    )


def _task_name(state: RunState, name: str) -> str:
    """A step's name without its group and its repeat suffix (`extract.pull__2` -> `pull`)."""
    return name.rpartition(".")[2].partition("__")[0]


def steered_off(state: RunState) -> dict[str, str]:
    """Steps that branches and short circuits which already succeeded keep from running, and why
    (used when a run goes on again after a retry, clear or mark)."""
    out: dict[str, str] = {}
    for name, spec in state.workflow.steps.items():
        step = state.steps[name]
        if step.status != "SUCCEEDED" or not spec.control:
            continue
        if spec.control == "branch":
            chosen = set(branch_targets(state, step, step.result) or ())
            for down in state.downstream[name]:
                if down not in chosen:
                    out.setdefault(down, f"branch {name} did not choose it")
        elif not state.load(step.result):
            for down in downstream_of(state, [name]):
                out.setdefault(down, f"short-circuited by {name}")
    return out


def _skip_outright(state: RunState, name: str, at: float, reason: str) -> None:
    """Skip a step whatever its trigger rule (a branch not taken, a short circuit)."""
    step = state.steps[name]
    if step.status == "PENDING" and step.children is None:
        state.skip_reasons[name] = reason
        _skip(state, step, at)


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
    step.deaths += 1 if e.counted else 0
    step.status = "PENDING"
    make_ready(state, step)


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
        child.attempt = state.element_attempts.pop(child.name, 0)
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
    steered = steered_off(state)
    for name in names:
        step = state.steps[name]
        if step.status == "SKIPPED":  # by a skip spreading from one steered off just before
            continue
        if name in steered:
            _skip_outright(state, name, e.at, steered[name])
        elif step.waiting == 0:
            if step.children is not None:
                step.status = "RUNNING"
            state.ready[name] = None


MARKED_FAILED = "lockgate.MarkedFailed"


def downstream_of(state: RunState, names: list[str]) -> list[str]:
    """Every step after `names` (transitively), in workflow order."""
    seen: set[str] = set()
    frontier = list(names)
    while frontier:
        for down in state.downstream[frontier.pop()]:
            if down not in seen:
                seen.add(down)
                frontier.append(down)
    return [name for name in state.workflow.steps if name in seen]


def upstream_of(state: RunState, names: list[str]) -> list[str]:
    """Every step before `names` (transitively), in workflow order."""
    seen: set[str] = set()
    frontier = list(names)
    while frontier:
        for up in state.workflow.steps[frontier.pop()].upstream:
            if up not in seen:
                seen.add(up)
                frontier.append(up)
    return [name for name in state.workflow.steps if name in seen]


def _apply_cleared(state: RunState, e: h.StepsCleared) -> None:
    _go_on_with(state, e.at, set(e.steps))
    _recount(state, e.at)


def _apply_marked(state: RunState, e: h.StepMarked) -> None:
    step = state.steps[e.step]
    again = set(downstream_of(state, [e.step]))  # they run again as if the step had ended so
    _go_on_with(state, e.at, again)
    _abandon(state, step)
    _drop_children(state, step)
    step.ended_at = e.at
    if e.status == "SUCCEEDED":
        step.status, step.result, step.error = "SUCCEEDED", None, None
    else:
        step.status, step.result = "FAILED", None
        cause = f"step {e.step} was marked failed by {e.actor}"
        step.error = ErrorInfo(name=MARKED_FAILED, cause=cause, retryable=False)
    _recount(state, e.at)


def _abandon(state: RunState, step: StepState) -> None:
    """A step cleared or marked while it (or some of its elements) runs: those attempts no longer
    count; their outcomes, when they come, are ignored (the step is not RUNNING at that attempt)."""
    state.running.discard(step.name)
    for child in step.children or ():
        state.running.discard(child.name)


def _drop_children(state: RunState, step: StepState) -> None:
    for child in step.children or ():
        state.steps.pop(child.name, None)
        state.element_attempts[child.name] = child.attempt
    step.children = None
    step.queue = []
    step.open_children = step.running_children = 0


def _go_on_with(state: RunState, at: float, reset: set[str]) -> None:
    """The run goes on: steps in `reset` (and any aborted or left pending) wait for their upstream
    again, keeping their attempt numbers so new attempts follow the old ones in the history."""
    if state.status != "RUNNING":
        state.status, state.ended_at, state.error, state.cause, state.output = "RUNNING", None, None, None, None
        state.timers.clear()
        if state.workflow.timeout is not None:
            state.push_timer(at + state.workflow.timeout, "run_timeout", "", 0)
    for name in state.workflow.steps:
        step = state.steps[name]
        if name in reset or step.status in ("ABORTED", "PENDING"):
            _abandon(state, step)
            _reset(step)
            _drop_children(state, step)
            step.result = None
            step.started_at = None


def _recount(state: RunState, at: float) -> None:
    """Derive readiness and upstream counters of the pending steps from what the others did."""
    state.ready.clear()
    state.failed = [n for n in state.workflow.steps if state.steps[n].status == "FAILED"]
    state.unresolved = sum(1 for n in state.workflow.steps if state.steps[n].status not in RESOLVED)
    for name in state.workflow.steps:
        step = state.steps[name]
        if step.status != "PENDING":
            continue
        step.waiting = step.succeeded_up = step.failed_up = step.skipped_up = 0
        for up in step.spec.upstream:
            status = state.steps[up].status
            if status == "SUCCEEDED":
                step.succeeded_up += 1
            elif status == "FAILED":
                step.failed_up += 1
            elif status == "SKIPPED":
                step.skipped_up += 1
            else:
                step.waiting += 1
    steered = steered_off(state)
    for name in state.workflow.steps:
        step = state.steps[name]
        if step.status == "RUNNING" and step.children is not None and step.queue:
            state.ready[name] = None  # a mapped step still running, with elements left to start
        if step.status != "PENDING":
            continue
        if name in steered:
            _skip_outright(state, name, at, steered[name])
            continue
        verdict = _rule(step)
        if verdict == "run":
            state.ready[name] = None
        elif verdict == "skip":
            _skip(state, step, at)


def _reset(step: StepState) -> None:
    step.status = "PENDING"
    step.retries = [0] * len(step.spec.retry)
    step.interruptions = 0
    step.deaths = 0
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
    h.StepsCleared: _apply_cleared,
    h.StepMarked: _apply_marked,
}


def make_ready(state: RunState, step: StepState) -> None:
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
