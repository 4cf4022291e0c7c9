"""Re-running chosen steps of a run (`clear`) and setting a step's outcome by hand (`mark`).

A finished run: one event (StepsCleared, StepMarked) is appended to its history and the run is
open again; the engine (core.replay) derives what runs next. The run is then carried on by the
service that serves its pipeline when one is alive (the run is queued again and claimed), else
by the caller.

A run a live process drives (a `serve`, a `lockgate run`) holds its state in that process's
memory, so no one else may write what happens to it. A clear or a mark of it is a request: a
RerunRequested event, appended under the run's row lock while its owner is marked
(`OWNER#requests`). The owner's next commit (a step's outcome, or its heartbeat, at least every
`heartbeat_seconds`) is then refused by the fence every commit passes; the owner sees the mark
and, in one transaction, commits its batch, applies each pending request as the StepsCleared or
StepMarked naming it, and takes its name back (`take_requests`). The history holds each request
once and its application once, in the order the owner applied them, so a replay rebuilds the
state the owner had. A process that resumes the run after its owner died applies the requests
left pending (`pending`).
"""

from __future__ import annotations

import getpass
import time
import uuid
from dataclasses import dataclass
from typing import Any

from lockgate.core import history as h
from lockgate.core.errors import UsageError
from lockgate.core.history import TERMINAL_RUN
from lockgate.core.replay import downstream_of, upstream_of

REQUESTED = "#requests"  # appended to a run's owner while requests wait for it


