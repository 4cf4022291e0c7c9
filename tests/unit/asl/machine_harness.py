"""A pure test driver for the ASL machine: tasks are plain functions, time is a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lockgate.asl.commands import Invoke, StartTimer
from lockgate.asl.entropy import SeededEntropy
from lockgate.asl.machine import Machine

START = 1_700_000_000.0


class Raise(Exception):
    """Raised by a test task to fail its attempt with an ASL error name."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(error, cause)
        self.error, self.cause = error, cause


class DidNotEnd(AssertionError):
    """The execution was still running after `limit` rounds (a loop that never ends)."""

    def __init__(self, trace: Trace) -> None:
        super().__init__("the execution did not end")
        self.trace = trace


class Silent:
    """Returned by a test task that never answers (so its timeout or heartbeat expires)."""


@dataclass
class Trace:
    machine: Machine
    invokes: list[Invoke] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # when each invoke was issued
    timers: list[StartTimer] = field(default_factory=list)
    reports: list[tuple[str, str, Any, Any, float]] = field(default_factory=list)
    advances: list[tuple[float, int]] = field(default_factory=list)  # (time, reports applied before it)

    @property
    def history_types(self) -> list[str]:
        return [event["type"] for event in self.machine.history]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.machine.history if event["type"] == kind]


def drive(
    definition: dict[str, Any],
    value: Any = None,
    tasks: dict[str, Callable[[Any], Any]] | None = None,
    *,
    seed: int = 0,
    context: dict[str, Any] | None = None,
    limit: int = 10_000,
    max_transitions: int | None = None,
) -> Trace:
    """Run an execution to its end, answering each Invoke at once and jumping the clock to each timer."""
    tasks = tasks or {}
    machine = Machine(definition, {} if value is None else value, context, entropy=SeededEntropy(seed))
    trace = Trace(machine)
    now = START
    timers: dict[str, float] = {}
    commands = machine.advance(now)
    for _ in range(limit):
        if machine.status != "RUNNING":
            return trace
        for command in commands:
            if isinstance(command, StartTimer):
                trace.timers.append(command)
                timers[command.id] = command.due_at
                continue
            trace.invokes.append(command)
            trace.times.append(now)
            try:
                result = tasks[command.resource](command.payload)
            except Raise as exc:
                machine.fail(command.id, exc.error, exc.cause)
                trace.reports.append(("fail", command.id, exc.error, exc.cause, now))
                continue
            if isinstance(result, Silent):
                continue
            machine.complete(command.id, result)
            trace.reports.append(("complete", command.id, result, None, now))
        if not machine._inbox:
            due = [t for t in (min(timers.values(), default=None), machine.next_deadline()) if t is not None]
            if not due:
                raise AssertionError("the machine waits on nothing yet has not ended")
            now = max(now, min(due))
            for timer_id, at in sorted(timers.items(), key=lambda item: item[1]):
                if at <= now:
                    del timers[timer_id]
                    machine.fire(timer_id)
                    trace.reports.append(("fire", timer_id, None, None, now))
        commands = machine.advance(now)
        trace.advances.append((now, len(trace.reports)))
        if max_transitions is not None and machine.transitions > max_transitions:
            break
    raise DidNotEnd(trace)


def replay(definition: dict[str, Any], value: Any, trace: Trace, *, seed: int = 0) -> Machine:
    """Feed a recorded run's reports to a fresh machine, advancing when and where the run did."""
    machine = Machine(definition, {} if value is None else value, None, entropy=SeededEntropy(seed))
    machine.advance(START)
    given = 0
    for at, upto in trace.advances:
        for kind, id_, a, b, _ in trace.reports[given:upto]:
            getattr(machine, kind)(id_, *([a] if kind == "complete" else [a, b] if kind == "fail" else []))
        given = upto
        machine.advance(at)
    return machine
