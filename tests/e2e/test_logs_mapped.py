"""`lockgate logs` on a mapped step prints each element's log under its index."""

import json
import subprocess
import sys
from pathlib import Path

FLOWS = """
from lockgate import pipeline, short_circuit, task

@task
def square(n: int) -> int:
    print(f"squaring {n}")
    return n * n

@task
def quiet(values: list) -> int:
    return len(values)

@task
def never() -> int:
    return 0

@pipeline
def mapped():
    total = quiet(square.map([1, 2, 3]))
    short_circuit(False)
    return total, never()
"""


def lockgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def test_logs_of_a_mapped_step_are_prefixed_by_index_and_an_empty_log_says_so(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    ran = lockgate("run", "flows.py:mapped", "--json")
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["run_id"]
    logs = lockgate("logs", run_id, "square")
    assert logs.returncode == 0, logs.stderr
    for i, n in enumerate([1, 2, 3]):
        assert f"==> square[{i}] attempt 1" in logs.stdout and f"[{i}] squaring {n}" in logs.stdout
    entries = json.loads(lockgate("logs", run_id, "square", "--json").stdout)
    assert [e["index"] for e in entries] == [0, 1, 2]
    quiet = lockgate("logs", run_id, "quiet")
    assert quiet.returncode == 0 and "(no output)" in quiet.stdout
    skipped = lockgate("logs", run_id, "never")
    assert skipped.returncode == 0 and skipped.stdout == ""
    assert "no log: step never of run" in skipped.stderr
    missing = lockgate("logs", run_id, "nope")
    assert missing.returncode == 2 and "has no step 'nope'" in missing.stderr
