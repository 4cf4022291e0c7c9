"""Parallel and Map: branches, iterations, failures, tolerated failures and concurrency."""

from __future__ import annotations

from typing import Any

from machine_harness import Raise, drive

from lockgate.asl.commands import Invoke
from lockgate.asl.entropy import SeededEntropy
from lockgate.asl.machine import Machine


def _map(**fields: Any) -> dict[str, Any]:
    work = {"Type": "Task", "Resource": "work", "End": True}
    state = {"Type": "Map", "ItemProcessor": {"StartAt": "Work", "States": {"Work": work}}, "End": True, **fields}
    return {"StartAt": "Each", "States": {"Each": state}}


def _double(item: Any) -> Any:
    if item == "bad":
        raise Raise("Bad.Item", f"cannot take {item}")
    return item * 2


def test_parallel_returns_branch_outputs_in_order() -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "work", "End": True}}},
                ],
                "ResultPath": "$.both",
                "End": True,
            }
        },
    }
    trace = drive(definition, {"n": 2}, {"work": lambda p: p["n"] + 1})
    assert trace.machine.output == {"n": 2, "both": ["a", 3]}
    types = trace.history_types
    assert types[:3] == ["ExecutionStarted", "ParallelStateEntered", "ParallelStateStarted"]
    assert types[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]
    assert trace.invokes[0].id == "Both#1/Branch[1]/B#1"


def test_a_failed_branch_fails_the_parallel_with_its_error_and_catch_sees_it() -> None:
    failing = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Branch.Broke", "Cause": "no"}}}
    waiting = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "work", "End": True}}}
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [waiting, failing],
                "Catch": [{"ErrorEquals": ["Branch.Broke"], "Next": "Handled"}],
                "End": True,
            },
            "Handled": {"Type": "Pass", "End": True},
        },
    }
    machine = Machine(definition, {}, None, entropy=SeededEntropy(0))
    (invoke,) = machine.advance(0.0)
    assert machine.status == "SUCCEEDED"
    assert machine.output == {"Error": "Branch.Broke", "Cause": "no"}
    machine.complete(invoke.id, "too late")  # the abandoned branch's answer changes nothing
    assert machine.advance(1.0) == [] and machine.output == {"Error": "Branch.Broke", "Cause": "no"}
    assert "ParallelStateFailed" in [e["type"] for e in machine.history]


def test_branch_failure_matches_states_branch_failed() -> None:
    failing = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "X"}}}
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Parallel",
                "Branches": [failing],
                "Catch": [{"ErrorEquals": ["States.BranchFailed"], "Next": "S"}],
                "End": True,
            },
            "S": {"Type": "Succeed"},
        },
    }
    assert drive(definition, {}).machine.status == "SUCCEEDED"


def test_map_runs_each_item_and_keeps_order() -> None:
    trace = drive(_map(), [1, 2, 3], {"work": _double})
    assert trace.machine.output == [2, 4, 6]
    started = trace.events("MapIterationStarted")
    assert [e["mapIterationStartedEventDetails"] for e in started] == [{"name": "Each", "index": i} for i in range(3)]
    assert trace.events("MapStateStarted")[0]["mapStateStartedEventDetails"] == {"length": 3}
    assert trace.history_types.count("MapIterationSucceeded") == 3


def test_map_items_path_and_item_selector_with_map_item_context() -> None:
    selector = {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "tag.$": "$.tag"}
    trace = drive(_map(ItemsPath="$.list", ItemSelector=selector), {"list": [5, 6], "tag": "t"}, {"work": lambda p: p})
    assert trace.machine.output == [{"value": 5, "index": 0, "tag": "t"}, {"value": 6, "index": 1, "tag": "t"}]


def test_legacy_iterator_and_parameters() -> None:
    definition = _map(Parameters={"v.$": "$$.Map.Item.Value"})
    each = definition["States"]["Each"]
    each["Iterator"] = each.pop("ItemProcessor")
    assert drive(definition, [1], {"work": lambda p: p}).machine.output == [{"v": 1}]


def test_max_concurrency_limits_running_iterations() -> None:
    machine = Machine(_map(MaxConcurrency=2), [1, 2, 3, 4], None, entropy=SeededEntropy(0))
    first = machine.advance(0.0)
    assert [c.id for c in first] == ["Each#1/Map[0]/Work#1", "Each#1/Map[1]/Work#1"]
    machine.complete(first[1].id, "b")
    second = machine.advance(1.0)
    assert [c.id for c in second] == ["Each#1/Map[2]/Work#1"]


