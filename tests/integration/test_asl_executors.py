"""State machines on the run's executor: Task states that run code are Jobs like Python steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lockgate.asl import durable
from lockgate.asl.resources import Resources
from lockgate.runtime import Runtime

SRC = Path(__file__).parents[2] / "src"

MODULE = """
import os
import lockgate


def visit(item, folder):
    ctx = lockgate.context()
    print(f"visiting {item} in {os.getpid()}")
    with open(os.path.join(folder, "ledger"), "a") as f:
        f.write(f"{item} {ctx.idempotency_key} {ctx.attempt} {os.getpid()}\\n")
    if item == "bad":
        raise ValueError("cannot visit bad")
    return {"item": item, "pid": os.getpid()}


def total(values):
    return sum(v["item"] for v in values)
"""

MACHINE: dict[str, Any] = {
    "StartAt": "Both",
    "States": {
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Each",
                    "States": {
                        "Each": {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "ItemSelector": {"item.$": "$$.Map.Item.Value", "folder.$": "$.folder"},
                            "ItemProcessor": {
                                "StartAt": "Visit",
                                "States": {"Visit": {"Type": "Task", "Resource": "python:asl_work:visit", "End": True}},
                            },
                            "Next": "Sum",
                        },
                        "Sum": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": "total", "Payload": {"values.$": "$"}},
                            "OutputPath": "$.Payload",
                            "End": True,
                        },
                    },
                },
                {
                    "StartAt": "Bad",
                    "States": {
                        "Bad": {
                            "Type": "Task",
                            "Resource": "python:asl_work:visit",
                            "Parameters": {"item": "bad", "folder.$": "$.folder"},
                            "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.caught", "Next": "Caught"}],
                            "End": True,
                        },
                        "Caught": {"Type": "Pass", "OutputPath": "$.caught", "End": True},
                    },
                },
            ],
            "End": True,
        }
    },
}


@pytest.mark.parametrize("executor", ["inline", "threads", "processes"])
def test_a_durable_state_machine_runs_its_tasks_on_each_local_executor(tmp_path: Path, executor: str) -> None:
    code = tmp_path / "code"
    code.mkdir()
    module = f"asl_work_{executor}"  # one module name per test: the import system keeps modules
    (code / f"{module}.py").write_text(MODULE)
    (tmp_path / "lockgate.toml").write_text(
        f'[engine]\nexecutor = "{executor}"\n'
        f'[asl.resources]\n"arn:aws:lambda:us-east-1:123456789012:function:total" = "python:{module}:total"\n'
    )
    runtime = Runtime()
    assert runtime.executor_kind == executor
    resources = Resources.from_settings(runtime.settings, folders=[code])
    machine = json.loads(json.dumps(MACHINE).replace("python:asl_work:", f"python:{module}:"))
    run_id, result = durable.start(
        runtime, machine, {"items": [1, 2, 3], "folder": str(tmp_path)}, state_machine="Visits", resources=resources
    )
    assert result["status"] == "SUCCEEDED", result
    total, caught = result["output"]
    assert total == 6
    assert caught["Error"] == "ValueError" and "cannot visit bad" in caught["Cause"]

    lines = [line.split() for line in (tmp_path / "ledger").read_text().splitlines()]
    assert sorted(line[0] for line in lines) == ["1", "2", "3", "bad"]
    keys = [line[1] for line in lines]
    assert len(set(keys)) == 4 and all(key.startswith(f"{run_id}:") for key in keys)
    assert all(line[2] == "1" for line in lines)
    pids = {int(line[3]) for line in lines}
    if executor == "processes":
        assert os.getpid() not in pids  # ran in the executor's processes, not in the driving one
    else:
        assert pids == {os.getpid()}

    # Each attempt's output is in its log, shown by `lockgate logs RUN STATE`.
    entries = _logs(run_id, "Visit")
    assert len(entries) == 3 and {e["step"] for e in entries} == {"Visit"}
    assert all(e["text"].startswith("visiting ") for e in entries)
    from lockgate.server.attempt_logs import attempt_logs  # what the API and the UI show

    shown = attempt_logs(runtime, run_id, "Visit")
    assert len(shown) == 3 and all(log.text.startswith("visiting ") and "Visit" in log.step for log in shown)
    assert [log.step for log in attempt_logs(runtime, run_id, shown[0].step)] == [shown[0].step]
    bad = _logs(run_id, "Bad")
    assert len(bad) == 1 and "ValueError: cannot visit bad" in bad[0]["text"]  # the traceback is logged


def test_a_python_module_outside_the_allowed_ones_is_refused_by_the_executor(tmp_path: Path) -> None:
    (tmp_path / "lockgate.toml").write_text('[engine]\nexecutor = "processes"\n')
    runtime = Runtime()
    machine = {"StartAt": "Shell", "States": {"Shell": {"Type": "Task", "Resource": "python:os:getcwd", "End": True}}}
    _, result = durable.start(runtime, machine, {}, state_machine="Refused")
    assert result["status"] == "FAILED" and result["error"] == "lockgate.ImportFailed"
    assert "module os is not in the pipelines folder" in result["cause"]


def _logs(run_id: str, state: str) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-m", "lockgate", "logs", run_id, state, "--json"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_lockgate_task_of_a_pipeline_file_runs_in_the_executors_processes(tmp_path: Path) -> None:
    from lockgate.dag.loader import load_file

    (tmp_path / "lockgate.toml").write_text('[engine]\nexecutor = "processes"\n')
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "shouting.py").write_text(
        "import os\nfrom lockgate import task\n\n\n@task\ndef shout_in_a_process(word: str) -> dict:\n"
        "    return {'word': word.upper(), 'pid': os.getpid()}\n"
    )
    load_file(pipelines / "shouting.py")  # as a service loads its folder: the task is known by name
    machine = {
        "StartAt": "Shout",
        "States": {"Shout": {"Type": "Task", "Resource": "lockgate:task:shout_in_a_process", "End": True}},
    }
    _, result = durable.start(Runtime(), machine, {"word": "hey"}, state_machine="Shouts")
    assert result["status"] == "SUCCEEDED", result
    assert result["output"]["word"] == "HEY" and result["output"]["pid"] != os.getpid()


def test_a_stopped_execution_is_left_by_its_driver_while_its_task_still_runs(tmp_path: Path) -> None:
    import threading
    import time

    code = tmp_path / "code"
    code.mkdir()
    (code / "asl_slow.py").write_text(
        "import time\n\n\ndef slow(marker):\n    open(marker, 'w').close()\n    time.sleep(8)\n    return 1\n"
    )
    (tmp_path / "lockgate.toml").write_text('[engine]\nexecutor = "threads"\nheartbeat_seconds = 0.3\n')
    runtime = Runtime()
    marker = tmp_path / "started"
    machine = {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "python:asl_slow:slow", "End": True}}}
    created = durable.create(runtime, machine, {"marker": str(marker)}, state_machine="Slow")

    def stop_when_started() -> None:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        durable.stop(runtime, created.run_id)

    stopper = threading.Thread(target=stop_when_started)
    stopper.start()
    resources = Resources.from_settings(runtime.settings, folders=[code])
    started = time.monotonic()
    result = durable.execute(runtime, created, resources=resources)
    stopper.join()
    assert result["status"] == "ABORTED"
    assert time.monotonic() - started < 6  # noticed at a heartbeat, not when the 8 s task returned


@pytest.mark.parametrize(("configured", "asked"), [("threads", "processes"), ("processes", "threads")])
def test_a_resumed_state_machine_runs_its_tasks_on_the_executor_asked(
    tmp_path: Path, configured: str, asked: str
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    module = f"asl_where_{configured}"
    (code / f"{module}.py").write_text("import os\n\n\ndef where():\n    return {'pid': os.getpid()}\n")
    (tmp_path / "lockgate.toml").write_text(
        f'[engine]\nexecutor = "{configured}"\n[service]\npipelines = "{code}"\n'  # where python: modules are
    )
    machine = {
        "StartAt": "Where",
        "States": {"Where": {"Type": "Task", "Resource": f"python:{module}:where", "End": True}},
    }
    created = durable.create(Runtime(), machine, {}, state_machine="Where")  # its driver died before the Task ran
    resumer = Runtime()
    assert resumer.executor_kind == configured
    resumer.resume(created.run_id, executor=asked)
    record = resumer.store.get_run(created.run_id)
    assert record is not None and record.status == "SUCCEEDED", record
    pid = record.output["pid"]
    assert (pid != os.getpid()) == (asked == "processes")  # a child process only when processes were asked


SLOW_VISIT = """
import json, os, time


