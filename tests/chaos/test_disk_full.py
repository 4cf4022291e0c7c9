"""A full results folder or a full log folder: a real ENOSPC from a small tmpfs mounted over
`$LOCKGATE_HOME/results` or `$LOCKGATE_HOME/logs` and filled up (the store stays on the normal
disk). The attempt fails with an error naming the folder, under its Retry policy; the run ends
(never left RUNNING) with a history that agrees with its row, under `lockgate run` and `serve`;
once there is room again the next retry succeeds.

Mounting needs root (or CAP_SYS_ADMIN); elsewhere these tests skip, and fail under CI=true.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.chaos._faults import LEDGER_CODE, Serve, assert_consistent, lockgate, show, wait_finished
from tests.conftest import make_token, need, wait_until

PIPELINES = (
    LEDGER_CODE
    + """
from lockgate import Retry, pipeline, task

@task(retry=Retry(interval=0.1, max_attempts=2))
def big() -> list[int]:
    note("start")
    print("writing a line to the attempt's log " * 20)
    return list(range(5000))  # about 24 KB of JSON: spilled to the results folder

@task
def count(values: list[int]) -> int:
    return len(values)

@pipeline
def gives_up():
    return count(big())

@task(retry=Retry(interval=2.0, max_attempts=6, backoff_rate=1.0))
def patient() -> list[int]:
    note("start")
    print("writing a line to the attempt's log " * 20)
    return list(range(5000))

@pipeline
def recovers():
    return count(patient())
"""
)

ERRORS = {"results": "lockgate.ResultsFolderFull", "logs": "lockgate.LogFolderFull"}


@contextlib.contextmanager
def full_tmpfs(folder: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs mounted on `folder`, filled until writing fails; yields the filler file."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        need(f"cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): {mounted.stderr.decode().strip()}")
    filler = folder / "filler"
    try:
        with open(filler, "wb", buffering=0) as handle:
            try:
                while True:
                    handle.write(b"\0" * 4096)
            except OSError:
                pass
        probe = folder / "probe"
        with pytest.raises(OSError):
            probe.write_bytes(b"x" * 8192)
        probe.unlink(missing_ok=True)
        yield filler
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def project(root: Path) -> dict[str, str]:
    (root / "pipelines").mkdir()
    (root / "pipelines" / "flows.py").write_text(PIPELINES)
    return {"LOCKGATE_TEST_LEDGER": str(root / "ledger.jsonl"), "LOCKGATE_ENGINE__RESULT_MAX_BYTES": "1000"}


def check_failed_cleanly(shown: dict[str, object], folder: str, home: Path, attempts: int) -> None:
    assert_consistent(shown)  # type: ignore[arg-type]
    assert shown["status"] == "FAILED" and shown["error"] == ERRORS[folder], shown
    assert str(home / folder) in str(shown["cause"]) and "No space left on device" in str(shown["cause"])
    failures = [e for e in shown["history"] if e["type"] == "StepFailed"]  # type: ignore[attr-defined]
    assert len(failures) == attempts and [f["final"] for f in failures] == [False] * (attempts - 1) + [True]
    assert all(f["error"]["name"] == ERRORS[folder] for f in failures)


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["results", "logs"])
def test_lockgate_run_with_a_full_folder_fails_the_attempt_under_its_retry(
    tmp_path: Path, home: Path, folder: str
) -> None:
    env = project(tmp_path)
    with full_tmpfs(home / folder):
        done = lockgate("run", "pipelines/flows.py:gives_up", "--json", env=env)
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
        run = json.loads(done.stdout)
        check_failed_cleanly(show(run["run_id"], env), folder, home, attempts=3)
        assert not list((home / "results").glob("*/*.tmp"))  # no half-written result left


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["results", "logs"])
def test_serve_with_a_full_folder_fails_or_retries_until_there_is_room(tmp_path: Path, home: Path, folder: str) -> None:
    env = project(tmp_path)
    token = make_token("ops", "operator").secret
    service = Serve(tmp_path, env)
    with full_tmpfs(home / folder) as filler:
        service.start()
        api = httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        try:
            given_up = api.post("/api/pipelines/gives_up/trigger", json={}).json()["run_id"]
            recovering = api.post("/api/pipelines/recovers/trigger", json={}).json()["run_id"]

            def failed_once() -> bool:
                history = api.get(f"/api/runs/{recovering}").json()["history"]
                return any(e["type"] == "StepFailed" for e in history)

            wait_until(failed_once, timeout=45)
            wait_until(lambda: api.get(f"/api/runs/{given_up}").json()["status"] == "FAILED", timeout=45)
            os.unlink(filler)  # room again: the next retry succeeds
            runs = wait_finished(2, env, timeout=60)
            assert api.get("/api/health").json() == {"status": "ok"} and service.alive()
        finally:
            api.close()
            service.stop()
    check_failed_cleanly(show(given_up, env), folder, home, attempts=3)
    recovered = show(recovering, env)
    assert_consistent(recovered)
    assert recovered["status"] == "SUCCEEDED" and recovered["output"] == 5000, recovered
    failures = [e for e in recovered["history"] if e["type"] == "StepFailed"]
    assert failures and all(e["error"]["name"] == ERRORS[folder] and not e["final"] for e in failures)
    assert {r["status"] for r in runs} == {"FAILED", "SUCCEEDED"}
    assert "Traceback" not in service.stderr(), service.stderr()[-3000:]
