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
from lockgate.asl.driver import Dispatcher, Invoker, Report, apply, drive, result_of
from lockgate.asl.entropy import RecordingEntropy, ReplayEntropy, SeededEntropy
from lockgate.asl.machine import Machine
from lockgate.asl.mock import MockConfig
from lockgate.asl.resources import Dispatch, Resources
from lockgate.core import history as h
from lockgate.core.errors import UsageError
from lockgate.executors.base import Job
from lockgate.loop import CANCEL_CHECK_SECONDS, UNREACHABLE, Lease, look, patiently, run_executor
from lockgate.reruns import REQUESTED
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
    """Commits each advance of the machine as one AslAdvanced event (one fenced transaction
    through the run's Lease); the final one also goes to the runtime's observers (metrics,
    on_failure/on_success topics), and so does each Retrier that fired (on_retry topics, the
    retries metric)."""

    def __init__(
        self,
        runtime: Any,
        run_id: str,
        machine: Machine,
        entropy: RecordingEntropy,
        observed: dict[str, Any],
        lease: Lease | None = None,
    ) -> None:
        self.runtime, self.run_id, self.machine, self.entropy = runtime, run_id, machine, entropy
        self.observed = observed  # state_machine, params, started_at, meta: see `observed_of`
        self.lease = lease or _lease(runtime, run_id)

    def __call__(self, now: float, reports: list[Report], fired: list[str]) -> bool:
        events: list[h.Event] = [
            h.AslAdvanced(at=now, reports=[list(r) for r in reports], fired=list(fired), draws=self.entropy.take())
        ]
        update = None
        if self.machine.status != RUNNING:
            final, update = _final(self.machine, now)
            events.append(final)
        if not self.lease.commit(events, update):
            return False
        retried = self.machine.take_retries()
        if retried:
            o = self.observed
            state, batch = observed.retry_state(self.run_id, o["state_machine"], o["params"], o["started_at"],
                                                o["meta"], now, retried)  # fmt: skip
            observed.notify(self.runtime, state, batch)
        if update is not None:
            o = self.observed
            state = observed.run_state(
                self.run_id, o["state_machine"], o["params"], o["started_at"], o["meta"], self.machine
            )
            observed.notify(self.runtime, state, events[1:])
        return True


def _lease(runtime: Any, run_id: str) -> Lease:
    return Lease(runtime.store, run_id, runtime.owner, runtime.clock, float(getattr(runtime, "heartbeat_seconds", 5.0)))


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
    executor: str | None = None,
) -> dict[str, Any]:
    """Drive a created execution to its end in this process; its result.

    With `park` (see lockgate.asl.driver.drive) it may return while a timer is pending, with
    status RUNNING; `resume(..., own=True)` carries on from there. `executor`: the executor kind
    its Task states run on (default `[engine] executor`).
    """
    return run(runtime, created.run_id, created.machine, resources=resources, mock=created.mock,
               observed=created.observed, sleep=sleep, park=park, executor=executor)  # fmt: skip


def run(
    runtime: Any,
    run_id: str,
    machine: Machine,
    *,
    resources: Resources | None,
    mock: MockConfig | None,
    observed: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
    park: Callable[[float], bool] | None = None,
    replayed: Replayed | None = None,
    executor: str | None = None,
) -> dict[str, Any]:
    """Drive a durable execution in this process on the shared run loop pieces (lockgate.loop):
    its Lease fences every commit and keeps its heartbeat, Task states that run code go to the
    run's Executor (`executor`, default `[engine] executor`) as Jobs, and so do those of its
    Distributed Map children; the result when it ends or stops here."""
    from lockgate.asl.map_runs import ChildRunner

    entropy = machine.entropy
    assert isinstance(entropy, RecordingEntropy)
    resources = resources or Resources.from_settings(runtime.settings)
    kind = executor or str(getattr(runtime, "executor_kind", "threads"))
    invoker = invoker_for(runtime, run_id, resources, mock, ChildRunner(runtime, run_id, resources, sleep, kind))
    if replayed is not None:
        invoker.counts = replayed.counts
    lease = _lease(runtime, run_id)
    tasks = run_executor(runtime, kind, run_id, int(getattr(runtime, "max_workers", 8)))
    watch = _Watch(runtime, lease)
    dispatcher = Dispatcher(
        tasks,
        _jobs(runtime, run_id, observed.get("state_machine") or "", resources),
        dict(replayed.interruptions) if replayed is not None else {},
        watch.wait_for,
        watch.beat,
    )
    try:
        drive(
            machine,
            invoker,
            clock=runtime.clock,
            sleep=_Beating(runtime, run_id, sleep, lease),
            commands=replayed.commands if replayed is not None else None,
            awaiting=replayed.awaiting if replayed is not None else None,
            mailbox=_mailbox(runtime, run_id, replayed.answers_seen if replayed is not None else 0),
            on_advance=_Recorder(runtime, run_id, machine, entropy, observed, lease),
            park=park,
            dispatcher=dispatcher,
        )
    except _Stopped:
        pass
    finally:
        tasks.shutdown()  # a run that ended or was taken: the children still running its tasks are killed
    return _outcome(runtime, run_id, machine if lease.stopped is None and not watch.taken else None)


