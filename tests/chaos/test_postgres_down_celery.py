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
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.chaos._faults import PrivatePostgres, assert_consistent, private_postgres_fixture  # noqa: F401 - the fixture private_postgres
from tests.conftest import wait_until
from tests.integration.celery.cluster import HERE, Cluster, broker_url, ledger

DOWN_SECONDS = float(os.environ.get("LOCKGATE_CHAOS_DOWN_SECONDS", "5"))
LANES, DEPTH, POOLED = 4, 4, 6


def _attempt_rows(url: str) -> list[tuple[str, str, int, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT run_id, step, attempt, state FROM attempts")
            return [tuple(row) for row in conn.execute(query)]  # type: ignore[misc]
    finally:
        engine.dispose()


def _hold_a_dispatched_row(url: str, queue: str) -> sa.Connection:
    """A transaction holding the row lock of a dispatched attempt of `queue`: a worker's claim of
    it waits on the lock until the server goes away under it."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    conn = engine.connect()
    query = sa.text("SELECT step FROM attempts WHERE queue = :queue AND state = 'dispatched' FOR UPDATE")

    def held() -> bool:
        if conn.execute(query, {"queue": queue}).first() is not None:
            return True
        conn.rollback()
        return False

    wait_until(held, 30, every=0.02)
    return conn


def _claims_waiting_on_a_lock(url: str) -> int:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE attempts%'"
            )
            return int(conn.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_run_on_workers_survives_the_database_going_away(tmp_path: Path, private_postgres: PrivatePostgres) -> None:
    """Two workers run the lanes' steps (four at a time: they run and finish across the outage);
    a third, of one slot, runs a gated step on the spark queue, and when the gate opens, claims
    the next one while the test holds its row's lock, so that claim is cut by the outage."""
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
        gatekeeper = cluster.worker("--pipelines", str(folder), concurrency=1, queues="spark")
        assert cluster.lockgate("pools", "set", "solo", "--slots", "1").returncode == 0
        args = ("--param", f"folder={marks}", "--param", "gates=2", "--param", f"pooled={POOLED}", "--json")
        run = cluster.start("run", f"{source}:lanes", *args, log="run.log")
        # in flight: lanes' steps have run, others run now, most are still to come; one gate is open
        wait_until(lambda: {"l0-0", "g0"} <= {e["name"] for e in ledger(marks)}, 60, every=0.02)
        held = _hold_a_dispatched_row(private_postgres.url, "spark")
        (marks / "go").write_text("go")
        wait_until(lambda: _claims_waiting_on_a_lock(private_postgres.url) == 1, 30, every=0.02)
        private_postgres.stop()
        try:
            held.close()
        except sa.exc.DBAPIError:
            pass  # the server closed it
        held.engine.dispose()
        time.sleep(DOWN_SECONDS)
        during = {e["name"] for e in ledger(marks)}
        alive = [w.poll() is None for w in [*workers, gatekeeper]]
        private_postgres.start()
        assert run.wait(timeout=60) == 0, (tmp_path / "run.log").read_text()[-4000:]
        assert all(alive), alive
        result = json.loads((tmp_path / "run.log").read_text().strip().splitlines()[-1])
        assert result["status"] == "SUCCEEDED", result
        pooled = [f"p{i}" for i in range(POOLED)]
        assert result["output"] == [f"l{lane}-{DEPTH - 1}" for lane in range(LANES)] + ["g0", "g1", *pooled]
        names = Counter(e["name"] for e in ledger(marks))
        expected = {f"l{lane}-{i}" for lane in range(LANES) for i in range(DEPTH)} | {"g0", "g1"}
        expected |= {*pooled, *(f"{p}-end" for p in pooled)}
        assert set(names) == expected and set(names.values()) == {1}, names  # each side effect once
        assert len(during) < len(expected)  # the outage did hold the run up
        print(f"before the database was back: {sorted(during)}")
        shown = json.loads(cluster.lockgate("show", result["run_id"], "--json").stdout)
        assert_consistent(shown)
        assert all(s["status"] == "SUCCEEDED" and s["attempts"] == 1 for s in shown["steps"]), shown["steps"]
        assert _attempt_rows(private_postgres.url) == []
        gate_log = (tmp_path / "proc-2.log").read_text()
        assert "failed" in gate_log and "trying again" in gate_log, gate_log[-3000:]  # its claim waited
        # the workers live on and take attempts again: more steps at once than one worker's slots
        assert all(w.poll() is None for w in [*workers, gatekeeper])
        args = ("--param", f"folder={again}", "--param", "depth=1", "--param", "gates=1", "--json")
        (again / "go").write_text("go")
        done = cluster.lockgate("run", f"{source}:lanes", *args)
        assert done.returncode == 0, done.stderr[-4000:]
        by_worker = {e["name"]: e["worker"] for e in ledger(again)}
        assert by_worker.pop("g0") == gatekeeper.pid
        assert set(by_worker.values()) == {w.pid for w in workers}
        assert _attempt_rows(private_postgres.url) == []
        for log in ["run.log", *(f"proc-{index}.log" for index in range(3))]:
            logged = (tmp_path / log).read_text()
            assert "Traceback" not in logged, (log, logged[-4000:])
    finally:
        cluster.close()
