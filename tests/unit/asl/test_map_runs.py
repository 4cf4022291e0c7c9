"""Distributed Map runs: child executions, concurrency, tolerated failures, resume, Map.Item fields."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FakeTime

from lockgate.asl import durable, map_runs
from lockgate.asl.driver import run_execution
from lockgate.asl.entropy import SeededEntropy
from lockgate.asl.machine import Machine
from lockgate.asl.resources import Resources, TaskFailure, register_task
from lockgate.runtime import Runtime

CALLS: Counter[Any] = Counter()
BROKEN: set[Any] = set()


class Crash(BaseException):
    """Stands in for the process dying while a child execution runs."""


@pytest.fixture(autouse=True)
def tasks() -> None:
    CALLS.clear()
    BROKEN.clear()

    def work(n: Any) -> Any:
        CALLS[json.dumps(n)] += 1
        if not isinstance(n, (dict, list)) and n in BROKEN:
            raise ValueError(f"cannot do {n}")
        if n == "crash" and CALLS[json.dumps(n)] == 1:
            raise Crash()
        return {"did": n}

    register_task("test_map_runs.work", work)


def _map(**fields: Any) -> dict[str, Any]:
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": fields.pop("execution_type", "STANDARD")},
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "lockgate:task:test_map_runs.work",
                "Parameters": {"n.$": "$"},
                "End": True,
            }
        },
    }
    state = {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}
    return {"StartAt": "Each", "States": {"Each": state}}


def test_each_iteration_is_a_child_execution_of_the_parent_run(runtime: Runtime, fake: FakeTime) -> None:
    run_id, result = durable.start(runtime, _map(Label="Works"), [1, 2, 3], state_machine="Parent", sleep=fake.sleep)
    assert result == {"status": "SUCCEEDED", "output": [{"did": 1}, {"did": 2}, {"did": 3}]}
    children = [r for r in runtime.store.list_runs(limit=100) if r.parent_run_id == run_id]
    assert len(children) == 3
    assert {(r.kind, r.pipeline, r.status) for r in children} == {("asl", "Parent/Works", "SUCCEEDED")}
    history = durable.service_history(run_id, runtime)
    started = next(e for e in history if e["type"] == "MapRunStarted")
    arn = started["mapRunStartedEventDetails"]["mapRunArn"]
    assert arn.startswith("arn:aws:states:us-east-1:123456789012:mapRun:Parent/Works:")
    assert "MapRunSucceeded" in [e["type"] for e in history]
    assert sorted(r.params["index"] for r in children) == [0, 1, 2]
    assert {r.params["map_run"] for r in children} == {arn}
    assert [r.params["name"] for r in map_runs.children(runtime, arn)] == [map_runs_name(arn, i) for i in range(3)]


def map_runs_name(arn: str, index: int) -> str:
    from lockgate.asl._distributed import child_name

    return child_name(arn, index)


def test_the_label_defaults_to_the_state_name(runtime: Runtime, fake: FakeTime) -> None:
    run_id, _ = durable.start(runtime, _map(), [1], state_machine="Parent", sleep=fake.sleep)
    (child,) = [r for r in runtime.store.list_runs(limit=100) if r.parent_run_id == run_id]
    assert child.pipeline == "Parent/Each"


def test_batches_are_children_too(runtime: Runtime, fake: FakeTime) -> None:
    definition = _map(ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"tag": "t"}})
    run_id, result = durable.start(runtime, definition, [1, 2, 3], state_machine="Batches", sleep=fake.sleep)
    assert result["output"] == [
        {"did": {"BatchInput": {"tag": "t"}, "Items": [1, 2]}},
        {"did": {"BatchInput": {"tag": "t"}, "Items": [3]}},
    ]
    children = [r for r in runtime.store.list_runs(limit=100) if r.parent_run_id == run_id]
    assert len(children) == 2


def test_max_concurrency_limits_the_children_in_flight() -> None:
    machine = Machine(_map(MaxConcurrency=2), [1, 2, 3, 4, 5], None, entropy=SeededEntropy(0))
    first = machine.advance(0.0)
    assert [c.payload["Index"] for c in first] == [0, 1]
    machine.complete(first[0].id, "a")
    assert [c.payload["Index"] for c in machine.advance(1.0)] == [2]


def test_a_failed_child_fails_the_map_run_unless_tolerated(runtime: Runtime, fake: FakeTime) -> None:
    BROKEN.add(2)
    _, result = durable.start(runtime, _map(), [1, 2, 3], state_machine="Strict", sleep=fake.sleep)
    assert result["status"] == "FAILED" and result["error"] == "States.ExceedToleratedFailureThreshold"
    _, result = durable.start(
        runtime, _map(ToleratedFailureCount=1), [1, 2, 3], state_machine="Lenient", sleep=fake.sleep
    )
    assert result["status"] == "SUCCEEDED"
    assert result["output"][1] == {"Error": "ValueError", "Cause": "cannot do 2"}
    BROKEN.add(3)
    _, result = durable.start(
        runtime, _map(ToleratedFailurePercentage=50), [1, 2, 3], state_machine="Half", sleep=fake.sleep
    )
    assert result["error"] == "States.ExceedToleratedFailureThreshold"


def test_result_writer_names_the_map_run(runtime: Runtime, fake: FakeTime, tmp_path: Path) -> None:
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Path": str(tmp_path / "out")}}
    _, result = durable.start(runtime, _map(ResultWriter=writer), [1, 2], state_machine="Writes", sleep=fake.sleep)
    arn = result["output"]["MapRunArn"]
    assert ":mapRun:Writes/Each:" in arn
    manifest = json.loads(Path(result["output"]["ResultWriterDetails"]["Key"]).read_text())
    assert manifest["MapRunArn"]
    succeeded = json.loads(
        (Path(result["output"]["ResultWriterDetails"]["Key"]).parent / "SUCCEEDED_0.json").read_text()
    )
    assert [json.loads(r["Output"]) for r in succeeded] == [{"did": 1}, {"did": 2}]


def test_a_resumed_parent_never_runs_a_succeeded_child_again(runtime: Runtime, fake: FakeTime) -> None:
    created = durable.create(runtime, _map(MaxConcurrency=1), [1, "crash", 3], state_machine="Crashy")
    runtime.executor_kind = "inline"  # tasks run in the driving thread: the crash takes the process down
    with pytest.raises(Crash):
        durable.execute(runtime, created, sleep=fake.sleep)
    runtime.owner = runtime.owner + "-restarted"  # another process takes over
    result = durable.resume(runtime, created.run_id, sleep=fake.sleep)
    assert result == {"status": "SUCCEEDED", "output": [{"did": 1}, {"did": "crash"}, {"did": 3}]}
    assert CALLS == {"1": 1, '"crash"': 2, "3": 1}


def test_a_child_already_ended_is_not_started_again(runtime: Runtime, fake: FakeTime) -> None:
    """What a parent that crashed before recording a child's answer sees when it resumes."""
    payload = {
        "MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:P/Each:x",
        "StateMachine": "P/Each",
        "Name": "child-0",
        "Index": 0,
        "Input": 7,
        "ExecutionType": "STANDARD",
        "Redrive": False,
        "Definition": _map()["States"]["Each"]["ItemProcessor"],
    }
    payload["Definition"] = {k: v for k, v in payload["Definition"].items() if k != "ProcessorConfig"}
    runner = map_runs.ChildRunner(runtime, "parent-run", Resources(), fake.sleep)
    assert runner(payload) == {"did": 7}
    assert runner(payload) == {"did": 7}
    assert CALLS == {"7": 1}
    BROKEN.add(8)
    failing = {**payload, "Name": "child-1", "Input": 8}
    for _ in range(2):
        with pytest.raises(TaskFailure, match="cannot do 8"):
            runner(failing)
    assert CALLS["8"] == 1


