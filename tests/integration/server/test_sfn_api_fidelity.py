"""The Step Functions API as boto3 (default settings) and the AWS CLI use it: paging, tags,
activities, versions and aliases, and the service's answers to edge cases."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import wait_until
from tests.integration.server.sfn_server import Served, running

PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
WAITS = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}})


@pytest.fixture
def served(home: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    pytest.importorskip("boto3")
    from lockgate.runtime import Runtime

    monkeypatch.setenv("LOCKGATE_ASL__ACTIVITY_POLL_SECONDS", "2")
    with running(Runtime()) as server:
        yield server


@pytest.fixture
def sfn(served: Served) -> Any:
    return served.client()


def _ended(sfn: Any, arn: str) -> Any:
    return wait_until(lambda: (d := sfn.describe_execution(executionArn=arn))["status"] != "RUNNING" and d)


def _machine(sfn: Any, name: str, definition: str = PASS) -> str:
    return str(sfn.create_state_machine(name=name, definition=definition, roleArn="arn:aws:iam::1:role/r")[
        "stateMachineArn"
    ])  # fmt: skip


def _all(sfn: Any, operation: str, key: str, **args: Any) -> list[Any]:
    """Every item, two a page: through boto3's paginator, or nextToken by hand where boto3 has none."""
    if sfn.can_paginate(operation):
        pages = sfn.get_paginator(operation).paginate(**args, PaginationConfig={"PageSize": 2})
        return [item for one in pages for item in one[key]]
    items: list[Any] = []
    token: dict[str, str] = {}
    while True:
        answer = getattr(sfn, operation)(**args, maxResults=2, **token)
        assert len(answer[key]) <= 2
        items.extend(answer[key])
        if "nextToken" not in answer:
            return items
        token = {"nextToken": answer["nextToken"]}


# --- paging ----------------------------------------------------------------------------------


def test_paginators_return_every_item(sfn: Any) -> None:
    names = [f"m{i}" for i in range(5)]
    arns = [_machine(sfn, name) for name in names]
    assert [m["name"] for m in _all(sfn, "list_state_machines", "stateMachines")] == names
    first = sfn.list_state_machines(maxResults=2)
    assert len(first["stateMachines"]) == 2 and first["nextToken"]
    for i in range(5):
        _ended(sfn, sfn.start_execution(stateMachineArn=arns[0], name=f"e{i}")["executionArn"])
    executions = _all(sfn, "list_executions", "executions", stateMachineArn=arns[0])
    assert sorted(e["name"] for e in executions) == [f"e{i}" for i in range(5)]
    page = sfn.list_executions(stateMachineArn=arns[0], maxResults=3)
    assert len(page["executions"]) == 3 and page["nextToken"]
    history = _all(sfn, "get_execution_history", "events", executionArn=executions[0]["executionArn"])
    assert [e["type"] for e in history] == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"
    ]  # fmt: skip
    for i in range(3):
        sfn.create_activity(name=f"a{i}")
    assert [a["name"] for a in _all(sfn, "list_activities", "activities")] == ["a0", "a1", "a2"]
    for _ in range(3):
        sfn.update_state_machine(stateMachineArn=arns[1], definition=PASS.replace('"P"', f'"P{_}"'), publish=True)
    versions = _all(sfn, "list_state_machine_versions", "stateMachineVersions", stateMachineArn=arns[1])
    assert [v["stateMachineVersionArn"].rsplit(":", 1)[1] for v in versions] == ["3", "2", "1"]
    for alias in ("blue", "green", "red"):
        sfn.create_state_machine_alias(name=alias, routingConfiguration=[
            {"stateMachineVersionArn": versions[0]["stateMachineVersionArn"], "weight": 100}])  # fmt: skip
    aliases = _all(sfn, "list_state_machine_aliases", "stateMachineAliases", stateMachineArn=arns[1])
    assert [a["stateMachineAliasArn"].rsplit(":", 1)[1] for a in aliases] == ["blue", "green", "red"]
    with pytest.raises(sfn.exceptions.InvalidToken):
        sfn.list_state_machines(nextToken="not-a-token")


