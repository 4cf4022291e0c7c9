"""`lockgate serve` killed with SIGKILL between claiming a queued run and the run's first commit.

The pipeline's body (run when the claimed run is compiled, before its first events are written)
writes a marker and sleeps, which widens that window to about two seconds; each kill falls at a
seeded random instant inside it. The run must not be left RUNNING with an empty history: the
next `serve` starts it afresh, and so does `lockgate resume`. Its steps run once.

LOCKGATE_CHAOS_SEED sets the seed; LOCKGATE_CHAOS_KILLS the kills (default 3).
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest
from tests.chaos._faults import LEDGER_CODE, Serve, all_runs, lockgate, read_ledger, show, wait_finished
from tests.conftest import wait_until

SEED = int(os.environ.get("LOCKGATE_CHAOS_SEED", "13"))
KILLS = int(os.environ.get("LOCKGATE_CHAOS_KILLS", "3"))
WINDOW = 2.0  # seconds the pipeline body sleeps

PIPELINES = (
    LEDGER_CODE
    + """
import time
from lockgate import pipeline, task

MARKER = Path(os.environ["LOCKGATE_TEST_LEDGER"]).with_name("compiling")

@task
def first() -> int:
    note("start")
    note("done")
    return 20

@task
def second(value: int) -> int:
    note("start")
    note("done")
    return value + 1

@pipeline
def widened(window: float = 0.0):
    if window:  # compiling a claimed run (a service describing the pipeline passes no window)
        with open(MARKER, "a") as handle:  # the run is claimed; its first commit comes after this body
            handle.write(f"{time.time()}\\n")
        time.sleep(window)
    return second(first())
"""
)


def project(root: Path) -> dict[str, str]:
    (root / "pipelines").mkdir()
    (root / "pipelines" / "flows.py").write_text(PIPELINES)
    return {"LOCKGATE_TEST_LEDGER": str(root / "ledger.jsonl")}


def compilations(root: Path) -> int:
    marker = root / "compiling"
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def kill_inside_the_window(service: Serve, root: Path, seen: int, rng: random.Random) -> float:
    """Wait for the next compilation of the claimed run, then SIGKILL serve inside the window."""
    wait_until(lambda: compilations(root) > seen, timeout=45, every=0.02)
    delay = rng.uniform(0.0, WINDOW * 0.8)
    time.sleep(delay)
    service.kill()
    return delay


def check_finished_once(root: Path, run_id: str) -> None:
    shown = show(run_id)
    assert shown["status"] == "SUCCEEDED" and shown["output"] == 21, shown
    history = shown["history"]
    assert sum(e["type"] == "RunStarted" for e in history) == 1, history
    ran = [(e["step"], e["what"]) for e in read_ledger(root / "ledger.jsonl") if e["run"] == run_id]
    assert sorted(ran) == [("first", "done"), ("first", "start"), ("second", "done"), ("second", "start")], ran


@pytest.mark.slow
def test_serve_killed_between_claim_and_first_commit_starts_the_run_afresh(tmp_path: Path) -> None:
    env = project(tmp_path)
    rng = random.Random(SEED)
    service = Serve(tmp_path, env).start()
    try:
        queued = lockgate("trigger", "widened", "--pipelines", "pipelines", "-p", f"window={WINDOW}", env=env)
        assert queued.returncode == 0, queued.stderr
        run_id = queued.stdout.strip()
        delays = []
        for kill in range(KILLS):
            delays.append(kill_inside_the_window(service, tmp_path, kill, rng))
            record = show(run_id)
            assert record["status"] == "RUNNING" and record["history"] == [], (delays, record)  # the window's state
            service.start()
        wait_finished(1, env, timeout=60)
    finally:
        service.stop()
    assert compilations(tmp_path) == KILLS + 1
    check_finished_once(tmp_path, run_id)
    assert "IndexError" not in service.stderr() and "Traceback" not in service.stderr(), service.stderr()[-3000:]


@pytest.mark.slow
def test_lockgate_resume_of_a_run_killed_before_its_first_commit_runs_it(tmp_path: Path) -> None:
    env = project(tmp_path)
    service = Serve(tmp_path, env).start()
    try:
        run_id = lockgate(
            "trigger", "widened", "--pipelines", "pipelines", "-p", f"window={WINDOW}", env=env
        ).stdout.strip()
        kill_inside_the_window(service, tmp_path, 0, random.Random(SEED))
    finally:
        service.kill()
    assert show(run_id)["history"] == []
    resumed = lockgate("resume", run_id, "--json", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "SUCCEEDED"
    check_finished_once(tmp_path, run_id)
    assert [r["run_id"] for r in all_runs()] == [run_id]
