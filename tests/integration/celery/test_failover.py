"""Several schedulers on one PostgreSQL, all active: a scheduler killed mid-run has its runs adopted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.conftest import POSTGRES_URL, need, wait_until
from tests.integration.celery.cluster import HERE, Cluster, broker_url, ledger


@pytest.fixture
def database() -> Iterator[str]:
    """A database of this test's own: another test's orphaned runs must not be adopted here."""
    try:
        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        need(f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__})")
    name = f"lockgate_failover_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    from lockgate.store.sql import SqlStore

    SqlStore(url).close()  # migrated once here, not by each process at once
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_scheduler_killed_mid_run_has_its_runs_finished_by_another(tmp_path: Path, database: str) -> None:
    cluster = Cluster(
        tmp_path, broker_url("amqp"), database, extra="[triggers]\ntick_seconds = 0.2\nmax_concurrent_runs = 3\n"
    )
    try:
        folder = tmp_path / "pipelines"
        folder.mkdir()
        shutil.copy(HERE / "cluster_pipelines.py", folder)
        marks = tmp_path / "marks"
        marks.mkdir()
        cluster.worker("--pipelines", str(folder), concurrency=8)
        first = cluster.start("scheduler", "--pipelines", str(folder), log="first.log")
        engine = sa.create_engine(database)
        for _ in range(6):
            done = cluster.lockgate(
                "trigger", "slow_one", "--param", f"folder={marks}", "--param", "seconds=2", "--pipelines", str(folder)
            )
            assert done.returncode == 0, done.stderr

        def owned_by_first() -> bool:
            with engine.connect() as conn:
                owners = conn.execute(sa.text("SELECT owner FROM runs WHERE status = 'RUNNING'")).scalars().all()
            return any(o and o.split(":")[1] == str(first.pid) for o in owners)

        wait_until(owned_by_first, 30)  # the second starts once the first holds runs, however slow its start
        second = cluster.start("scheduler", "--pipelines", str(folder), log="second.log")
        wait_until(lambda: len(ledger(marks)) >= 1, 30)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

        def statuses() -> list[str]:
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT status FROM runs")).scalars().all()

        # stale_after_seconds is 3: the live scheduler adopts within it and finishes every run
        wait_until(lambda: statuses() == ["SUCCEEDED"] * 6, 30)
        assert second.poll() is None
        entries = ledger(marks)
        assert len(entries) == 6  # no step ran twice: the adopter followed the steps still on the worker
        with engine.connect() as conn:
            types = conn.execute(sa.text("SELECT type FROM events")).scalars().all()
        assert "RunResumed" in types and "StepInterrupted" not in types  # a scheduler's death is not the step's
        engine.dispose()
    finally:
        cluster.close()


@pytest.mark.postgres
def test_a_run_claimed_by_a_process_that_died_before_starting_it_is_queued_again(database: str) -> None:
    from lockgate.config import load
    from lockgate.runtime import Runtime

    settings = load({"LOCKGATE_DATABASE_URL": database, "LOCKGATE_HOME": ".lockgate"})
    runtime = Runtime(settings)
    run_id = runtime.enqueue("p", {})
    dead = "elsewhere:1:abcdef"
    runtime.store.claim_queued(dead, runtime.clock() - 100, 1)
    assert runtime.store.get_run(run_id).status == "RUNNING"
    assert json.dumps(runtime.view(run_id).status) == '"RUNNING"'
    runtime.resume(run_id)
    record = runtime.store.get_run(run_id)
    assert record.status == "QUEUED" and record.owner is None
