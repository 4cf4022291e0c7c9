"""Steps on worker processes: real brokers (RabbitMQ and Redis), workers stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import process_gone, wait_until
from tests.integration.celery.cluster import HERE, Cluster, ledger, sqlite_cluster

PIPELINES = HERE / "cluster_pipelines.py"


@pytest.fixture(params=["amqp", "redis"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    yield from sqlite_cluster(tmp_path, request.param)


def _project(cluster: Cluster) -> Path:
    folder = cluster.root / "pipelines"
    folder.mkdir(exist_ok=True)
    shutil.copy(PIPELINES, folder / PIPELINES.name)
    return folder / PIPELINES.name


def _run(cluster: Cluster, target: str, *params: str) -> dict:
    args = [arg for p in params for arg in ("--param", p)]
    done = cluster.lockgate("run", target, *args, "--json")
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def test_steps_run_on_workers_and_their_logs_are_read_back(cluster: Cluster) -> None:
    source = _project(cluster)
    marks = cluster.root / "marks"
    marks.mkdir()
    worker = cluster.worker("--pipelines", str(source.parent))
    result = _run(cluster, f"{source}:fan", f"folder={marks}", "n=6")
    assert result["status"] == "SUCCEEDED", result
    assert result["output"] == [f"n{i}" for i in range(6)]
    assert {e["worker"] for e in ledger(marks)} == {worker.pid}  # no step ran in the driving process
    logs = cluster.lockgate("logs", result["run_id"], "note[2]", "--json")
    assert json.loads(logs.stdout)[0]["text"] == "note n2\n"


@pytest.mark.slow
def test_a_worker_killed_mid_step_has_its_step_run_again_as_interrupted(cluster: Cluster) -> None:
    source = _project(cluster)
    marks = cluster.root / "marks"
    marks.mkdir()
    first = cluster.worker("--pipelines", str(source.parent))
    second = cluster.worker("--pipelines", str(source.parent))
    run = cluster.start("run", f"{source}:crashy", "--param", f"folder={marks}", "--json", log="run.log")
    hung = wait_until(lambda: [e for e in ledger(marks) if e["name"] == "hang"], 30)
    victim = hung[0]["worker"]
    assert victim in (first.pid, second.pid)
    os.kill(victim, signal.SIGKILL)
    next(p for p in (first, second) if p.pid == victim).wait(timeout=10)  # reaped: its pid is gone
    wait_until(lambda: process_gone(hung[0]["pid"]), 10)  # the child running the step went with it
    assert run.wait(timeout=60) == 0, (cluster.root / "run.log").read_text()
    result = json.loads((cluster.root / "run.log").read_text().strip().splitlines()[-1])
    assert result["status"] == "SUCCEEDED" and result["output"] == "c"
    entries = ledger(marks)
    assert [e["name"] for e in entries].count("a") == 1  # succeeded before the kill: not run again
    hangs = [e for e in entries if e["name"] == "hang"]
    assert len(hangs) == 2 and hangs[1]["worker"] != victim
    assert hangs[0]["key"] == hangs[1]["key"]  # the same idempotency key for the interrupted attempt
    history = json.loads(cluster.lockgate("show", result["run_id"], "--json").stdout)["history"]
    types = [e["type"] for e in history]
    assert "StepInterrupted" in types and "RetryScheduled" not in types


def test_a_duplicate_delivery_runs_the_attempt_once(cluster: Cluster) -> None:
    from lockgate.config import load
    from lockgate.executors import celery as ce
    from lockgate.executors.base import Job
    from lockgate.executors.sources import file_hash
    from lockgate.store.attempts import ClusterStore
    from lockgate.store.sql import SqlStore

    source = _project(cluster)
    marks = cluster.root / "marks"
    marks.mkdir()
    cluster.worker("--pipelines", str(source.parent))
    settings = load({"LOCKGATE_CONFIG": str(cluster.config), "LOCKGATE_HOME": str(cluster.root / ".lockgate")})
    store = ClusterStore(SqlStore(settings.database_url).engine)
    job = Job(
        run_id="dup-run",
        pipeline="fan",
        step="note",
        attempt=1,
        task="cluster_pipelines:note",
        source=f"file:{source}",
        args=[str(marks), "once"],
        kwargs={},
        log_path="",
        home="",
        source_hash=file_hash(source),
    )
    app = ce.make_app(settings)
    assert store.put([job], 0.0) == [job]
    for _ in range(3):
        ce.send(app, job, cluster.prefix)
    wait_until(lambda: (row := store.get("dup-run", "note", 1)) is not None and row.state == "done", 30)
    wait_until(lambda: cluster.workers()[0]["slots_in_use"] == 0, 10)  # the duplicates were taken and dropped
    assert [e["name"] for e in ledger(marks)] == ["once"]


def test_a_worker_with_other_code_fails_the_attempt_naming_the_file_and_hashes(cluster: Cluster) -> None:
    source = _project(cluster)
    marks = cluster.root / "marks"
    marks.mkdir()
    theirs = cluster.root / "other"
    theirs.mkdir()
    (theirs / source.name).write_text(source.read_text() + "\n# changed on this machine\n")
    cluster.worker("--pipelines", str(theirs))
    result = _run(cluster, f"{source}:slow_one", f"folder={marks}", "seconds=0")
    assert result["status"] == "FAILED" and result["error"] == "lockgate.SourceMismatch"
    assert str(theirs / source.name) in result["cause"] and "sha256" in result["cause"]
    assert ledger(marks) == []


def test_a_step_whose_process_dies_fails_that_attempt_and_the_worker_runs_on(cluster: Cluster) -> None:
    """The child dies after its claim, before its outcome: the worker writes the death as the
    attempt's outcome (a soft failure, retried) and keeps its slot for the next attempt."""
    source = _project(cluster)
    marks = cluster.root / "marks"
    marks.mkdir()
    worker = cluster.worker("--pipelines", str(source.parent), concurrency=1)
    result = _run(cluster, f"{source}:dying", f"folder={marks}")
    assert result["status"] == "SUCCEEDED" and result["output"] == "lived", result
    assert [e["name"] for e in ledger(marks)] == ["die", "die"]
    history = json.loads(cluster.lockgate("show", result["run_id"], "--json").stdout)["history"]
    failed = [e for e in history if e["type"] == "StepFailed"]
    assert [e["error"]["name"] for e in failed] == ["lockgate.ProcessDied"], failed
    assert "exit code 3" in failed[0]["error"]["cause"]
    assert worker.poll() is None
    wait_until(lambda: cluster.workers()[0]["slots_in_use"] == 0, 10)
