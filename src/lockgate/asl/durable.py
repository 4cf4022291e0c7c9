"""State machines as durable lockgate runs (kind "asl"), in the same store as Python pipelines.

A run's history is its RunStarted event (definition, input, context) followed by one
AslAdvanced event per step of the machine: the task results and timer firings it applied and
the random draws it made. Pass and Choice transitions cost nothing to store: they are replayed.
On resume the machine is rebuilt by replaying those events, so a task that succeeded never
runs again; timers keep their due times, so a Wait of a day survives a restart; tasks whose
answers were lost with the process are invoked again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lockgate import _json
from lockgate.asl import observed
from lockgate.asl.callbacks import Mailbox, MemoryMailbox, StoreMailbox
from lockgate.asl.commands import ABORTED, RUNNING, Command, Invoke, StartTimer
from lockgate.asl.driver import Invoker, Report, apply, drive, result_of
from lockgate.asl.entropy import RecordingEntropy, ReplayEntropy, SeededEntropy
from lockgate.asl.machine import Machine
from lockgate.asl.mock import MockConfig
from lockgate.asl.resources import Resources
from lockgate.core import history as h
from lockgate.core.errors import UsageError
from lockgate.store.base import NewRun, RunRecord, RunUpdate

log = logging.getLogger(__name__)

KIND = "asl"


def context_base(state_machine: str, name: str) -> dict[str, Any]:
    from lockgate.asl import arns

    machine_arn = arns.state_machine(state_machine)
    return {
        "Execution": {"Id": arns.execution(state_machine, name), "Name": name},
        "StateMachine": {"Id": machine_arn, "Name": state_machine},
    }


def _final(machine: Machine, at: float) -> tuple[h.Event, RunUpdate]:
    status = machine.status
    if status == "SUCCEEDED":
        event: h.Event = h.RunSucceeded(at=at, output=machine.output)
    elif status == "TIMED_OUT":
        event = h.RunTimedOut(at=at, error=machine.error or "", cause=machine.cause or "")
    else:
        event = h.RunFailed(at=at, error=machine.error or "", cause=machine.cause or "")
    update = RunUpdate(status=status, output=machine.output, has_output=status == "SUCCEEDED",
                       error=machine.error, cause=machine.cause, ended_at=at)  # fmt: skip
    return event, update


class _Recorder:
    """Commits each advance of the machine as one AslAdvanced event (one transaction); the final
    one also goes to the runtime's observers (metrics, on_failure/on_success topics)."""

    def __init__(
        self, runtime: Any, run_id: str, machine: Machine, entropy: RecordingEntropy, observed: dict[str, Any]
    ) -> None:
        self.runtime, self.run_id, self.machine, self.entropy = runtime, run_id, machine, entropy
        self.observed = observed  # state_machine, params, started_at, meta: see `observed_of`

    def __call__(self, now: float, reports: list[Report], fired: list[str]) -> bool:
        events: list[h.Event] = [
            h.AslAdvanced(at=now, reports=[list(r) for r in reports], fired=list(fired), draws=self.entropy.take())
        ]
        update = None
        if self.machine.status != RUNNING:
            final, update = _final(self.machine, now)
            events.append(final)
        if self.runtime.store.append(self.run_id, events, update, self.runtime.owner, self.runtime.clock()):
            if update is not None:
                o = self.observed
                state = observed.run_state(
                    self.run_id, o["state_machine"], o["params"], o["started_at"], o["meta"], self.machine
                )
                observed.notify(self.runtime, state, events[1:])
            return True
        log.warning(
            "run %s was aborted or taken over; this process stops driving it",
            self.run_id,
            extra={"run_id": self.run_id},
        )
        return False


def execution_key(state_machine: str, name: str) -> str:
    """The idempotency key that makes an execution name unique per state machine."""
    return f"asl:{state_machine}:{name}"


@dataclass
class Created:
    """A durable execution stored and ready to be driven."""

    run_id: str
    name: str
    machine: Machine
    entropy: RecordingEntropy
    mock: MockConfig | None
    observed: dict[str, Any] = field(default_factory=dict)


