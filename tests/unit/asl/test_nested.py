"""`arn:aws:states:::states:startExecution(.sync)`: a state machine runs another as its own run."""

from __future__ import annotations

import json
from pathlib import Path

from lockgate.asl.driver import run_execution
from lockgate.asl.resources import Resources
from lockgate.runtime import default_runtime

CHILD = {
    "StartAt": "Add",
    "States": {"Add": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "End": True}},
}
FAILING = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Child.Broke", "Cause": "no"}}}
CHILD_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:Adder"


def _parent(resource: str) -> dict[str, object]:
    task = {
        "Type": "Task",
        "Resource": resource,
        "Parameters": {"StateMachineArn": CHILD_ARN, "Input": {"a.$": "$.x", "b": 2}},
        "End": True,
    }
    return {"StartAt": "Child", "States": {"Child": task}}


def _resources(tmp: Path, child: dict[str, object]) -> Resources:
    path = tmp / "adder.json"
    path.write_text(json.dumps(child))
    return Resources({CHILD_ARN: f"asl:{path}"})


def test_sync_2_waits_and_returns_the_child_output_as_json(tmp_path: Path) -> None:
    result = run_execution(
        _parent("arn:aws:states:::states:startExecution.sync:2"), {"x": 5}, resources=_resources(tmp_path, CHILD)
    )
    assert result["status"] == "SUCCEEDED"
    assert result["output"]["Output"] == {"sum": 7} and result["output"]["Status"] == "SUCCEEDED"
    (child,) = [r for r in default_runtime().store.list_runs() if r.pipeline == "Adder"]
    assert child.kind == "asl" and child.status == "SUCCEEDED"


def test_sync_gives_output_as_text(tmp_path: Path) -> None:
    result = run_execution(
        _parent("arn:aws:states:::states:startExecution.sync"), {"x": 1}, resources=_resources(tmp_path, CHILD)
    )
    assert json.loads(result["output"]["Output"]) == {"sum": 3}


def test_a_failed_child_fails_the_task(tmp_path: Path) -> None:
    result = run_execution(
        _parent("arn:aws:states:::states:startExecution.sync"), {"x": 1}, resources=_resources(tmp_path, FAILING)
    )
    assert result["status"] == "FAILED" and result["error"] == "States.TaskFailed"
    assert json.loads(result["cause"])["Error"] == "Child.Broke"


def test_an_unknown_state_machine_fails_clearly() -> None:
    result = run_execution(_parent("arn:aws:states:::states:startExecution.sync"), {"x": 1}, resources=Resources())
    assert result["error"] == "States.TaskFailed" and "StateMachineDoesNotExist" in result["cause"]