def visit(item, label, folder):
    start = time.time()
    time.sleep(0.3)
    span = {"run": label, "item": item, "pid": os.getpid(), "start": start, "end": time.time()}
    with open(os.path.join(folder, "spans"), "a") as f:
        f.write(json.dumps(span) + "\\n")
    return os.getpid()
"""


def test_state_machines_driven_at_once_share_one_set_of_child_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing
    import threading

    from lockgate.executors import children

    monkeypatch.setattr(children, "_shared", None)  # a pool of this test's own (others' children stay apart)
    code = tmp_path / "code"
    code.mkdir()
    (code / "asl_shared_pool.py").write_text(SLOW_VISIT)
    (tmp_path / "lockgate.toml").write_text(
        f'[engine]\nexecutor = "processes"\nmax_workers = 2\n[service]\npipelines = "{code}"\n'
    )
    machine = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {"item.$": "$$.Map.Item.Value", "label.$": "$.label", "folder.$": "$.folder"},
                "ItemProcessor": {
                    "StartAt": "Visit",
                    "States": {"Visit": {"Type": "Task", "Resource": "python:asl_shared_pool:visit", "End": True}},
                },
                "End": True,
            }
        },
    }
    runtime = Runtime()  # as a service: one runtime drives several runs, each in a thread of its own
    results: dict[str, dict[str, Any]] = {}

    def drive(label: str) -> None:
        _, results[label] = durable.start(
            runtime, machine, {"items": [1, 2, 3, 4], "label": label, "folder": str(tmp_path)}, state_machine="Spans"
        )

    for pair in (("A", "B"), ("C", "D")):
        threads = [threading.Thread(target=drive, args=(label,)) for label in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert sorted(results) == ["A", "B", "C", "D"]
    assert all(r["status"] == "SUCCEEDED" for r in results.values()), results

    spans = [json.loads(line) for line in (tmp_path / "spans").read_text().splitlines()]
    assert len(spans) == 16
    pids = {label: {s["pid"] for s in spans if s["run"] == label} for label in results}
    assert os.getpid() not in set().union(*pids.values())

    def most_at_once(chosen: list[dict[str, Any]]) -> int:
        edges = sorted([(s["start"], 1) for s in chosen] + [(s["end"], -1) for s in chosen])
        level = peak = 0
        for _, step in edges:
            level += step
            peak = max(peak, level)
        return peak

    for label in results:  # each run keeps its own capacity
        assert most_at_once([s for s in spans if s["run"] == label]) <= 2
    # The pairs did run at once (else this proves nothing about sharing) ...
    assert most_at_once([s for s in spans if s["run"] in ("A", "B")]) > 2
    # ... on one set of children: the second pair ran in the processes the first pair ran in,
    # and no more of them than two runs of two slots need.
    assert pids["C"] | pids["D"] <= pids["A"] | pids["B"]
    assert len(set().union(*pids.values())) <= 4
    pool = children.shared()
    try:

        def alive() -> set[int]:
            return {p.pid for p in multiprocessing.active_children() if p.name == "lockgate-step"} & (
                {c.process.pid for c in pool._idle + pool._busy}
            )

        assert alive() == set().union(*pids.values())  # warm for the next runs
        # Children idle for IDLE_SECONDS beyond what the runs need (one run's capacity) are stopped.
        monkeypatch.setattr(children, "IDLE_SECONDS", 0.0)
        drive("E")
        assert results["E"]["status"] == "SUCCEEDED"
        spans = [json.loads(line) for line in (tmp_path / "spans").read_text().splitlines()]
        assert {s["pid"] for s in spans if s["run"] == "E"} <= set().union(*pids.values())
        assert len(alive()) == 2
    finally:
        pool.close()
