"""`lockgate clear` and `lockgate mark` with no service: the command carries the run on itself."""

import getpass
import json
import subprocess
import sys
from pathlib import Path

FLOWS = """
from lockgate import pipeline, task

@task
def extract() -> list:
    return [1, 2, 3]

@task
def total(rows: list | None) -> int:
    return sum(rows or [])

@pipeline
def sums():
    return total(extract())
"""


def lockgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def test_clear_and_mark_run_here_and_exit_by_the_outcome(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    ran = lockgate("run", "flows.py:sums", "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    cleared = lockgate("clear", run_id, "extract", "--downstream", "--json")
    assert cleared.returncode == 0, cleared.stderr
    shown = json.loads(cleared.stdout)
    assert shown["status"] == "SUCCEEDED" and shown["output"] == 6
    assert [s["attempts"] for s in shown["steps"]] == [2, 2]
    marked = lockgate("mark", run_id, "total", "--failed")
    assert marked.returncode == 1, marked.stderr
    history = json.loads(lockgate("show", run_id, "--json").stdout)["history"]
    (event,) = [e for e in history if e["type"] == "StepMarked"]
    assert (event["step"], event["status"], event["actor"]) == ("total", "FAILED", f"cli:{getpass.getuser()}")
    assert lockgate("mark", run_id, "extract", "--success").returncode == 0
    for args, message in (
        (["mark", run_id, "total"], "give one of --success or --failed"),
        (["clear", run_id, "nope"], "has no step 'nope'"),
        (["clear", "nosuchrun", "extract"], "no run 'nosuchrun'"),
    ):
        done = lockgate(*args)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
