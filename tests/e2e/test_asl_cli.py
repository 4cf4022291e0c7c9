"""`lockgate asl ...` end to end, in a fresh interpreter each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:Score"
DEFINITION = {
    "Comment": "score an order, retrying a flaky service, then wait and finish",
    "StartAt": "Score",
    "States": {
        "Score": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": LAMBDA, "Payload.$": "$"},
            "ResultSelector": {"score.$": "$.Payload.score"},
            "ResultPath": "$.result",
            "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 1, "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Rejected"}],
            "Next": "Decide",
        },
        "Decide": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.result.score", "NumericGreaterThan": 50, "Next": "Approved"}],
            "Default": "Rejected",
        },
        "Approved": {"Type": "Pass", "Parameters": {"approved": True, "who.$": "$$.Execution.Name"}, "End": True},
        "Rejected": {"Type": "Fail", "Error": "Order.Rejected", "Cause": "score too low"},
    },
}


def lockgate(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join([src, str(cwd or Path.cwd()), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, env=env, timeout=120, cwd=cwd
    )


def _last_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """The last JSON line printed; the exit code must match its status (0 succeeded, 1 otherwise)."""
    assert proc.returncode in (0, 1), proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if "status" in result:
        assert proc.returncode == (0 if result["status"] == "SUCCEEDED" else 1), (result, proc.stderr)
    return result


@pytest.fixture
def project(home: Path) -> Path:
    root = Path.cwd()
    (root / "Orders.json").write_text(json.dumps(DEFINITION))
    (root / "scoring.py").write_text("def score(**order):\n    return {'score': order['amount'] * 2}\n")
    (root / "lockgate.toml").write_text(f'[asl.resources]\n"{LAMBDA}" = "python:scoring:score"\n')
    return root


def test_validate_accepts_a_good_definition(project: Path) -> None:
    proc = lockgate("asl", "validate", "Orders.json")
    assert proc.returncode == 0 and "valid" in proc.stdout


def test_validate_lists_every_problem_with_state_and_pointer(project: Path) -> None:
    bad = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}, "B": {"Type": "Fail", "Retry": []}}}
    Path("bad.json").write_text(json.dumps(bad))
    proc = lockgate("asl", "validate", "bad.json")
    assert proc.returncode == 2
    assert "/States/A/Next" in proc.stderr and "state B" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("mode", [[], ["--in-memory"]])
def test_run_succeeds_through_the_resource_map(project: Path, mode: list[str]) -> None:
    result = _last_json(
        lockgate("asl", "run", "--definition", "Orders.json", "--input", '{"amount": 40}', "--name", "ord-1", *mode)
    )
    assert result["status"] == "SUCCEEDED"
    assert result["output"] == {"approved": True, "who": "ord-1"}


def test_run_reports_a_failure_and_exits_1(project: Path) -> None:
    Path("input.json").write_text('{"amount": 3}')
    result = _last_json(lockgate("asl", "run", "--definition", "Orders.json", "--input", "input.json", "--in-memory"))
    assert result == {"status": "FAILED", "error": "Order.Rejected", "cause": "score too low"}


def test_run_with_a_mock_config_and_test_case(project: Path) -> None:
    mock = {
        "StateMachines": {
            "Orders": {"TestCases": {"High": {"Score": "HighScore"}, "Broken": {"Score": "ServiceDown"}}}
        },
        "MockedResponses": {
            "HighScore": {"0": {"Return": {"StatusCode": 200, "Payload": {"score": 99}}}},
            "ServiceDown": {"0": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "down"}}},
        },
    }
    Path("MockConfigFile.json").write_text(json.dumps(mock))
    base = [
        "asl",
        "run",
        "--definition",
        "Orders.json",
        "--input",
        '{"amount": 1}',
        "--mock-config",
        "MockConfigFile.json",
    ]
    result = _last_json(lockgate(*base, "--test-case", "High", "--in-memory"))
    assert result["status"] == "SUCCEEDED" and result["output"]["approved"] is True
    result = _last_json(lockgate(*base, "--test-case", "Broken"))  # durable, caught by States.ALL
    assert (result["status"], result["error"]) == ("FAILED", "Order.Rejected")
    proc = lockgate(*base, "--test-case", "Missing")
    assert proc.returncode == 2 and "Missing" in proc.stderr and "Traceback" not in proc.stderr


def test_an_unmapped_arn_is_a_task_failure_naming_it(home: Path) -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync", "End": True}},
    }
    Path("glue.json").write_text(json.dumps(definition))
    result = _last_json(lockgate("asl", "run", "--definition", "glue.json", "--in-memory"))
    assert result["status"] == "FAILED" and result["error"] == "States.TaskFailed"
    assert "arn:aws:states:::glue:startJobRun.sync" in result["cause"]


@pytest.mark.parametrize(
    "args",
    [
        ["--definition", "missing.json"],
        ["--definition", "Orders.json", "--input", "{not json"],
        ["--definition", "Orders.json", "--mock-config", "nope.json", "--test-case", "x"],
        ["--definition", "Orders.json", "--test-case", "x"],
    ],
)
def test_bad_input_exits_2_without_a_traceback(project: Path, args: list[str]) -> None:
    proc = lockgate("asl", "run", *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr


def test_show_gives_the_service_history_of_a_durable_run(project: Path) -> None:
    result = _last_json(lockgate("asl", "run", "--definition", "Orders.json", "--input", '{"amount": 40}'))
    shown = _last_json(lockgate("show", result["run_id"], "--json"))
    assert shown["status"] == "SUCCEEDED" and shown["kind"] == "asl"
    types = [event["type"] for event in shown["history"]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert {"TaskScheduled", "TaskSucceeded", "ChoiceStateEntered", "PassStateExited"} <= set(types)
    assert all({"id", "previousEventId", "timestamp", "type"} <= set(event) for event in shown["history"])


def test_run_batch_prints_one_result_per_case_in_order(project: Path) -> None:
    passing = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "done", "End": True}}}
    mock = {
        "StateMachines": {"Orders": {"TestCases": {"Low": {"Score": "Low"}}}},
        "MockedResponses": {"Low": {"0": {"Return": {"Payload": {"score": 1}}}}},
    }
    cases = [
        {"id": "a", "definition": passing, "input": {}},
        {
            "id": "b",
            "definition": DEFINITION,
            "input": {"amount": 1},
            "mock_config": mock,
            "test_case": "Low",
            "state_machine": "Orders",
        },
        {"id": "c", "definition": {"StartAt": "Nope", "States": {}}, "input": {}},
    ]
    Path("cases.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n{broken\n")
    proc = lockgate("asl", "run-batch", "cases.jsonl")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["a", "b", "c", None]
    assert lines[0] == {"id": "a", "status": "SUCCEEDED", "output": "done"}
    assert lines[1]["status"] == "FAILED" and lines[1]["error"] == "Order.Rejected"
    assert lines[2]["status"] == "INVALID" and lines[3]["status"] == "INVALID"


def test_wait_for_task_token_completed_from_another_process(home: Path) -> None:
    root = Path.cwd()
    (root / "handoff.py").write_text(
        "import pathlib\ndef send(MessageBody, **_):\n    pathlib.Path('token.txt').write_text(MessageBody['token'])\n"
    )
    (root / "lockgate.toml").write_text('[asl.resources]\n"arn:aws:states:::sqs:sendMessage" = "python:handoff:send"\n')
    definition = {
        "StartAt": "Wait for approval",
        "States": {
            "Wait for approval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 60,
                "End": True,
            }
        },
    }
    (root / "approve.json").write_text(json.dumps(definition))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"), str(root)])
    runner = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "asl", "run", "--definition", "approve.json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        token_file = root / "token.txt"
        for _ in range(300):
            if token_file.exists() and token_file.read_text():
                break
            runner.poll()
            assert runner.returncode is None, runner.stderr.read() if runner.stderr else ""
            subprocess.run([sys.executable, "-c", "import time; time.sleep(0.05)"], check=True)
        token = token_file.read_text()
        bad = lockgate("asl", "send-task-success", "--task-token", "nope", "--task-output", "{}")
        assert bad.returncode == 2 and "TaskDoesNotExist" in bad.stderr
        sent = lockgate("asl", "send-task-success", "--task-token", token, "--task-output", '{"approved": true}')
        assert sent.returncode == 0, sent.stderr
        out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "SUCCEEDED" and result["output"] == {"approved": True}, err


def test_retry_redrives_a_failed_execution_and_refuses_a_succeeded_one(home: Path) -> None:
    root = Path.cwd()
    flaky = {
        "StartAt": "Count",
        "States": {
            "Count": {"Type": "Task", "Resource": "python:flaky:count", "ResultPath": "$.first", "Next": "Check"},
            "Check": {"Type": "Task", "Resource": "python:flaky:check", "ResultPath": "$.check", "Next": "Done"},
            "Done": {"Type": "Pass", "Parameters": {"redrives.$": "$$.Execution.RedriveCount"}, "End": True},
        },
    }
    (root / "Flaky.json").write_text(json.dumps(flaky))
    (root / "flaky.py").write_text(
        "from pathlib import Path\n"
        "def count(**_):\n"
        "    p = Path('counted'); p.write_text(p.read_text() + 'x' if p.exists() else 'x'); return 1\n"
        "def check(**_):\n"
        "    if Path('broken').exists():\n"
        "        raise ValueError('still broken')\n"
        "    return 'ok'\n"
    )
    (root / "broken").write_text("")
    failed = _last_json(lockgate("asl", "run", "--definition", "Flaky.json", "--input", "{}", cwd=root))
    assert (failed["status"], failed["error"]) == ("FAILED", "ValueError")
    (root / "broken").unlink()
    retried = lockgate("retry", failed["run_id"], "--json", cwd=root)
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["status"] == "SUCCEEDED"
    assert (root / "counted").read_text() == "x"  # the state that succeeded did not run again
    shown = json.loads(lockgate("show", failed["run_id"], "--json", cwd=root).stdout)
    assert shown["output"] == {"redrives": 1}
    assert "ExecutionRedriven" in [e["type"] for e in shown["history"]]
    again = lockgate("retry", failed["run_id"], cwd=root)
    assert again.returncode == 2 and "SUCCEEDED" in again.stderr and "Traceback" not in again.stderr


def _one_task(resource: str, **fields: Any) -> dict[str, Any]:
    return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, **fields, "End": True}}}


@pytest.mark.parametrize("durable", [False, True])
def test_run_exits_1_when_the_execution_fails(home: Path, durable: bool) -> None:
    root = Path.cwd()
    (root / "Fails.json").write_text(json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}}))
    proc = lockgate("asl", "run", "--definition", "Fails.json", *([] if durable else ["--in-memory"]), cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["status"] == "FAILED"


def test_run_exits_1_when_the_execution_times_out(home: Path) -> None:
    root = Path.cwd()
    slow = {"TimeoutSeconds": 1, "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
    (root / "Slow.json").write_text(json.dumps(slow))
    proc = lockgate("asl", "run", "--definition", "Slow.json", "--in-memory", cwd=root)
    assert proc.returncode == 1 and json.loads(proc.stdout)["status"] == "TIMED_OUT", proc.stdout + proc.stderr


def test_run_exits_1_when_the_execution_is_aborted(home: Path) -> None:
    root = Path.cwd()
    waits = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
    (root / "Waits.json").write_text(json.dumps(waits))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"), str(root)])
    runner = subprocess.Popen([sys.executable, "-m", "lockgate", "asl", "run", "--definition", "Waits.json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=root)  # fmt: skip
    try:
        run_id = None
        for _ in range(120):
            listed = lockgate("runs", "--json", cwd=root)  # exits 2 until the run has made the home
            running = [r for r in json.loads(listed.stdout or "[]") if r["status"] == "RUNNING"]
            if running:
                run_id = running[0]["run_id"]
                break
            assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
            time.sleep(0.1)
        assert run_id, "the execution never showed as RUNNING"
        stopped = lockgate("asl", "stop", run_id, cwd=root)
        assert stopped.returncode == 0, stopped.stderr
        out, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert runner.returncode == 1, err
    assert json.loads(out.strip().splitlines()[-1])["status"] == "ABORTED"


def _without_pythonpath(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")  # lockgate itself, not the user's code
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=cwd)  # fmt: skip


def test_a_python_resource_is_found_next_to_the_definition_and_in_the_pipelines_folder(home: Path) -> None:
    root = Path.cwd()
    (root / "flows").mkdir()
    (root / "pipelines").mkdir()
    (root / "flows" / "beside_definition.py").write_text("def twice(n):\n    return n * 2\n")
    (root / "pipelines" / "in_pipelines.py").write_text("def plus(n):\n    return n + 1\n")
    both = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Resource": "python:beside_definition:twice", "Next": "B"},
            "B": {"Type": "Task", "Resource": "python:in_pipelines:plus", "End": True},
        },
    }
    (root / "flows" / "Both.json").write_text(json.dumps(both))
    for mode in (["--in-memory"], []):
        proc = _without_pythonpath("asl", "run", "--definition", "flows/Both.json", "--input", "5", *mode, cwd=root)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.strip().splitlines()[-1])["output"] == 11


def test_an_import_error_of_the_users_module_is_not_retried_and_names_it(home: Path) -> None:
    root = Path.cwd()
    (root / "needs_missing.py").write_text("import lockgate_no_such_package\n\ndef go(**_):\n    return 1\n")
    retried = _one_task("python:needs_missing:go", Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}])
    (root / "Imports.json").write_text(json.dumps(retried))
    proc = _without_pythonpath("asl", "run", "--definition", "Imports.json", "--in-memory", cwd=root)
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["error"] == "lockgate.ImportFailed"
    assert "needs_missing" in result["cause"] and "lockgate_no_such_package" in result["cause"]
