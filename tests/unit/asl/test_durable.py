"""Durable state machine runs: stored in the run store, resumed by replay, timers survive restarts."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.asl import durable
from lockgate.asl.resources import register_task
from lockgate.core import history as h
from lockgate.runtime import Runtime

CALLS: list[Any] = []


class Crash(BaseException):
    """Stands in for the process dying in the middle of a Wait."""


class FakeTime:
    def __init__(self, crash_after: int | None = None) -> None:
        self.now = 1_000.0
        self.crash_after = crash_after

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if self.crash_after is not None:
            self.crash_after -= 1
            if self.crash_after < 0:
                raise Crash()
        self.now += seconds


def _runtime(fake: FakeTime) -> Runtime:
    runtime = Runtime()
    runtime.clock = fake.clock
    runtime.heartbeat_seconds = 3600  # a fake day of waiting in a few slices
    return runtime


@pytest.fixture(autouse=True)
def charge() -> None:
    CALLS.clear()

    def charge(amount: int) -> dict[str, Any]:
        CALLS.append(amount)
        return {"charged": amount}

    register_task("test_durable.charge", charge)


DEFINITION = {
    "StartAt": "Charge",
    "States": {
        "Charge": {
            "Type": "Task",
            "Resource": "lockgate:task:test_durable.charge",
            "ResultPath": "$.receipt",
            "Next": "Cool",
        },
        "Cool": {"Type": "Wait", "Seconds": 86400, "Next": "Id"},
        "Id": {"Type": "Pass", "Parameters": {"id.$": "States.UUID()", "receipt.$": "$.receipt"}, "End": True},
    },
}


def test_a_run_is_stored_with_its_service_history() -> None:
    fake = FakeTime()
    runtime = _runtime(fake)
    run_id, result = durable.start(
        runtime, DEFINITION, {"amount": 5}, state_machine="Orders", name="order-5", sleep=fake.sleep
    )
    assert result["status"] == "SUCCEEDED"
    assert result["output"]["receipt"] == {"charged": 5}
    record = runtime.store.get_run(run_id)
    assert record is not None and (record.kind, record.status, record.pipeline) == ("asl", "SUCCEEDED", "Orders")
    assert record.output == result["output"]
    history = durable.service_history(run_id, runtime)
    assert [e["type"] for e in history][:3] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled"]
    assert history[-1]["type"] == "ExecutionSucceeded"
    assert history[0]["timestamp"] == "1970-01-01T00:16:40.000000Z"


def test_only_side_effects_are_committed() -> None:
    fake = FakeTime()
    runtime = _runtime(fake)
    loop = {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": {"i": 0}, "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericGreaterThanEquals": 200, "Next": "Done"}],
                "Default": "Inc",
            },
            "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
            "Done": {"Type": "Succeed"},
        },
    }
    run_id, result = durable.start(runtime, loop, {}, state_machine="Loop", sleep=fake.sleep)
    assert result == {"status": "SUCCEEDED", "output": {"i": 200}}
    kinds = [e.type for e in runtime.store.history(run_id)]
    assert kinds == ["RunStarted", "AslAdvanced", "RunSucceeded"]


def test_resume_after_a_crash_keeps_the_timer_and_never_repeats_a_succeeded_task() -> None:
    fake = FakeTime(crash_after=0)
    first = _runtime(fake)
    with pytest.raises(Crash):
        durable.start(first, DEFINITION, {"amount": 7}, state_machine="Orders", sleep=fake.sleep)
    (record,) = first.store.list_runs()
    assert record.status == "RUNNING" and CALLS == [7]
    fake.crash_after = None
    fake.now += 3600  # the process was down for an hour
    second = _runtime(fake)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        fake.sleep(seconds)

    result = durable.resume(second, record.run_id, sleep=sleep)
    assert result["status"] == "SUCCEEDED"
    assert CALLS == [7]
    assert sum(slept) == 86400 - 3600  # the Wait kept its due time across the restart
    assert second.store.get_run(record.run_id).status == "SUCCEEDED"  # type: ignore[union-attr]
    # The UUID drawn after the resume is recorded: a replay gives the same output.
    machine = durable.replay(second.store.history(record.run_id)).machine
    assert machine.output == result["output"]


def test_resume_reinvokes_a_task_whose_answer_was_lost() -> None:
    fake = FakeTime()
    runtime = _runtime(fake)
    definition = {"StartAt": "Charge", "States": {"Charge": DEFINITION["States"]["Charge"] | {"End": True}}}
    calls = []

    def crash(amount: int) -> None:
        calls.append(amount)
        raise Crash()

    register_task("test_durable.charge", crash)
    runtime.executor_kind = "inline"  # the task runs in the driving thread: the crash takes the process down
    with pytest.raises(Crash):
        durable.start(runtime, definition, {"amount": 3}, state_machine="Orders", sleep=fake.sleep)
    (record,) = runtime.store.list_runs()
    events = runtime.store.history(record.run_id)
    assert [type(e) for e in events] == [h.RunStarted, h.AslAdvanced]
    register_task("test_durable.charge", lambda amount: {"charged": amount})
    result = durable.resume(_runtime(fake), record.run_id, sleep=fake.sleep)
    assert result["status"] == "SUCCEEDED" and calls == [3]


def test_a_cancelled_run_stops_and_shows_aborted() -> None:
    fake = FakeTime()
    runtime = _runtime(fake)

    def cancel_then_sleep(seconds: float) -> None:
        durable.stop(runtime, run_ids[0])
        fake.sleep(seconds)

    run_ids: list[str] = []
    original = runtime.store.create_run

    def remember(run: Any, events: Any) -> bool:
        run_ids.append(run.run_id)
        return original(run, events)

    runtime.store.create_run = remember  # type: ignore[method-assign]
    durable.start(runtime, DEFINITION, {"amount": 1}, state_machine="Orders", sleep=cancel_then_sleep)
    record = runtime.store.get_run(run_ids[0])
    assert record is not None and record.status == "ABORTED"
    assert durable.service_history(record.run_id, runtime)[-1]["type"] == "ExecutionAborted"


def test_a_long_wait_keeps_the_run_alive_and_notices_a_stop() -> None:
    fake = FakeTime()
    runtime = _runtime(fake)
    runtime.heartbeat_seconds = 5
    beats: list[float] = []
    original = runtime.store.append

    def append(run_id: str, events: Any, update: Any, owner: str, now: float) -> bool:
        if not events:
            beats.append(now)
            if len(beats) == 3:
                durable.stop(runtime, run_id, "enough")
        return original(run_id, events, update, owner, now)

    runtime.store.append = append  # type: ignore[method-assign]
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "End": True}}}
    _, result = durable.start(runtime, definition, {}, state_machine="Sleepy", sleep=fake.sleep)
    assert (result["status"], result["cause"]) == ("ABORTED", "enough")
    assert beats == [1005.0, 1010.0, 1015.0]  # the third finds the run stopped
    assert fake.now < 1100  # it stopped waiting long before the day was over


class _DyingWorkers:
    """An executor whose every worker dies while running the job: each attempt comes back interrupted."""

    capacity = 4

    def __init__(self) -> None:
        self.jobs: list[Any] = []
        self._done: list[Any] = []

    def submit(self, job: Any) -> None:
        from lockgate.executors.base import Outcome

        self.jobs.append(job)
        self._done.append(Outcome(job.step, job.attempt, interrupted=True))

    def wait(self, timeout: float | None) -> list[Any]:
        done, self._done = self._done, []
        return done

    def shutdown(self) -> None:
        pass


def test_a_task_whose_worker_dies_three_times_fails_as_interrupted_without_spending_retries() -> None:
    from lockgate.asl.driver import Dispatcher, Invoker, drive
    from lockgate.asl.entropy import SeededEntropy
    from lockgate.asl.machine import Machine
    from lockgate.asl.resources import Resources
    from lockgate.executors.base import Job

    definition = {"StartAt": "Charge", "States": {"Charge": DEFINITION["States"]["Charge"] | {"End": True}}}
    machine = Machine(definition, {"amount": 1}, None, entropy=SeededEntropy(0))
    executor = _DyingWorkers()

    def job(command: Any, dispatch: Any, attempt: int, interruptions: int) -> Job:
        return Job("r", "Orders", command.id, attempt, "", "", [], {}, "", "", interruptions,
                   resource=dispatch.target, payload=dispatch.payload, idempotency_key=f"r:{command.id}")  # fmt: skip

    reports: list[Any] = []
    dispatcher = Dispatcher(executor, job)  # type: ignore[arg-type]
    drive(machine, Invoker(Resources()), dispatcher=dispatcher,
          on_advance=lambda now, ready, fired: reports.extend(ready) or True)  # fmt: skip
    assert machine.status == "FAILED" and machine.error == "lockgate.Interrupted"
    assert "interrupted 3 times" in (machine.cause or "")
    assert [j.attempt for j in executor.jobs] == [1, 2, 3]
    assert {j.idempotency_key for j in executor.jobs} == {executor.jobs[0].idempotency_key}
    assert [r[0] for r in reports] == ["interrupted", "interrupted", "interrupted", "fail"]
    assert CALLS == []  # the executor ran it (and lost it), never the driver
    # A replay of those reports knows the count: a resumed driver continues it.
    events = [h.RunStarted(at=0, run_id="r", pipeline="Orders", params={"input": {"amount": 1}, "name": "r"},
                           workflow={"definition": definition, "seed": "s"}),
              h.AslAdvanced(at=0, reports=[], fired=[], draws=[]),
              h.AslAdvanced(at=1, reports=[list(reports[0])], fired=[], draws=[])]  # fmt: skip
    assert durable.replay(events).interruptions == {reports[0][1]: 1}
