"""clear and mark of a run a live process drives, from another folder: against a running `serve`
(which drives the run) and against a `lockgate run` still running it."""

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import free_port, wait_until

FLOWS = """
import time
from pathlib import Path

from lockgate import pipeline, task

GATE = Path(__file__).resolve().parent.parent / "gate"


@task
def extract() -> list:
    return [1, 2, 3]


@task
def wait_gate(rows: list) -> int:
    deadline = time.monotonic() + 120
    while not GATE.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return sum(rows)


@task
def load(total: int | None) -> str:
    return f"loaded {total}"


@pipeline
def gated():
    return load(wait_gate(extract()))
"""


def lockgate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=90, cwd=cwd
    )


def show(run_id: str, cwd: Path) -> dict[str, Any]:
    done = lockgate("show", run_id, "--json", cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def waiting_at_the_gate(run_id: str, cwd: Path) -> bool:
    shown = show(run_id, cwd)
    return shown["status"] == "RUNNING" and any(
        s["name"] == "wait_gate" and s["status"] == "RUNNING" for s in shown["steps"]
    )


@pytest.fixture
def project(tmp_path: Path, admin_token: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A service folder with the pipeline, and another folder the commands run from."""
    folder = tmp_path / "service" / "pipelines"
    folder.mkdir(parents=True)
    (folder / "gated.py").write_text(FLOWS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("LOCKGATE_ENGINE__HEARTBEAT_SECONDS", "1")
    return tmp_path / "service", elsewhere


@pytest.mark.slow
def test_clear_of_a_run_serve_drives_is_applied_there(project, admin_token: str) -> None:
    service, elsewhere = project
    port = free_port()
    command = [sys.executable, "-m", "lockgate", "serve", "--port", str(port), "--pipelines", "pipelines"]
    proc = subprocess.Popen(command, cwd=service, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            return httpx.get(f"{url}/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up)
        queued = lockgate("trigger", "gated", "--json", cwd=elsewhere)
        assert queued.returncode == 0, queued.stderr
        run_id = json.loads(queued.stdout)["run_id"]
        wait_until(lambda: waiting_at_the_gate(run_id, elsewhere), timeout=60)

        cleared = lockgate("clear", run_id, "extract", "--downstream", "--json", cwd=elsewhere)
        assert cleared.returncode == 0, cleared.stderr
        answer = json.loads(cleared.stdout)
        assert answer["carried_on_by"] == "owner" and answer["applied"] is True
        assert answer["steps"] == ["extract", "wait_gate", "load"] and answer["owner"].split(":")[1] == str(proc.pid)
        wait_until(lambda: waiting_at_the_gate(run_id, elsewhere), timeout=60)  # the new attempt waits too
        marked = httpx.post(f"{url}/api/runs/{run_id}/mark", json={"step": "load", "status": "FAILED"},
                            headers={"Authorization": f"Bearer {admin_token}"}, timeout=10)  # fmt: skip
        assert marked.status_code == 202 and marked.json()["carried_on_by"] == "owner", marked.text
        applied = wait_until(lambda: [e for e in show(run_id, elsewhere)["history"] if e["type"] == "StepMarked"])
        assert applied[0]["request"] == marked.json()["request"]  # at the owner's next commit (its heartbeat)
        (service / "gate").write_text("open")

        finished = wait_until(lambda: (s := show(run_id, elsewhere))["status"] not in ("RUNNING", "QUEUED") and s)
        assert finished["status"] == "FAILED" and "marked failed by test-admin" in finished["cause"]
        history = finished["history"]
        kinds = [e["type"] for e in history]
        assert (
            kinds.count("RerunRequested") == 2 and kinds.count("StepsCleared") == 1 and kinds.count("StepMarked") == 1
        )
        requests = [e["request"] for e in history if e["type"] == "RerunRequested"]
        assert [e["request"] for e in history if e["type"] in ("StepsCleared", "StepMarked")] == requests
        started = [(e["step"], e["attempt"]) for e in history if e["type"] == "StepStarted"]
        assert started == [("extract", 1), ("wait_gate", 1), ("extract", 2), ("wait_gate", 2)]  # none twice
        succeeded = [(e["step"], e["attempt"]) for e in history if e["type"] == "StepSucceeded"]
        assert succeeded == [("extract", 1), ("extract", 2), ("wait_gate", 2)]  # the abandoned attempt: not recorded
        assert kinds[-1] == "RunFailed" and kinds.count("RunFailed") == 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_mark_of_a_run_a_lockgate_run_drives_lets_it_finish(project) -> None:
    service, elsewhere = project
    command = [sys.executable, "-m", "lockgate", "run", "pipelines/gated.py:gated", "--json"]
    running = subprocess.Popen(command, cwd=service, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:

        def run_id() -> str | None:
            listed = lockgate("runs", "--json", "--pipeline", "gated", cwd=elsewhere)
            rows = json.loads(listed.stdout) if listed.returncode == 0 else []
            return rows[0]["run_id"] if rows and waiting_at_the_gate(rows[0]["run_id"], elsewhere) else None

        rid = wait_until(run_id, timeout=60)
        marked = lockgate("mark", rid, "wait_gate", "--success", cwd=elsewhere)
        assert marked.returncode == 0, marked.stderr
        assert "applied by" in marked.stdout and "the process running it" in marked.stdout
        # the run ends without the marked step's attempt, which still waits at the gate
        wait_until(lambda: show(rid, elsewhere)["status"] == "SUCCEEDED", timeout=60)
        (service / "gate").write_text("open")  # its thread ends; then the process can exit
        out, err = running.communicate(timeout=60)
        assert running.returncode == 0, err
        result = json.loads(out)
        assert result["status"] == "SUCCEEDED" and result["output"] == "loaded None"
    finally:
        (service / "gate").write_text("open")
        if running.poll() is None:
            running.kill()
            running.wait()
