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


def test_the_same_invocation_again_takes_up_its_child_instead_of_starting_another(tmp_path: Path) -> None:
    """After a crash the parent's task runs again with the same token: the child it had started
    (here left RUNNING by a dead process) is driven to its end, and no second child starts."""
    import socket

    import sqlalchemy as sa

    from lockgate.asl import durable
    from lockgate.asl.nested import PARENT_TASK, start_execution
    from lockgate.store.schema import runs

    resources = _resources(tmp_path, CHILD)
    runtime = default_runtime()
    created = durable.create(runtime, CHILD, {"a": 1, "b": 2}, state_machine="Adder", name="child-tok1",
                             extra={PARENT_TASK: "tok1"})  # fmt: skip
    dead = subprocess_pid_that_exited()
    with runtime.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.update(runs).where(runs.c.run_id == created.run_id)
                     .values(owner=f"{socket.gethostname()}:{dead}:gone"))  # fmt: skip
    arn = "arn:aws:states:::states:startExecution.sync:2"
    payload = {"StateMachineArn": CHILD_ARN, "Input": {"a": 1, "b": 2}}
    answer = start_execution(arn, payload, resources.mapping, "tok1")
    assert answer["Status"] == "SUCCEEDED" and answer["Output"] == {"sum": 3}
    assert answer["Name"] == "child-tok1"
    again = start_execution(arn, payload, resources.mapping, "tok1")  # finished: its result, again
    assert again["Output"] == {"sum": 3}
    assert [r.run_id for r in runtime.store.list_runs() if r.pipeline == "Adder"] == [created.run_id]
    other = start_execution(arn, payload, resources.mapping, "tok2")  # another invocation: another child
    assert other["Name"] != "child-tok1"
    assert len([r for r in runtime.store.list_runs() if r.pipeline == "Adder"]) == 2


def test_a_name_taken_by_another_execution_is_still_refused(tmp_path: Path) -> None:
    from lockgate.asl import durable
    from lockgate.asl.nested import start_execution
    from lockgate.asl.resources import TaskFailure

    resources = _resources(tmp_path, CHILD)
    durable.create(default_runtime(), CHILD, {"a": 1, "b": 2}, state_machine="Adder", name="taken")
    payload = {"StateMachineArn": CHILD_ARN, "Input": {"a": 1, "b": 2}, "Name": "taken"}
    try:
        start_execution("arn:aws:states:::states:startExecution.sync", payload, resources.mapping, "tok3")
    except TaskFailure as exc:
        assert exc.error == "StepFunctions.ExecutionAlreadyExistsException"
    else:
        raise AssertionError("a name another execution holds was accepted")


def subprocess_pid_that_exited() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
