"""The machine runs each state type as the Amazon States Language specifies."""

from __future__ import annotations

from typing import Any

from machine_harness import START, drive, replay

from lockgate.asl import limits
from lockgate.asl.commands import StartTimer
from lockgate.asl.entropy import SeededEntropy
from lockgate.asl.machine import Machine


def test_pass_applies_result_and_result_path() -> None:
    definition = {
        "StartAt": "Add",
        "States": {"Add": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.added", "End": True}},
    }
    trace = drive(definition, {"keep": True})
    assert trace.machine.status == "SUCCEEDED"
    assert trace.machine.output == {"keep": True, "added": {"x": 1}}


def test_parameters_input_path_and_output_path() -> None:
    definition = {
        "StartAt": "Shape",
        "States": {
            "Shape": {
                "Type": "Pass",
                "InputPath": "$.order",
                "Parameters": {"id.$": "$.id", "where.$": "$$.State.Name", "fixed": 3},
                "ResultPath": "$.shaped",
                "OutputPath": "$.shaped",
                "End": True,
            }
        },
    }
    trace = drive(definition, {"order": {"id": "o-7"}})
    assert trace.machine.output == {"id": "o-7", "where": "Shape", "fixed": 3}


def test_history_names_and_links_events_as_the_service_does() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "S"}, "S": {"Type": "Succeed"}}}
    trace = drive(definition, {"a": 1})
    assert trace.history_types == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    history = trace.machine.history
    assert [e["id"] for e in history] == [1, 2, 3, 4, 5, 6]
    assert [e["previousEventId"] for e in history] == [0, 1, 2, 3, 4, 5]
    assert history[1]["stateEnteredEventDetails"] == {
        "name": "P",
        "input": '{"a":1}',
        "inputDetails": {"truncated": False},
    }
    assert history[-1]["executionSucceededEventDetails"]["output"] == '{"a":1}'
    assert all(e["timestamp"] == START for e in history)


def test_choice_loops_until_a_rule_matches() -> None:
    definition = {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.n", "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThanEquals": 5, "Next": "Done"}],
                "Default": "Step",
            },
            "Step": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Check"},
            "Done": {"Type": "Succeed"},
        },
    }
    trace = drive(definition, {})
    assert trace.machine.output == {"n": 5}
    assert trace.history_types.count("ChoiceStateEntered") == 6


def test_choice_without_a_match_or_default_fails_with_no_choice_matched() -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "S"}]},
            "S": {"Type": "Succeed"},
        },
    }
    trace = drive(definition, {"x": False})
    assert (trace.machine.status, trace.machine.error) == ("FAILED", "States.NoChoiceMatched")


def test_wait_is_a_timer_and_never_a_sleep() -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 86400, "End": True}}}
    machine = Machine(definition, {}, None, entropy=SeededEntropy(0))
    assert machine.advance(START) == [StartTimer("W#1", START + 86400)]
    assert machine.advance(START + 10) == []
    machine.fire("W#1")
    assert machine.advance(START + 86400) == []
    assert machine.status == "SUCCEEDED"
    assert [e["timestamp"] for e in machine.history][-2:] == [START + 86400, START + 86400]


def test_wait_by_seconds_path_and_timestamp() -> None:
    definition = {
        "StartAt": "ByPath",
        "States": {
            "ByPath": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Until"},
            "Until": {"Type": "Wait", "TimestampPath": "$.until", "End": True},
        },
    }
    trace = drive(definition, {"delay": 30, "until": "2023-11-14T22:20:00Z"})
    assert [t.due_at for t in trace.timers] == [START + 30, 1_700_000_400.0]
    assert trace.machine.status == "SUCCEEDED"


def test_wait_with_a_bad_seconds_path_fails_with_runtime() -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.delay", "End": True}}}
    trace = drive(definition, {"delay": "soon"})
    assert trace.machine.error == "States.Runtime"


def test_fail_state_with_error_and_cause_paths() -> None:
    definition = {
        "StartAt": "F",
        "States": {"F": {"Type": "Fail", "ErrorPath": "$.kind", "CausePath": "States.Format('bad {}', $.id)"}},
    }
    trace = drive(definition, {"kind": "Order.Invalid", "id": 42})
    machine = trace.machine
    assert (machine.status, machine.error, machine.cause) == ("FAILED", "Order.Invalid", "bad 42")
    assert trace.history_types == ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]
    assert trace.machine.history[-1]["executionFailedEventDetails"] == {"error": "Order.Invalid", "cause": "bad 42"}


