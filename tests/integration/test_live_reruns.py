"""clear and mark on a run a live process drives: asked of it, applied at its next commit, once."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import wait_until

from lockgate import reruns
from lockgate.core import engine
from lockgate.dag.loader import load_file
from lockgate.runtime import default_runtime
from lockgate.store.schema import runs

HERE = Path(__file__).parent


@pytest.fixture(params=["sqlite", "postgresql"])
def flows(home: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    home.mkdir(parents=True, exist_ok=True)
    if request.param == "postgresql":
        monkeypatch.setenv("LOCKGATE_DATABASE_URL", request.getfixturevalue("postgres_url"))
    monkeypatch.setenv("LOCKGATE_ENGINE__HEARTBEAT_SECONDS", "0.3")
    module = load_file(HERE / "live_reruns_pipelines.py")
    module.GATE = home / "gate"
    return module


def drive(flows: Any) -> tuple[str, threading.Thread, dict[str, Any]]:
    """Start a run of `gated` driven on a thread of this process; its id once its wait_gate step runs."""
    runtime = default_runtime()
    done: dict[str, Any] = {}
    key = uuid.uuid4().hex
    workflow = flows.gated.compile({})
    thread = threading.Thread(target=lambda: done.update(run=runtime.execute(workflow, {}, idempotency_key=key)))
    thread.start()

    def waiting() -> str | None:
        record = runtime.store.find_by_key(key)
        if record is not None and record.status == "RUNNING":
            state = runtime.state(record.run_id)[1]
            if state.workflow.steps and state.steps["wait_gate"].status == "RUNNING":
                return str(record.run_id)
        return None

    return wait_until(waiting), thread, done


def types(run_id: str) -> list[str]:
    return [e.type for e in default_runtime().store.history(run_id)]


def test_clear_of_a_running_run_is_applied_by_its_owner_once(flows) -> None:
    run_id, thread, done = drive(flows)
    runtime = default_runtime()
    asked = reruns.clear(runtime, run_id, "extract", downstream=True, actor="ana")
    assert asked.by == "owner" and asked.owner == runtime.owner and asked.steps == ["extract", "wait_gate", "load"]
    assert reruns.wait_applied(runtime, run_id, asked.request, timeout=20)
    with runtime.store.engine.begin() as conn:  # the owner took its name back
        assert conn.execute(sa.select(runs.c.owner).where(runs.c.run_id == run_id)).scalar() == runtime.owner
    flows.GATE.write_text("open")
    thread.join(timeout=60)
    run = done["run"]
    assert run.status == "SUCCEEDED" and run.output == "loaded 6"
    assert {s.name: s.attempts for s in run.steps} == {"extract": 2, "wait_gate": 2, "load": 1}
    history = runtime.store.history(run_id)
    (request,) = [e for e in history if e.type == "RerunRequested"]
    (applied,) = [e for e in history if e.type == "StepsCleared"]
    assert (request.actor, request.steps) == ("ana", ["extract", "wait_gate", "load"])
    assert applied.request == request.request and applied.actor == "ana"
    # the attempt the clear left behind ended too, but its outcome is not recorded: no step has two
    succeeded = [(e.step, e.attempt) for e in history if e.type == "StepSucceeded"]
    assert succeeded == [("extract", 1), ("extract", 2), ("wait_gate", 2), ("load", 1)]
    assert types(run_id).count("RunSucceeded") == 1
    replayed = engine.replay(history)  # the history alone rebuilds what the owner had
    assert replayed.status == "SUCCEEDED" and {n: s.attempt for n, s in replayed.steps.items()} == {
        "extract": 2, "wait_gate": 2, "load": 1}  # fmt: skip


def test_mark_of_a_running_step_lets_the_run_go_on_without_it(flows) -> None:
    run_id, thread, done = drive(flows)
    runtime = default_runtime()
    asked = reruns.mark(runtime, run_id, "wait_gate", "SUCCEEDED", actor="ana")
    assert asked.by == "owner"
    thread.join(timeout=60)  # the gate never opens: the marked step's attempt is left to itself
    run = done["run"]
    assert run.status == "SUCCEEDED" and run.output == "loaded None"
    assert run.step("wait_gate").status == "SUCCEEDED" and run.step("load").attempts == 1
    (marked,) = [e for e in runtime.store.history(run_id) if e.type == "StepMarked"]
    assert (marked.step, marked.status, marked.actor, marked.request) == ("wait_gate", "SUCCEEDED", "ana",
                                                                         asked.request)  # fmt: skip
    flows.GATE.write_text("open")  # the abandoned attempt ends; nothing more is recorded
    assert types(run_id)[-1] == "RunSucceeded"


def test_a_step_marked_while_it_runs_in_a_thread_is_told_it_was_cancelled(flows, home: Path) -> None:
    from lockgate import attempt

    runtime = default_runtime()
    done: dict[str, Any] = {}
    key = uuid.uuid4().hex
    workflow = flows.polite.compile({})
    thread = threading.Thread(
        target=lambda: done.update(run=runtime.execute(workflow, {}, executor="threads", idempotency_key=key))
    )
    thread.start()

    def running() -> str | None:
        record = runtime.store.find_by_key(key)
        if record is not None and record.status == "RUNNING":
            state = runtime.state(record.run_id)[1]
            if state.workflow.steps and state.steps["wait_politely"].status == "RUNNING":
                return str(record.run_id)
        return None

    run_id = wait_until(running)
    assert not (home / "noticed").exists()
    asked = reruns.mark(runtime, run_id, "wait_politely", "SUCCEEDED", actor="ana")
    assert asked.by == "owner"
    thread.join(timeout=60)
    assert done["run"].status == "SUCCEEDED" and done["run"].output == "loaded None"
    # the gate never opens: the attempt returned because cancelled() said True in its thread
    assert wait_until(lambda: (home / "noticed").exists() and (home / "noticed").read_text()) == "wait_politely"
    wait_until(lambda: (run_id, "wait_politely", 1) not in attempt._superseded)  # forgotten once it returned
    assert [e.type for e in runtime.store.history(run_id) if getattr(e, "step", None) == "wait_politely"] == [
        "StepStarted",
        "StepMarked",
    ]  # its outcome is not recorded


def test_requests_left_by_an_owner_that_died_are_applied_by_whoever_resumes(flows) -> None:
    runtime = default_runtime()
    state, _ = runtime.start(flows.gated.compile({}), {})  # started here, never driven
    run_id = state.run_id
    asked = reruns.clear(runtime, run_id, "extract", actor="ana")
    assert asked.by == "owner"
    with runtime.store.engine.begin() as conn:  # its owner dies before applying the request
        conn.execute(sa.update(runs).where(runs.c.run_id == run_id)
                     .values(owner="elsewhere:1:gone#requests", heartbeat_at=0.0))  # fmt: skip
    flows.GATE.write_text("open")
    run = runtime.resume(run_id, executor="inline")
    assert run.status == "SUCCEEDED" and run.step("extract").attempts == 2
    (applied,) = [e for e in runtime.store.history(run_id) if e.type == "StepsCleared"]
    assert applied.request == asked.request


def test_a_run_whose_owner_died_is_still_refused(flows) -> None:
    runtime = default_runtime()
    state, _ = runtime.start(flows.gated.compile({}), {})
    with runtime.store.engine.begin() as conn:
        conn.execute(sa.update(runs).where(runs.c.run_id == state.run_id).values(owner="elsewhere:1:gone",
                                                                               heartbeat_at=0.0))  # fmt: skip
    with pytest.raises(reruns.UsageError, match="lost its process; resume it first"):
        reruns.clear(runtime, state.run_id, "extract", actor="ana")
