"""Retry and Catch behave as the service documents them."""

from __future__ import annotations

from typing import Any

import pytest
from machine_harness import START, Raise, Silent, drive

from lockgate.asl.entropy import SeededEntropy
from lockgate.asl.machine import Machine


def _task(
    retry: list[dict[str, Any]] | None = None, catch: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": "work", "End": True, **extra}
    if retry is not None:
        state["Retry"] = retry
    if catch is not None:
        state["Catch"] = catch
    return {"StartAt": "Work", "States": {"Work": state, "Recover": {"Type": "Pass", "End": True}}}


def _always(error: str, cause: str = "it broke") -> Any:
    def task(_: Any) -> Any:
        raise Raise(error, cause)

    return task


def _fails_then(times: int, result: Any, error: str = "Flaky") -> Any:
    calls = {"n": 0}

    def task(_: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            raise Raise(error, f"attempt {calls['n']}")
        return result

    return task


def test_backoff_waits_10_then_15_then_22_5_seconds() -> None:
    definition = _task([{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "BackoffRate": 1.5, "MaxAttempts": 3}])
    trace = drive(definition, {}, {"work": _always("Boom")})
    gaps = [b - a for a, b in zip(trace.times, trace.times[1:], strict=False)]
    assert gaps == [10, 15, 22.5]
    assert trace.machine.status == "FAILED"
    assert (trace.machine.error, trace.machine.cause) == ("Boom", "it broke")
    assert trace.history_types.count("TaskFailed") == 4
    assert [i.id for i in trace.invokes] == ["Work#1", "Work#1/retry1", "Work#1/retry2", "Work#1/retry3"]


def test_retry_defaults_are_one_second_three_attempts_rate_two() -> None:
    trace = drive(_task([{"ErrorEquals": ["Flaky"]}]), {}, {"work": _fails_then(3, "ok")})
    assert [t - START for t in trace.times] == [0, 1, 3, 7]
    assert trace.machine.output == "ok"


def test_max_delay_caps_the_wait() -> None:
    retry = [
        {"ErrorEquals": ["Flaky"], "IntervalSeconds": 4, "BackoffRate": 3, "MaxAttempts": 4, "MaxDelaySeconds": 20}
    ]
    trace = drive(_task(retry), {}, {"work": _fails_then(4, "ok")})
    assert [b - a for a, b in zip(trace.times, trace.times[1:], strict=False)] == [4, 12, 20, 20]


def test_full_jitter_draws_from_the_entropy_and_stays_under_the_wait() -> None:
    retry = [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 10, "MaxAttempts": 1, "JitterStrategy": "FULL"}]
    trace = drive(_task(retry), {}, {"work": _fails_then(1, "ok")}, seed=7)
    import random

    assert trace.times[1] - trace.times[0] == pytest.approx(10 * random.Random(7).random())


def test_max_attempts_zero_never_retries() -> None:
    trace = drive(_task([{"ErrorEquals": ["Flaky"], "MaxAttempts": 0}]), {}, {"work": _always("Flaky")})
    assert len(trace.invokes) == 1 and trace.machine.error == "Flaky"


def test_only_the_first_matching_retrier_applies() -> None:
    retry = [
        {"ErrorEquals": ["Flaky"], "MaxAttempts": 1, "IntervalSeconds": 2},
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5, "IntervalSeconds": 1},
    ]
    trace = drive(_task(retry), {}, {"work": _always("Flaky")})
    assert len(trace.invokes) == 2  # the first retrier is spent; States.ALL does not take over


def test_retry_count_is_in_the_context_object() -> None:
    definition = _task([{"ErrorEquals": ["Flaky"], "MaxAttempts": 2}], Parameters={"retry.$": "$$.State.RetryCount"})
    seen = []

    def task(payload: Any) -> Any:
        seen.append(payload["retry"])
        if len(seen) < 3:
            raise Raise("Flaky")
        return "ok"

    drive(definition, {}, {"work": task})
    assert seen == [0, 1, 2]