def test_list_map_runs_pages(sfn: Any) -> None:
    inner = {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}
    config = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    maps = {f"M{i}": {"Type": "Map", "ItemProcessor": {**inner, "ProcessorConfig": config},
                      "ResultPath": None, **({"Next": f"M{i + 1}"} if i < 2 else {"End": True})}
            for i in range(3)}  # fmt: skip
    for i, state in enumerate(maps.values()):
        state["ItemProcessor"] = {
            **state["ItemProcessor"],
            "StartAt": f"I{i}",
            "States": {f"I{i}": inner["States"]["I"]},
        }
    arn = _machine(sfn, "Maps", json.dumps({"StartAt": "M0", "States": maps}))
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps([1]))["executionArn"]
    assert _ended(sfn, execution)["status"] == "SUCCEEDED"
    assert len(_all(sfn, "list_map_runs", "mapRuns", executionArn=execution)) == 3


# --- executions ------------------------------------------------------------------------------


def test_describe_execution_omits_error_and_cause_when_none(sfn: Any) -> None:
    arn = _machine(sfn, "Fine")
    done = _ended(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert done["status"] == "SUCCEEDED" and "error" not in done and "cause" not in done


def test_stop_execution_records_error_and_cause(sfn: Any) -> None:
    arn = _machine(sfn, "Long", WAITS)
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    sfn.stop_execution(executionArn=execution, error="Ops.Cancelled", cause="the batch was withdrawn")
    done = _ended(sfn, execution)
    assert (done["status"], done["error"], done["cause"]) == ("ABORTED", "Ops.Cancelled", "the batch was withdrawn")


def test_start_execution_is_idempotent_for_the_same_name_and_input(sfn: Any) -> None:
    arn = _machine(sfn, "Idem", WAITS)
    first = sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 1}')
    again = sfn.start_execution(stateMachineArn=arn, name="once", input='{"a":1}')
    assert again["executionArn"] == first["executionArn"]
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 2}')
    sfn.stop_execution(executionArn=first["executionArn"])


def test_unknown_state_machine_and_refused_names(sfn: Any) -> None:
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:Missing"
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.list_executions(stateMachineArn=missing)
    for bad in ("has space", "x" * 81, "a/b", "q?", "semi;colon", "tab\there", "brace{", "dollar$"):
        with pytest.raises(sfn.exceptions.InvalidName):
            sfn.create_state_machine(name=bad, definition=PASS, roleArn="r")
    arn = _machine(sfn, "Named-ok_1.x")
    with pytest.raises(sfn.exceptions.InvalidName):
        sfn.start_execution(stateMachineArn=arn, name="no spaces please")
    with pytest.raises(sfn.exceptions.InvalidName):
        sfn.create_activity(name="bad name")


def test_describe_state_machine_for_execution(sfn: Any) -> None:
    arn = _machine(sfn, "Described")
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    described = sfn.describe_state_machine_for_execution(executionArn=execution)
    assert described["stateMachineArn"] == arn and json.loads(described["definition"]) == json.loads(PASS)
    assert described["roleArn"] == "arn:aws:iam::1:role/r"


def test_arns_carry_region_and_account(sfn: Any) -> None:
    arn = _machine(sfn, "Where")
    assert arn == "arn:aws:states:us-east-1:123456789012:stateMachine:Where"
    execution = sfn.start_execution(stateMachineArn=arn, name="e")["executionArn"]
    assert execution.split(":")[3:6] == ["us-east-1", "123456789012", "execution"]


def test_validation_verdicts_through_the_api(sfn: Any) -> None:
    repeated = (
        '{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "I", '
        '"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, '
        '"States": {"I": {"Type": "Pass", "End": true}}}, "ItemBatcher": {"MaxItemsPerBatch": 2, '
        '"MaxItemsPerBatch": 3}}}}'
    )
    checked = sfn.validate_state_machine_definition(definition=repeated)
    assert checked["result"] == "FAIL"
    assert [d["location"] for d in checked["diagnostics"]] == ["/States/M/ItemBatcher/MaxItemsPerBatch"]
    with pytest.raises(sfn.exceptions.InvalidDefinition, match="given twice"):
        sfn.create_state_machine(name="Repeats", definition=repeated, roleArn="arn:aws:iam::1:role/r")
    names = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Assign": {"café": 1, "_n2": 2}, "End": True}}}
    assert sfn.validate_state_machine_definition(definition=json.dumps(names))["result"] == "OK"
    names["States"]["P"]["Assign"] = {"a-b": 1}
    (diagnostic,) = sfn.validate_state_machine_definition(definition=json.dumps(names))["diagnostics"]
    assert diagnostic["location"] == "/States/P/Assign/a-b"