def test_a_missing_path_fails_the_execution_with_runtime() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.missing", "End": True}}}
    trace = drive(definition, {"a": 1})
    assert trace.machine.status == "FAILED"
    assert trace.machine.error == "States.Runtime"
    assert "$.missing" in (trace.machine.cause or "")


def test_context_object_fields() -> None:
    seen: list[Any] = []
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "lockgate:task:look",
                "Parameters": {"ctx.$": "$$"},
                "End": True,
            }
        },
    }
    base = {
        "Execution": {"Id": "arn:aws:states:local:1:execution:m:run-1", "Name": "run-1"},
        "StateMachine": {"Id": "arn:sm", "Name": "m"},
    }
    drive(definition, {"in": 1}, {"lockgate:task:look": lambda p: seen.append(p["ctx"])}, context=base)
    ctx = seen[0]
    assert ctx["Execution"]["Name"] == "run-1"
    assert ctx["Execution"]["Input"] == {"in": 1}
    assert ctx["Execution"]["StartTime"] == "2023-11-14T22:13:20.000Z"
    assert ctx["Execution"]["RedriveCount"] == 0
    assert ctx["StateMachine"] == {"Id": "arn:sm", "Name": "m"}
    assert ctx["State"] == {"Name": "T", "EnteredTime": "2023-11-14T22:13:20.000Z", "RetryCount": 0}
    assert "Task" not in ctx  # only a task that waits for its token (a callback, an activity) has $$.Task.Token


def test_only_a_task_that_waits_for_its_token_has_one() -> None:
    from lockgate.asl.driver import run_execution
    from lockgate.asl.resources import Resources

    plain = {"Type": "Task", "Resource": "arn:aws:states:::events:putEvents", "End": True,
             "Parameters": {"Entries": [{"Detail": {"TaskToken.$": "$$.Task.Token"}}]}}  # fmt: skip
    result = run_execution({"StartAt": "T", "States": {"T": plain}}, {}, resources=Resources())
    assert result["status"] == "FAILED" and result["error"] == "States.Runtime"
    assert "'$$.Task.Token'" in result["cause"] and "context object" in result["cause"]


def test_execution_timeout() -> None:
    definition = {"TimeoutSeconds": 5, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    trace = drive(definition, {})
    assert (trace.machine.status, trace.machine.error) == ("TIMED_OUT", "States.Timeout")
    assert trace.history_types[-1] == "ExecutionTimedOut"
    assert trace.machine.history[-1]["timestamp"] == START + 5


def test_oversized_task_result_fails_with_data_limit_exceeded() -> None:
    definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "big", "End": True}}}
    trace = drive(definition, {}, {"big": lambda _: "x" * (256 * 1024 + 1)})
    assert trace.machine.error == "States.DataLimitExceeded"


def test_ids_are_paths_and_a_replay_reproduces_the_run() -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": "w", "End": True}},
                },
                "Next": "Again",
            },
            "Again": {"Type": "Task", "Resource": "w", "Parameters": {"n": 1}, "End": True},
        },
    }
    trace = drive(definition, [1, 2], {"w": lambda p: p})
    assert [i.id for i in trace.invokes] == ["Fan#1/Map[0]/Work#1", "Fan#1/Map[1]/Work#1", "Again#1"]
    again = replay(definition, [1, 2], trace)
    assert again.status == "SUCCEEDED"
    assert again.history == trace.machine.history


def test_an_endless_loop_yields_to_its_driver_and_can_time_out() -> None:
    definition = {
        "TimeoutSeconds": 60,
        "StartAt": "Spin",
        "States": {
            "Spin": {"Type": "Pass", "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.never", "IsPresent": True, "Next": "Out"}],
                "Default": "Spin",
            },
            "Out": {"Type": "Succeed"},
        },
    }
    previous = limits.set_limits(limits.Limits(history_events=1_000_000))  # this loop may run long
    try:
        machine = Machine(definition, {}, None, entropy=SeededEntropy(0))
    finally:
        limits.set_limits(previous)
    machine.advance(START)
    assert machine.status == "RUNNING" and machine.transitions == 10_000
    assert machine.next_deadline() == START
    machine.advance(START + 1)
    assert machine.transitions == 20_000
    machine.advance(START + 60)
    assert (machine.status, machine.error) == ("TIMED_OUT", "States.Timeout")