@dataclass(frozen=True, slots=True)
class Reopened:
    """What clear or mark did: the steps concerned, and who carries the run on ("service",
    "here", or "owner": the live process driving it, which was asked to; `request` names the ask)."""

    run_id: str
    steps: list[str]
    by: str
    request: str | None = None
    owner: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run_id": self.run_id, "steps": self.steps, "carried_on_by": self.by}
        if self.request is not None:
            out.update(request=self.request, owner=self.owner)
        return out


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

    `queue`: True hands a finished run to a service, False leaves it to the caller, None decides
    by whether a live service serves the pipeline. A run a live process drives is asked instead.
    """
    record, state = _target_run(runtime, run_id)
    _top_level(state, step, record.run_id)
    names = [step]
    if upstream:
        names = [*upstream_of(state, [step]), *names]
    if downstream:
        names = [*names, *downstream_of(state, [step])]
    if record.status == "RUNNING":
        asked = _ask(runtime, record, "clear", names, None, actor)
        if asked is not None:
            return asked
        record, state = _target_run(runtime, record.run_id)  # it ended meanwhile
    event = h.StepsCleared(at=runtime.clock(), steps=names, actor=actor)
    return Reopened(record.run_id, names, _reopen(runtime, record, event, queue))


def mark(runtime: Any, run_id: str, step: str, status: str, *, actor: str, queue: bool | None = None) -> Reopened:
    """Record `step` as SUCCEEDED or FAILED by `actor`; every step after it runs again as if it had."""
    if status not in ("SUCCEEDED", "FAILED"):
        raise UsageError(f"a step is marked SUCCEEDED or FAILED, not {status!r}")
    record, state = _target_run(runtime, run_id)
    _top_level(state, step, record.run_id)
    if record.status == "RUNNING":
        asked = _ask(runtime, record, "mark", [step], status, actor)
        if asked is not None:
            return asked
        record, state = _target_run(runtime, record.run_id)
    event = h.StepMarked(at=runtime.clock(), step=step, status=status, actor=actor)
    return Reopened(record.run_id, [step], _reopen(runtime, record, event, queue))


def _target_run(runtime: Any, run_id: str) -> tuple[Any, Any]:
    """A Python run that ended, or that a live process drives (it is then asked); else UsageError."""
    record, state, _ = runtime.state(run_id)
    if record.kind != "python":
        raise UsageError(
            f"run {record.run_id} is a state machine execution: redrive it (`lockgate retry {record.run_id}`)"
        )
    if record.status == "QUEUED":
        raise UsageError(f"run {record.run_id} is QUEUED: it has not run any step yet")
    if record.status not in TERMINAL_RUN:
        if runtime.is_orphaned(record):
            raise UsageError(
                f"run {record.run_id} lost its process; resume it first (`lockgate resume {record.run_id}`)"
            )
        if getattr(runtime.store, "engine", None) is None:
            raise UsageError(f"run {record.run_id} is RUNNING in {record.owner}; wait for it to end, or cancel it")
        if not state.workflow.steps:  # claimed, its first batch not committed yet
            raise UsageError(f"run {record.run_id} has not started its steps yet; try again in a moment")
    return record, state


def _top_level(state: Any, step: str, run_id: str) -> None:
    if step not in state.workflow.steps:
        if step in state.steps:  # an element of a mapped step
            raise UsageError(f"{step} is one element of a mapped step; clear or mark the whole step")
        listed = ", ".join(state.workflow.steps) or "none"
        raise UsageError(f"run {run_id} has no step {step!r} (steps: {listed})")


def owner_of(owner: str | None) -> str | None:
    """The process an owner names, without the mark of waiting requests."""
    return owner.removesuffix(REQUESTED) if owner else owner


def _ask(runtime: Any, record: Any, action: str, steps: list[str], status: str | None, actor: str) -> Reopened | None:
    """Record a request for the live owner of a RUNNING run and mark the owner; None when the run
    is not RUNNING any more (it ended meanwhile: the caller reopens it instead)."""
    import sqlalchemy as sa

    from lockgate import _json
    from lockgate.store.schema import events, runs

    request = uuid.uuid4().hex[:12]
    event = h.RerunRequested(at=runtime.clock(), action=action, steps=steps, status=status, actor=actor,
                             request=request)  # fmt: skip
    with runtime.store.engine.begin() as conn:
        row = conn.execute(
            sa.select(runs.c.status, runs.c.owner).where(runs.c.run_id == record.run_id).with_for_update()
        ).first()
        if row is None or row.status != "RUNNING":
            return None
        owner = owner_of(row.owner)
        conn.execute(events.insert(), [{"run_id": record.run_id, "type": event.type, "at": event.at,
                                        "body": _json.dumps(event.body())}])  # fmt: skip
        conn.execute(
            sa.update(runs)
            .where(runs.c.run_id == record.run_id, runs.c.owner == row.owner)
            .values(owner=f"{owner}{REQUESTED}")
        )
    return Reopened(record.run_id, steps, "owner", request, owner)


def wait_applied(runtime: Any, run_id: str, request: str, timeout: float) -> bool:
    """Whether the request was applied (its StepsCleared or StepMarked is in the history) within `timeout` s."""
    import sqlalchemy as sa

    from lockgate import _json
    from lockgate.store.schema import events

    query = sa.select(events.c.type, events.c.at, events.c.body).where(
        events.c.run_id == run_id, events.c.type.in_(["StepsCleared", "StepMarked"])
    )  # only these: a run's whole history may be long
    deadline = time.monotonic() + timeout
    while True:
        with runtime.store.engine.connect() as conn:
            found = [h.event_from(kind, at, _json.loads(body)) for kind, at, body in conn.execute(query)]
        if any(e.request == request for e in _applied(found)):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _applied(events: list[h.Event]) -> list[Any]:
    return [e for e in events if isinstance(e, (h.StepsCleared, h.StepMarked)) and e.request is not None]


def pending(state: Any, events: list[h.Event], now: float) -> list[h.Event]:
    """Apply to `state` the requests of `events` (a run's history, or part of it) not applied yet;
    returns the StepsCleared and StepMarked events that apply them, to be committed."""
    done = {e.request for e in _applied(events)}
    out: list[h.Event] = []
    for event in events:
        if isinstance(event, h.RerunRequested) and event.request not in done:
            done.add(event.request)
            out.append(_application(state, event, now))
    return out


def _application(state: Any, asked: h.RerunRequested, now: float) -> h.Event:
    from lockgate.core.replay import apply

    event: h.Event
    if asked.action == "mark":
        event = h.StepMarked(at=now, step=asked.steps[0], status=asked.status or "SUCCEEDED", actor=asked.actor,
                             request=asked.request)  # fmt: skip
    else:
        event = h.StepsCleared(at=now, steps=list(asked.steps), actor=asked.actor, request=asked.request)
    apply(state, event)
    return event


def take_requests(runtime: Any, state: Any, batch: list[h.Event], capacity: int) -> bool:
    """The owner's commit was refused because requests wait for it: in one transaction, commit
    `batch`, apply the pending requests to `state` (their events, and what follows from them at
    once, are appended to `batch`, so the caller notifies and submits them too), and take the
    run's owner name back. False when the run is not this process's to drive any more."""
    import sqlalchemy as sa

    from lockgate import _json
    from lockgate.core import engine as eng
    from lockgate.store.schema import events, runs

    marked = f"{runtime.owner}{REQUESTED}"
    now = runtime.clock()

    def rows(items: list[h.Event]) -> list[dict[str, Any]]:
        return [{"run_id": state.run_id, "type": e.type, "at": e.at, "body": _json.dumps(e.body())} for e in items]

    more: list[h.Event] = []
    with runtime.store.engine.begin() as conn:
        row = conn.execute(
            sa.select(runs.c.status, runs.c.owner).where(runs.c.run_id == state.run_id).with_for_update()
        ).first()
        if row is None or row.status != "RUNNING" or row.owner != marked:
            return False
        if batch:
            conn.execute(events.insert(), rows(batch))
        kinds = ["RerunRequested", "StepsCleared", "StepMarked"]
        query = (
            sa.select(events.c.type, events.c.at, events.c.body)
            .where(events.c.run_id == state.run_id, events.c.type.in_(kinds))
            .order_by(events.c.id)
        )
        asked = [h.event_from(kind, at, _json.loads(body)) for kind, at, body in conn.execute(query)]
        more = pending(state, asked, now)
        if more:
            more += eng.decide(state, eng.Tick(), now, runtime.draw, capacity)
            conn.execute(events.insert(), rows(more))
        values: dict[str, Any] = {"owner": runtime.owner, "heartbeat_at": now}
        if state.status != "RUNNING":  # the batch ended the run, and no request opened it again
            last = (more or batch)[-1]
            values.update(status=state.status, ended_at=state.ended_at or last.at, error=state.error, cause=state.cause)
            if state.status == "SUCCEEDED":
                values["output"] = _json.dumps(state.output)
        conn.execute(sa.update(runs).where(runs.c.run_id == state.run_id, runs.c.owner == marked).values(**values))
    batch.extend(more)
    return True


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
