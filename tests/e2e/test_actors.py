"""Every action names who did it: a run's `created_by` (a token's name, `cli:<user>`, or its trigger)
and the actor of cancel, retry, resume, clear, mark, pause and unpause, through the real API with
tokens and through the CLI."""

from __future__ import annotations

import getpass
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import free_port, make_token, wait_for_port, wait_until

PIPELINES = """
import os, time
from pathlib import Path
from lockgate import pipeline, task
from lockgate.triggers import FileArrival, Interval, PipelineSucceeded

ROOT = Path(__file__).resolve().parent.parent

@task
def one() -> int:
    return 1

@pipeline
def ok():
    return one()

@task
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds

@pipeline
def sleepy(seconds: float = 30.0):
    return nap(seconds)

@task
def check() -> int:
    if not (ROOT / "fixed").exists():
        raise ValueError("not fixed yet")
    return 2

@task
def after(value: int) -> int:
    return value + 1

@pipeline
def flaky():
    return after(check())

@pipeline(triggers=[FileArrival(str(ROOT / "landing"), pattern="*.csv")])
def on_file(event: dict):
    return one()

@pipeline(triggers=[PipelineSucceeded("on_file")])
def downstream(event: dict):
    return one()

@pipeline(triggers=[Interval(1.0)])
def ticking():
    return one()
"""

CLI_USER = f"cli:{getpass.getuser()}"


def lockgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def project(root: Path) -> None:
    (root / "pipelines").mkdir()
    (root / "landing").mkdir()
    (root / "pipelines" / "flows.py").write_text(PIPELINES)


