"""The PostgreSQL server stopped for 15 s under `lockgate serve` with runs in flight, then started
again (a private server started by the test on its own port; the shared one is never touched).

The service keeps running; its runs go on by themselves when the database is back (no restart of
`serve`, no `lockgate resume`), and no step that had succeeded runs again (the tasks write a
side-effect ledger). LOCKGATE_CHAOS_DOWN_SECONDS sets the outage (default 15).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.chaos.conftest import (
    LEDGER_CODE,
    PrivatePostgres,
    Serve,
    assert_consistent,
    assert_no_success_ran_again,
    read_ledger,
    show,
    wait_finished,
)
from tests.conftest import make_token, wait_until

DOWN_SECONDS = float(os.environ.get("LOCKGATE_CHAOS_DOWN_SECONDS", "15"))
RUNS = 3

PIPELINES = (
    LEDGER_CODE
    + """
import time
from lockgate import Retry, pipeline, task

@task
def extract(n: int) -> list[int]:
    note("start")
    time.sleep(1.0)
    note("done")
    return [n, n + 1, n + 2]

@task(retry=Retry(interval=0.2, max_attempts=2))
def score(item: int) -> int:
    note("start")
    time.sleep(1.5)
    note("done")
    return item * 10

@task
def load(values: list[int]) -> int:
    note("start")
    time.sleep(1.0)
    note("done")
    return sum(values)

@pipeline
def nightly(n: int = 0):
    return load(score.map(extract(n)))
"""
)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.mark.slow
@pytest.mark.postgres
def test_runs_in_flight_go_on_by_themselves_after_the_database_was_down(
    tmp_path: Path, private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", private_postgres.url)
    token = make_token("ops", "operator").secret
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "flows.py").write_text(PIPELINES)
    ledger_path = tmp_path / "ledger.jsonl"
    env = {"LOCKGATE_DATABASE_URL": private_postgres.url, "LOCKGATE_TEST_LEDGER": str(ledger_path)}
    service = Serve(tmp_path, env).start()
    try:
        with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"}) as api:
            run_ids = [
                api.post("/api/pipelines/nightly/trigger", json={"params": {"n": n}}).json()["run_id"]
                for n in range(RUNS)
            ]
        # in flight: every run has finished a step, and steps are running
        wait_until(
            lambda: {e["run"] for e in read_ledger(ledger_path) if e["what"] == "done"} == set(run_ids), timeout=45
        )
        private_postgres.stop()
        down_at = time.monotonic()
        time.sleep(DOWN_SECONDS)
        assert service.alive(), f"serve died while the database was down: {service.stderr()[-3000:]}"
        private_postgres.start()
        runs = wait_finished(RUNS, env, timeout=120)
        took = time.monotonic() - down_at
        assert service.alive() and service.starts == 1  # never restarted
    finally:
        service.stop()
    assert sorted(r["run_id"] for r in runs) == sorted(run_ids)
    ledger = read_ledger(ledger_path)
    for run_id in run_ids:
        shown = show(run_id, env)
        assert shown["status"] == "SUCCEEDED", (shown["status"], shown["error"], shown["cause"])
        assert shown["output"] == sum(10 * i for i in range(int(shown["params"]["n"]), int(shown["params"]["n"]) + 3))
        assert_consistent(shown)
        assert_no_success_ran_again(run_id, shown["history"], ledger)
    print(f"runs finished {took:.1f} s after the database went down for {DOWN_SECONDS:g} s")
    logged = service.stderr()
    assert "the store is unreachable" in logged, logged[-3000:]
    assert "Traceback" not in logged, [line for line in logged.splitlines() if " ERROR " in line or "Trace" in line]
