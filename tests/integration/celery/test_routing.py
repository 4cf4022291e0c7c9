"""Queues, pools, priorities and the limits of runs and tasks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.celery.cluster import HERE, Cluster, broker_url, ledger


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(tmp_path, broker_url("amqp"), f"sqlite:///{tmp_path / 'lockgate.db'}")
    try:
        yield made
    finally:
        made.close()


def test_a_pool_runs_one_attempt_per_slot_cluster_wide_highest_priority_first(cluster: Cluster) -> None:
    folder = cluster.root / "pipelines"
    folder.mkdir()
    shutil.copy(HERE / "cluster_pipelines.py", folder)
    marks = cluster.root / "marks"
    marks.mkdir()
    assert cluster.lockgate("pools", "set", "solo", "--slots", "1").returncode == 0
    cluster.worker("--pipelines", str(folder), concurrency=4)
    cluster.worker("--pipelines", str(folder), concurrency=4)
    done = cluster.lockgate("run", f"{folder / 'cluster_pipelines.py'}:pooled", "--param", f"folder={marks}", "--json")
    assert json.loads(done.stdout)["status"] == "SUCCEEDED", done.stderr
    names = [e["name"] for e in ledger(marks)]
    # one at a time across both workers; the higher priority first, then the oldest
    assert names == ["high", "high-end", "first", "first-end", "low1", "low1-end", "low2", "low2-end"]
    pools = json.loads(cluster.lockgate("pools", "--json").stdout)
    assert pools == [{"name": "solo", "slots": 1, "in_use": 0, "waiting": 0}]


def test_an_unknown_queue_is_an_error_when_the_file_loads(tmp_path: Path) -> None:
    (tmp_path / "lockgate.toml").write_text('[engine]\nqueues = ["default", "spark"]\n')
    (tmp_path / "flow.py").write_text(
        "from lockgate import pipeline, task\n\n"
        "@task(queue='spark')\ndef fine() -> int:\n    return 1\n\n"
        "@task(queue='gpu')\ndef wrong() -> int:\n    return 1\n\n"
        "@pipeline\ndef p():\n    return wrong()\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", "run", "flow.py:p"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "flow.py:7: task wrong" in done.stderr and "unknown queue 'gpu'" in done.stderr and "spark" in done.stderr


def test_max_active_tasks_caps_the_steps_of_one_run() -> None:
    from lockgate import pipeline, task
    from lockgate.runtime import default_runtime

    @task
    def one(i: int) -> int:
        return i

    @pipeline(max_active_tasks=2)
    def capped(n: int = 5):
        return one.map(list(range(n)))

    workflow = capped.compile({"n": 5})
    assert workflow.meta["max_active_tasks"] == 2
    runtime = default_runtime()
    assert runtime._capacity("threads", workflow) == 2 and runtime._capacity("celery", workflow) == 2
    started, _ = runtime.start(workflow, {"n": 5}, capacity=runtime._capacity("threads", workflow))
    assert len(started.running) == 2


@pytest.mark.postgres
def test_max_active_runs_holds_exactly_with_schedulers_claiming_at_once(postgres_url: str) -> None:
    from lockgate.config import load
    from lockgate.runtime import Runtime
    from lockgate.store.attempts import claim_capped

    runtime = Runtime(load({"LOCKGATE_DATABASE_URL": postgres_url, "LOCKGATE_HOME": ".lockgate"}))
    name = f"capped_{id(runtime)}"
    for _ in range(10):
        runtime.enqueue(name, {})
    claimed: list[str] = []
    barrier = threading.Barrier(6)

    def claim(i: int) -> None:
        barrier.wait()
        claimed.extend(claim_capped(runtime.store.engine, f"s{i}:1:x", runtime.clock(), name, 2, 5))

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 2
    assert len(runtime.store.list_runs(pipeline=name, status="RUNNING")) == 2
