"""The PostgreSQL server stopped for 15 s under `lockgate serve` with runs in flight, then started
again (a private server started by the test on its own port; the shared one is never touched).

The service keeps running; its runs go on by themselves when the database is back (no restart of
`serve`, no `lockgate resume`), and no step that had succeeded runs again (the tasks write a
side-effect ledger). LOCKGATE_CHAOS_DOWN_SECONDS sets the outage (default 15).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from tests.chaos._faults import (
    LEDGER_CODE,
    PrivatePostgres,
    Serve,
    assert_consistent,
    assert_no_success_ran_again,
    private_postgres_fixture,  # noqa: F401 - the fixture private_postgres
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


# A state machine whose Task states append to the same ledger (keyed by their invocation), with a
# short Wait and a Map between them.
SM_TASKS = (
    LEDGER_CODE
    + """
import time

def work(n, seconds=1.0):
    note("start")
    time.sleep(seconds)
    note("done")
    return n + 1
"""
)

SM_DEFINITION = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Task", "Resource": "python:_sm_tasks:work", "Parameters": {"n.$": "$.n"},
                  "ResultPath": "$.first", "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 2, "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"n.$": "$$.Map.Item.Value"},
                 "ItemProcessor": {"StartAt": "Item", "States": {
                     "Item": {"Type": "Task", "Resource": "python:_sm_tasks:work",
                              "Parameters": {"n.$": "$.n", "seconds": 1.5}, "End": True}}},
                 "ResultPath": "$.mapped", "Next": "Last"},
        "Last": {"Type": "Task", "Resource": "python:_sm_tasks:work", "Parameters": {"n.$": "$.first"},
                 "ResultPath": "$.last", "OutputPath": "$.last", "End": True},
    },
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("wait", ["held", "parked"])
def test_state_machines_in_flight_go_on_by_themselves_after_the_database_was_down(
    tmp_path: Path, private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch, wait: str
) -> None:
    """`held`: the Wait sleeps in its driver; `parked`: it is parked (park_after_seconds 1), so
    its resume falls in the outage."""
    import json

    monkeypatch.setenv("LOCKGATE_DATABASE_URL", private_postgres.url)
    token = make_token("ops", "operator").secret
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "_sm_tasks.py").write_text(SM_TASKS)
    (folder / "ledgered.asl.json").write_text(json.dumps(SM_DEFINITION))
    (folder / "lockgate.toml").write_text('[asl.state_machines.ledgered]\ndefinition = "ledgered.asl.json"\n')
    ledger_path = tmp_path / "ledger.jsonl"
    env = {"LOCKGATE_DATABASE_URL": private_postgres.url, "LOCKGATE_TEST_LEDGER": str(ledger_path)}
    if wait == "parked":
        env["LOCKGATE_TRIGGERS__PARK_AFTER_SECONDS"] = "1"
    service = Serve(tmp_path, env).start()
    try:
        with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"}) as api:
            run_ids = []
            for n in range(RUNS):
                answer = api.post("/api/pipelines/ledgered/trigger", json={"params": {"n": n, "items": [1, 2, 3]}})
                assert answer.status_code < 300, answer.text
                run_ids.append(answer.json()["run_id"])
        # in flight: every execution has finished its first task, and tasks run or a Wait waits
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
        assert shown["output"] == int(shown["params"]["n"]) + 2, shown["params"]
        types = [e["type"] for e in shown["history"]]
        assert (
            types[0] == "ExecutionStarted"
            and types[-1] == "ExecutionSucceeded"
            and types.count("ExecutionSucceeded") == 1
        )
        assert [e["id"] for e in shown["history"]] == list(range(1, len(types) + 1))
        # no Task state that succeeded ran again: after an invocation's "done", nothing of it starts
        mine = [e for e in ledger if e["run"] == run_id]
        invocations = {e["step"] for e in mine}
        assert len(invocations) == 5, invocations  # First, three Map items, Last
        for invocation in invocations:
            whats = [e["what"] for e in mine if e["step"] == invocation]
            assert whats.count("done") == 1 and whats[-1] == "done", (run_id, invocation, whats)
    print(f"state machines ({wait}) finished {took:.1f} s after the database went down for {DOWN_SECONDS:g} s")
    logged = service.stderr()
    if wait == "parked":
        assert "parked until" in logged, logged[-3000:]
    assert "Traceback" not in logged, [line for line in logged.splitlines() if " ERROR " in line or "Trace" in line]


@pytest.mark.postgres
def test_a_task_token_mailbox_waits_out_the_database(
    tmp_path: Path, private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `.waitForTaskToken` state's token registered while the database is down lands once it is
    back; polls meanwhile find no answer (and raise nothing); an answer sent then is read."""
    import threading

    from lockgate.asl import callbacks, durable
    from lockgate.runtime import Runtime

    monkeypatch.setenv("LOCKGATE_DATABASE_URL", private_postgres.url)
    runtime = Runtime()
    machine = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    created = durable.create(runtime, machine, {}, state_machine="Tokens", name="t1")
    engine = runtime.store.engine
    box = callbacks.StoreMailbox(engine, created.run_id)
    private_postgres.stop()
    assert box.poll() == [] and box.unreachable
    registered = threading.Event()
    writer = threading.Thread(target=lambda: (box.register("tok-1", "Ask#1", 1.0), registered.set()), daemon=True)
    writer.start()
    time.sleep(2.0)
    assert not registered.is_set()  # it waits for the database
    private_postgres.start()
    assert registered.wait(30), "the token was never registered"
    callbacks.send(engine, "tok-1", callbacks.SUCCESS, 2.0, output={"ok": True})
    answers = box.poll()
    assert [(a.token, a.kind, a.output) for a in answers] == [("tok-1", callbacks.SUCCESS, {"ok": True})]
    assert not box.unreachable
