"""A process that died while driving several runs (a service) is not counted against the steps
it was running: only the death of a process that drove that run alone counts toward the three
interruptions that fail a step."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from lockgate.core import history as h
from lockgate.dag.loader import load_file
from lockgate.runtime import default_runtime
from lockgate.store.schema import runs

PIPELINE = """
from lockgate import pipeline, task

@task
def one() -> int:
    return 1

@pipeline
def single():
    return one()
"""


def _dead_owner() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:gone"


def _in_flight(tmp_path: Path, count: int) -> list[str]:
    """`count` runs whose first step was started by one process that then died."""
    path = tmp_path / "single_flow.py"
    path.write_text(PIPELINE)
    pipeline = load_file(path).single
    runtime = default_runtime()
    ids = []
    for _ in range(count):
        started = runtime.start(pipeline.compile(pipeline.bind({})), {})
        assert started is not None
        ids.append(started[0].run_id)
    owner = _dead_owner()
    with runtime.store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.update(runs).where(runs.c.run_id.in_(ids)).values(owner=owner))
    return ids


def _interruptions(run_id: str) -> list[h.StepInterrupted]:
    return [e for e in default_runtime().store.history(run_id) if isinstance(e, h.StepInterrupted)]


def test_the_death_of_a_process_that_drove_this_run_alone_counts(tmp_path: Path) -> None:
    (run_id,) = _in_flight(tmp_path, 1)
    assert default_runtime().resume(run_id).status == "SUCCEEDED"
    assert [e.counted for e in _interruptions(run_id)] == [True]


def test_the_death_of_a_process_that_drove_other_runs_too_does_not_count(tmp_path: Path) -> None:
    first, second = _in_flight(tmp_path, 2)
    runtime = default_runtime()
    assert runtime.resume(first).status == "SUCCEEDED"
    assert [e.counted for e in _interruptions(first)] == [False]
    assert runtime.resume(second, shared=True).status == "SUCCEEDED"  # as a scheduler's snapshot says
    assert [e.counted for e in _interruptions(second)] == [False]


def test_uncounted_interruptions_never_fail_a_step() -> None:
    from lockgate.core import engine
    from lockgate.core.model import Step, Workflow

    workflow = Workflow("w", {"s": Step("s", "m:s")})
    state = engine.replay([engine.start("r", workflow, {}, 0.0)], lambda v: v)
    engine.decide(state, engine.Tick(), 0.0, lambda: 0.0, 1)
    for i in range(5):
        events = engine.decide(state, engine.Resume("o", counted=False), float(i + 1), lambda: 0.0, 1)
        assert not any(isinstance(e, h.StepFailed) for e in events)
    for i in range(3):
        events = engine.decide(state, engine.Resume("o"), float(i + 10), lambda: 0.0, 1)
    assert any(isinstance(e, h.StepFailed) and e.final for e in events)
