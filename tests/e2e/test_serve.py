"""`lockgate serve` as its users start it: a subprocess, a folder, signals."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import wait_until

PIPELINES = """
import os
from pathlib import Path
from lockgate import Retry, pipeline, task
from lockgate.triggers import FileArrival

LANDING = Path(__file__).resolve().parent.parent / "landing"

@task
def count_bytes(event: dict) -> int:
    return event["size"]

@pipeline(triggers=[FileArrival(str(LANDING), pattern="*.csv")])
def ingest(event: dict):
    return count_bytes(event)

@task(retry=Retry(interval=0.1, max_attempts=3))
def wait_for_go(event: dict) -> str:
    go = LANDING.parent / "go"
    (LANDING.parent / "started").write_text(str(os.getpid()))
    while not go.exists():
        import time; time.sleep(0.02)
    return "went"

@pipeline(triggers=[FileArrival(str(LANDING), pattern="*.slow")])
def slow(event: dict):
    return wait_for_go(event)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lockgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def runs(pipeline: str) -> list[dict]:
    done = lockgate("runs", "--json", "--pipeline", pipeline)
    if done.returncode == 2 and "no lockgate home here" in done.stderr:
        return []  # the service has not made its home yet
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def start_serve(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--pipelines", "pipelines", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def listening() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    wait_until(listening)
    return proc


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


@pytest.mark.slow
def test_a_dropped_file_runs_and_sigint_stops_serve_cleanly(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "landing").mkdir()
    (tmp_path / "pipelines" / "flows.py").write_text(PIPELINES)
    port = free_port()
    proc = start_serve(port)
    try:
        with open(tmp_path / "landing" / "orders.csv", "w") as handle:
            handle.write("id\n1\n")
        (run,) = wait_until(lambda: [r for r in runs("ingest") if r["status"] == "SUCCEEDED"])
        shown = json.loads(lockgate("show", run["run_id"], "--json").stdout)
        assert shown["output"] == 5 and shown["params"]["event"]["key"] == "orders.csv"
        code, err = stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_run_in_flight_when_serve_stops_is_resumed_at_the_next_start(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "landing").mkdir()
    (tmp_path / "pipelines" / "flows.py").write_text(PIPELINES)
    port = free_port()
    proc = start_serve(port)
    try:
        (tmp_path / "landing" / "job.slow").write_text("x")
        wait_until(lambda: (tmp_path / "started").exists())
        code, err = stop(proc, signal.SIGTERM)
        assert code == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
    (run,) = runs("slow")
    assert run["status"] == "RUNNING"  # its process is gone; the run is durable
    (tmp_path / "go").write_text("")
    proc = start_serve(port)
    try:
        wait_until(lambda: [r for r in runs("slow") if r["status"] == "SUCCEEDED"])
        assert len(runs("slow")) == 1
        code, _ = stop(proc)
        assert code == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_the_scheduler_alone_runs_triggers_and_stops_on_sigterm(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "landing").mkdir()
    (tmp_path / "pipelines" / "flows.py").write_text(PIPELINES)
    old = time.time() - 60
    (tmp_path / "landing" / "before.csv").write_text("a\n")  # landed before the scheduler started
    os.utime(tmp_path / "landing" / "before.csv", (old, old))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "scheduler", "--pipelines", "pipelines"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: [r for r in runs("ingest") if r["status"] == "SUCCEEDED"])
        code, err = stop(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0, err
    assert "scheduling 2 pipelines" in err
