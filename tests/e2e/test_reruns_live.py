"""clear and mark of a run a live process drives, from another folder: against a running `serve`
(which drives the run) and against a `lockgate run` still running it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import free_port, process_gone, wait_until

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


SLEEPY = """
import os
import time
from pathlib import Path

import lockgate
import lockgate.attempt
from lockgate import pipeline, task

MARKS = Path(__file__).resolve().parent.parent


@task
def nap() -> int:
    ctx = lockgate.context()
    (MARKS / f"nap-{ctx.attempt}.pid").write_text(str(os.getpid()))
    if ctx.attempt == 1:
        time.sleep(60)
        (MARKS / "woke").write_text("woke")
    deadline = time.monotonic() + 60
    while not (MARKS / "go").exists() and time.monotonic() < deadline:  # the run goes on meanwhile
        time.sleep(0.05)
    return ctx.attempt


@task
def polite() -> int:
    ctx = lockgate.context()
    (MARKS / f"polite-{ctx.attempt}.started").write_text("")
    if ctx.attempt == 1:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if lockgate.attempt.cancelled():
                (MARKS / "noticed").write_text("")
                return -1
            time.sleep(0.05)
        (MARKS / "woke").write_text("woke")
    return ctx.attempt


@pipeline
def napping():
    return nap()


@pipeline
def polite_run():
    return polite()
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
    (folder / "sleepy.py").write_text(SLEEPY)
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


def _only_run(pipeline: str, cwd: Path) -> str | None:
    listed = lockgate("runs", "--json", "--pipeline", pipeline, cwd=cwd)
    rows = json.loads(listed.stdout) if listed.returncode == 0 else []
    return rows[0]["run_id"] if rows else None


@pytest.mark.slow
def test_clear_kills_the_process_of_the_attempt_it_leaves_behind(project) -> None:
    service, elsewhere = project
    command = [sys.executable, "-m", "lockgate", "run", "pipelines/sleepy.py:napping", "--executor", "processes",
               "--json"]  # fmt: skip
    running = subprocess.Popen(command, cwd=service, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pid_file = service / "nap-1.pid"
        wait_until(pid_file.exists, timeout=60)
        pid = int(wait_until(lambda: pid_file.read_text().strip()))
        assert pid != running.pid and not process_gone(pid)  # a child process of the run's
        rid = wait_until(lambda: _only_run("napping", elsewhere), timeout=30)

        cleared = lockgate("clear", rid, "nap", "--json", cwd=elsewhere)
        assert cleared.returncode == 0, cleared.stderr
        assert json.loads(cleared.stdout)["applied"] is True
        applied_at = time.monotonic()
        wait_until(lambda: process_gone(pid), timeout=30, every=0.05)
        assert time.monotonic() - applied_at < 5.0  # not the step's 60 s
        wait_until((service / "nap-2.pid").exists, timeout=30)
        assert show(rid, elsewhere)["status"] == "RUNNING"  # killed by the clear, not by the run's end
        (service / "go").write_text("")

        out, err = running.communicate(timeout=60)
        assert running.returncode == 0, err
        result = json.loads(out)
        assert result["status"] == "SUCCEEDED" and result["output"] == 2  # the new attempt's result
        assert (service / "nap-2.pid").exists() and not (service / "woke").exists()
        history = show(rid, elsewhere)["history"]
        assert [(e["step"], e["attempt"]) for e in history if e["type"] == "StepSucceeded"] == [("nap", 2)]
        assert not [e for e in history if e["type"] == "StepFailed"]  # the killed attempt's outcome: ignored
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()


@pytest.mark.slow
def test_a_cooperating_thread_left_behind_by_a_clear_lets_its_process_exit(project) -> None:
    service, elsewhere = project
    command = [sys.executable, "-m", "lockgate", "run", "pipelines/sleepy.py:polite_run", "--executor", "threads",
               "--json"]  # fmt: skip
    running = subprocess.Popen(command, cwd=service, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until((service / "polite-1.started").exists, timeout=60)
        rid = wait_until(lambda: _only_run("polite_run", elsewhere), timeout=30)
        cleared = lockgate("clear", rid, "polite", "--json", cwd=elsewhere)
        assert cleared.returncode == 0 and json.loads(cleared.stdout)["applied"] is True, cleared.stderr
        applied_at = time.monotonic()
        wait_until((service / "noticed").exists, timeout=30, every=0.05)  # cancelled() said True in its thread
        out, err = running.communicate(timeout=45)  # the process does not wait for the step's 60 s
        assert time.monotonic() - applied_at < 30.0
        assert running.returncode == 0, err
        result = json.loads(out)
        assert result["status"] == "SUCCEEDED" and result["output"] == 2
        assert (service / "polite-2.started").exists() and not (service / "woke").exists()
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()


@pytest.mark.slow
def test_clear_of_a_run_serve_drives_kills_the_process_it_leaves_behind(project) -> None:
    service, elsewhere = project
    port = free_port()
    command = [sys.executable, "-m", "lockgate", "serve", "--port", str(port), "--pipelines", "pipelines"]
    env = {**os.environ, "LOCKGATE_ENGINE__EXECUTOR": "processes"}
    proc = subprocess.Popen(command, cwd=service, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up)
        queued = lockgate("trigger", "napping", "--json", cwd=elsewhere)
        assert queued.returncode == 0, queued.stderr
        rid = json.loads(queued.stdout)["run_id"]
        pid_file = service / "nap-1.pid"
        wait_until(pid_file.exists, timeout=60)
        pid = int(wait_until(lambda: pid_file.read_text().strip()))
        assert pid != proc.pid and not process_gone(pid)

        cleared = lockgate("clear", rid, "nap", "--json", cwd=elsewhere)
        assert cleared.returncode == 0, cleared.stderr
        answer = json.loads(cleared.stdout)
        assert answer["carried_on_by"] == "owner" and answer["applied"] is True
        applied_at = time.monotonic()
        wait_until(lambda: process_gone(pid), timeout=30, every=0.05)
        assert time.monotonic() - applied_at < 5.0  # not the step's 60 s
        wait_until((service / "nap-2.pid").exists, timeout=30)
        assert show(rid, elsewhere)["status"] == "RUNNING"  # killed by the clear, not by the run's end
        (service / "go").write_text("")

        finished = wait_until(lambda: (s := show(rid, elsewhere))["status"] not in ("RUNNING", "QUEUED") and s)
        assert finished["status"] == "SUCCEEDED" and finished["output"] == 2
        assert not (service / "woke").exists()
        succeeded = [(e["step"], e["attempt"]) for e in finished["history"] if e["type"] == "StepSucceeded"]
        assert succeeded == [("nap", 2)]
        assert proc.poll() is None  # the service lives on
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
