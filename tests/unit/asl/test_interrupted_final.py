"""A Task state whose worker died three times fails with lockgate.Interrupted, and that failure is
final, as a Python step's is: no Retrier retries it (not States.ALL, not one naming it), a Catch
still catches it."""

from __future__ import annotations

from typing import Any

import pytest
from machine_harness import Raise, drive

from lockgate.asl.driver import Dispatcher, Invoker
from lockgate.asl.driver import drive as drive_durable
from lockgate.asl.entropy import SeededEntropy
from lockgate.asl.machine import Machine
from lockgate.asl.resources import Resources, register_task
from lockgate.core.errors import INTERRUPTED
from lockgate.executors.base import Job, Outcome


class _LostEveryTime:
    """An executor whose worker dies under every attempt: each comes back interrupted."""

    capacity = 2

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self._done: list[Outcome] = []

    def submit(self, job: Job) -> None:
        self.jobs.append(job)
        self._done.append(Outcome(job.step, job.attempt, interrupted=True))

    def wait(self, timeout: float | None) -> list[Outcome]:
        done, self._done = self._done, []
        return done

    def shutdown(self) -> None:
        pass


def _machine(state: dict[str, Any]) -> dict[str, Any]:
    task = {"Type": "Task", "Resource": "lockgate:task:interrupted_final_noop", "End": True, **state}
    return {"StartAt": "Work", "States": {"Work": task, "Recover": {"Type": "Pass", "End": True}}}


@pytest.fixture(autouse=True)
def _noop_task() -> None:
    register_task("interrupted_final_noop", lambda payload: payload)


def _drive(definition: dict[str, Any]) -> tuple[Machine, _LostEveryTime]:
    machine = Machine(definition, {"n": 1}, None, entropy=SeededEntropy(0))
    executor = _LostEveryTime()

    def job(command: Any, dispatch: Any, attempt: int, interruptions: int) -> Job:
        return Job("r", "M", command.id, attempt, "", "", [], {}, "", "", interruptions,
                   resource=dispatch.target, payload=dispatch.payload, idempotency_key=f"r:{command.id}")  # fmt: skip

    clock = {"now": 1000.0}

    def sleep(seconds: float) -> None:
        clock["now"] += seconds

    drive_durable(machine, Invoker(Resources()), dispatcher=Dispatcher(executor, job),  # type: ignore[arg-type]
                  clock=lambda: clock["now"], sleep=sleep)  # fmt: skip
    return machine, executor


def test_a_states_all_retrier_does_not_retry_three_interruptions() -> None:
    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5}]
    machine, executor = _drive(_machine({"Retry": retry}))
    assert machine.status == "FAILED" and machine.error == INTERRUPTED
    assert "interrupted 3 times" in (machine.cause or "")
    assert [j.attempt for j in executor.jobs] == [1, 2, 3]  # three deaths, no Retry spent after them
    types = [event["type"] for event in machine.history]
    assert "TaskFailed" in types and types.count("TaskScheduled") == 1


def test_a_retrier_naming_interrupted_does_not_retry_it_either() -> None:
    retry = [{"ErrorEquals": [INTERRUPTED], "MaxAttempts": 5}]
    machine, executor = _drive(_machine({"Retry": retry}))
    assert (machine.status, machine.error) == ("FAILED", INTERRUPTED)
    assert len(executor.jobs) == 3


def test_a_catch_still_catches_three_interruptions() -> None:
    retry = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}]
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"}]
    machine, executor = _drive(_machine({"Retry": retry, "Catch": catch}))
    assert machine.status == "SUCCEEDED", (machine.error, machine.cause)
    assert machine.output["error"]["Error"] == INTERRUPTED
    assert len(executor.jobs) == 3


def test_the_machine_does_not_retry_an_interrupted_failure_but_retries_others() -> None:
    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}]
    state = {"Type": "Task", "Resource": "work", "Retry": retry, "End": True}

    def interrupted(_: Any) -> Any:
        raise Raise(INTERRUPTED, "state Work was interrupted 3 times")

    def boom(_: Any) -> Any:
        raise Raise("Boom", "it broke")

    trace = drive({"StartAt": "Work", "States": {"Work": state}}, {}, {"work": interrupted})
    assert (trace.machine.status, trace.machine.error) == ("FAILED", INTERRUPTED)
    assert len(trace.invokes) == 1
    trace = drive({"StartAt": "Work", "States": {"Work": state}}, {}, {"work": boom})
    assert len(trace.invokes) == 3  # other errors are still retried