def test_a_redriven_parent_redrives_only_its_failed_children(runtime: Runtime, fake: FakeTime) -> None:
    from lockgate.asl.redrive import redrive

    BROKEN.add(2)
    run_id, result = durable.start(runtime, _map(MaxConcurrency=1), [1, 2, 3], state_machine="Again", sleep=fake.sleep)
    assert result["status"] == "FAILED"
    BROKEN.clear()
    result = redrive(runtime, run_id, sleep=fake.sleep)
    assert result == {"status": "SUCCEEDED", "output": [{"did": 1}, {"did": 2}, {"did": 3}]}
    assert CALLS == {"1": 1, "2": 2, "3": 1}
    children = [r for r in runtime.store.list_runs(limit=100) if r.parent_run_id == run_id]
    assert len(children) == 3  # the failed child was redriven, not replaced
    types = [e["type"] for e in durable.service_history(run_id, runtime)]
    assert "MapRunRedriven" in types


def test_express_children_run_in_memory(runtime: Runtime, fake: FakeTime) -> None:
    run_id, result = durable.start(
        runtime, _map(execution_type="EXPRESS"), [1, 2], state_machine="Quick", sleep=fake.sleep
    )
    assert result["output"] == [{"did": 1}, {"did": 2}]
    assert not [r for r in runtime.store.list_runs(limit=100) if r.parent_run_id == run_id]


def test_an_in_memory_parent_runs_its_children_in_memory() -> None:
    result = run_execution(_map(), [1, 2], resources=Resources())
    assert result == {"status": "SUCCEEDED", "output": [{"did": 1}, {"did": 2}]}


