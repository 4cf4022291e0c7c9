"""The graph of a state machine run: its states, transitions and each state's status from history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FakeTime

from lockgate.asl import durable
from lockgate.asl.resources import register_task
from lockgate.runtime import default_runtime
from lockgate.server.run_graph import graph_of, machine_graph

CALLS: dict[str, int] = {}


def flaky(**params: Any) -> Any:
    CALLS["flaky"] = CALLS.get("flaky", 0) + 1
    if CALLS["flaky"] == 1:
        raise ConnectionError("not yet")
    return {"ok": True, "items": [1, 2, 3]}


def broken(**params: Any) -> Any:
    raise ValueError("always")


DEFINITION = {
    "StartAt": "Flaky",
    "States": {
        "Flaky": {
            "Type": "Task",
            "Resource": "lockgate:task:ui_graph.flaky",
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 30, "MaxAttempts": 2}],
            "Next": "Check",
        },
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Fan"}],
            "Default": "Nope",
        },
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "One", "States": {"One": {"Type": "Pass", "End": True}}},
                {
                    "StartAt": "Two",
                    "States": {"Two": {"Type": "Pass", "Next": "Three"}, "Three": {"Type": "Pass", "End": True}},
                },
            ],
            "ResultPath": None,
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "Square", "States": {"Square": {"Type": "Pass", "End": True}}},
            "ResultPath": "$.squares",
            "Next": "Broken",
        },
        "Broken": {
            "Type": "Task",
            "Resource": "lockgate:task:ui_graph.broken",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "GiveUp"}],
            "Next": "Nope",
        },
        "GiveUp": {"Type": "Fail", "Error": "Gave.Up", "Cause": "broken is broken"},
        "Nope": {"Type": "Succeed"},
    },
}  # fmt: skip


@pytest.fixture
def finished_run(home: Path) -> str:
    register_task("ui_graph.flaky", flaky)
    register_task("ui_graph.broken", broken)
    CALLS.clear()
    runtime = default_runtime()
    time = FakeTime(1_800_000_000.0)
    runtime.clock = time.clock
    run_id, result = durable.start(runtime, DEFINITION, {}, state_machine="ui_graph", sleep=time.sleep)
    assert result["status"] == "FAILED" and CALLS["flaky"] == 2
    return run_id


def test_states_transitions_and_statuses_of_a_finished_run(finished_run: str) -> None:
    graph = graph_of(default_runtime(), finished_run)
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert graph["kind"] == "asl" and graph["status"] == "FAILED"
    assert {k: n["status"] for k, n in nodes.items()} == {
        "Flaky": "SUCCEEDED", "Check": "SUCCEEDED", "Fan": "SUCCEEDED", "Fan/One": "SUCCEEDED",
        "Fan/Two": "SUCCEEDED", "Fan/Three": "SUCCEEDED", "Each": "SUCCEEDED", "Each/Square": "SUCCEEDED",
        "Broken": "FAILED", "GiveUp": "FAILED", "Nope": "SKIPPED",
    }  # fmt: skip
    assert nodes["Fan/One"]["parent"] == "Fan" and nodes["Each/Square"]["parent"] == "Each"
    assert nodes["Each/Square"]["counts"] == {"SUCCEEDED": 3} and nodes["Flaky"]["counts"] is None
    assert nodes["Fan/Three"]["label"] == "Three" and nodes["Broken"]["kind"] == "Task"
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        ("Flaky", "Check"), ("Check", "Fan"), ("Check", "Nope"), ("Fan", "Each"), ("Fan/Two", "Fan/Three"),
        ("Each", "Broken"), ("Broken", "Nope"), ("Broken", "GiveUp"),
    }  # fmt: skip


def test_a_state_waiting_for_its_retry_is_retrying_and_the_rest_pending(finished_run: str) -> None:
    events = durable.replay(default_runtime().store.history(finished_run)).machine.history
    first_failure = next(i for i, e in enumerate(events) if e["type"] == "TaskFailed")
    graph = machine_graph(DEFINITION, events[: first_failure + 1], "RUNNING").to_json()
    statuses = {n["id"]: n["status"] for n in graph["nodes"]}
    assert statuses["Flaky"] == "RETRYING"
    assert {s for k, s in statuses.items() if k != "Flaky"} == {"PENDING"}
    in_map = next(i for i, e in enumerate(events) if e["type"] == "MapStateStarted")
    graph = machine_graph(DEFINITION, events[: in_map + 1], "RUNNING").to_json()
    statuses = {n["id"]: n["status"] for n in graph["nodes"]}
    assert statuses["Each"] == "RUNNING" and statuses["Fan"] == "SUCCEEDED" and statuses["Each/Square"] == "PENDING"
    aborted = machine_graph(DEFINITION, events[: in_map + 1], "ABORTED").to_json()
    assert {n["id"]: n["status"] for n in aborted["nodes"]}["Each"] == "ABORTED"


def test_the_run_page_of_a_state_machine_shows_states_and_its_history(finished_run: str) -> None:
    from lockgate.server.ui_views import run_detail

    detail = run_detail(default_runtime(), finished_run, 500)
    assert detail["can_retry"] is True and detail["steps"] == []
    assert [s["id"] for s in detail["states"]][:2] == ["Flaky", "Check"]
    assert detail["history"][0]["type"] == "ExecutionStarted"
    assert detail["history"][-1]["type"] == "ExecutionFailed"


def until_redriven(**params: Any) -> Any:
    CALLS["once"] = CALLS.get("once", 0) + 1
    if CALLS["once"] == 1:
        raise ValueError("first time")
    return "second time"


ONCE = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {"StartAt": "Keep", "States": {"Keep": {"Type": "Pass", "End": True}}},
            "ResultPath": None,
            "Next": "Once",
        },
        "Once": {"Type": "Task", "Resource": "lockgate:task:ui_graph.once", "End": True},
    },
}


def test_a_redriven_run_shows_the_state_that_failed_as_its_new_entry_ended(home: Path) -> None:
    register_task("ui_graph.once", until_redriven)
    CALLS.clear()
    runtime = default_runtime()
    run_id, result = durable.start(runtime, ONCE, {"items": [1, 2]}, state_machine="ui_once")
    assert result["status"] == "FAILED"
    failed = {n["id"]: n["status"] for n in graph_of(runtime, run_id)["nodes"]}
    assert failed == {"Each": "SUCCEEDED", "Each/Keep": "SUCCEEDED", "Once": "FAILED"}
    assert runtime.retry(run_id).status == "SUCCEEDED"
    graph = graph_of(runtime, run_id)
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert {k: n["status"] for k, n in nodes.items()} == {
        "Each": "SUCCEEDED",
        "Each/Keep": "SUCCEEDED",
        "Once": "SUCCEEDED",
    }
    assert nodes["Once"]["counts"] is None and nodes["Each/Keep"]["counts"] == {"SUCCEEDED": 2}
