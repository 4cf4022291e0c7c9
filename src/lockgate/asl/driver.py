"""Carry out a state machine's commands until it ends: the ASL side of the run loop.

Task states that run lockgate or `python:` code (directly, through `[asl.resources]`, or as
lambda:invoke's FunctionName) go to the run's Executor as Jobs when a `Dispatcher` is given
(durable executions: inline, threads, processes or Celery workers, as Python steps); their
Outcomes come back as complete/fail. What the driver does itself, on a small thread pool of
its own, is I/O: HTTP resources, SNS, nested executions, activity offers, Distributed Map
children, and every task of an in-memory execution. Wait timers and retry backoffs go through
the injected `clock` and `sleep`, so tests need no real waiting. The machine stays
single-threaded: only this loop talks to it.
"""

from __future__ import annotations

import heapq
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lockgate import _json
from lockgate.asl._distributed import CHILD
from lockgate.asl.activities import activity_name
from lockgate.asl.callbacks import (
    ACTIVITY_STARTED,
    FAILURE,
    HEARTBEAT,
    MAP_RUN_UPDATE,
    SUCCESS,
    WAIT_FOR_TOKEN,
    Answer,
    Mailbox,
    MemoryMailbox,
    map_run_key,
)
from lockgate.asl.commands import RUNNING, Command, Invoke, StartTimer
from lockgate.asl.entropy import Entropy, SeededEntropy
from lockgate.asl.machine import Machine
from lockgate.asl.mock import MockConfig
from lockgate.asl.resources import Dispatch, Resources, TaskFailure
from lockgate.core.errors import INTERRUPTED
from lockgate.core.state import MAX_INTERRUPTIONS  # as Python steps: the third fails the state
from lockgate.executors.base import Executor, Job, Outcome

log = logging.getLogger(__name__)

# ("complete", id, result, None), ("fail", id, error, cause), ("heartbeat", id, None, None),
# ("started", id, None, None) for a `.waitForTaskToken` task whose answer comes later, or
# ("interrupted", id, n, None) when the worker running it died (its n-th interruption: it is
# invoked again under the same idempotency key); an answer from a mailbox carries its sequence
# number fifth.
Report = tuple[str, str, Any, Any]
POLL_SECONDS = 0.2
MIXED_POLL_SECONDS = 0.005  # with work both on the executor and on the driver's pool


@dataclass
class Dispatcher:
    """Hands Task states that run code to the run's Executor: `job(command, dispatch, attempt,
    interruptions)` makes the Job; `interruptions` counts, per invocation id, its worker deaths."""

    executor: Executor
    job: Callable[[Invoke, Dispatch, int, int], Job]
    interruptions: dict[str, int] = field(default_factory=dict)
    # How long a wait may block before the run's heartbeat is due, and the beat itself (False:
    # the run was taken from this process); None: no heartbeat to keep.
    wait_for: Callable[[float | None], float] | None = None
    beat: Callable[[], bool] | None = None


def result_of(machine: Machine) -> dict[str, Any]:
    """The CLI's one-object summary of an ended execution."""
    if machine.status == "SUCCEEDED":
        return {"status": machine.status, "output": machine.output}
    return {"status": machine.status, "error": machine.error, "cause": machine.cause}


@dataclass
class Invoker:
    """Carries out Invoke commands: mocked responses first, then the real resources."""

    resources: Resources
    mock: MockConfig | None = None
    # runs one child execution of a Distributed Map ((payload, mock) -> output, TaskFailure when it
    # fails); None runs it in memory
    children: Callable[[Any, MockConfig | None], Any] | None = None
    # offers an activity task to workers (durable executions); None: activities cannot run here
    activities: Callable[[Invoke], None] | None = None

    def __post_init__(self) -> None:
        self.counts: dict[str, int] = {}

    def mocked(self, command: Invoke) -> Report | None:
        """The report for a mocked invocation, or None to run it for real (counts every attempt)."""
        if self.mock is None or command.resource == CHILD or not self.mock.mocks(command.state):
            return None  # a Map Run's child execution is never mocked itself: its states are
        count = self.counts.get(command.state, 0)
        self.counts[command.state] = count + 1
        response = self.mock.response(command.state, count)
        if response is None:
            return None
        if response.error is not None:
            return ("fail", command.id, response.error, response.cause)
        return ("complete", command.id, response.returns, None)

    def run(self, command: Invoke) -> Report:
        try:
            if command.resource == CHILD:
                from lockgate.asl.map_runs import run_in_memory

                if self.children is not None:
                    return ("complete", command.id, self.children(command.payload, self.mock), None)
                return ("complete", command.id, run_in_memory(command.payload, self.resources, self.mock), None)
            if activity_name(command.resource) is not None:
                if self.activities is None:
                    return ("fail", command.id, "States.TaskFailed",
                            f"{command.resource}: activities need a durable execution (lockgate serve)")  # fmt: skip
                self.activities(command)
                return ("complete", command.id, None, None)  # the worker's answer comes with the token
            return ("complete", command.id, self.resources.call(command.resource, command.payload, command.token), None)
        except TaskFailure as exc:
            return ("fail", command.id, exc.error, exc.cause)
        except Exception as exc:  # a resource must never take the driver down
            log.warning(
                "resource %s failed unexpectedly: %r", command.resource, exc, exc_info=log.isEnabledFor(logging.DEBUG)
            )
            return ("fail", command.id, "States.TaskFailed", f"{type(exc).__name__}: {exc}")