# -- $$.Map.Item ------------------------------------------------------------------------------

ITEM = {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value"}
ECHO = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def _reader_map(reader: dict[str, Any], selector: dict[str, Any]) -> dict[str, Any]:
    state = {
        "Type": "Map",
        "ItemReader": reader,
        "ItemSelector": selector,
        "End": True,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, **ECHO},
    }
    return {"StartAt": "Each", "States": {"Each": state}}


def test_item_index_and_value_for_items_from_the_input() -> None:
    definition = {
        "StartAt": "Each",
        "States": {"Each": {"Type": "Map", "ItemSelector": ITEM, "ItemProcessor": ECHO, "End": True}},
    }
    result = run_execution(definition, ["a", "b"], resources=Resources())
    assert result["output"] == [{"index": 0, "value": "a"}, {"index": 1, "value": "b"}]


def test_a_json_object_file_gives_each_value_with_its_key_and_source(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"apple": 3, "pear": 5}))
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Path": str(path)},
    }
    selector = {**ITEM, "key.$": "$$.Map.Item.Key", "source.$": "$$.Map.Item.Source"}
    result = run_execution(_reader_map(reader, selector), {}, resources=Resources())
    assert result["output"] == [
        {"index": 0, "value": 3, "key": "apple", "source": str(path)},
        {"index": 1, "value": 5, "key": "pear", "source": str(path)},
    ]


def test_an_array_file_has_no_key(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps([1]))
    reader = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Path": str(path)}}
    result = run_execution(_reader_map(reader, {"key.$": "$$.Map.Item.Key"}), {}, resources=Resources())
    assert result["status"] == "FAILED" and result["error"] == "States.Runtime"


def test_an_s3_listing_gives_each_object_its_source(s3: str) -> None:
    boto3 = pytest.importorskip("boto3")
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    client.create_bucket(Bucket="listed")
    for key in ("in/a.csv", "in/b.csv"):
        client.put_object(Bucket="listed", Key=key, Body=b"x")
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "listed", "Prefix": "in/"}}
    selector = {"key.$": "$$.Map.Item.Value.Key", "source.$": "$$.Map.Item.Source"}
    result = run_execution(_reader_map(reader, selector), {}, resources=Resources())
    assert result["output"] == [
        {"key": "in/a.csv", "source": "s3://listed/in/a.csv"},
        {"key": "in/b.csv", "source": "s3://listed/in/b.csv"},
    ]


def test_mocked_responses_reach_the_states_of_child_executions(runtime: Runtime, fake: FakeTime) -> None:
    from lockgate.asl.mock import MockConfig

    data = {
        "StateMachines": {"Parent": {"TestCases": {"Mocked": {"Work": "Fixed"}}}},
        "MockedResponses": {"Fixed": {"0": {"Return": {"mocked": True}}}},
    }
    mock = MockConfig(data, "Parent", "Mocked")
    result = run_execution(_map(), [1, 2], resources=Resources(), mock=mock)
    assert result["output"] == [{"mocked": True}, {"mocked": True}]
    _, result = durable.start(runtime, _map(), [1, 2], state_machine="Parent", mock=mock, sleep=fake.sleep)
    assert result["output"] == [{"mocked": True}, {"mocked": True}]
    assert not CALLS


def _waiting_children(commands: list[Any]) -> list[Any]:
    from lockgate.asl._distributed import CHILD

    return [c for c in commands if getattr(c, "resource", None) == CHILD]


def test_update_map_run_raises_the_concurrency_of_a_running_map_run() -> None:
    definition = _map(MaxConcurrency=1)
    machine = Machine(definition, [1, 2, 3], None, entropy=SeededEntropy(0))
    first = _waiting_children(machine.advance(0.0))
    assert len(first) == 1
    (arn,) = machine.map_runs
    machine.update_map_run(arn, {"maxConcurrency": 3})
    more = _waiting_children(machine.advance(1.0))
    assert len(more) == 2 and machine.map_runs[arn]["max_concurrency"] == 3


def test_update_map_run_changes_the_tolerated_failures() -> None:
    machine = Machine(_map(), [1, 2], None, entropy=SeededEntropy(0))
    children = _waiting_children(machine.advance(0.0))
    (arn,) = machine.map_runs
    machine.update_map_run(arn, {"toleratedFailureCount": 1})
    machine.advance(1.0)
    machine.fail(children[0].id, "Broken", "one item")
    machine.complete(children[1].id, {"did": 2})
    machine.advance(2.0)
    assert machine.status == "SUCCEEDED", (machine.error, machine.cause)
    assert machine.output == [{"Error": "Broken", "Cause": "one item"}, {"did": 2}]
    assert machine.map_runs[arn]["tolerated_count"] == 1
