"""A durable execution whose process died after storing its RunStarted and before its first
advance (its history is that one event) resumes from the start instead of failing."""

from __future__ import annotations

import socket
import subprocess
import sys

import sqlalchemy as sa

from lockgate.asl import durable
from lockgate.runtime import default_runtime
from lockgate.store.schema import runs

MACHINE = {
    "StartAt": "Add",
    "States": {
        "Add": {"Type": "Pass", "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"}, "Next": "Hold"},
        "Hold": {"Type": "Wait", "Seconds": 0, "End": True},
    },
}


def test_a_run_with_only_its_start_stored_resumes_from_the_start() -> None:
    runtime = default_runtime()
    created = durable.create(runtime, MACHINE, {"a": 2, "b": 3}, state_machine="adder")
    assert [e.type for e in runtime.store.history(created.run_id)] == ["RunStarted"]
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with runtime.store.engine.begin() as conn:  # type: ignore[attr-defined]
        owner = f"{socket.gethostname()}:{proc.pid}:gone"  # a process that is no more
        conn.execute(sa.update(runs).where(runs.c.run_id == created.run_id).values(owner=owner))
    result = durable.resume(runtime, created.run_id)
    assert result == {"status": "SUCCEEDED", "output": {"sum": 5}}
    history = durable.service_history(created.run_id, runtime)
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))
    assert history[0]["type"] == "ExecutionStarted" and history[-1]["type"] == "ExecutionSucceeded"


def test_a_run_claimed_from_the_queue_by_a_process_that_died_before_its_start_is_queued_again() -> None:
    """The process that claimed a trigger's run died before storing the execution's start: its
    history is empty, and resuming it puts it back in the queue (no IndexError at every start)."""
    runtime = default_runtime()
    run_id = runtime.enqueue("adder", {"event": {"a": 1}}, kind="asl")
    assert run_id is not None
    (claimed,) = runtime.claim_queued(1, ["adder"])
    assert claimed.run_id == run_id and runtime.store.history(run_id) == []
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    with runtime.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            sa.update(runs).where(runs.c.run_id == run_id).values(owner=f"{socket.gethostname()}:{proc.pid}:x")
        )
    assert durable.resume(runtime, run_id)["status"] == "QUEUED"
    record = runtime.store.get_run(run_id)
    assert record is not None and record.status == "QUEUED"
