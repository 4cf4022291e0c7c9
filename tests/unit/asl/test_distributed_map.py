"""Distributed Map: ItemReader from files, folders and S3; ItemBatcher; ResultWriter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lockgate.asl.commands import Invoke
from lockgate.asl.driver import run_execution
from lockgate.asl.entropy import SeededEntropy
from lockgate.asl.machine import Machine
from lockgate.asl.resources import Resources

DOUBLE = {
    "StartAt": "D",
    "States": {"D": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.n, $.n)"}, "End": True}},
}


def _map(reader: dict[str, Any] | None = None, processor: dict[str, Any] = DOUBLE, **fields: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **processor},
        "End": True,
        **fields,
    }
    if reader is not None:
        state["ItemReader"] = reader
    return {"StartAt": "Each", "States": {"Each": state}}


def _run(definition: dict[str, Any], value: Any = None) -> dict[str, Any]:
    return run_execution(definition, value or {}, resources=Resources())


def test_the_reader_is_a_command_of_the_pure_machine() -> None:
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "b", "Key.$": "$.key"},
    }
    machine = Machine(_map(reader), {"key": "items.json"}, None, entropy=SeededEntropy(0))
    (command,) = machine.advance(0.0)
    assert isinstance(command, Invoke) and command.id == "Each#1/ItemReader"
    assert command.payload["Parameters"] == {"Bucket": "b", "Key": "items.json"}
    machine.complete(command.id, [{"n": 1}, {"n": 2}])
    children = machine.advance(1.0)  # each iteration a child execution, run by the driver
    assert [c.resource for c in children] == ["lockgate:map:child"] * 2
    assert [c.payload["Input"] for c in children] == [{"n": 1}, {"n": 2}]
    for child in children:
        machine.complete(child.id, {"v": child.payload["Input"]["n"] * 2})
    machine.advance(2.0)
    assert machine.output == [{"v": 2}, {"v": 4}]


def test_json_jsonl_and_csv_files(tmp_path: Path) -> None:
    (tmp_path / "items.json").write_text(json.dumps([{"n": 1}, {"n": 2}]))
    (tmp_path / "items.jsonl").write_text('{"n": 3}\n{"n": 4}\n')
    (tmp_path / "items.csv").write_text("n,name\n5,a\n6,b\n")
    for name, kind in (("items.json", "JSON"), ("items.jsonl", "JSONL")):
        reader = {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": kind},
            "Parameters": {"Path": str(tmp_path / name)},
        }
        assert _run(_map(reader))["output"] in ([{"v": 2}, {"v": 4}], [{"v": 6}, {"v": 8}])
    csv_reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW", "MaxItems": 1},
        "Parameters": {"Path": str(tmp_path / "items.csv")},
    }
    echo = {"StartAt": "E", "States": {"E": {"Type": "Pass", "End": True}}}
    assert _run(_map(csv_reader, echo))["output"] == [{"n": "5", "name": "a"}]


def test_folder_listing(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("xx")
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Path": str(tmp_path)}}
    keys = {
        "StartAt": "K",
        "States": {"K": {"Type": "Pass", "Parameters": {"key.$": "$.Key", "size.$": "$.Size"}, "End": True}},
    }
    result = _run(_map(reader, keys))
    assert result["output"] == [
        {"key": str(tmp_path / "a.txt"), "size": 2},
        {"key": str(tmp_path / "b.txt"), "size": 2},
    ]


def test_a_missing_file_fails_with_item_reader_failed(tmp_path: Path) -> None:
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Path": str(tmp_path / "none.json")},
    }
    result = _run(_map(reader))
    assert result["status"] == "FAILED" and result["error"] == "States.ItemReaderFailed"


def test_item_batcher_groups_items() -> None:
    echo = {"StartAt": "E", "States": {"E": {"Type": "Pass", "End": True}}}
    definition = _map(None, echo, ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"tag": "t"}})
    result = _run(definition, [1, 2, 3])
    assert result["output"] == [
        {"BatchInput": {"tag": "t"}, "Items": [1, 2]},
        {"BatchInput": {"tag": "t"}, "Items": [3]},
    ]


def test_result_writer_writes_a_manifest_and_result_files(tmp_path: Path) -> None:
    fails_on_two = {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 2, "Next": "F"}], "Default": "D"},
            "D": DOUBLE["States"]["D"],
            "F": {"Type": "Fail", "Error": "Two", "Cause": "no twos"},
        },
    }
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Path": str(tmp_path / "out")}}
    definition = _map(None, fails_on_two, ResultWriter=writer, ToleratedFailureCount=1)
    result = _run(definition, [{"n": 1}, {"n": 2}, {"n": 3}])
    assert result["status"] == "SUCCEEDED", result
    manifest_path = Path(result["output"]["ResultWriterDetails"]["Key"])
    assert manifest_path.name == "manifest.json" and manifest_path.exists()
    succeeded = json.loads((manifest_path.parent / "SUCCEEDED_0.json").read_text())
    failed = json.loads((manifest_path.parent / "FAILED_0.json").read_text())
    assert [json.loads(r["Output"]) for r in succeeded] == [{"v": 2}, {"v": 6}]
    assert failed == [{"Index": 1, "Status": "FAILED", "Error": "Two", "Cause": "no twos"}]


def test_reading_items_from_s3(s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3 = pytest.importorskip("boto3")
    client = boto3.client("s3", endpoint_url=s3, region_name="us-east-1")
    client.create_bucket(Bucket="items")
    client.put_object(Bucket="items", Key="in/batch.json", Body=json.dumps([{"n": 10}, {"n": 20}]).encode())
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSON"},
        "Parameters": {"Bucket": "items", "Key": "in/batch.json"},
    }
    assert _run(_map(reader))["output"] == [{"v": 20}, {"v": 40}]
    listing = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "items", "Prefix": "in/"}}
    keys = {"StartAt": "K", "States": {"K": {"Type": "Pass", "OutputPath": "$.Key", "End": True}}}
    assert _run(_map(listing, keys))["output"] == ["in/batch.json"]