def _work(invoker: Invoker, command: Invoke, done: queue.Queue[Report], awaits_token: bool) -> None:
    try:
        report = invoker.run(command)
        if awaits_token and report[0] == "complete":  # the answer comes later, with the token
            report = ("started", command.id, None, None)
        done.put(report)
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: hand it to the driving thread
        done.put(("crash", command.id, exc, None))


def apply(machine: Machine, report: Report | list[Any]) -> None:
    """Give one recorded report to the machine ("started" reports are the driver's own)."""
    kind, id_, a, b = report[0], report[1], report[2], report[3]
    if kind == "complete":
        machine.complete(id_, a)
    elif kind == "fail":
        machine.fail(id_, a, b)
    elif kind == "heartbeat":
        machine.heartbeat(id_)
    elif kind == MAP_RUN_UPDATE:
        machine.update_map_run(id_, a)
    elif kind == ACTIVITY_STARTED:
        machine.activity_started(id_, a)


def _answer_report(answer: Answer, invoke_id: str) -> Report:
    if answer.kind in (MAP_RUN_UPDATE, ACTIVITY_STARTED):  # UpdateMapRun (the id is the Map Run's ARN), a worker
        return (answer.kind, invoke_id, answer.output, None, answer.seq)  # type: ignore[return-value]
    if answer.kind == SUCCESS:
        return ("complete", invoke_id, answer.output, None, answer.seq)  # type: ignore[return-value]
    if answer.kind == FAILURE:
        return ("fail", invoke_id, answer.error, answer.cause, answer.seq)  # type: ignore[return-value]
    return ("heartbeat", invoke_id, None, None, answer.seq)  # type: ignore[return-value]


