"""`lockgate serve` killed with SIGKILL at seeded random moments while Python pipelines and state
machines run, then restarted: every run ends as it would have, no succeeded step runs again.

Size from the environment: LOCKGATE_CHAOS_RUNS (runs of each kind, default 4), LOCKGATE_CHAOS_KILLS
(default 3), LOCKGATE_CHAOS_SEED (default 13).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import free_port, wait_for_port, wait_until

RUNS = int(os.environ.get("LOCKGATE_CHAOS_RUNS", "4"))
KILLS = int(os.environ.get("LOCKGATE_CHAOS_KILLS", "3"))
SEED = int(os.environ.get("LOCKGATE_CHAOS_SEED", "13"))

PIPELINES = """
import json, os, time
from pathlib import Path
import lockgate
from lockgate import Retry, pipeline, task
from lockgate.triggers import FileArrival

ROOT = Path(__file__).resolve().parent.parent
LEDGER = ROOT / "ledger.jsonl"

def note(what):
    ctx = lockgate.context()
    line = json.dumps({"run": ctx.run_id, "step": ctx.step, "attempt": ctx.attempt, "what": what})
    with open(LEDGER, "a") as handle:
        handle.write(line + "\\n")
        handle.flush()
        os.fsync(handle.fileno())

@task
def split(event: dict) -> list[int]:
    note("start")
    time.sleep(0.05)
    note("done")
    return list(range(3))

_flaky_seen = set()

@task(retry=Retry(interval=0.05, max_attempts=3))
def work(item: int) -> int:
    note("start")
    time.sleep(0.1)
    note("done")
    return item * 2

@task
def total(values: list[int]) -> int:
    note("start")
    note("done")
    return sum(values)

@pipeline(triggers=[FileArrival(str(ROOT / "landing"), pattern="*.job")])
def chaos(event: dict):
    return total(work.map(split(event)))
"""

PROJECT = """
[asl.state_machines.flow]
definition = "flow.asl.json"
file_arrival = {uri = "../landing", pattern = "*.sm"}
"""

FLOW = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Pass", "Result": {"items": [1, 2, 3]}, "Next": "Hold"},
        "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Fan"},
        "Fan": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "One", "States": {
            "One": {"Type": "Pass", "End": True}}}, "ResultPath": "$.fanned", "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}  # fmt: skip


def lockgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def serve(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--pipelines", "pipelines", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_for_port(port, timeout=30), "serve never listened"
    return proc


def all_runs() -> list[dict[str, Any]]:
    done = lockgate("runs", "--json", "--limit", "1000")
    if done.returncode == 2:
        return []
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_serve_killed_at_random_moments_loses_nothing_and_reruns_no_success(
    tmp_path: Path, store: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store == "postgres":
        monkeypatch.setenv("LOCKGATE_DATABASE_URL", request.getfixturevalue("postgres_url"))
    rng = random.Random(SEED)
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (tmp_path / "landing").mkdir()
    (folder / "flows.py").write_text(PIPELINES)
    (folder / "lockgate.toml").write_text(PROJECT)
    (folder / "flow.asl.json").write_text(json.dumps(FLOW))
    port = free_port()
    proc = serve(port)
    try:
        for i in range(RUNS):
            (tmp_path / "landing" / f"{i}.job").write_text("x")
            (tmp_path / "landing" / f"{i}.sm").write_text("x")
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.2, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            proc = serve(port)
        wanted = 2 * RUNS

        def finished() -> list[dict[str, Any]]:
            runs = all_runs()
            done = [r for r in runs if r["status"] not in ("QUEUED", "RUNNING")]
            return runs if len(runs) >= wanted and len(done) == len(runs) else []

        runs = wait_until(finished, timeout=120, every=0.5)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)

    assert Counter(r["pipeline"] for r in runs) == {"chaos": RUNS, "flow": RUNS}, runs  # one run per file
    assert all(r["status"] == "SUCCEEDED" for r in runs), [(r["pipeline"], r["status"], r.get("error")) for r in runs]

    ledger = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    for run in runs:
        shown = json.loads(lockgate("show", run["run_id"], "--json").stdout)
        history = shown["history"]
        if run["pipeline"] == "chaos":
            assert shown["output"] == 6
            succeeded = {(e["step"], e["attempt"]) for e in history if e["type"] == "StepSucceeded"}
            started = Counter((e["step"], e["attempt"]) for e in history if e["type"] == "StepStarted")
            assert all(n == 1 for n in started.values()), f"duplicate StepStarted in {run['run_id']}: {started}"
            assert len({s for s, _ in succeeded}) == len(succeeded), f"a step succeeded twice in {run['run_id']}"
            for step, attempt in succeeded:
                again = [e for e in ledger if e["run"] == run["run_id"] and e["step"] == step
                         and e["attempt"] > attempt]  # fmt: skip
                assert not again, f"{run['run_id']} {step} succeeded in attempt {attempt} and ran again: {again}"
        else:
            ids = [e["id"] for e in history]
            assert ids == list(range(1, len(ids) + 1)), f"gaps or duplicates in {run['run_id']}"
            assert history[-1]["type"] == "ExecutionSucceeded"
            assert sum(e["type"] == "ExecutionStarted" for e in history) == 1