def _jobs(runtime: Any, run_id: str, state_machine: str, resources: Resources) -> Callable[..., Job]:
    """How a Task state's invocation becomes a Job: its log where `lockgate logs RUN STATE` finds
    it (keyed by the invocation id), its routing from the resource map, its idempotency key the
    invocation's (the same when an interrupted attempt runs again)."""
    from lockgate.asl.resources import task_source
    from lockgate.executors.sources import source_hash

    logs = runtime.logs
    sources: dict[str, tuple[str, str]] = {}  # lockgate:task:NAME -> its pipeline file and hash
    # where python: modules are found and allowed, also in an executor's fresh process (a
    # worker on another machine uses its own --pipelines folder instead)
    folders = tuple(dict.fromkeys([*resources.folders, *(str(f) for f in resources.policy.folders)]))

    def job(command: Invoke, dispatch: Dispatch, attempt: int, interruptions: int) -> Job:
        source, digest = "", ""
        if dispatch.target.startswith("lockgate:task:"):
            found = sources.get(dispatch.target)
            if found is None:
                file = task_source(dispatch.target[len("lockgate:task:") :])
                found = sources[dispatch.target] = (file, source_hash(file) if file else "")
            source, digest = found
        return Job(
            run_id=run_id,
            pipeline=state_machine,
            step=command.id,
            attempt=attempt,
            task="",
            source=source,
            args=[],
            kwargs={},
            log_path=str(logs.local_path(run_id, command.id, attempt)),
            home=str(runtime.home),
            interruptions=interruptions,
            source_hash=digest,
            queue=dispatch.route.queue,
            pool=dispatch.route.pool,
            priority=dispatch.route.priority,
            log_url=logs.location(run_id, command.id, attempt) if logs.remote else "",
            log_upload_seconds=logs.upload_seconds,
            resource=dispatch.target,
            payload=dispatch.payload,
            state=command.state,
            folders=folders,
            idempotency_key=f"{run_id}:{command.id}",
        )

    return job


class _Watch:
    """While Task states run on the executor: the run's heartbeat (through its Lease), and a look
    at the run every CANCEL_CHECK_SECONDS, as the Python loop does, so a cancel or a StopExecution
    stops the driver (and the executor's shutdown its tasks) within about a second."""

    def __init__(self, runtime: Any, lease: Lease) -> None:
        self.runtime, self.lease = runtime, lease
        self.last_look = lease.clock()
        self.taken = False

    def wait_for(self, seconds: float | None) -> float:
        left = max(0.0, CANCEL_CHECK_SECONDS - (self.lease.clock() - self.last_look))
        return min(self.lease.wait_for(seconds), left)

    def beat(self) -> bool:
        now = self.lease.clock()
        if now - self.last_look >= CANCEL_CHECK_SECONDS:
            self.last_look = now
            record = look(self.runtime.store, self.lease.run_id)
            mine = (self.lease.owner, self.lease.owner + REQUESTED)
            if record is not UNREACHABLE and (record is None or record.status != RUNNING or record.owner not in mine):
                self.taken = True
                self.lease.say_stopped(record)
                return False
        return self.lease.beat()


class _Stopped(Exception):
    """The run was aborted or taken over while this process waited."""