def drive(
    machine: Machine,
    invoker: Invoker,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    max_workers: int = 8,
    commands: list[Command] | None = None,
    awaiting: dict[str, str] | None = None,
    mailbox: Mailbox | None = None,
    on_advance: Callable[[float, list[Report], list[str]], bool] | None = None,
    park: Callable[[float], bool] | None = None,
    dispatcher: Dispatcher | None = None,
) -> Machine:
    """Advance the machine until it ends.

    `commands` are outstanding commands of a resumed machine (else it is advanced first);
    `awaiting` maps the task tokens it still waits on to their invocation ids. Answers to
    `.waitForTaskToken` tasks come from `mailbox` (in memory by default), polled every
    POLL_SECONDS while some are awaited. `on_advance(now, reports, fired)` is called after
    each advance with what it applied; when it returns False the driver stops (the run was
    taken over or aborted elsewhere). When nothing is in flight and the machine only waits for a
    timer, `park(due)` may return True: the driver then returns with the machine still running,
    and whoever parked it resumes it from its history at `due` (a long Wait holds no thread).
    """
    timers: list[tuple[float, str]] = []
    done: queue.Queue[Report] = queue.Queue()
    tokens: dict[str, str] = dict(awaiting or {})
    box: Mailbox = mailbox or MemoryMailbox()
    for token, invoke_id in tokens.items():
        box.register(token, invoke_id, clock())
    running = 0
    # invocation id -> (command, what the executor runs) of each Job in flight
    jobs: dict[str, tuple[Invoke, Dispatch]] = {}
    with ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="lockgate-asl") as pool:
        if commands is None:
            now = clock()
            commands = machine.advance(now)
            if on_advance is not None and not on_advance(now, [], []):
                return machine
        while True:
            ready: list[Report] = []
            for command in commands:
                if isinstance(command, StartTimer):
                    heapq.heappush(timers, (command.due_at, command.id))
                    continue
                mocked = invoker.mocked(command)
                if mocked is not None:
                    ready.append(mocked)
                    continue
                if command.resource == CHILD:  # UpdateMapRun answers come through the mailbox, keyed by the Map Run
                    tokens.setdefault(map_run_key(command.payload["MapRunArn"]), command.payload["MapRunArn"])
                elif dispatcher is not None:
                    dispatch = invoker.resources.dispatch(command.resource, command.payload)
                    if dispatch is not None:
                        tries = dispatcher.interruptions.get(command.id, 0)
                        dispatcher.executor.submit(dispatcher.job(command, dispatch, tries + 1, tries))
                        jobs[command.id] = (command, dispatch)
                        continue
                awaits_token = command.resource.endswith(WAIT_FOR_TOKEN) or activity_name(command.resource) is not None
                if awaits_token:
                    tokens[command.token] = command.id
                    box.register(command.token, command.id, clock())
                running += 1
                pool.submit(_work, invoker, command, done, awaits_token)
            if machine.status != RUNNING:
                return machine
            fired: list[str] = []
            again: list[Command] = []  # invocations whose worker died: invoked again after the commit
            if jobs and dispatcher is not None:  # outcomes an inline executor has already
                _collect(dispatcher, jobs, dispatcher.executor.wait(0), ready, again, machine)
            if not ready and jobs and dispatcher is not None:
                due = min(
                    (t for t in (timers[0][0] if timers else None, machine.next_deadline()) if t is not None),
                    default=None,
                )
                if tokens:
                    due = min(due, clock() + POLL_SECONDS) if due is not None else clock() + POLL_SECONDS
                wait = None if due is None else max(0.0, due - clock())
                bounded = dispatcher.wait_for(wait) if dispatcher.wait_for is not None else wait
                beat_only = bounded is not None and (wait is None or bounded < wait)
                if running:  # work on both sides: take turns
                    deadline = None if bounded is None else clock() + bounded
                    while not ready:
                        slice_ = MIXED_POLL_SECONDS if deadline is None else min(MIXED_POLL_SECONDS, deadline - clock())
                        _collect(dispatcher, jobs, dispatcher.executor.wait(max(0.0, slice_)), ready, again, machine)
                        if not done.empty() or (deadline is not None and clock() >= deadline):
                            break
                else:
                    _collect(dispatcher, jobs, dispatcher.executor.wait(bounded), ready, again, machine)
                if not ready and done.empty() and beat_only and dispatcher.beat is not None:
                    if not dispatcher.beat():
                        return machine  # cancelled or taken over: stop here
                    commands = []
                    continue
            elif not ready:
                due = min(
                    (t for t in (timers[0][0] if timers else None, machine.next_deadline()) if t is not None),
                    default=None,
                )
                if tokens:
                    due = min(due, clock() + POLL_SECONDS) if due is not None else clock() + POLL_SECONDS
                if running:
                    wait = None if due is None else max(0.0, due - clock())
                    try:
                        ready.append(done.get(timeout=wait))
                        running -= 1
                    except queue.Empty:
                        pass
                elif due is None:
                    raise RuntimeError("the execution waits on nothing")  # the machine's invariant broke
                else:
                    gap = due - clock()
                    if gap > 0 and park is not None and not tokens and park(due):
                        return machine  # everything is committed; a resume continues at `due`
                    if gap > 0:
                        sleep(gap)
            while running and not done.empty():
                ready.append(done.get_nowait())
                running -= 1
            if jobs and dispatcher is not None and not ready:
                _collect(dispatcher, jobs, dispatcher.executor.wait(0), ready, again, machine)
            if tokens:
                for answer in box.poll():
                    waiting_id = tokens.get(answer.token)
                    if waiting_id is not None:
                        ready.append(_answer_report(answer, waiting_id))
                        if answer.kind not in (HEARTBEAT, MAP_RUN_UPDATE, ACTIVITY_STARTED):
                            del tokens[answer.token]
            now = clock()
            while timers and timers[0][0] <= now:
                fired.append(heapq.heappop(timers)[1])
            for report in ready:
                if report[0] == "crash":  # an interrupt inside a task stops the run here; resume continues it
                    raise report[2]
                apply(machine, report)
            for timer in fired:
                machine.fire(timer)
            commands = again + machine.advance(now)
            if on_advance is not None and not on_advance(now, ready, fired):
                return machine


def _collect(
    dispatcher: Dispatcher,
    jobs: dict[str, tuple[Invoke, Dispatch]],
    outcomes: list[Outcome],
    ready: list[Report],
    again: list[Command],
    machine: Machine,
) -> None:
    """Turn the executor's outcomes into reports; an interrupted one is invoked again (its third
    interruption fails the state, as a Python step's does), without spending a Retry."""
    for outcome in outcomes:
        found = jobs.pop(outcome.step, None)
        if found is None:
            continue
        command, dispatch = found
        if outcome.interrupted:
            count = dispatcher.interruptions.get(command.id, 0) + 1
            dispatcher.interruptions[command.id] = count
            ready.append(("interrupted", command.id, count, None))
            if count >= MAX_INTERRUPTIONS:
                cause = f"state {command.state} was interrupted {count} times (its worker died each time)"
                ready.append(("fail", command.id, INTERRUPTED, cause))
            elif command.id in machine.pending():
                again.append(command)
        elif outcome.error is not None:
            ready.append(("fail", command.id, outcome.error.name, outcome.error.cause))
        else:
            value = _json.loads(outcome.result_json or "null")
            if dispatch.lambda_answer:
                value = {"Payload": value, "StatusCode": 200, "ExecutedVersion": "$LATEST"}
            ready.append(("complete", command.id, value, None))


def run_execution(
    definition: dict[str, Any],
    input: Any,
    *,
    resources: Resources,
    mock: MockConfig | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    context_base: dict[str, Any] | None = None,
    entropy: Entropy | None = None,
    max_workers: int = 8,
) -> dict[str, Any]:
    """Run one execution in memory to its end; the result as `lockgate asl run` prints it."""
    machine = Machine(definition, input, context_base, entropy=entropy or SeededEntropy())
    drive(machine, Invoker(resources, mock), clock=clock, sleep=sleep, max_workers=max_workers)
    return result_of(machine)
