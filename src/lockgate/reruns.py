"""Re-running chosen steps of a run (`clear`) and setting a step's outcome by hand (`mark`).

Both append one event (StepsCleared, StepMarked) to the run's history and re-open the run when
it had finished; the engine (core.replay) derives what runs next. The run is then carried on by
the service that serves its pipeline when one is alive (the run is queued again and claimed),
else by the caller. A run still being driven by a live process is refused: its driver holds the
state in memory and would not see the event.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from lockgate.core import history as h
from lockgate.core.errors import UsageError
from lockgate.core.history import TERMINAL_RUN
from lockgate.core.replay import downstream_of, upstream_of


@dataclass(frozen=True, slots=True)
class Reopened:
    """What clear or mark did: the steps concerned, and who carries the run on ("service" or "here")."""

    run_id: str
    steps: list[str]
    by: str

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "steps": self.steps, "carried_on_by": self.by}


def os_user() -> str:
    """Who runs this command, for the history's `actor`: `cli:<OS user>`, as every CLI action."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment (a container without /etc/passwd entry)
        return "cli:unknown"


def clear(
    runtime: Any,
    run_id: str,
    step: str,
    *,
    downstream: bool = False,
    upstream: bool = False,
    actor: str,
    queue: bool | None = None,
) -> Reopened:
    """Run `step` again (and what follows it, or what precedes it) as new attempts in the same run.

    `queue`: True hands the run to a service, False leaves it to the caller, None decides by
    whether a live service serves the pipeline.
    """
    record, state = _finished_run(runtime, run_id)
    _top_level(state, step, record.run_id)
    names = [step]
    if upstream:
        names = [*upstream_of(state, [step]), *names]
    if downstream:
        names = [*names, *downstream_of(state, [step])]
    event = h.StepsCleared(at=runtime.clock(), steps=names, actor=actor)
    return Reopened(record.run_id, names, _reopen(runtime, record, event, queue))


def mark(runtime: Any, run_id: str, step: str, status: str, *, actor: str, queue: bool | None = None) -> Reopened:
    """Record `step` as SUCCEEDED or FAILED by `actor`; every step after it runs again as if it had."""
    if status not in ("SUCCEEDED", "FAILED"):
        raise UsageError(f"a step is marked SUCCEEDED or FAILED, not {status!r}")
    record, state = _finished_run(runtime, run_id)
    _top_level(state, step, record.run_id)
    event = h.StepMarked(at=runtime.clock(), step=step, status=status, actor=actor)
    return Reopened(record.run_id, [step], _reopen(runtime, record, event, queue))


def _finished_run(runtime: Any, run_id: str) -> tuple[Any, Any]:
    record, state, _ = runtime.state(run_id)
    if record.kind != "python":
        raise UsageError(
            f"run {record.run_id} is a state machine execution: redrive it (`lockgate retry {record.run_id}`)"
        )
    if record.status == "QUEUED":
        raise UsageError(f"run {record.run_id} is QUEUED: it has not run any step yet")
    if record.status not in TERMINAL_RUN:
        if not runtime.is_orphaned(record):
            raise UsageError(
                f"run {record.run_id} is RUNNING in {record.owner}; wait for it to end, or cancel it first"
            )
        raise UsageError(f"run {record.run_id} lost its process; resume it first (`lockgate resume {record.run_id}`)")
    return record, state


def _top_level(state: Any, step: str, run_id: str) -> None:
    if step not in state.workflow.steps:
        if step in state.steps:  # an element of a mapped step
            raise UsageError(f"{step} is one element of a mapped step; clear or mark the whole step")
        listed = ", ".join(state.workflow.steps) or "none"
        raise UsageError(f"run {run_id} has no step {step!r} (steps: {listed})")


def service_alive(runtime: Any, pipeline: str) -> bool:
    """Whether a live service (on this host, by its process) registered `pipeline`."""
    import sqlalchemy as sa

    from lockgate.store.schema import served

    with runtime.store.engine.begin() as conn:
        row = conn.execute(sa.select(served.c.service).where(served.c.name == pipeline)).first()
    return row is not None and not runtime._is_stale(row.service, None)


def _reopen(runtime: Any, record: Any, event: h.Event, queue: bool | None) -> str:
    if queue is None:
        queue = service_alive(runtime, record.pipeline)
    finished = sorted(TERMINAL_RUN)
    now = runtime.clock()
    status = "QUEUED" if queue else "RUNNING"
    if not runtime.store.reopen(record.run_id, runtime.owner, event, now, finished=finished, status=status):
        raise UsageError(f"run {record.run_id} changed meanwhile; try again")
    if queue:
        from lockgate.triggers.scheduler import attached

        scheduler = attached(runtime)
        if scheduler is not None:
            scheduler.wake()
        return "service"
    return "here"
