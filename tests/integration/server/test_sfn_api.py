"""The Step Functions-compatible endpoint, driven by the real boto3 `stepfunctions` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import wait_until
from tests.integration.server.sfn_server import running

from lockgate.asl.resources import register_task

DEFINITION = {
    "StartAt": "Double",
    "States": {
        "Double": {
            "Type": "Task",
            "Resource": "lockgate:task:test_sfn.double",
            "ResultPath": "$.doubled",
            "Next": "Approve",
        },
        "Approve": {
            "Type": "Task",
            "Resource": "lockgate:task:test_sfn.hand_out.waitForTaskToken",
            "Parameters": {"token.$": "$$.Task.Token"},
            "ResultPath": "$.approval",
            "End": True,
        },
    },
}
TOKENS: list[str] = []


@pytest.fixture
def client(home: Any) -> Iterator[Any]:
    pytest.importorskip("boto3")
    from lockgate.runtime import Runtime

    register_task("test_sfn.double", lambda n: n * 2)
    register_task("test_sfn.hand_out", lambda token: TOKENS.append(token))
    with running(Runtime()) as served:
        yield served.client()


def test_state_machines_and_executions_through_boto3(client: Any) -> None:
    TOKENS.clear()
    created = client.create_state_machine(
        name="Orders", definition=json.dumps(DEFINITION), roleArn="arn:aws:iam::1:role/r"
    )
    arn = created["stateMachineArn"]
    assert client.describe_state_machine(stateMachineArn=arn)["name"] == "Orders"
    assert [m["name"] for m in client.list_state_machines()["stateMachines"]] == ["Orders"]

    started = client.start_execution(stateMachineArn=arn, name="order-1", input=json.dumps({"n": 4}))
    execution = started["executionArn"]
    assert execution.endswith(":execution:Orders:order-1")
    token = wait_until(lambda: TOKENS[0] if TOKENS else None)
    assert client.describe_execution(executionArn=execution)["status"] == "RUNNING"
    client.send_task_success(taskToken=token, output=json.dumps({"ok": True}))
    done = wait_until(lambda: (d := client.describe_execution(executionArn=execution))["status"] != "RUNNING" and d)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"n": 4, "doubled": 8, "approval": {"ok": True}}

    events = client.get_execution_history(executionArn=execution)["events"]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "ExecutionStarted" and kinds[-1] == "ExecutionSucceeded"
    assert "TaskSucceeded" in kinds and events[1]["stateEnteredEventDetails"]["name"] == "Double"
    listed = client.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in listed] == ["order-1"]

    with pytest.raises(client.exceptions.ExecutionAlreadyExists):
        client.start_execution(stateMachineArn=arn, name="order-1", input="{}")


def test_errors_use_the_service_codes(client: Any) -> None:
    with pytest.raises(client.exceptions.StateMachineDoesNotExist):
        client.describe_state_machine(stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:Nope")
    with pytest.raises(client.exceptions.InvalidDefinition):
        client.create_state_machine(name="Bad", definition=json.dumps({"StartAt": "X", "States": {}}), roleArn="r")
    with pytest.raises(client.exceptions.TaskDoesNotExist):
        client.send_task_success(taskToken="nope", output="{}")
    checked = client.validate_state_machine_definition(definition=json.dumps({"StartAt": "X", "States": {}}))
    assert checked["result"] == "FAIL" and checked["diagnostics"]


def test_sync_execution_and_stop(client: Any) -> None:
    TOKENS.clear()
    simple = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"hello": "world"}, "End": True}}}
    arn = client.create_state_machine(name="Hello", definition=json.dumps(simple), roleArn="r")["stateMachineArn"]
    answer = client.start_sync_execution(stateMachineArn=arn, input="{}")
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"hello": "world"}

    waiting = client.create_state_machine(name="Waits", definition=json.dumps(DEFINITION), roleArn="r")[
        "stateMachineArn"
    ]
    execution = client.start_execution(stateMachineArn=waiting, input=json.dumps({"n": 1}))["executionArn"]
    wait_until(lambda: TOKENS)
    client.stop_execution(executionArn=execution, cause="no longer needed")
    assert client.describe_execution(executionArn=execution)["status"] == "ABORTED"


def test_test_state_runs_one_state(client: Any) -> None:
    pass_state = {"Type": "Pass", "Parameters": {"v.$": "$.x"}, "Next": "Later"}
    answer = client.test_state(definition=json.dumps(pass_state), roleArn="r", input=json.dumps({"x": 3}))
    assert (
        answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"v": 3} and answer["nextState"] == "Later"
    )
    choice = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.x", "NumericGreaterThan": 1, "Next": "Big"}],
        "Default": "Small",
    }
    assert client.test_state(definition=json.dumps(choice), roleArn="r", input='{"x": 5}')["nextState"] == "Big"
    failing = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}
    retried = {**failing, "Retry": [{"ErrorEquals": ["States.ALL"]}]}
    caught = {**failing, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}]}
    assert client.test_state(definition=json.dumps(failing), roleArn="r", input="{}")["status"] == "FAILED"
    assert client.test_state(definition=json.dumps(retried), roleArn="r", input="{}")["status"] == "RETRIABLE"
    answer = client.test_state(definition=json.dumps(caught), roleArn="r", input="{}")
    assert (answer["status"], answer["nextState"], answer["error"]) == ("CAUGHT_ERROR", "Handle", "States.TaskFailed")


PICKY_BROKEN: set[int] = set()


def _picky(n: int) -> int:
    if n in PICKY_BROKEN:
        raise ValueError(f"{n} is not welcome")
    return n * 10


DISTRIBUTED = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "Label": "Tens",
            "MaxConcurrency": 2,
            "ToleratedFailureCount": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Times",
                "States": {"Times": {"Type": "Task", "Resource": "lockgate:task:test_sfn.picky", "End": True}},
            },
            "End": True,
        }
    },
}


def _ended(client: Any, execution: str) -> Any:
    return wait_until(lambda: (d := client.describe_execution(executionArn=execution))["status"] != "RUNNING" and d)


def test_map_runs_through_boto3(client: Any) -> None:
    register_task("test_sfn.picky", _picky)
    PICKY_BROKEN.clear()
    PICKY_BROKEN.add(2)
    arn = client.create_state_machine(name="Fan", definition=json.dumps(DISTRIBUTED), roleArn="r")["stateMachineArn"]
    execution = client.start_execution(stateMachineArn=arn, name="fan-1", input=json.dumps([1, 2, 3]))["executionArn"]
    done = _ended(client, execution)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"])[0] == 10 and json.loads(done["output"])[1]["Error"] == "ValueError"

    (listed,) = client.list_map_runs(executionArn=execution)["mapRuns"]
    map_run = listed["mapRunArn"]
    assert ":mapRun:Fan/Tens:" in map_run and listed["executionArn"] == execution
    described = client.describe_map_run(mapRunArn=map_run)
    assert described["status"] == "SUCCEEDED" and described["maxConcurrency"] == 2
    assert described["toleratedFailureCount"] == 1
    counts = described["executionCounts"]
    assert (counts["succeeded"], counts["failed"], counts["total"]) == (2, 1, 3)
    assert described["itemCounts"]["total"] == 3

    children = client.list_executions(mapRunArn=map_run)["executions"]
    assert len(children) == 3 and {c["mapRunArn"] for c in children} == {map_run}
    assert all(":execution:Fan/Tens:" in c["executionArn"] for c in children)
    failed = [c for c in children if c["status"] == "FAILED"]
    assert len(failed) == 1
    child = client.describe_execution(executionArn=failed[0]["executionArn"])
    assert child["mapRunArn"] == map_run and json.loads(child["input"]) == 2
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.describe_map_run(mapRunArn=map_run[:-4] + "0000")


def test_redrive_execution_through_boto3(client: Any) -> None:
    register_task("test_sfn.picky", _picky)
    PICKY_BROKEN.clear()
    PICKY_BROKEN.add(5)
    chain = {
        "StartAt": "Times",
        "States": {
            "Times": {
                "Type": "Task",
                "Resource": "lockgate:task:test_sfn.picky",
                "Parameters": {"n.$": "$.n"},
                "ResultPath": "$.r",
                "Next": "Count",
            },
            "Count": {
                "Type": "Pass",
                "Parameters": {"r.$": "$.r", "redrives.$": "$$.Execution.RedriveCount"},
                "End": True,
            },
        },
    }
    arn = client.create_state_machine(name="Chain", definition=json.dumps(chain), roleArn="r")["stateMachineArn"]
    execution = client.start_execution(stateMachineArn=arn, input=json.dumps({"n": 5}))["executionArn"]
    failed = _ended(client, execution)
    assert (failed["status"], failed["error"]) == ("FAILED", "ValueError")
    assert client.describe_execution(executionArn=execution)["redriveStatus"] == "REDRIVABLE"
    PICKY_BROKEN.clear()
    assert client.redrive_execution(executionArn=execution)["redriveDate"]
    done = _ended(client, execution)
    assert done["status"] == "SUCCEEDED" and done["redriveCount"] == 1
    assert json.loads(done["output"])["redrives"] == 1
    kinds = [e["type"] for e in client.get_execution_history(executionArn=execution)["events"]]
    assert kinds.count("ExecutionRedriven") == 1 and kinds[-1] == "ExecutionSucceeded"
    with pytest.raises(client.exceptions.ExecutionNotRedrivable):
        client.redrive_execution(executionArn=execution)
