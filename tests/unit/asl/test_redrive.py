"""Redrive (RedriveExecution, `lockgate retry`): a failed execution continues from its failed state."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from tests.conftest import FakeTime

from lockgate.asl import durable
from lockgate.asl.redrive import redrive
from lockgate.asl.resources import register_task
from lockgate.core.errors import UsageError
from lockgate.runtime import Runtime

CALLS: Counter[str] = Counter()
BROKEN: set[str] = set()


@pytest.fixture(autouse=True)
def tasks() -> None:
    CALLS.clear()
    BROKEN.clear()

    def step(name: str, value: Any = None) -> Any:
        CALLS[name] += 1
        if name in BROKEN:
            raise RuntimeError(f"{name} is broken")
        return {"done": name, "value": value}

    register_task("test_redrive.step", step)


def _task(name: str, **more: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "lockgate:task:test_redrive.step",
        "Parameters": {"name": name, "value.$": "$"},
        **more,
    }


CHAIN = {
    "StartAt": "First",
    "States": {
        "First": _task("first", ResultPath="$.first", Next="Second"),
        "Second": _task("second", ResultPath="$.second", Next="Count"),
        "Count": {
            "Type": "Pass",
            "Parameters": {
                "redrives.$": "$$.Execution.RedriveCount",
                "first.$": "$.first.done",
                "second.$": "$.second.done",
            },
            "End": True,
        },
    },
}


def test_a_redrive_continues_from_the_failed_state_and_keeps_what_succeeded(runtime: Runtime, fake: FakeTime) -> None:
    BROKEN.add("second")
    run_id, result = durable.start(runtime, CHAIN, {"n": 1}, state_machine="Chain", sleep=fake.sleep)
    assert (result["status"], result["error"]) == ("FAILED", "RuntimeError")
    BROKEN.clear()
    result = redrive(runtime, run_id, sleep=fake.sleep)
    assert result == {"status": "SUCCEEDED", "output": {"redrives": 1, "first": "first", "second": "second"}}
    assert CALLS == {"first": 1, "second": 2}
    record = runtime.store.get_run(run_id)
    assert record is not None and record.status == "SUCCEEDED" and record.output == result["output"]
    types = [e["type"] for e in durable.service_history(run_id, runtime)]
    assert types.count("ExecutionFailed") == 1 and types.count("ExecutionRedriven") == 1
    assert types.index("ExecutionFailed") < types.index("ExecutionRedriven") < types.index("ExecutionSucceeded")
    redriven = next(e for e in durable.service_history(run_id, runtime) if e["type"] == "ExecutionRedriven")
    assert redriven["executionRedrivenEventDetails"] == {"redriveCount": 1}


def test_a_second_redrive_counts_two(runtime: Runtime, fake: FakeTime) -> None:
    BROKEN.add("second")
    run_id, _ = durable.start(runtime, CHAIN, {}, state_machine="Chain", sleep=fake.sleep)
    assert redrive(runtime, run_id, sleep=fake.sleep)["status"] == "FAILED"
    BROKEN.clear()
    result = redrive(runtime, run_id, sleep=fake.sleep)
    assert result["output"]["redrives"] == 2
    assert CALLS == {"first": 1, "second": 3}


def test_a_succeeded_execution_is_refused(runtime: Runtime, fake: FakeTime) -> None:
    run_id, result = durable.start(runtime, CHAIN, {}, state_machine="Chain", sleep=fake.sleep)
    assert result["status"] == "SUCCEEDED"
    with pytest.raises(UsageError, match="SUCCEEDED; only a failed, timed-out or aborted execution can be redriven"):
        redrive(runtime, run_id, sleep=fake.sleep)
    assert CALLS == {"first": 1, "second": 1}


def test_runtime_retry_redrives_a_state_machine_run(runtime: Runtime, fake: FakeTime) -> None:
    BROKEN.add("first")
    run_id, _ = durable.start(runtime, CHAIN, {}, state_machine="Chain", sleep=fake.sleep)
    BROKEN.clear()
    view = runtime.retry(run_id)
    assert view.status == "SUCCEEDED"
    assert CALLS == {"first": 2, "second": 1}


def test_only_the_failed_iterations_of_an_inline_map_run_again(runtime: Runtime, fake: FakeTime) -> None:
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemSelector": {"name.$": "$$.Map.Item.Value"},
                "MaxConcurrency": 1,  # c has not started when b fails: deterministic counts
                "ItemProcessor": {
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": "lockgate:task:test_redrive.step", "End": True}},
                },
                "End": True,
            }
        },
    }
    BROKEN.add("b")
    run_id, result = durable.start(runtime, definition, ["a", "b", "c"], state_machine="Each", sleep=fake.sleep)
    assert result["status"] == "FAILED"
    BROKEN.clear()
    result = redrive(runtime, run_id, sleep=fake.sleep)
    assert result["status"] == "SUCCEEDED"
    assert [r["done"] for r in result["output"]] == ["a", "b", "c"]
    assert CALLS == {"a": 1, "b": 2, "c": 1}


def test_only_the_failed_branch_of_a_parallel_runs_again_from_its_failed_state(
    runtime: Runtime, fake: FakeTime
) -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    # a Pass branch ends within the first step, before the other branch can fail
                    {"StartAt": "L", "States": {"L": {"Type": "Pass", "Result": {"done": "left"}, "End": True}}},
                    {"StartAt": "R1", "States": {"R1": _task("right1", Next="R2"), "R2": _task("right2", End=True)}},
                ],
                "End": True,
            }
        },
    }
    BROKEN.add("right2")
    run_id, _ = durable.start(runtime, definition, {}, state_machine="Both", sleep=fake.sleep)
    BROKEN.clear()
    result = redrive(runtime, run_id, sleep=fake.sleep)
    assert result["status"] == "SUCCEEDED"
    assert [r["done"] for r in result["output"]] == ["left", "right2"]
    assert CALLS == {"right1": 1, "right2": 2}
    entered = [e["stateEnteredEventDetails"]["name"] for e in durable.service_history(run_id, runtime)
               if e["type"].endswith("StateEntered")]  # fmt: skip
    assert entered.count("L") == 1 and entered.count("R1") == 1 and entered.count("R2") == 2


def test_a_timed_out_execution_redrives_the_state_it_was_in(runtime: Runtime, fake: FakeTime) -> None:
    definition = {
        "TimeoutSeconds": 60,
        "StartAt": "First",
        "States": {
            "First": _task("first", ResultPath="$.first", Next="Nap"),
            "Nap": {"Type": "Wait", "Seconds": 120, "Next": "Second"},
            "Second": _task("second", End=True),
        },
    }
    run_id, result = durable.start(runtime, definition, {}, state_machine="Slow", sleep=fake.sleep)
    assert result["status"] == "TIMED_OUT"
    # redriven, the Wait starts again and the new 60 s execution timeout ends it once more
    assert redrive(runtime, run_id, sleep=fake.sleep)["status"] == "TIMED_OUT"
    assert CALLS == {"first": 1}
    assert runtime.store.get_run(run_id).status == "TIMED_OUT"  # type: ignore[union-attr]


def test_an_aborted_execution_can_be_redriven(runtime: Runtime, fake: FakeTime) -> None:
    definition = {
        "StartAt": "First",
        "States": {
            "First": _task("first", ResultPath="$.first", Next="Nap"),
            "Nap": {"Type": "Wait", "Seconds": 5, "Next": "Second"},
            "Second": _task("second", End=True),
        },
    }
    created = durable.create(runtime, definition, {}, state_machine="Stopped")
    stops = iter([True])

    def sleep_then_stop(seconds: float) -> None:
        if next(stops, False):
            durable.stop(runtime, created.run_id, "operator")
        fake.sleep(seconds)

    runtime.heartbeat_seconds = 1  # notice the stop within the Wait
    assert durable.execute(runtime, created, sleep=sleep_then_stop)["status"] == "ABORTED"
    result = redrive(runtime, created.run_id, sleep=fake.sleep)
    assert result["status"] == "SUCCEEDED"
    assert CALLS == {"first": 1, "second": 1}


class Crash(BaseException):
    """Stands in for the process dying during a redrive."""


def test_a_redrive_interrupted_by_a_crash_is_resumed(runtime: Runtime, fake: FakeTime) -> None:
    crashes = iter([True])

    def second(name: str, value: Any = None) -> Any:
        CALLS[name] += 1
        if name == "second" and "second" in BROKEN:
            raise RuntimeError("broken")
        if name == "second" and next(crashes, False):
            raise Crash()
        return {"done": name, "value": value}

    register_task("test_redrive.step", second)
    BROKEN.add("second")
    run_id, _ = durable.start(runtime, CHAIN, {}, state_machine="Chain", sleep=fake.sleep)
    BROKEN.clear()
    runtime.executor_kind = "inline"  # tasks run in the driving thread: the crash takes the process down
    with pytest.raises(Crash):
        redrive(runtime, run_id, sleep=fake.sleep)
    runtime.owner = runtime.owner + "-restarted"
    result = durable.resume(runtime, run_id, sleep=fake.sleep)
    assert result["output"] == {"redrives": 1, "first": "first", "second": "second"}
    assert CALLS == {"first": 1, "second": 3}
