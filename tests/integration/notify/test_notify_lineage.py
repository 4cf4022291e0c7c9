# ruff: noqa: F811 - pytest fixtures imported from notify_services are parameters here
"""OpenLineage run events for steps, with the datasets tasks report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from notify_services import Receiver, receiver  # noqa: F401

import lockgate
from lockgate import pipeline, task
from lockgate.core.errors import UsageError
from lockgate.notify import lineage
from lockgate.runtime import default_runtime


@task
def copy_orders(day: str) -> str:
    lineage.report(inputs=[f"s3://raw/orders/{day}.csv"], outputs=["s3://lake/orders/"])
    lineage.report(outputs=["s3://lake/orders/", "file:///tmp/orders.parquet"])
    return day


@task
def publish_orders(day: str) -> None:
    lineage.report(inputs=["s3://lake/orders/"])
    raise RuntimeError("warehouse is read-only")


@pipeline(name="orders_lineage")
def orders() -> None:
    publish_orders(copy_orders("2026-01-01"))


def test_step_events_go_to_a_file_with_their_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "lineage.jsonl"
    monkeypatch.setenv("LOCKGATE_LINEAGE__FILE", str(out))
    run = lockgate.run(orders)
    assert run.status == "FAILED"
    default_runtime().close()
    events = [json.loads(line) for line in out.read_text().splitlines()]
    summary = [(e["job"]["name"], e["eventType"]) for e in events]
    assert summary == [
        ("orders_lineage.copy_orders", "START"),
        ("orders_lineage.copy_orders", "COMPLETE"),
        ("orders_lineage.publish_orders", "START"),
        ("orders_lineage.publish_orders", "FAIL"),
    ]
    complete = events[1]
    assert complete["inputs"] == [{"namespace": "s3://raw", "name": "orders/2026-01-01.csv"}]
    assert complete["outputs"] == [
        {"namespace": "s3://lake", "name": "orders/"},
        {"namespace": "file", "name": "/tmp/orders.parquet"},
    ]
    assert complete["run"]["runId"] == events[0]["run"]["runId"]
    parent = complete["run"]["facets"]["parent"]
    assert parent["job"] == {"namespace": "lockgate", "name": "orders_lineage"}
    assert parent["run"]["runId"] == lineage.run_uuid(run.run_id)
    fail = events[3]
    assert fail["inputs"] == [{"namespace": "s3://lake", "name": "orders/"}]
    assert "warehouse is read-only" in fail["run"]["facets"]["errorMessage"]["message"]
    for event in events:
        assert event["eventTime"].endswith("Z")
        assert event["schemaURL"].endswith("#/$defs/RunEvent")
        assert event["producer"]


def test_step_events_are_posted_to_an_endpoint(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_LINEAGE__URL", receiver.url)
    assert lockgate.run(orders).status == "FAILED"
    default_runtime().close()
    posted = [json.loads(r["body"])["eventType"] for r in receiver.wait(4)]
    assert posted == ["START", "COMPLETE", "START", "FAIL"]


def test_report_outside_a_step_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="only available inside a running step"):
        lineage.report(inputs=["s3://a/b"])
