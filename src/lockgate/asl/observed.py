"""How a durable execution shows itself to the runtime's run observers (metrics, notifications).

Python runs are observed batch by batch by `Runtime`; a state machine run is driven by
lockgate.asl.durable instead, so it reports its start and its end here, as a RunState the
observers already understand: the execution's name as the pipeline, the state that failed as
the failed step, and the execution's `meta` (its on_failure/on_success topics) as the
workflow's meta. Observers never change a run; one that fails is logged and skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.core import history as h
from lockgate.core.engine import RunState, StepState
from lockgate.core.errors import ErrorInfo
from lockgate.core.model import Step, Workflow


def failed_state(history: list[dict[str, Any]]) -> str | None:
    """The name of the last state entered before the execution failed, from its service history."""
    for event in reversed(history):
        details = event.get("stateEnteredEventDetails")
        if isinstance(details, dict) and isinstance(details.get("name"), str):
            return str(details["name"])
    return None


def run_state(
    run_id: str,
    state_machine: str,
    params: dict[str, Any],
    started_at: float,
    meta: Mapping[str, Any] | None,
    machine: Any = None,
) -> RunState:
    """A RunState for observers; with an ended `machine`, its status, output, error and failed state."""
    state = RunState(run_id, state_machine, Workflow(state_machine, {}, meta=dict(meta or {})), params, started_at)
    if machine is None or machine.status == "RUNNING":
        return state
    state.status, state.output = machine.status, machine.output
    state.error, state.cause = machine.error, machine.cause
    if machine.status in ("FAILED", "TIMED_OUT"):
        name = failed_state(machine.history)
        if name is not None:
            step = StepState(name, Step(name, task="asl"))
            step.status, step.attempt = "FAILED", 1
            step.error = ErrorInfo(machine.error or "", machine.cause or "", retryable=False)
            state.steps[name] = step
            state.failed.append(name)
    return state


def retry_state(
    run_id: str,
    state_machine: str,
    params: dict[str, Any],
    started_at: float,
    meta: Mapping[str, Any] | None,
    at: float,
    retried: list[tuple[str, int, str, str, int, int, float]],
) -> tuple[RunState, list[h.Event]]:
    """A RunState and its RetryScheduled events for Retriers that fired (Machine.take_retries):
    each state as the step that failed (its attempt, its error), as a Python step's retry shows."""
    state = run_state(run_id, state_machine, params, started_at, meta)
    batch: list[h.Event] = []
    for name, attempt, error, cause, index, retry, wait in retried:
        step = StepState(name, Step(name, task="asl"))
        step.status, step.attempt = "RETRYING", attempt
        step.error = ErrorInfo(error, cause, retryable=True)
        state.steps[name] = step
        batch.append(h.RetryScheduled(at=at, step=name, retrier=index, retry=retry, wait=wait, due_at=at + wait))
    return state, batch


def notify(runtime: Any, state: RunState, batch: list[h.Event]) -> None:
    """Hand a committed batch of a state machine run to the runtime's observers (lockgate.loop)."""
    from lockgate.loop import notify as to_observers

    to_observers(getattr(runtime, "observers", ()), state, batch)
