"""State machines on worker processes: a Map's iterations are attempts on the cluster, routed by the resource map."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import wait_until
from tests.integration.celery.cluster import HERE, Cluster, broker_url, ledger

ENRICH = "arn:aws:lambda:us-east-1:123456789012:function:enrich"


def _machine(task: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"item.$": "$$.Map.Item.Value", "folder.$": "$.folder", "hang.$": "$.hang"},
                "ItemProcessor": {"StartAt": "Visit", "States": {"Visit": {**task, "Type": "Task", "End": True}}},
                "End": True,
            }
        },
    }


def _project(cluster: Cluster, machine: dict[str, Any]) -> Path:
    folder = cluster.root / "pipelines"
    folder.mkdir(exist_ok=True)
    shutil.copy(HERE / "asl_cluster_tasks.py", folder)
    (folder / "visits.asl.json").write_text(json.dumps(machine))
    return folder


def _start(cluster: Cluster, folder: Path, items: list[int], marks: Path, hang: int = -1) -> Any:
    payload = json.dumps({"items": items, "folder": str(marks), "hang": hang})
    definition = str(folder / "visits.asl.json")
    return cluster.start("asl", "run", "--definition", definition, "--input", payload, log="run.log")


def _result(cluster: Cluster) -> dict[str, Any]:
    return json.loads((cluster.root / "run.log").read_text().strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def amqp_cluster(tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(tmp_path, broker_url("amqp"), f"sqlite:///{tmp_path / 'lockgate.db'}")
    try:
        yield made
    finally:
        made.close()


@pytest.mark.slow
def test_a_map_runs_on_three_workers_and_survives_one_killed_mid_iteration(amqp_cluster: Cluster) -> None:
    cluster = amqp_cluster
    folder = _project(cluster, _machine({"Resource": "python:asl_cluster_tasks:visit"}))
    marks = cluster.root / "marks"
    marks.mkdir()
    workers = [cluster.worker("--pipelines", str(folder), concurrency=2) for _ in range(3)]
    items = [1, 2, 3, 4, 5, 6]
    run = _start(cluster, folder, items, marks, hang=3)

    def others_done() -> bool:
        ended = {e["item"] for e in ledger(marks) if e["phase"] == "end"}
        return ended >= set(items) - {3} and any(e["item"] == 3 for e in ledger(marks))

    wait_until(others_done, 60)
    victim = next(e["worker"] for e in ledger(marks) if e["item"] == 3)
    assert victim in {w.pid for w in workers}  # no iteration ran in the driving process
    os.kill(victim, signal.SIGKILL)
    next(w for w in workers if w.pid == victim).wait(timeout=10)
    assert run.wait(timeout=90) == 0, (cluster.root / "run.log").read_text()
    result = _result(cluster)
    assert result["status"] == "SUCCEEDED"
    assert result["output"] == [{"item": i, "double": 2 * i} for i in items]

    entries = ledger(marks)
    for item in set(items) - {3}:  # succeeded before the kill: never run again
        assert [e["phase"] for e in entries if e["item"] == item] == ["start", "end"], entries
    again = [e for e in entries if e["item"] == 3]
    assert [e["phase"] for e in again] == ["start", "start", "end"]
    assert again[1]["worker"] != victim and again[1]["worker"] in {w.pid for w in workers}
    assert again[0]["key"] == again[1]["key"]  # the same idempotency key for the interrupted attempt
    assert [e["attempt"] for e in again] == [1, 2, 2]
    assert {e["worker"] for e in entries} <= {w.pid for w in workers}

    # The interruption is in the history (not a Retry: the state has none), and the logs of both
    # attempts are shown by `lockgate logs RUN STATE`.
    logs = json.loads(cluster.lockgate("logs", result["run_id"], "Visit", "--json").stdout)
    assert sorted(e["attempt"] for e in logs) == [1, 1, 1, 1, 1, 1, 2]
    assert all(e["text"].startswith("visiting ") for e in logs)


@pytest.fixture
def routed_cluster(tmp_path: Path) -> Iterator[Cluster]:
    extra = (
        f'[asl.resources."{ENRICH}"]\nresource = "python:asl_cluster_tasks:visit"\n'
        'queue = "spark"\npool = "solo"\npriority = 10\n'
    )
    made = Cluster(tmp_path, broker_url("redis"), f"sqlite:///{tmp_path / 'lockgate.db'}", extra=extra)
    try:
        yield made
    finally:
        made.close()


def test_a_task_is_routed_by_its_resource_map_entry(routed_cluster: Cluster) -> None:
    cluster = routed_cluster
    task = {
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "enrich", "Payload.$": "$"},
        "OutputPath": "$.Payload",
    }
    folder = _project(cluster, _machine(task))
    marks = cluster.root / "marks"
    marks.mkdir()
    done = cluster.lockgate("pools", "set", "solo", "--slots", "1")
    assert done.returncode == 0, done.stderr
    cluster.worker("--pipelines", str(folder), concurrency=4, queues="default")
    spark = cluster.worker("--pipelines", str(folder), concurrency=4, queues="spark")
    run = _start(cluster, folder, [1, 2, 3], marks)
    assert run.wait(timeout=90) == 0, (cluster.root / "run.log").read_text()
    result = _result(cluster)
    assert result["output"] == [{"item": i, "double": 2 * i} for i in (1, 2, 3)]
    entries = ledger(marks)
    assert {e["worker"] for e in entries} == {spark.pid}  # queue "spark": only its worker took them
    spans = sorted(
        (start["at"], end["at"])
        for start in entries
        if start["phase"] == "start"
        for end in entries
        if end["phase"] == "end" and end["key"] == start["key"]
    )
    assert len(spans) == 3
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # pool "solo" has one slot


def test_an_unknown_queue_in_the_resource_map_is_refused_at_validation(tmp_path: Path) -> None:
    extra = f'[asl.resources."{ENRICH}"]\nresource = "python:asl_cluster_tasks:visit"\nqueue = "gpu"\n'
    cluster = Cluster(tmp_path, broker_url("redis"), f"sqlite:///{tmp_path / 'lockgate.db'}", extra=extra)
    folder = _project(cluster, _machine({"Resource": ENRICH}))
    done = cluster.lockgate("asl", "validate", str(folder / "visits.asl.json"))
    assert done.returncode == 2
    assert f"[asl.resources.\"{ENRICH}\"]: unknown queue 'gpu' (queues: default, spark)" in done.stderr
    assert str(cluster.config) in done.stderr and "Traceback" not in done.stderr
