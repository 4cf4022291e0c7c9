"""`lockgate serve` serving state machines declared in the folder's lockgate.toml."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import free_port, wait_for_port, wait_until

PROJECT = """
[asl.state_machines.orders]
definition = "orders.asl.json"
file_arrival = {uri = "../landing", pattern = "*.csv"}

[asl.state_machines.waiter]
definition = "waiter.asl.yaml"

[asl.state_machines.after_orders]
definition = "after.asl.json"
pipeline_succeeded = "orders"
"""

ORDERS = {
    "StartAt": "Describe",
    "States": {"Describe": {"Type": "Pass", "Parameters": {"key.$": "$.key", "size.$": "$.size"}, "End": True}},
}

AFTER = {"StartAt": "Note", "States": {"Note": {"Type": "Pass", "Parameters": {"upstream.$": "$.run_id"}, "End": True}}}

WAITER = """
StartAt: Hold
States:
  Hold:
    Type: Wait
    Seconds: 6
    Next: Done
  Done:
    Type: Pass
    End: true
"""


def lockgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def runs(name: str) -> list[dict]:
    done = lockgate("runs", "--json", "--pipeline", name)
    if done.returncode == 2 and "no lockgate home here" in done.stderr:
        return []  # the service has not made its home yet
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def serve(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--pipelines", "pipelines", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not wait_for_port(port, 30):
        proc.kill()
        raise AssertionError(f"serve did not listen: {proc.communicate()[1][-2000:]}")
    return proc


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (tmp_path / "landing").mkdir()
    (folder / "lockgate.toml").write_text(PROJECT)
    (folder / "orders.asl.json").write_text(json.dumps(ORDERS))
    (folder / "waiter.asl.yaml").write_text(WAITER)
    (folder / "after.asl.json").write_text(json.dumps(AFTER))
    return tmp_path


def test_pipelines_lists_state_machines_with_their_triggers(project: Path) -> None:
    done = lockgate("pipelines", "--json", "--pipelines", "pipelines")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["orders"]["kind"] == "asl"
    assert rows["orders"]["triggers"] == [f"files {(project / 'landing').as_uri()}/*.csv"]
    assert rows["orders"]["downstream"] == ["after_orders"] and rows["after_orders"]["upstream"] == ["orders"]
    assert rows["waiter"]["triggers"] == []
    assert "no ASL engine" not in done.stderr


def test_trigger_wait_runs_a_state_machine_here(project: Path) -> None:
    done = lockgate(
        "trigger", "orders", "--pipelines", "pipelines", "-p", "key=a.csv", "-p", "size=3", "--wait", "--json"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["output"]) == ("SUCCEEDED", {"key": "a.csv", "size": 3})
    shown = json.loads(lockgate("show", result["run_id"], "--json").stdout)
    assert [e["type"] for e in shown["history"]][:2] == ["ExecutionStarted", "PassStateEntered"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[asl.state_machines.x]\ncron = "0 6 * * *"\n', 'needs definition = "FILE.asl.json"'),
        (
            '[asl.state_machines.x]\ndefinition = "orders.asl.json"\nfile_arival = {uri = "a"}\n',
            "unknown keys file_arival",
        ),
        ('[asl.state_machines.x]\ndefinition = "orders.asl.json"\ntimezone = "UTC"\n', "timezone apply to a cron"),
        ('[asl.state_machines.x]\ndefinition = "bad.asl.json"\n', "invalid state machine definition"),
    ],
)
def test_a_bad_project_file_exits_2_naming_the_fault(project: Path, toml: str, message: str) -> None:
    (project / "pipelines" / "lockgate.toml").write_text(toml)
    (project / "pipelines" / "bad.asl.json").write_text('{"StartAt": "Nowhere", "States": {}}')
    done = lockgate("pipelines", "--pipelines", "pipelines")
    assert done.returncode == 2
    assert message in done.stderr and "lockgate.toml: asl.state_machines.x" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_files_start_executions_and_a_wait_survives_a_killed_service(project: Path) -> None:
    port = free_port()
    proc = serve(port)
    try:
        (project / "landing" / "orders.csv").write_text("id\n1\n")
        (run,) = wait_until(lambda: [r for r in runs("orders") if r["status"] == "SUCCEEDED"])
        shown = json.loads(lockgate("show", run["run_id"], "--json").stdout)
        assert shown["output"] == {"key": "orders.csv", "size": 5}
        # the upstream trigger: after_orders runs with the orders run's event
        (after,) = wait_until(lambda: [r for r in runs("after_orders") if r["status"] == "SUCCEEDED"])
        assert json.loads(lockgate("show", after["run_id"], "--json").stdout)["output"] == {"upstream": run["run_id"]}

        queued = lockgate("trigger", "waiter", "--pipelines", "pipelines", "-p", "who=me", "--json")
        waiter_id = json.loads(queued.stdout)["run_id"]

        def waiting() -> bool:
            history = json.loads(lockgate("show", waiter_id, "--json").stdout).get("history", [])
            return any(e["type"] == "WaitStateEntered" for e in history)

        wait_until(waiting)
        proc.kill()  # no clean stop: the execution is left RUNNING, owned by a dead process
        proc.communicate(timeout=10)
        assert runs("waiter")[0]["status"] == "RUNNING"
        proc = serve(port)
        listening = time.time()  # the orphan was resumed before the service listened
        wait_until(lambda: [r for r in runs("waiter") if r["status"] == "SUCCEEDED"], timeout=40)
        shown = json.loads(lockgate("show", waiter_id, "--json").stdout)
        assert shown["output"] == {"who": "me"}
        times = {e["type"]: e["timestamp"] for e in shown["history"] if e["type"].startswith("Wait")}
        entered = _seconds(times["WaitStateEntered"])
        exited = _seconds(times["WaitStateExited"])
        # The timer kept its due time across the restart: it ended 6 s after it began (or at the
        # resume, if that came later), not 6 s after the second start.
        assert exited - entered >= 5.9
        assert exited < listening + 5.0
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def _seconds(stamp: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


SHORT_WAIT = """
StartAt: Hold
States:
  Hold:
    Type: Wait
    Seconds: 3
    End: true
"""


@pytest.mark.slow
def test_a_long_wait_gives_its_run_slot_back(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_TRIGGERS__MAX_CONCURRENT_RUNS", "1")
    monkeypatch.setenv("LOCKGATE_TRIGGERS__PARK_AFTER_SECONDS", "1")
    (project / "pipelines" / "waiter.asl.yaml").write_text(SHORT_WAIT)
    port = free_port()
    proc = serve(port)
    try:
        ids = [
            json.loads(lockgate("trigger", "waiter", "--pipelines", "pipelines", "-p", f"n={n}", "--json").stdout)[
                "run_id"
            ]
            for n in range(2)
        ]
        wait_until(lambda: len([r for r in runs("waiter") if r["status"] == "SUCCEEDED"]) == 2, timeout=40)
        spans = []
        for run_id in ids:
            shown = json.loads(lockgate("show", run_id, "--json").stdout)
            times = {e["type"]: _seconds(e["timestamp"]) for e in shown["history"] if e["type"].startswith("Wait")}
            spans.append((times["WaitStateEntered"], times["WaitStateExited"]))
            assert 2.9 <= times["WaitStateExited"] - times["WaitStateEntered"] < 8.0
        (_, first_out), (second_in, _) = sorted(spans)
        assert second_in < first_out  # one run slot, yet both waited at once: a parked Wait holds no slot
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err