def test_catch_sends_the_error_output_to_its_next_state() -> None:
    catch = [
        {"ErrorEquals": ["Other"], "Next": "Recover"},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"},
    ]
    trace = drive(_task(catch=catch), {"order": 1}, {"work": _always("Boom", "disk full")})
    assert trace.machine.status == "SUCCEEDED"
    assert trace.machine.output == {"order": 1, "error": {"Error": "Boom", "Cause": "disk full"}}
    assert trace.history_types[-4:] == ["TaskStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]


def test_catch_without_result_path_replaces_the_input() -> None:
    trace = drive(
        _task(catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "Recover"}]),
        {"a": 1},
        {"work": _always("Boom", "c")},
    )
    assert trace.machine.output == {"Error": "Boom", "Cause": "c"}


def test_retries_run_out_before_the_catcher_takes_over() -> None:
    definition = _task(
        [{"ErrorEquals": ["Boom"], "MaxAttempts": 2, "IntervalSeconds": 1}],
        [{"ErrorEquals": ["Boom"], "Next": "Recover"}],
    )
    trace = drive(definition, {}, {"work": _always("Boom")})
    assert len(trace.invokes) == 3 and trace.machine.status == "SUCCEEDED"


def test_task_timeout_is_states_timeout_and_task_failed_does_not_match_it() -> None:
    definition = _task(
        [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 3}],
        [{"ErrorEquals": ["States.Timeout"], "Next": "Recover"}],
        TimeoutSeconds=30,
    )
    trace = drive(definition, {}, {"work": lambda _: Silent()})
    assert len(trace.invokes) == 1
    assert trace.invokes[0].timeout_at == START + 30
    assert trace.machine.output == {"Error": "States.Timeout", "Cause": "Task timed out"}
    timed_out = trace.events("TaskTimedOut")
    assert timed_out and timed_out[0]["timestamp"] == START + 30


def test_timeout_seconds_path() -> None:
    definition = _task(TimeoutSecondsPath="$.limit")
    trace = drive(definition, {"limit": 12}, {"work": lambda _: Silent()})
    assert (trace.machine.error, trace.events("TaskTimedOut")[0]["timestamp"]) == ("States.Timeout", START + 12)


def test_heartbeat_timeout_and_heartbeats_keep_a_task_alive() -> None:
    definition = _task(catch=[{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Recover"}], HeartbeatSeconds=10)
    machine = Machine(definition, {}, None, entropy=SeededEntropy(0))
    (invoke,) = machine.advance(START)
    assert invoke.heartbeat_seconds == 10
    assert machine.next_deadline() == START + 10
    machine.heartbeat(invoke.id)
    machine.advance(START + 8)
    assert machine.advance(START + 17) == [] and machine.status == "RUNNING"
    machine.advance(START + 18)
    assert machine.status == "SUCCEEDED"
    assert machine.output == {"Error": "States.HeartbeatTimeout", "Cause": "Task missed its heartbeat"}


def test_a_late_answer_after_a_timeout_is_ignored() -> None:
    definition = _task(TimeoutSeconds=5)
    machine = Machine(definition, {}, None, entropy=SeededEntropy(0))
    (invoke,) = machine.advance(START)
    machine.advance(START + 5)
    machine.complete(invoke.id, "late")
    machine.advance(START + 6)
    assert (machine.status, machine.error) == ("FAILED", "States.Timeout")


def test_states_all_does_not_catch_runtime_errors() -> None:
    definition = _task(catch=[{"ErrorEquals": ["States.ALL"], "Next": "Recover"}], ResultSelector={"v.$": "$.missing"})
    trace = drive(definition, {}, {"work": lambda _: {"other": 1}})
    assert (trace.machine.status, trace.machine.error) == ("FAILED", "States.Runtime")


def test_data_limit_is_caught_only_by_name() -> None:
    big = {"work": lambda _: "x" * 300_000}
    trace = drive(_task(catch=[{"ErrorEquals": ["States.ALL"], "Next": "Recover"}]), {}, big)
    assert trace.machine.error == "States.DataLimitExceeded"
    trace = drive(_task(catch=[{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Recover"}]), {}, big)
    assert trace.machine.status == "SUCCEEDED"


def test_catch_assigns_variables_from_the_error_output() -> None:
    definition = _task(catch=[{"ErrorEquals": ["States.ALL"], "Assign": {"reason.$": "$.Cause"}, "Next": "Recover"}])
    definition["States"]["Recover"] = {"Type": "Pass", "Parameters": {"why.$": "$reason"}, "End": True}
    trace = drive(definition, {}, {"work": _always("Boom", "no disk")})
    assert trace.machine.output == {"why": "no disk"}
