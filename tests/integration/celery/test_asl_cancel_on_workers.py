"""`lockgate cancel` on a state machine whose Task state runs on a worker: its process is killed."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import process_gone, wait_until
from tests.integration.celery.cluster import HERE, Cluster, ledger, sqlite_cluster

NAP = {"StartAt": "Nap", "States": {"Nap": {"Type": "Task", "Resource": "python:asl_cluster_tasks:nap", "End": True}}}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from sqlite_cluster(tmp_path, "redis")


def test_cancel_kills_a_task_state_running_on_a_worker(cluster: Cluster) -> None:
    folder = cluster.root / "pipelines"
    folder.mkdir()
    shutil.copy(HERE / "asl_cluster_tasks.py", folder)
    (folder / "nap.asl.json").write_text(json.dumps(NAP))
    marks = cluster.root / "marks"
    marks.mkdir()
    worker = cluster.worker("--pipelines", str(folder))
    payload = json.dumps({"folder": str(marks)})
    run = cluster.start("asl", "run", "--definition", str(folder / "nap.asl.json"), "--input", payload, log="run.log")
    started = wait_until(lambda: [e for e in ledger(marks) if e["phase"] == "start"], 60)[0]
    assert started["pid"] != worker.pid  # a child of the worker
    engine = sa.create_engine(cluster.database_url)
    with engine.connect() as conn:
        run_id = conn.execute(sa.text("SELECT run_id FROM runs WHERE status = 'RUNNING'")).scalar_one()
    engine.dispose()

    cancelled_at = time.monotonic()
    done = cluster.lockgate("cancel", run_id)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: process_gone(started["pid"]), 30, every=0.05)
    assert time.monotonic() - cancelled_at < 5.0  # not the task's 60 s
    assert run.wait(timeout=30) == 1, (cluster.root / "run.log").read_text()  # exit code 1: aborted
    result = json.loads((cluster.root / "run.log").read_text().strip().splitlines()[-1])
    assert result["status"] == "ABORTED"
    shown = json.loads(cluster.lockgate("show", run_id, "--json").stdout)
    assert shown["status"] == "ABORTED"
    time.sleep(1.0)
    assert not (marks / "woke").exists()
    assert worker.poll() is None  # the worker lives on