class _Beating:
    """Sleeps in slices, refreshing the run's heartbeat between them (through its Lease), so a
    long Wait keeps the run owned and a stop (`lockgate asl stop`) is noticed within
    `heartbeat_seconds`."""

    def __init__(self, runtime: Any, run_id: str, sleep: Callable[[float], None], lease: Lease | None = None) -> None:
        self.sleep = sleep
        self.lease = lease or _lease(runtime, run_id)

    def __call__(self, seconds: float) -> None:
        left = seconds
        while left > 0:
            step = min(left, self.lease.every)
            self.sleep(step)
            left -= step
            if not self.lease.beat():
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
    interruptions: dict[str, int] = field(default_factory=dict)  # invocation id -> its workers' deaths
    invoked: dict[str, str] = field(default_factory=dict)  # invocation id -> state name, in order


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
    interruptions: dict[str, int] = {}
    invoked: dict[str, str] = {}
    seen = 0
    redriven = False  # a redrive not yet followed by an advance
    advanced = False  # a history of RunStarted alone (its process died before the first advance)
    for event in events[1:]:
        if isinstance(event, h.RunRedriven) and machine.status != RUNNING:
            machine.redrive(event.at)
            outstanding.clear()
            redriven = True
        elif isinstance(event, h.AslAdvanced):
            redriven, advanced = False, True
            for report in event.reports:
                if len(report) > 4:
                    seen = max(seen, int(report[4]))
                if report[0] == "started":
                    started.add(report[1])
                    continue
                if report[0] == "interrupted":
                    interruptions[report[1]] = int(report[2])
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
                    invoked[command.id] = command.state
        elif isinstance(event, h.RunAborted) and machine.status == RUNNING:
            machine.abort(event.at, "", event.cause)
    entropy.take()  # replayed draws are stored already; only new ones get recorded
    machine.take_retries()  # notified when they fired
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
    fresh = redriven or not advanced  # to be advanced first, as a new execution is
    return Replayed(
        machine,
        {**first.params, **workflow},
        None if fresh else commands,
        counts,
        awaiting,
        seen,
        interruptions,
        invoked,
    )


def attempt_logs(runtime: Any, run_id: str, state: str | None = None) -> list[dict[str, Any]]:
    """The logs of a run's Task invocations that ran on its executor (`lockgate logs RUN STATE`):
    one entry per attempt that wrote one, in the order the states were invoked."""
    events = runtime.store.history(run_id)
    if not events:
        return []
    replayed = replay(events)
    entries = []
    for invocation, name in replayed.invoked.items():
        if state is not None and name != state:
            continue
        for attempt in range(1, replayed.interruptions.get(invocation, 0) + 2):
            text, exists, truncated = runtime.logs.read(run_id, invocation, attempt)
            if exists:
                where = runtime.logs.location(run_id, invocation, attempt)
                entries.append({"step": name, "invocation": invocation, "index": None, "attempt": attempt,
                                "path": where, "text": text, "truncated": truncated})  # fmt: skip
    return entries


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
            now = runtime.clock()
            patiently(lambda: activities.enqueue(engine, run_id, command.resource, command.payload, command.token, now),
                      run_id, "offering an activity task")  # fmt: skip

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
    executor: str | None = None,
) -> dict[str, Any]:
    """Continue a durable run whose process died; a finished run just gives its result.

    With `own`, a run this runtime already owns (one it parked) is continued without a claim.
    `executor`: the executor kind its Task states run on from here (default `[engine] executor`).
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
    if not events and not mine:  # claimed from the queue by a process that died before storing its start
        if runtime.requeue_unstarted(record):
            return {"status": "QUEUED", "error": None, "cause": None}
        raise UsageError(f"run {record.run_id} is being started by {record.owner}; it has no history yet")
    if not mine and not runtime.store.claim(record.run_id, runtime.owner, orphaned, runtime.clock()):
        raise UsageError(f"run {record.run_id} is being run by {record.owner}; it has not stopped")
    replayed = replay(events)
    mock = replayed.started.get("mock")
    mock_config = MockConfig(mock["data"], mock["state_machine"], mock["test_case"]) if mock else None
    return run(runtime, record.run_id, replayed.machine, resources=resources, mock=mock_config,
               observed=observed_of(record, replayed), sleep=sleep, park=park, replayed=replayed,
               executor=executor)  # fmt: skip


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