def test_max_concurrency_path() -> None:
    machine = Machine(
        _map(MaxConcurrencyPath="$.limit", ItemsPath="$.items"),
        {"limit": 1, "items": [1, 2]},
        None,
        entropy=SeededEntropy(0),
    )
    assert len(machine.advance(0.0)) == 1


def test_a_failed_iteration_fails_the_map_by_default() -> None:
    trace = drive(_map(), [1, "bad", 3], {"work": _double})
    assert (trace.machine.error, trace.machine.cause) == ("Bad.Item", "cannot take bad")
    assert "MapIterationFailed" in trace.history_types and "MapStateFailed" in trace.history_types


def test_tolerated_failure_count() -> None:
    trace = drive(_map(ToleratedFailureCount=1), [1, "bad", 3], {"work": _double})
    assert trace.machine.status == "SUCCEEDED"
    assert trace.machine.output == [2, {"Error": "Bad.Item", "Cause": "cannot take bad"}, 6]
    trace = drive(_map(ToleratedFailureCount=1), ["bad", "bad", 3], {"work": _double})
    assert trace.machine.error == "States.ExceedToleratedFailureThreshold"


def test_tolerated_failure_percentage_and_its_path() -> None:
    items = [1, "bad", 3, 4]
    assert drive(_map(ToleratedFailurePercentage=25), items, {"work": _double}).machine.status == "SUCCEEDED"
    trace = drive(_map(ToleratedFailurePercentage=20), items, {"work": _double})
    assert trace.machine.error == "States.ExceedToleratedFailureThreshold"
    trace = drive(
        _map(ToleratedFailurePercentagePath="$.share", ItemsPath="$.items"),
        {"share": 50, "items": items},
        {"work": _double},
    )
    assert trace.machine.status == "SUCCEEDED"


def test_map_over_a_non_array_fails_with_runtime() -> None:
    assert drive(_map(ItemsPath="$.x"), {"x": 3}).machine.error == "States.Runtime"


def test_empty_map_gives_an_empty_list() -> None:
    assert drive(_map(), []).machine.output == []


def test_retrying_a_map_reruns_its_iterations_with_new_ids() -> None:
    calls: list[str] = []

    def flaky(item: Any) -> Any:
        calls.append(item)
        if len(calls) == 1:
            raise Raise("Flaky")
        return item

    definition = _map(Retry=[{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1}])
    trace = drive(definition, ["a"], {"work": flaky})
    assert trace.machine.output == ["a"]
    assert [i.id for i in trace.invokes] == ["Each#1/Map[0]/Work#1", "Each#1/retry1/Map[0]/Work#1"]


def test_iterations_read_outer_variables_but_cannot_change_them() -> None:
    definition = {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"factor": 10}, "Next": "Each"},
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Use",
                    "States": {
                        "Use": {
                            "Type": "Pass",
                            "Parameters": {"v.$": "States.MathAdd($factor, $)"},
                            "Assign": {"local": 1},
                            "Next": "Read",
                        },
                        "Read": {"Type": "Pass", "Parameters": {"v.$": "$.v", "local.$": "$local"}, "End": True},
                    },
                },
                "Next": "After",
            },
            "After": {"Type": "Pass", "Parameters": {"items.$": "$", "factor.$": "$factor"}, "End": True},
        },
    }
    trace = drive(definition, [1, 2])
    assert trace.machine.output == {"items": [{"v": 11, "local": 1}, {"v": 12, "local": 1}], "factor": 10}
    definition["States"]["After"]["Parameters"]["local.$"] = "$local"
    assert drive(definition, [1]).machine.error == "States.Runtime"  # `local` never reached the outer scope


def test_nested_map_inside_parallel_ids() -> None:
    inner = _map()["States"]["Each"]
    inner["End"] = True
    definition = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Parallel", "Branches": [{"StartAt": "Each", "States": {"Each": inner}}], "End": True}
        },
    }
    machine = Machine(definition, [7], None, entropy=SeededEntropy(0))
    commands = machine.advance(0.0)
    assert isinstance(commands[0], Invoke) and commands[0].id == "P#1/Branch[0]/Each#1/Map[0]/Work#1"
