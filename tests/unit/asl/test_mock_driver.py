"""The in-memory driver with mocked responses (Step Functions Local format) and an injected clock."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from tests.conftest import FakeTime

from lockgate.asl.driver import run_execution
from lockgate.asl.mock import MockConfig
from lockgate.asl.resources import Resources, register_task
from lockgate.core.errors import UsageError

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:Check"
DEFINITION = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": LAMBDA, "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 2, "MaxAttempts": 3}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
            "OutputPath": "$.Payload",
            "Next": "Record",
        },
        "Record": {"Type": "Task", "Resource": "lockgate:task:test_mock.record", "End": True},
        "Failed": {"Type": "Pass", "Result": "caught", "End": True},
    },
}


def _config(responses: dict[str, Any]) -> dict[str, Any]:
    return {
        "StateMachines": {"Orders": {"TestCases": {"Case": {"Check": "CheckResponses"}}}},
        "MockedResponses": {"CheckResponses": responses},
    }


@pytest.fixture(autouse=True)
def recorder() -> list[Any]:
    seen: list[Any] = []

    def record(*args: Any, **kwargs: Any) -> Any:
        value = args[0] if args else kwargs
        seen.append(value)
        return {"recorded": value}

    register_task("test_mock.record", record)
    return seen


def _run(responses: dict[str, Any], fake: FakeTime | None = None) -> dict[str, Any]:
    fake = fake or FakeTime()
    mock = MockConfig(_config(responses), "Orders", "Case")
    return run_execution(DEFINITION, {"id": 1}, resources=Resources(), mock=mock, clock=fake.clock, sleep=fake.sleep)


def test_return_is_the_integration_response_and_unmocked_states_run_for_real(recorder: list[Any]) -> None:
    result = _run({"0": {"Return": {"Payload": {"ok": True}, "StatusCode": 200}}})
    assert result == {"status": "SUCCEEDED", "output": {"recorded": {"ok": True}}}
    assert recorder == [{"ok": True}]


def test_each_retry_is_one_invocation_and_ranges_cover_several() -> None:
    fake = FakeTime()
    responses = {
        "0-1": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "busy"}},
        "2": {"Return": {"Payload": "third time", "StatusCode": 200}},
    }
    result = _run(responses, fake)
    assert result == {"status": "SUCCEEDED", "output": {"recorded": "third time"}}
    assert fake.slept == [2, 4]


def test_throw_goes_to_catch() -> None:
    result = _run({"0": {"Throw": {"Error": "States.Timeout", "Cause": "slow"}}})
    assert result == {"status": "SUCCEEDED", "output": "caught"}


def test_bad_mock_configs_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="no test case 'Other'"):
        MockConfig(_config({}), "Orders", "Other")
    with pytest.raises(UsageError, match="no state machine 'X'"):
        MockConfig(_config({}), "X", "Case")
    with pytest.raises(UsageError, match="exactly one of Return or Throw"):
        MockConfig(_config({"0": {}}), "Orders", "Case")
    with pytest.raises(UsageError, match="range"):
        MockConfig(_config({"a-b": {"Return": 1}}), "Orders", "Case")


def test_waits_use_the_injected_clock() -> None:
    fake = FakeTime()
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    result = run_execution(definition, {"a": 1}, resources=Resources(), clock=fake.clock, sleep=fake.sleep)
    assert result == {"status": "SUCCEEDED", "output": {"a": 1}}
    assert fake.slept == [3600]


def test_parallel_branches_run_at_the_same_time() -> None:
    barrier = threading.Barrier(2, timeout=10)

    def meet(**_: Any) -> str:
        barrier.wait()  # only returns once both branches are running at once
        return "met"

    register_task("test_mock.meet", meet)
    branch = {
        "StartAt": "M",
        "States": {"M": {"Type": "Task", "Resource": "lockgate:task:test_mock.meet", "End": True}},
    }
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [branch, branch], "End": True}}}
    assert run_execution(definition, {}, resources=Resources()) == {"status": "SUCCEEDED", "output": ["met", "met"]}


def test_an_unmapped_arn_fails_the_execution_naming_it() -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}},
    }
    result = run_execution(definition, {}, resources=Resources())
    assert result["status"] == "FAILED" and result["error"] == "States.TaskFailed"
    assert "arn:aws:states:::sqs:sendMessage" in result["cause"]