class InvalidInput(UsageError):
    """An execution input over the limits: refused before anything is stored."""


def create(
    runtime: Any,
    definition: dict[str, Any],
    input: Any,
    *,
    state_machine: str,
    name: str | None = None,
    mock: MockConfig | None = None,
    meta: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Created:
    """Store a new execution (kind "asl"); UsageError if the state machine already has one so named.

    `meta` is kept with the run: its `on_failure`/`on_success` topic lists are notified at the end.
    `parent_run_id` makes it a child execution (of a Distributed Map); `extra` goes into its params.
    """
    from lockgate.asl import limits
    from lockgate.views import new_run_id

    try:
        limits.check_input(input)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    now = runtime.clock()
    run_id = new_run_id(now)
    name = name or run_id
    context = context_base(state_machine, name)
    params = {"input": input, "name": name, **(extra or {})}
    workflow: dict[str, Any] = {"definition": definition, "context": context, "seed": uuid.uuid4().hex}
    if mock is not None:
        workflow["mock"] = {"data": mock.data, "state_machine": mock.state_machine, "test_case": mock.test_case}
    if meta:
        workflow["meta"] = dict(meta)
    record = NewRun(
        run_id,
        state_machine,
        KIND,
        params,
        now,
        owner=runtime.owner,
        idempotency_key=execution_key(state_machine, name),
        parent_run_id=parent_run_id,
        created_by=h.current_actor(),
    )
    first = h.RunStarted(at=now, run_id=run_id, pipeline=state_machine, params=params, workflow=workflow)
    if not runtime.store.create_run(record, [first]):
        raise UsageError(
            f"ExecutionAlreadyExists: state machine {state_machine!r} already has an execution named {name!r}"
        )
    return _created(runtime, first, mock)


def _created(runtime: Any, first: h.RunStarted, mock: MockConfig | None) -> Created:
    """The Created of a stored RunStarted; observers hear of the start."""
    workflow, params = first.workflow, first.params
    entropy = RecordingEntropy(SeededEntropy(workflow["seed"]))
    machine = Machine(workflow["definition"], params["input"], workflow["context"], entropy=entropy)
    meta: dict[str, Any] | None = workflow.get("meta")
    seen = {"state_machine": first.pipeline, "params": params, "started_at": first.at, "meta": meta}
    observed.notify(runtime, observed.run_state(first.run_id, first.pipeline, params, first.at, meta), [first])
    return Created(first.run_id, params["name"], machine, entropy, mock, seen)


def start_claimed(
    runtime: Any,
    record: RunRecord,
    definition: dict[str, Any],
    input: Any,
    *,
    meta: dict[str, Any] | None = None,
    resources: Resources | None = None,
    sleep: Callable[[float], None] = time.sleep,
    park: Callable[[float], bool] | None = None,
) -> dict[str, Any]:
    """Start a queued execution this process claimed (a trigger's run) and drive it to its end.

    Its name is its run id; its RunStarted is appended to the claimed run, so a crash from here
    on is resumed like any other execution.
    """
    now = runtime.clock()
    name = record.run_id
    workflow: dict[str, Any] = {
        "definition": definition,
        "context": context_base(record.pipeline, name),
        "seed": uuid.uuid4().hex,
    }
    if meta:
        workflow["meta"] = dict(meta)
    params = {"input": input, "name": name}
    first = h.RunStarted(at=now, run_id=record.run_id, pipeline=record.pipeline, params=params, workflow=workflow)
    if not runtime.store.append(record.run_id, [first], None, runtime.owner, now):
        return _outcome(runtime, record.run_id, None)
    return execute(runtime, _created(runtime, first, None), resources=resources, sleep=sleep, park=park)


def execute(
    runtime: Any,
    created: Created,
    *,
    resources: Resources | None = None,
    sleep: Callable[[float], None] = time.sleep,
    park: Callable[[float], bool] | None = None,
) -> dict[str, Any]:
    """Drive a created execution to its end in this process; its result.

    With `park` (see lockgate.asl.driver.drive) it may return while a timer is pending, with
    status RUNNING; `resume(..., own=True)` carries on from there.
    """
    from lockgate.asl.map_runs import ChildRunner

    machine = created.machine
    resources = resources or Resources.from_settings(runtime.settings)
    invoker = invoker_for(
        runtime, created.run_id, resources, created.mock, ChildRunner(runtime, created.run_id, resources, sleep)
    )
    recorder = _Recorder(runtime, created.run_id, machine, created.entropy, created.observed)
    mailbox = _mailbox(runtime, created.run_id)
    try:
        drive(machine, invoker, clock=runtime.clock, sleep=_Beating(runtime, created.run_id, sleep), mailbox=mailbox,
              on_advance=recorder, park=park)  # fmt: skip
    except _Stopped:
        pass
    return _outcome(runtime, created.run_id, machine)


class _Stopped(Exception):
    """The run was aborted or taken over while this process waited."""


class _Beating:
    """Sleeps in slices, refreshing the run's heartbeat between them, so a long Wait keeps the
    run owned and a stop (`lockgate asl stop`) is noticed within `heartbeat_seconds`."""

    def __init__(self, runtime: Any, run_id: str, sleep: Callable[[float], None]) -> None:
        self.runtime, self.run_id, self.sleep = runtime, run_id, sleep
        self.every = float(getattr(runtime, "heartbeat_seconds", 5.0))
        self.last = runtime.clock()

    def __call__(self, seconds: float) -> None:
        left = seconds
        while left > 0:
            step = min(left, self.every)
            self.sleep(step)
            left -= step
            now = self.runtime.clock()
            if now - self.last >= self.every:
                self.last = now
                if not self.runtime.store.append(self.run_id, [], None, self.runtime.owner, now):
                    raise _Stopped()


def _outcome(runtime: Any, run_id: str, machine: Machine | None) -> dict[str, Any]:
    if machine is not None and machine.status != RUNNING:
        return result_of(machine)
    record = runtime.store.get_run(run_id)  # stopped elsewhere
    status = record.status if record is not None else ABORTED
    return {"status": status, "error": record.error if record else None, "cause": record.cause if record else None}


def start(
    runtime: Any,
    definition: dict[str, Any],
    input: Any,
    *,
    state_machine: str,
    name: str | None = None,
    resources: Resources | None = None,
    mock: MockConfig | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, dict[str, Any]]:
    """Create a durable execution and drive it to its end: (run id, result)."""
    created = create(runtime, definition, input, state_machine=state_machine, name=name, mock=mock)
    return created.run_id, execute(runtime, created, resources=resources, sleep=sleep)


@dataclass
class Replayed:
    """A machine rebuilt from a run's history, and what the driver needs to carry on."""

    machine: Machine
    started: dict[str, Any]  # the RunStarted params and workflow, merged
    commands: list[Command] | None  # still outstanding: to carry out again (None: advance first)
    counts: dict[str, int]  # invocations per state so far (for mocked responses)
    awaiting: dict[str, str]  # task token -> invocation id of `.waitForTaskToken` tasks already started
    answers_seen: int  # the newest callback answer already applied


def replay(events: list[h.Event]) -> Replayed:
    """Rebuild a machine from a run's history (RunStarted, then AslAdvanced events)."""
    first = events[0]
    if not isinstance(first, h.RunStarted):
        raise UsageError("the run's history does not start with RunStarted")
    workflow = first.workflow
    draws = [d for e in events if isinstance(e, h.AslAdvanced) for d in e.draws]
    entropy = RecordingEntropy(ReplayEntropy(draws, SeededEntropy(workflow.get("seed"))))
    machine = Machine(workflow["definition"], first.params["input"], workflow.get("context"), entropy=entropy)
    outstanding: dict[str, Command] = {}
    started: set[str] = set()
    counts: dict[str, int] = {}
    seen = 0
    redriven = False  # a redrive not yet followed by an advance
    for event in events[1:]:
        if isinstance(event, h.RunRedriven) and machine.status != RUNNING:
            machine.redrive(event.at)
            outstanding.clear()
            redriven = True
        elif isinstance(event, h.AslAdvanced):
            redriven = False
            for report in event.reports:
                if len(report) > 4:
                    seen = max(seen, int(report[4]))
                if report[0] == "started":
                    started.add(report[1])
                    continue
                apply(machine, report)
                if report[0] != "heartbeat":
                    outstanding.pop(report[1], None)
            for timer in event.fired:
                machine.fire(timer)
                outstanding.pop(timer, None)
            for command in machine.advance(event.at):
                outstanding[command.id] = command
                if isinstance(command, Invoke):
                    counts[command.state] = counts.get(command.state, 0) + 1
        elif isinstance(event, h.RunAborted) and machine.status == RUNNING:
            machine.abort(event.at, "", event.cause)
    entropy.take()  # replayed draws are stored already; only new ones get recorded
    live = set(machine.pending())
    commands: list[Command] = []
    awaiting: dict[str, str] = {}
    for command in outstanding.values():
        if isinstance(command, Invoke) and command.id in live:
            if command.id in started:
                awaiting[command.token] = command.id
            else:
                commands.append(command)
                counts[command.state] -= 1  # it is invoked (and counted) again
        elif isinstance(command, StartTimer) and (command.id in live or command.id.startswith("$")):
            commands.append(command)
    return Replayed(machine, {**first.params, **workflow}, None if redriven else commands, counts, awaiting, seen)


def observed_of(record: RunRecord, replayed: Replayed) -> dict[str, Any]:
    """What a _Recorder tells the run observers about a resumed or redriven execution."""
    return {
        "state_machine": record.pipeline,
        "params": {"input": replayed.started.get("input"), "name": replayed.started.get("name")},
        "started_at": record.started_at or record.created_at,
        "meta": replayed.started.get("meta"),
    }


def invoker_for(runtime: Any, run_id: str, resources: Resources, mock: MockConfig | None, children: Any) -> Invoker:
    """The Invoker of a durable execution: activity tasks are offered to workers through the store."""
    invoker = Invoker(resources, mock, children)
    engine = getattr(runtime.store, "engine", None)
    if engine is not None:
        from lockgate.asl import activities

        def offer(command: Invoke) -> None:
            activities.enqueue(engine, run_id, command.resource, command.payload, command.token, runtime.clock())

        invoker.activities = offer
    return invoker


def _mailbox(runtime: Any, run_id: str, after: int = 0) -> Mailbox:
    engine = getattr(runtime.store, "engine", None)
    return StoreMailbox(engine, run_id, after) if engine is not None else MemoryMailbox()


def resume(
    runtime: Any,
    run_id: str,
    *,
    resources: Resources | None = None,
    sleep: Callable[[float], None] = time.sleep,
    park: Callable[[float], bool] | None = None,
    own: bool = False,
) -> dict[str, Any]:
    """Continue a durable run whose process died; a finished run just gives its result.

    With `own`, a run this runtime already owns (one it parked) is continued without a claim.
    """
    record = _record(runtime, run_id)
    events = runtime.store.history(record.run_id)
    if record.status != RUNNING:
        return (
            result_of(replay(events).machine)
            if record.status != ABORTED
            else {"status": ABORTED, "error": None, "cause": record.cause}
        )

    def orphaned(owner: str | None, heartbeat_at: float | None) -> bool:
        return bool(runtime.is_orphaned(replace(record, owner=owner, heartbeat_at=heartbeat_at)))

    mine = own and record.owner == runtime.owner
    if not mine and not runtime.store.claim(record.run_id, runtime.owner, orphaned, runtime.clock()):
        raise UsageError(f"run {record.run_id} is being run by {record.owner}; it has not stopped")
    replayed = replay(events)
    machine = replayed.machine
    entropy = machine.entropy
    assert isinstance(entropy, RecordingEntropy)
    mock = replayed.started.get("mock")
    mock_config = MockConfig(mock["data"], mock["state_machine"], mock["test_case"]) if mock else None
    from lockgate.asl.map_runs import ChildRunner

    resources = resources or Resources.from_settings(runtime.settings)
    invoker = invoker_for(
        runtime, record.run_id, resources, mock_config, ChildRunner(runtime, record.run_id, resources, sleep)
    )
    invoker.counts = replayed.counts
    seen = observed_of(record, replayed)
    try:
        drive(
            machine,
            invoker,
            clock=runtime.clock,
            sleep=_Beating(runtime, record.run_id, sleep),
            commands=replayed.commands,
            awaiting=replayed.awaiting,
            mailbox=_mailbox(runtime, record.run_id, replayed.answers_seen),
            on_advance=_Recorder(runtime, record.run_id, machine, entropy, seen),
            park=park,
        )
    except _Stopped:
        pass
    return _outcome(runtime, record.run_id, machine)


def stop(runtime: Any, run_id: str, cause: str = "stopped by user", error: str | None = None) -> None:
    """Abort a running execution (StopExecution); the process driving it stops at its next step.

    `error`, when given, is recorded as the run's error (StopExecution's `error`).
    """
    record = _record(runtime, run_id)
    if not runtime.store.abort(record.run_id, h.RunAborted(at=runtime.clock(), cause=cause)):
        raise UsageError(f"run {record.run_id} has already finished ({record.status})")
    engine = getattr(runtime.store, "engine", None)
    if error and engine is not None:
        import sqlalchemy as sa

        from lockgate.store.schema import runs

        with engine.begin() as conn:
            conn.execute(sa.update(runs).where(runs.c.run_id == record.run_id).values(error=error[:200]))


def _record(runtime: Any, run_id: str) -> RunRecord:
    record: RunRecord | None = runtime.store.get_run(run_id)
    if record is None:
        raise UsageError(f"no run {run_id!r}")
    if record.kind != KIND:
        raise UsageError(f"run {record.run_id} is a {record.kind} run, not a state machine execution")
    return record


def service_history(run_id: str, runtime: Any) -> list[dict[str, Any]]:
    """The execution's history as the service's GetExecutionHistory gives it (ISO 8601 timestamps)."""
    record = _record(runtime, run_id)
    events = runtime.store.history(record.run_id)
    if not events:  # queued by a trigger, not started yet
        return []
    machine = replay(events).machine
    return [{**event, "timestamp": _json.iso(event["timestamp"])} for event in machine.history]


def show_run(record: RunRecord, runtime: Any, as_json: bool) -> None:
    """`lockgate show` for a state machine run."""
    from lockgate.cli._output import console, emit_json

    history = service_history(record.run_id, runtime)
    summary = {
        "run_id": record.run_id,
        "pipeline": record.pipeline,
        "kind": record.kind,
        "status": record.status,
        "params": record.params,
        "output": record.output,
        "error": record.error,
        "cause": record.cause,
        "started_at": _json.iso(record.started_at or record.created_at),
        "ended_at": _json.iso(record.ended_at),
        "created_by": record.created_by,
        "history": history,
    }
    if as_json:
        emit_json(summary)
        return
    from rich.table import Table

    out = console()
    out.print(f"run {record.run_id}  state machine {record.pipeline}  [bold]{record.status}[/bold]")
    if record.created_by:
        out.print(f"created by {record.created_by}", markup=False)
    if record.error:
        out.print(f"{record.error}: {record.cause}")
    table = Table(title="history", title_justify="left")
    for column in ("id", "time", "event", "details"):
        table.add_column(column)
    for event in history:
        details = {k: v for k, v in event.items() if k.endswith("EventDetails")}
        table.add_row(str(event["id"]), event["timestamp"], event["type"], _json.dumps(details)[:140])
    out.print(table)
