"""Running pipelines for real: executors, logs, retries, results, cancel, retry, PostgreSQL."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from tests.conftest import process_gone, wait_until

import lockgate
from lockgate.dag.loader import load_file
from lockgate.executors.base import Job
from lockgate.executors.local import ProcessExecutor
from lockgate.runtime import default_runtime

HERE = Path(__file__).parent
P = load_file(HERE / "pipelines_for_tests.py")


@pytest.mark.parametrize("executor", ["inline", "threads", "processes"])
def test_the_feedback_pipeline_runs_on_every_executor(executor: str) -> None:
    run = lockgate.run(P.feedback, day="2026-11-25", executor=executor)
    assert run.status == "SUCCEEDED" and run.output == 3
    assert [s.name for s in run.steps] == ["extract", "score", "score[0]", "score[1]", "score[2]", "load"]
    assert all(s.status == "SUCCEEDED" for s in run.steps)


def test_calling_the_pipeline_returns_its_output() -> None:
    assert P.feedback(day="2026-11-25") == 3


def test_a_failed_run_raises_when_the_pipeline_is_called() -> None:
    with pytest.raises(lockgate.RunFailed, match="lockgate.DataQuality") as info:
        P.quality()
    assert info.value.run.status == "FAILED"


def test_a_steps_output_and_logging_go_to_its_attempt_log() -> None:
    run = lockgate.run(P.feedback, day="2026-11-25")
    text = default_runtime().log_path(run.run_id, "extract", 1).read_text()
    assert "extracting 2026-11-25" in text
    assert "INFO feedback: found 3 rows" in text
    assert "a warning on stderr" in text


def test_soft_failures_are_retried_and_each_attempt_recorded(tmp_path: Path) -> None:
    run = lockgate.run(P.retried, marker=str(tmp_path / "count"))
    assert run.status == "SUCCEEDED" and run.output == "ok after 3"
    assert run.step("flaky").attempts == 3
    _, _, events = default_runtime().state(run.run_id)
    failures = [e for e in events if e.type == "StepFailed"]
    assert [f.error["name"] for f in failures] == ["ConnectionError", "ConnectionError"]
    assert all("Traceback" in f.error["traceback"] for f in failures)
    assert "attempt 1 could not connect" in failures[0].error["cause"]


def test_hard_failures_are_not_retried() -> None:
    run = lockgate.run(P.quality)
    assert run.status == "FAILED" and run.error == "lockgate.DataQuality"
    assert run.step("bad_data").attempts == 1
    assert run.step("bad_data").error == {"name": "lockgate.DataQuality", "cause": "column rating has 2 nulls"}


def test_each_attempt_gets_an_idempotency_key() -> None:
    run = lockgate.run(P.identity)
    assert run.output["key"] == f"{run.run_id}:whoami:1"


def test_large_results_are_written_to_files_and_read_back(home: Path) -> None:
    run = lockgate.run(P.spill, n=5000)
    assert run.status == "SUCCEEDED" and run.output == 5000
    files = list((home / "results" / run.run_id).glob("*.json"))
    assert [f.name for f in files] == ["big.1.json"]
    _, _, events = default_runtime().state(run.run_id)
    stored = next(e for e in events if e.type == "StepSucceeded" and e.step == "big")
    assert stored.result == {"__lockgate_result__": files[0].as_uri()}


def test_a_step_timeout_fails_the_step_with_states_timeout() -> None:
    started = time.monotonic()
    run = lockgate.run(P.sleeper, seconds=5.0)
    assert run.status == "FAILED" and run.error == "States.Timeout"
    assert time.monotonic() - started < 4


def test_a_run_timeout_times_the_run_out() -> None:
    run = lockgate.run(P.whole_run_limit, seconds=5.0)
    assert run.status == "TIMED_OUT" and run.step("sleepy").status == "ABORTED"


def test_retry_reruns_failed_steps_only(tmp_path: Path) -> None:
    run = lockgate.run(P.partly, folder=str(tmp_path))
    assert run.status == "FAILED" and run.step("touch__2").status == "SKIPPED"
    (tmp_path / "first").unlink()
    again = default_runtime().retry(run.run_id)
    assert again.run_id == run.run_id and again.status == "SUCCEEDED"
    assert not (tmp_path / "first").exists()  # it had succeeded: not run again
    assert (tmp_path / "last").exists()
    assert again.step("boom_once").attempts == 2 and again.step("touch").attempts == 1


def test_cancel_aborts_a_run_running_in_another_thread() -> None:
    runtime = default_runtime()
    runtime.heartbeat_seconds = 0.1
    result: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: result.setdefault(
            "run", lockgate.run(P.sleeper.fn.__wrapped__ if False else P.sleeper, seconds=3.0)
        )
    )
    P.sleepy.timeout = 100
    try:
        thread.start()
        deadline = time.monotonic() + 5
        while not runtime.store.list_runs(status="RUNNING") and time.monotonic() < deadline:
            time.sleep(0.02)
        run_id = runtime.store.list_runs(status="RUNNING")[0].run_id
        assert runtime.cancel(run_id).status == "ABORTED"
        thread.join(timeout=5)
    finally:
        P.sleepy.timeout = 0.3
    assert result["run"].status == "ABORTED"
    _, _, events = runtime.state(run_id)
    assert events[-1].type == "RunAborted"


def test_a_step_in_a_thread_sees_its_run_cancelled_and_stops(tmp_path: Path) -> None:
    import lockgate.attempt

    assert lockgate.attempt.cancelled() is False  # outside a step
    runtime = default_runtime()
    marker = tmp_path / "marker"
    result: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("run", lockgate.run(P.polite_run, marker=str(marker), executor="threads"))
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not runtime.store.list_runs(status="RUNNING") and time.monotonic() < deadline:
        time.sleep(0.02)
    run_id = runtime.store.list_runs(status="RUNNING")[0].run_id
    time.sleep(0.3)  # the step is looping
    assert not marker.exists()
    runtime.cancel(run_id)
    thread.join(timeout=10)
    assert marker.read_text() == "stopped"  # the step returned within a poll, not after its 20 s
    assert result["run"].status == "ABORTED"


def test_cancel_kills_the_process_running_a_step(tmp_path: Path) -> None:
    runtime = default_runtime()
    result: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("run", lockgate.run(P.napping, folder=str(tmp_path), executor="processes"))
    )
    thread.start()
    pid = int(wait_until(lambda: (tmp_path / "started").exists() and (tmp_path / "started").read_text(), 60))
    run_id = runtime.store.list_runs(status="RUNNING")[0].run_id
    cancelled_at = time.monotonic()
    runtime.cancel(run_id)
    thread.join(timeout=30)

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, 30, every=0.05)
    assert time.monotonic() - cancelled_at < 5.0  # the 60 s sleep was cut short
    assert result["run"].status == "ABORTED" and result["run"].step("nap").status == "ABORTED"
    time.sleep(0.5)
    assert not (tmp_path / "woke").exists()


def test_runs_share_the_processes_and_a_cancel_kills_only_its_own(tmp_path: Path) -> None:
    runtime = default_runtime()
    results: dict[str, lockgate.Run] = {}
    folders = {name: tmp_path / name for name in ("first", "second")}

    def nap(name: str) -> None:
        results[name] = lockgate.run(P.napping, folder=str(folders[name]), executor="processes")

    threads = []
    for name, folder in folders.items():
        folder.mkdir()
        threads.append(threading.Thread(target=nap, args=(name,)))
        threads[-1].start()
    pids = {name: int(wait_until(lambda f=f: (f / "started").exists() and (f / "started").read_text(), 60))
            for name, f in folders.items()}  # fmt: skip
    assert pids["first"] != pids["second"]
    from lockgate.executors.children import shared

    pool = {c.process.pid for c in shared()._busy}
    assert set(pids.values()) <= pool  # both runs' steps run in the one pool of this process
    (first,) = [r for r in runtime.store.list_runs(status="RUNNING") if r.params["folder"] == str(folders["first"])]
    runtime.cancel(first.run_id)
    threads[0].join(timeout=30)
    wait_until(lambda: process_gone(pids["first"]), 30, every=0.05)
    time.sleep(1.0)  # the second run's step runs on: its child was not the cancelled run's
    os.kill(pids["second"], 0)
    assert results["first"].status == "ABORTED"
    (second,) = runtime.store.list_runs(status="RUNNING")
    runtime.cancel(second.run_id)
    threads[1].join(timeout=30)
    wait_until(lambda: process_gone(pids["second"]), 30, every=0.05)
    assert not (folders["first"] / "woke").exists() and not (folders["second"] / "woke").exists()


def test_a_step_whose_process_exits_fails_alone_with_its_exit_code() -> None:
    run = lockgate.run(P.one_exits, executor="processes")
    assert run.status == "FAILED" and run.error == "lockgate.ProcessDied"
    assert "exit code 3" in run.cause
    assert run.step("stays").status == "SUCCEEDED"  # the other children were not affected


def test_runs_can_live_in_postgresql(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", postgres_url)
    run = lockgate.run(P.feedback, day="2026-11-25")
    assert run.status == "SUCCEEDED"
    runtime = default_runtime()
    assert runtime.settings.database_url == postgres_url
    assert runtime.store.get_run(run.run_id).status == "SUCCEEDED"
    assert json.loads(json.dumps(runtime.view(run.run_id).to_json()))["output"] == 3


def _nap_job(folder: Path, attempt: int) -> Job:
    workflow = P.napping.compile({"folder": str(folder)})
    home = default_runtime().home
    return Job(
        run_id="r-cancel", pipeline="napping", step="nap", attempt=attempt, task=P.nap.key, source=workflow.source,
        args=[str(folder), 60.0], kwargs={}, log_path=str(home / f"nap.{attempt}.log"), home=str(home),
    )  # fmt: skip


def test_the_processes_executor_kills_one_attempt_and_keeps_running_the_others(tmp_path: Path) -> None:
    executor = ProcessExecutor(2)
    try:
        executor.cancel("nap", 9)  # not running: nothing happens
        first, second = tmp_path / "first", tmp_path / "second"
        first.mkdir()
        second.mkdir()
        executor.submit(_nap_job(first, 1))
        executor.submit(_nap_job(second, 2))
        pids = [int(wait_until(lambda f=f: (f / "started").exists() and (f / "started").read_text(), 60))
                for f in (first, second)]  # fmt: skip
        asked_at = time.monotonic()
        executor.cancel("nap", 1)
        (outcome,) = wait_until(lambda: executor.wait(1.0), 30)
        assert time.monotonic() - asked_at < 5.0  # not the step's 60 s
        assert (outcome.step, outcome.attempt, outcome.error.name) == ("nap", 1, "lockgate.Aborted")
        assert "cleared or marked" in outcome.error.cause
        try:
            os.kill(pids[0], 0)
            raise AssertionError("the cancelled attempt's process still runs")
        except ProcessLookupError:
            pass
        os.kill(pids[1], 0)  # the other attempt's process runs on
        assert not (first / "woke").exists()
    finally:
        executor.shutdown()


def test_an_attempt_cancelled_before_a_child_takes_it_never_starts(tmp_path: Path) -> None:
    executor = ProcessExecutor(1)  # one slot: the second attempt waits for the first
    try:
        first, second = tmp_path / "first", tmp_path / "second"
        first.mkdir()
        second.mkdir()
        executor.submit(_nap_job(first, 1))
        executor.submit(_nap_job(second, 2))
        wait_until((first / "started").exists, 60)
        executor.cancel("nap", 2)
        executor.cancel("nap", 1)
        outcomes: list = []
        wait_until(lambda: outcomes.extend(executor.wait(1.0)) or len(outcomes) == 2, 30)
        assert sorted((o.attempt, o.error.name) for o in outcomes) == [(1, "lockgate.Aborted"), (2, "lockgate.Aborted")]
        assert not (second / "started").exists()
    finally:
        executor.shutdown()