# --- tags ------------------------------------------------------------------------------------


def test_tags(sfn: Any) -> None:
    arn = sfn.create_state_machine(name="Tagged", definition=PASS, roleArn="r", tags=[{"key": "team", "value": "a"}])[
        "stateMachineArn"
    ]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "dev"}, {"key": "team", "value": "b"}])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "env", "value": "dev"}, {"key": "team", "value": "b"}
    ]  # fmt: skip
    sfn.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "env", "value": "dev"}]
    activity = sfn.create_activity(name="tagged-work")["activityArn"]
    sfn.tag_resource(resourceArn=activity, tags=[{"key": "k", "value": "v"}])
    assert sfn.list_tags_for_resource(resourceArn=activity)["tags"] == [{"key": "k", "value": "v"}]
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.list_tags_for_resource(resourceArn="arn:aws:states:us-east-1:123456789012:stateMachine:Nope")


# --- activities ------------------------------------------------------------------------------


def _activity_machine(sfn: Any, activity: str, **task: Any) -> str:
    definition = {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": activity, **task, "End": True}}}
    return _machine(sfn, f"UsesActivity{abs(hash(json.dumps(task))) % 10_000}", json.dumps(definition))


def test_activity_lifecycle_and_a_worker(sfn: Any) -> None:
    activity = sfn.create_activity(name="resize")["activityArn"]
    assert activity == "arn:aws:states:us-east-1:123456789012:activity:resize"
    assert sfn.describe_activity(activityArn=activity)["name"] == "resize"
    arn = _activity_machine(sfn, activity)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"px": 64}))["executionArn"]
    taken = sfn.get_activity_task(activityArn=activity, workerName="w1")  # long poll until the task is there
    assert json.loads(taken["input"]) == {"px": 64}
    # one worker per task: a second worker's long poll ends empty
    assert not sfn.get_activity_task(activityArn=activity, workerName="w2").get("taskToken")
    sfn.stop_execution(executionArn=execution)

    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"px": 32}))["executionArn"]
    found = sfn.get_activity_task(activityArn=activity, workerName="w1")  # long poll: waits for the task
    assert json.loads(found["input"]) == {"px": 32}
    sfn.send_task_heartbeat(taskToken=found["taskToken"])
    sfn.send_task_success(taskToken=found["taskToken"], output=json.dumps({"done": 32}))
    done = _ended(sfn, execution)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"done": 32}
    events = sfn.get_execution_history(executionArn=execution)["events"]
    kinds = [e["type"] for e in events]
    assert kinds[2:5] == ["ActivityScheduled", "ActivityStarted", "ActivitySucceeded"], kinds
    assert events[2]["activityScheduledEventDetails"]["resource"] == activity
    assert json.loads(events[2]["activityScheduledEventDetails"]["input"]) == {"px": 32}
    assert events[3]["activityStartedEventDetails"]["workerName"] == "w1"

    sfn.delete_activity(activityArn=activity)
    with pytest.raises(sfn.exceptions.ActivityDoesNotExist):
        sfn.describe_activity(activityArn=activity)


def test_activity_failure_and_heartbeat_timeout(sfn: Any) -> None:
    activity = sfn.create_activity(name="flaky")["activityArn"]
    arn = _activity_machine(sfn, activity)
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    found = sfn.get_activity_task(activityArn=activity)
    sfn.send_task_failure(taskToken=found["taskToken"], error="Worker.Broke", cause="disk full")
    done = _ended(sfn, execution)
    assert (done["status"], done["error"], done["cause"]) == ("FAILED", "Worker.Broke", "disk full")
    failed = [e for e in sfn.get_execution_history(executionArn=execution)["events"] if e["type"] == "ActivityFailed"]
    assert failed[0]["activityFailedEventDetails"] == {"error": "Worker.Broke", "cause": "disk full"}

    beating = _activity_machine(sfn, activity, HeartbeatSeconds=1, TimeoutSeconds=30)
    execution = sfn.start_execution(stateMachineArn=beating)["executionArn"]
    assert sfn.get_activity_task(activityArn=activity)["taskToken"]  # taken, then never answered
    done = _ended(sfn, execution)
    assert (done["status"], done["error"]) == ("FAILED", "States.HeartbeatTimeout")
    kinds = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
    assert "ActivityTimedOut" in kinds and "TaskTimedOut" not in kinds