def shown(run_id: str) -> dict[str, Any]:
    done = lockgate("show", run_id, "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_api_names_the_token_for_every_action_and_triggers_name_themselves(tmp_path: Path) -> None:
    project(tmp_path)
    make_token("boss", "admin")
    ops = make_token("ops", "operator").secret
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--pipelines", "pipelines", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {ops}"}, timeout=30)
    try:
        assert wait_for_port(port, 30), "serve never listened"

        def finished(run_id: str) -> dict[str, Any] | None:
            run = api.get(f"/api/runs/{run_id}").json()
            return run if run["status"] not in ("QUEUED", "RUNNING") else None

        # a run triggered over the API names the token, in the API, the CLI and the run page
        made = api.post("/api/pipelines/ok/trigger", json={})
        assert made.status_code == 200, made.text
        run_id = made.json()["run_id"]
        assert wait_until(lambda: finished(run_id))["created_by"] == "ops"
        listed = {r["run_id"]: r for r in api.get("/api/runs").json()}
        assert listed[run_id]["created_by"] == "ops"
        assert shown(run_id)["created_by"] == "ops"
        assert "created by ops" in " ".join(lockgate("show", run_id).stdout.split())
        page = api.get(f"/ui/runs/{run_id}")
        assert page.status_code == 200 and '<span class="mono">ops</span>' in page.text

        # cancel
        slow = api.post("/api/pipelines/sleepy/trigger", json={}).json()["run_id"]
        wait_until(lambda: api.get(f"/api/runs/{slow}").json()["status"] == "RUNNING")
        assert api.post(f"/api/runs/{slow}/cancel").status_code == 200
        aborted = wait_until(lambda: finished(slow))
        assert aborted["status"] == "ABORTED"
        assert [e["by"] for e in aborted["history"] if e["type"] == "RunAborted"] == ["ops"]

        # retry of a failed run; then clear and mark of the succeeded run
        failing = api.post("/api/pipelines/flaky/trigger", json={}).json()["run_id"]
        assert wait_until(lambda: finished(failing))["status"] == "FAILED"
        (tmp_path / "fixed").write_text("")
        assert api.post(f"/api/runs/{failing}/retry").status_code == 202
        retried = wait_until(lambda: finished(failing))
        assert retried["status"] == "SUCCEEDED", retried
        assert [e["by"] for e in retried["history"] if e["type"] == "RunRedriven"] == ["ops"]
        assert api.post(f"/api/runs/{failing}/clear", json={"step": "after"}).status_code == 202
        wait_until(lambda: any(e["type"] == "StepsCleared" for e in api.get(f"/api/runs/{failing}").json()["history"]))
        wait_until(lambda: finished(failing))
        assert api.post(f"/api/runs/{failing}/mark", json={"step": "after", "status": "FAILED"}).status_code == 202
        wait_until(lambda: any(e["type"] == "StepMarked" for e in api.get(f"/api/runs/{failing}").json()["history"]))
        history = wait_until(lambda: finished(failing))["history"]
        assert [e["actor"] for e in history if e["type"] in ("StepsCleared", "StepMarked")] == ["ops", "ops"]

        # pause and unpause: the registry row and its audit
        assert api.post("/api/pipelines/ticking/pause").json() == {"name": "ticking", "paused": True, "by": "ops"}
        rows = {r["name"]: r for r in api.get("/api/pipelines").json()}
        assert rows["ticking"]["paused"] and rows["ticking"]["paused_by"] == "ops"
        assert rows["ticking"]["actions"][0]["action"] == "pause" and rows["ticking"]["actions"][0]["by"] == "ops"
        assert rows["ok"]["paused_by"] is None and rows["ok"]["actions"] == []
        assert api.post("/api/pipelines/ticking/unpause").status_code == 200
        row = {r["name"]: r for r in api.get("/api/pipelines").json()}["ticking"]
        assert not row["paused"] and row["paused_by"] is None
        assert [(a["action"], a["by"]) for a in row["actions"]] == [("unpause", "ops"), ("pause", "ops")]
        assert row["actions"][0]["at"].endswith("Z")
        served = {r["name"]: r for r in json.loads(lockgate("pipelines", "--json").stdout)}  # from the registry
        assert [(a["action"], a["by"]) for a in served["ticking"]["actions"]] == [("unpause", "ops"), ("pause", "ops")]

        # runs a trigger started name the trigger
        (tmp_path / "landing" / "a.csv").write_text("x\n")

        def by_pipeline() -> dict[str, list[str | None]]:
            out: dict[str, list[str | None]] = {}
            for r in api.get("/api/runs", params={"limit": 1000}).json():
                out.setdefault(r["pipeline"], []).append(r["created_by"])
            return out

        runs = wait_until(lambda: (r := by_pipeline()) and "on_file" in r and "downstream" in r and r, timeout=60)
        assert runs["on_file"] == [f"file:{tmp_path / 'landing' / 'a.csv'}"]
        assert runs["downstream"] == ["upstream:on_file"]
        assert runs["ticking"] and set(runs["ticking"]) == {"schedule"}
    finally:
        api.close()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_the_cli_names_the_os_user_for_runs_pauses_cancels_and_resumes(tmp_path: Path) -> None:
    project(tmp_path)
    env = {**os.environ}
    done = lockgate("run", "pipelines/flows.py:ok", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created_by"] == CLI_USER
    queued = lockgate("trigger", "ok", "--pipelines", "pipelines").stdout.strip()
    assert shown(queued)["created_by"] == CLI_USER
    listed = {r["run_id"]: r for r in json.loads(lockgate("runs", "--json").stdout)}
    assert listed[queued]["created_by"] == CLI_USER
    assert lockgate("cancel", queued).returncode == 0
    assert [e["by"] for e in shown(queued)["history"] if e["type"] == "RunAborted"] == [CLI_USER]

    assert lockgate("pause", "ticking", "--pipelines", "pipelines").returncode == 0
    assert lockgate("unpause", "ticking", "--pipelines", "pipelines").returncode == 0
    rows = {r["name"]: r for r in json.loads(lockgate("pipelines", "--pipelines", "pipelines", "--json").stdout)}
    assert [(a["action"], a["by"]) for a in rows["ticking"]["actions"]] == [("unpause", CLI_USER), ("pause", CLI_USER)]

    # a run whose process was killed, resumed from the CLI: the history says who resumed it
    killed = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "run", "pipelines/flows.py:sleepy", "-p", "seconds=4"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )

    def running() -> str | None:
        runs = json.loads(lockgate("runs", "--json", "--pipeline", "sleepy").stdout or "[]")
        return runs[0]["run_id"] if runs and runs[0]["status"] == "RUNNING" else None

    run_id = wait_until(running, timeout=30)  # the step sleeps 4 s: long enough for a loaded machine to see it
    time.sleep(0.3)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    resumed = lockgate("resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    run = shown(run_id)
    assert run["status"] == "SUCCEEDED" and run["created_by"] == CLI_USER
    assert [e["by"] for e in run["history"] if e["type"] == "RunResumed"] == [CLI_USER]
