"""Cancelling a durable state machine stops its running Task states: a child process is killed,
a thread is told through `lockgate.attempt.cancelled()`; the run ends ABORTED."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import wait_until

from lockgate.asl import durable
from lockgate.asl.resources import Resources
from lockgate.runtime import Runtime

SRC = Path(__file__).parents[2] / "src"

MODULE = """
import os
import time

import lockgate.attempt


def nap(folder, polite=False):
    with open(os.path.join(folder, "pid"), "w") as f:
        f.write(str(os.getpid()))
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if polite and lockgate.attempt.cancelled():
            with open(os.path.join(folder, "told"), "w") as f:
                f.write("cancelled")
            return "stopped"
        time.sleep(0.1)
    with open(os.path.join(folder, "woke"), "w") as f:
        f.write("woke")
    return "woke"
"""


def _machine(module: str) -> dict[str, Any]:
    return {
        "StartAt": "Nap",
        "States": {"Nap": {"Type": "Task", "Resource": f"python:{module}:nap", "End": True}},
    }


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _start(tmp_path: Path, executor: str, polite: bool) -> tuple[Runtime, str, threading.Thread, dict[str, Any]]:
    code = tmp_path / "code"
    code.mkdir()
    module = f"asl_nap_{executor}"
    (code / f"{module}.py").write_text(MODULE)
    (tmp_path / "lockgate.toml").write_text(f'[engine]\nexecutor = "{executor}"\n')
    runtime = Runtime()
    resources = Resources.from_settings(runtime.settings, folders=[code])
    created = durable.create(
        runtime, _machine(module), {"folder": str(tmp_path), "polite": polite}, state_machine="Naps"
    )
    outcome: dict[str, Any] = {}
    driver = threading.Thread(
        target=lambda: outcome.update(durable.execute(runtime, created, resources=resources)), daemon=True
    )
    driver.start()
    wait_until(lambda: (tmp_path / "pid").exists() and (tmp_path / "pid").read_text(), 60)
    return runtime, created.run_id, driver, outcome


def test_cancel_kills_the_process_running_a_task_state(tmp_path: Path) -> None:
    runtime, run_id, driver, outcome = _start(tmp_path, "processes", polite=False)
    pid = int((tmp_path / "pid").read_text())
    assert pid != os.getpid()
    cancelled_at = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-m", "lockgate", "cancel", run_id], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    wait_until(lambda: _gone(pid), 30, every=0.05)
    assert time.monotonic() - cancelled_at < 5.0  # not the task's 60 s
    driver.join(timeout=30)
    assert not driver.is_alive()
    assert outcome["status"] == "ABORTED"
    assert runtime.store.get_run(run_id).status == "ABORTED"  # type: ignore[union-attr]
    time.sleep(1.0)
    assert not (tmp_path / "woke").exists()


def test_stop_execution_tells_a_task_state_in_a_thread(tmp_path: Path) -> None:
    runtime, run_id, driver, outcome = _start(tmp_path, "threads", polite=True)
    stopped_at = time.monotonic()
    durable.stop(runtime, run_id, "stopped by user")  # what StopExecution does
    wait_until(lambda: (tmp_path / "told").exists(), 30, every=0.05)
    driver.join(timeout=30)
    assert not driver.is_alive()
    assert time.monotonic() - stopped_at < 5.0
    assert outcome["status"] == "ABORTED"
    assert runtime.store.get_run(run_id).status == "ABORTED"  # type: ignore[union-attr]
    assert not (tmp_path / "woke").exists()


@pytest.mark.parametrize("executor", ["processes"])
def test_the_driver_notices_a_stop_within_about_a_second(tmp_path: Path, executor: str) -> None:
    runtime, run_id, driver, _ = _start(tmp_path, executor, polite=False)
    durable.stop(runtime, run_id, "stopped by user")
    started = time.monotonic()
    driver.join(timeout=30)
    assert time.monotonic() - started < 3.0  # within CANCEL_CHECK_SECONDS, not the heartbeat's interval