def test_a_long_poll_is_answered_as_soon_as_a_task_arrives(sfn: Any) -> None:
    activity = sfn.create_activity(name="later")["activityArn"]
    arn = _activity_machine(sfn, activity)
    got: list[Any] = []
    poller = threading.Thread(target=lambda: got.append(sfn.get_activity_task(activityArn=activity)))
    poller.start()
    time.sleep(0.3)
    execution = sfn.start_execution(stateMachineArn=arn, input='{"x": 1}')["executionArn"]
    poller.join(timeout=10)
    assert got and json.loads(got[0]["input"]) == {"x": 1}
    sfn.send_task_success(taskToken=got[0]["taskToken"], output="1")
    assert _ended(sfn, execution)["status"] == "SUCCEEDED"


# --- versions and aliases ----------------------------------------------------------------------


def _outputs(value: str) -> str:
    return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": value, "End": True}}})


def test_versions_aliases_and_routing(sfn: Any) -> None:
    created = sfn.create_state_machine(name="Versioned", definition=_outputs("one"), roleArn="r", publish=True,
                                       versionDescription="first")  # fmt: skip
    arn, v1 = created["stateMachineArn"], created["stateMachineVersionArn"]
    assert v1 == f"{arn}:1"
    assert sfn.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"] == v1  # nothing changed
    sfn.update_state_machine(stateMachineArn=arn, definition=_outputs("two"))
    v2 = sfn.publish_state_machine_version(stateMachineArn=arn, description="second")["stateMachineVersionArn"]
    assert v2 == f"{arn}:2"
    assert json.loads(sfn.describe_state_machine(stateMachineArn=v1)["definition"]) == json.loads(_outputs("one"))

    on_v1 = sfn.start_execution(stateMachineArn=v1)["executionArn"]
    assert json.loads(_ended(sfn, on_v1)["output"]) == "one"
    assert sfn.describe_execution(executionArn=on_v1)["stateMachineVersionArn"] == v1
    assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=v1)["executions"]] == [on_v1]
    described_v1 = sfn.describe_state_machine_for_execution(executionArn=on_v1)
    assert json.loads(described_v1["definition"]) == json.loads(_outputs("one"))  # the version's, not the latest

    alias = sfn.create_state_machine_alias(name="live", description="prod", routingConfiguration=[
        {"stateMachineVersionArn": v1, "weight": 50}, {"stateMachineVersionArn": v2, "weight": 50}])  # fmt: skip
    alias_arn = alias["stateMachineAliasArn"]
    assert alias_arn == f"{arn}:live"
    described = sfn.describe_state_machine_alias(stateMachineAliasArn=alias_arn)
    assert described["name"] == "live" and {r["weight"] for r in described["routingConfiguration"]} == {50}
    outputs = set()
    for i in range(30):
        execution = sfn.start_execution(stateMachineArn=alias_arn, name=f"via-alias-{i}")["executionArn"]
        done = _ended(sfn, execution)
        outputs.add(json.loads(done["output"]))
        assert done["stateMachineAliasArn"] == alias_arn
        assert done["stateMachineVersionArn"] == {"one": v1, "two": v2}[json.loads(done["output"])]
    assert outputs == {"one", "two"}  # both versions served (chance of missing one: 2 ** -29)

    sfn.update_state_machine_alias(stateMachineAliasArn=alias_arn, routingConfiguration=[
        {"stateMachineVersionArn": v2, "weight": 100}])  # fmt: skip
    only = sfn.start_execution(stateMachineArn=alias_arn)["executionArn"]
    assert json.loads(_ended(sfn, only)["output"]) == "two"
    with pytest.raises(sfn.exceptions.ConflictException):
        sfn.delete_state_machine_version(stateMachineVersionArn=v2)  # the alias routes to it
    with pytest.raises(sfn.exceptions.ValidationException):
        sfn.update_state_machine_alias(stateMachineAliasArn=alias_arn, routingConfiguration=[
            {"stateMachineVersionArn": v1, "weight": 60}, {"stateMachineVersionArn": v2, "weight": 30}])  # fmt: skip
    sfn.delete_state_machine_version(stateMachineVersionArn=v1)
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.start_execution(stateMachineArn=v1)
    sfn.delete_state_machine_alias(stateMachineAliasArn=alias_arn)
    with pytest.raises(sfn.exceptions.ResourceNotFound):
        sfn.describe_state_machine_alias(stateMachineAliasArn=alias_arn)


