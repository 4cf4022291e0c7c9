"""PostgreSQL goes away for a while during a run on Celery workers; nothing is lost or run twice.

A private PostgreSQL server (the test's own, on its own port) is the store of two `lockgate
worker` processes and a driving `lockgate run`; the shared Redis is the broker (a queue prefix of
this test's own). The server is stopped for DOWN_SECONDS while steps are being claimed, run and
finished, then started again: the run succeeds, each step's side effect happened once, its
history is consistent, the workers live on and take new attempts, and no attempt row is left.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.chaos._faults import PrivatePostgres, assert_consistent
from tests.conftest import wait_until
from tests.integration.celery.cluster import HERE, Cluster, broker_url, ledger

DOWN_SECONDS = float(os.environ.get("LOCKGATE_CHAOS_DOWN_SECONDS", "5"))
LANES, DEPTH = 4, 4


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


def _attempt_rows(url: str) -> list[tuple[str, str, int, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT run_id, step, attempt, state FROM attempts")
            return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_run_on_workers_survives_the_database_going_away(tmp_path: Path, private_postgres: PrivatePostgres) -> None:
    from lockgate.store.sql import SqlStore

    SqlStore(private_postgres.url).close()  # migrated once here, not by each process at once
    cluster = Cluster(tmp_path, broker_url("redis"), private_postgres.url)
    # Heartbeats every 2 s, stale after 3: the outage outlasts every heartbeat, and a worker's
    # first beat after it may come after a driver's first sweep.
    cluster.env["LOCKGATE_ENGINE__HEARTBEAT_SECONDS"] = "2"
    try:
        folder = tmp_path / "pipelines"
        folder.mkdir()
        shutil.copy(HERE / "cluster_pipelines.py", folder)
        source = folder / "cluster_pipelines.py"
        marks, again = tmp_path / "marks", tmp_path / "again"
        marks.mkdir()
        again.mkdir()
        workers = [cluster.worker("--pipelines", str(folder), concurrency=2) for _ in range(2)]
        run = cluster.start("run", f"{source}:lanes", "--param", f"folder={marks}", "--json", log="run.log")
        # in flight: steps have run, others run now, most are still to come
        wait_until(lambda: len(ledger(marks)) >= 3, 60, every=0.02)
        private_postgres.stop()
        time.sleep(DOWN_SECONDS)
        during = len(ledger(marks))
        alive = [w.poll() is None for w in workers]
        private_postgres.start()
        assert run.wait(timeout=60) == 0, (tmp_path / "run.log").read_text()[-4000:]
        assert all(alive), [w.poll() for w in workers]
        result = json.loads((tmp_path / "run.log").read_text().strip().splitlines()[-1])
        assert result["status"] == "SUCCEEDED", result
        assert result["output"] == [f"l{lane}-{DEPTH - 1}" for lane in range(LANES)]
        names = Counter(e["name"] for e in ledger(marks))
        expected = {f"l{lane}-{i}" for lane in range(LANES) for i in range(DEPTH)}
        assert set(names) == expected and set(names.values()) == {1}, names  # each side effect once
        assert during < len(expected)  # the outage did hold the run up
        shown = json.loads(cluster.lockgate("show", result["run_id"], "--json").stdout)
        assert_consistent(shown)
        assert all(s["status"] == "SUCCEEDED" and s["attempts"] == 1 for s in shown["steps"]), shown["steps"]
        assert _attempt_rows(private_postgres.url) == []
        # the workers live on and take attempts again: more steps at once than one worker's slots
        assert all(w.poll() is None for w in workers), [w.poll() for w in workers]
        done = cluster.lockgate("run", f"{source}:lanes", "--param", f"folder={again}", "--param", "depth=1", "--json")
        assert done.returncode == 0, done.stderr[-4000:]
        assert {e["worker"] for e in ledger(again)} == {w.pid for w in workers}
        assert _attempt_rows(private_postgres.url) == []
        for index in range(len(workers)):
            logged = (tmp_path / f"proc-{index}.log").read_text()
            assert "Traceback" not in logged, logged[-4000:]
    finally:
        cluster.close()
