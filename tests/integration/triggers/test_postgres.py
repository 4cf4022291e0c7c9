"""Several schedulers on one PostgreSQL store: each cause queues one run, each run starts once."""

import datetime as dt
import os
import threading
import uuid

import pytest
import sqlalchemy as sa

from lockgate import task
from lockgate.dag.pipeline import Pipeline
from lockgate.runtime import Runtime
from lockgate.store.sql import SqlStore
from lockgate.triggers import Cron, FileArrival
from lockgate.triggers.scheduler import Options, Scheduler

pytestmark = pytest.mark.postgres


@pytest.fixture
def private_postgres(postgres_url):
    """A database of its own on the PostgreSQL server (the shared one may hold other migrations)."""
    name = f"lockgate_triggers_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@task
def echo(value: str) -> str:
    return value


def stamped(logical_date: str):
    return echo(logical_date)


def on_file(event: dict):
    return echo(event["key"])


def test_two_schedulers_racing_on_postgres_queue_and_start_each_run_once(private_postgres, unique, tmp_path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    old = 1_700_000_000
    for i in range(200):
        (landing / f"f{i:03d}.csv").write_text(str(i))
        os.utime(landing / f"f{i:03d}.csv", (old, old))
    cron = Pipeline(
        stamped,
        name=f"pg_cron_{unique}",
        triggers=[Cron("*/10 * * * *", catchup=True, start_date="2026-11-24T00:00:00Z")],
    )
    files = Pipeline(on_file, name=f"pg_files_{unique}", triggers=[FileArrival(str(landing), settle_seconds=1)])
    now = [dt.datetime(2026, 11, 24, 12, 0, 30, tzinfo=dt.UTC).timestamp()]
    runtimes = [Runtime(store=SqlStore(private_postgres)) for _ in range(2)]
    schedulers = [
        Scheduler(rt, [cron, files], clock=lambda: now[0], options=Options(max_concurrent_runs=4, inotify=False))
        for rt in runtimes
    ]
    try:
        barrier = threading.Barrier(2)

        def race(scheduler: Scheduler) -> None:
            barrier.wait()
            for _ in range(30):
                scheduler.tick()

        threads = [threading.Thread(target=race, args=(s,)) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        for scheduler in schedulers:
            while scheduler.tick().started:
                scheduler.dispatcher.wait_idle(60)
            scheduler.dispatcher.wait_idle(60)
        store = runtimes[0].store
        cron_runs = store.list_runs(pipeline=cron.name, limit=1000)
        file_runs = store.list_runs(pipeline=files.name, limit=1000)
        assert len(cron_runs) == 6 * 12 + 1  # every 10 minutes from 00:00 to 12:00, both included
        assert len({r.params["logical_date"] for r in cron_runs}) == len(cron_runs)
        assert sorted(r.params["event"]["key"] for r in file_runs) == [f"f{i:03d}.csv" for i in range(200)]
        with store.engine.begin() as conn:
            starts = conn.execute(
                sa.text(
                    "SELECT run_id, count(*) FROM events WHERE type = 'RunStarted' GROUP BY run_id HAVING count(*) > 1"
                )
            ).all()
        assert starts == []
        assert {r.status for r in [*cron_runs, *file_runs]} == {"SUCCEEDED"}
    finally:
        for scheduler in schedulers:
            scheduler.close()
        for rt in runtimes:
            rt.store.close()