# --- the sync- host prefix ---------------------------------------------------------------------


def test_sync_calls_with_the_setting_serve_prints(served: Served) -> None:
    sfn = served.client()  # AWS_DISABLE_HOST_PREFIX_INJECTION=true, as lockgate serve says
    arn = _machine(sfn, "Quick")
    answer = sfn.start_sync_execution(stateMachineArn=arn, input='{"a": 1}')
    assert answer["status"] == "SUCCEEDED" and json.loads(answer["output"]) == {"a": 1}
    assert "error" not in answer
    tested = sfn.test_state(definition=json.dumps({"Type": "Pass", "End": True}), roleArn="r", input="{}")
    assert tested["status"] == "SUCCEEDED"


def test_the_server_accepts_the_prefixed_host(served: Served) -> None:
    import httpx

    body = json.dumps({"definition": PASS})
    headers = {"X-Amz-Target": "AWSStepFunctions.ValidateStateMachineDefinition",
               "Content-Type": "application/x-amz-json-1.0", "Host": "sync-lockgate.localhost",
               "Authorization": f"Bearer {served.token}"}  # fmt: skip
    answer = httpx.post(served.endpoint, content=body, headers=headers)
    assert answer.status_code == 200 and answer.json()["result"] == "OK"
    for host in ("sync-localhost", "sync-127.0.0.1"):
        assert httpx.post(served.endpoint, content=body, headers={**headers, "Host": host}).status_code == 200
    foreign = httpx.post(served.endpoint, content=body, headers={**headers, "Host": "sync-evil.example"})
    assert foreign.status_code == 400


# --- the AWS CLI -------------------------------------------------------------------------------


def test_the_aws_cli(served: Served) -> None:
    created = served.aws("create-state-machine", "--name", "FromCli", "--definition", PASS, "--role-arn", "r")
    arn = created["stateMachineArn"]
    started = served.aws("start-execution", "--state-machine-arn", arn, "--name", "cli-1", "--input", '{"k": 1}')
    _ended(served.client(), started["executionArn"])
    described = served.aws("describe-execution", "--execution-arn", started["executionArn"])
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"k": 1}
    served.aws("tag-resource", "--resource-arn", arn, "--tags", "key=team,value=data")
    assert served.aws("list-tags-for-resource", "--resource-arn", arn)["tags"] == [{"key": "team", "value": "data"}]
    executions = served.aws("list-executions", "--state-machine-arn", arn, "--page-size", "1")
    assert [e["name"] for e in executions["executions"]] == ["cli-1"]


# --- UpdateMapRun ------------------------------------------------------------------------------

HANDED: list[str] = []


def test_update_map_run_lets_more_children_run(sfn: Any) -> None:
    from lockgate.asl.resources import register_task

    HANDED.clear()
    register_task("test_sfn_fidelity.hand_out", lambda token: HANDED.append(token))
    ask = {
        "Type": "Task",
        "Resource": "lockgate:task:test_sfn_fidelity.hand_out.waitForTaskToken",
        "Parameters": {"token.$": "$$.Task.Token"},
        "End": True,
    }
    config = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    processor = {"StartAt": "Ask", "States": {"Ask": ask}, "ProcessorConfig": config}
    each = {"Type": "Map", "MaxConcurrency": 1, "ItemProcessor": processor, "End": True}
    definition = {"StartAt": "Each", "States": {"Each": each}}
    arn = _machine(sfn, "Throttled", json.dumps(definition))
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps([1, 2, 3]))["executionArn"]
    wait_until(lambda: HANDED)
    (run,) = wait_until(lambda: sfn.list_map_runs(executionArn=execution)["mapRuns"])
    time.sleep(0.5)
    assert len(HANDED) == 1  # MaxConcurrency 1
    sfn.update_map_run(mapRunArn=run["mapRunArn"], maxConcurrency=3, toleratedFailureCount=1)
    wait_until(lambda: len(HANDED) == 3)
    for token in HANDED:
        sfn.send_task_success(taskToken=token, output='"ok"')
    assert _ended(sfn, execution)["status"] == "SUCCEEDED"
    described = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
    assert (described["maxConcurrency"], described["toleratedFailureCount"]) == (3, 1)
    with pytest.raises(sfn.exceptions.ValidationException):
        sfn.update_map_run(mapRunArn=run["mapRunArn"], maxConcurrency=5)  # it has ended
