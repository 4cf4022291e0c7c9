"""kill -9 at the worst moments, then `lockgate resume`: nothing that succeeded runs again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def lockgate(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=timeout)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lockgate", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def only_run_id() -> str:
    runs = json.loads(lockgate("runs", "--json").stdout)
    assert len(runs) == 1
    return runs[0]["run_id"]


def test_kill_9_mid_step_then_resume_finishes_without_rerunning_successes(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    proc = start("run", f"{HERE / 'crash_pipelines.py'}:chain", "--param", f"folder={marks}", "--json")
    wait_for(marks / "in_flight")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    run_id = only_run_id()
    assert json.loads(lockgate("show", run_id, "--json").stdout)["status"] == "RUNNING"

    resumed = lockgate("resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "SUCCEEDED" and result["output"] == "one+two+three"
    assert (marks / "first").read_text() == "1"  # succeeded before the crash: not run again
    assert (marks / "hang").read_text() == "2"  # in flight: run again
    steps = {s["name"]: s for s in result["steps"]}
    assert steps["hang"]["attempts"] == 2

    history = json.loads(lockgate("show", run_id, "--json").stdout)["history"]
    types = [e["type"] for e in history]
    assert "RunResumed" in types and "StepInterrupted" in types
    assert "RetryScheduled" not in types  # the interruption used none of the step's retries


def test_a_step_that_kills_its_process_fails_after_three_interruptions(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    target = f"{HERE / 'crash_pipelines.py'}:crashloop"
    first = lockgate("run", target, "--param", f"folder={marks}", "--json", "--executor", "inline")
    assert first.returncode == -signal.SIGKILL
    run_id = only_run_id()
    for _ in range(2):
        assert lockgate("resume", run_id, "--json", "--executor", "inline").returncode == -signal.SIGKILL
    final = lockgate("resume", run_id, "--json", "--executor", "inline")
    assert final.returncode == 1
    result = json.loads(final.stdout)
    assert result["status"] == "FAILED" and result["error"] == "lockgate.Interrupted"
    assert (marks / "suicide").read_text() == "3"


def test_resume_refuses_a_run_whose_process_is_alive(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    proc = start("run", f"{HERE / 'crash_pipelines.py'}:chain", "--param", f"folder={marks}", "--json")
    try:
        wait_for(marks / "in_flight")
        refused = lockgate("resume", only_run_id())
        assert refused.returncode == 2
        assert f"is being run by {os.uname().nodename}:{proc.pid}" in refused.stderr
    finally:
        proc.kill()
        proc.wait()
