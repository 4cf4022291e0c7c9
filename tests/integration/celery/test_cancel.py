"""`lockgate cancel`, and a clear of a step while it runs, stop the attempt running on a worker:
its process is killed, its row and slot freed."""

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


@pytest.fixture(params=["amqp", "redis"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    yield from sqlite_cluster(tmp_path, request.param)


def _attempt_rows(cluster: Cluster, run_id: str) -> int:
    engine = sa.create_engine(cluster.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM attempts WHERE run_id = :r"), {"r": run_id}).scalar())
    finally:
        engine.dispose()


def test_cancel_kills_the_step_running_on_a_worker(cluster: Cluster) -> None:
    folder = cluster.root / "pipelines"
    folder.mkdir()
    shutil.copy(HERE / "cluster_pipelines.py", folder)
    source = folder / "cluster_pipelines.py"
    marks = cluster.root / "marks"
    marks.mkdir()
    assert cluster.lockgate("pools", "set", "naps", "--slots", "1").returncode == 0
    worker = cluster.worker("--pipelines", str(folder))
    run = cluster.start("run", f"{source}:napping", "--param", f"folder={marks}", "--json", log="run.log")
    started = wait_until(lambda: [e for e in ledger(marks) if e["name"] == "nap"], 60)[0]
    held = json.loads(cluster.lockgate("pools", "--json").stdout)
    assert held == [{"name": "naps", "slots": 1, "in_use": 1, "waiting": 0}]
    assert started["worker"] == worker.pid and started["pid"] != worker.pid  # a child of the worker
    engine = sa.create_engine(cluster.database_url)
    with engine.connect() as conn:
        run_id = conn.execute(sa.text("SELECT run_id FROM runs WHERE status = 'RUNNING'")).scalar_one()
    engine.dispose()

    cancelled_at = time.monotonic()
    done = cluster.lockgate("cancel", run_id)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: process_gone(started["pid"]), 30, every=0.05)
    assert time.monotonic() - cancelled_at < 5.0  # not the step's 60 s

    assert run.wait(timeout=30) == 1, (cluster.root / "run.log").read_text()  # exit code 1: aborted
    shown = json.loads(cluster.lockgate("show", run_id, "--json").stdout)
    assert shown["status"] == "ABORTED"
    assert [s["status"] for s in shown["steps"] if s["name"] == "nap"] == ["ABORTED"]
    wait_until(lambda: _attempt_rows(cluster, run_id) == 0, 15)  # the attempt row is closed
    pools = json.loads(cluster.lockgate("pools", "--json").stdout)
    assert pools == [{"name": "naps", "slots": 1, "in_use": 0, "waiting": 0}]  # its slot is free
    assert not (marks / "woke").exists()

    # The worker lives on, with a fresh child in place of the killed one.
    assert worker.poll() is None
    again = cluster.lockgate(
        "run", f"{source}:slow_one", "--param", f"folder={marks}", "--param", "seconds=0", "--json"
    )
    assert json.loads(again.stdout)["status"] == "SUCCEEDED", again.stderr


def test_clear_kills_the_attempt_it_leaves_behind_on_a_worker(cluster: Cluster) -> None:
    folder = cluster.root / "pipelines"
    folder.mkdir()
    shutil.copy(HERE / "cluster_pipelines.py", folder)
    source = folder / "cluster_pipelines.py"
    marks = cluster.root / "marks"
    marks.mkdir()
    assert cluster.lockgate("pools", "set", "naps", "--slots", "1").returncode == 0
    worker = cluster.worker("--pipelines", str(folder))
    run = cluster.start("run", f"{source}:napping_once", "--param", f"folder={marks}", "--json", log="run.log")
    started = wait_until(lambda: [e for e in ledger(marks) if e["name"] == "nap1"], 60)[0]
    assert started["worker"] == worker.pid and started["pid"] != worker.pid  # a child of the worker
    engine = sa.create_engine(cluster.database_url)
    with engine.connect() as conn:
        run_id = conn.execute(sa.text("SELECT run_id FROM runs WHERE status = 'RUNNING'")).scalar_one()
    engine.dispose()

    cleared = cluster.lockgate("clear", run_id, "nap_first", "--json")
    assert cleared.returncode == 0 and json.loads(cleared.stdout)["applied"] is True, cleared.stderr
    applied_at = time.monotonic()
    wait_until(lambda: process_gone(started["pid"]), 30, every=0.05)
    assert time.monotonic() - applied_at < 5.0  # not the step's 60 s

    # The new attempt gets the pool's only slot and runs on the same worker while the run goes on.
    wait_until(lambda: [e for e in ledger(marks) if e["name"] == "nap2"], 30)
    shown = json.loads(cluster.lockgate("show", run_id, "--json").stdout)
    assert shown["status"] == "RUNNING"  # the old attempt was killed by the clear, not by the run's end
    (marks / "go").write_text("")
    assert run.wait(timeout=60) == 0, (cluster.root / "run.log").read_text()
    shown = json.loads(cluster.lockgate("show", run_id, "--json").stdout)
    assert shown["status"] == "SUCCEEDED" and shown["output"] == 2
    assert [e["name"] for e in ledger(marks)] == ["nap1", "nap2"]
    history = shown["history"]
    assert [(e["step"], e["attempt"]) for e in history if e["type"] == "StepSucceeded"] == [("nap_first", 2)]
    assert not [e for e in history if e["type"] == "StepFailed"]  # the killed attempt's outcome: ignored
    wait_until(lambda: _attempt_rows(cluster, run_id) == 0, 15)
    pools = json.loads(cluster.lockgate("pools", "--json").stdout)
    assert pools == [{"name": "naps", "slots": 1, "in_use": 0, "waiting": 0}]
    assert not (marks / "woke").exists()
    assert worker.poll() is None
