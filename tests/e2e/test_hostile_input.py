"""Input built to hurt: deep nesting and huge bodies get clear errors (exit 2, 400, 413), never a
traceback, and a refused request stores nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.runtime import Runtime

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
TARGET = "AWSStepFunctions."
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")


def lockgate(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip


def nested_text(levels: int) -> str:
    text = json.dumps(PASS)
    for _ in range(levels):
        text = '{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[' + text + '],"End":true}}}'
    return text


def test_cli_deep_definitions_and_inputs_exit_2_without_a_traceback(home: Path) -> None:
    Path("deep.json").write_text(nested_text(400))
    Path("nested.json").write_text(nested_text(150))
    Path("ok.json").write_text(json.dumps(PASS))
    Path("input.json").write_text("[" * 3000 + "]" * 3000)
    for args, expected in [
        (("asl", "validate", "deep.json"), "nests too deeply"),
        (("asl", "validate", "nested.json"), "definition_nesting"),
        (("asl", "run", "--definition", "ok.json", "--input", "input.json"), "json_depth"),
        (("asl", "run", "--definition", "ok.json", "--in-memory", "--input", "input.json"), "json_depth"),
    ]:
        proc = lockgate(*args)
        assert proc.returncode == 2, (args, proc.stderr[-500:])
        assert expected in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr[-500:])


@pytest.fixture
def client(home: Path, admin_headers: dict[str, str]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from lockgate.server.app import create_app

    runtime = Runtime()
    with TestClient(create_app(runtime), base_url="http://127.0.0.1", headers=admin_headers) as client:
        client.runtime = runtime  # type: ignore[attr-defined]
        yield client


def call(client: Any, operation: str, body: dict[str, Any] | bytes) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/", content=content, headers={"X-Amz-Target": TARGET + operation,
                                                       "Content-Type": "application/x-amz-json-1.0"})  # fmt: skip


def stored_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file())


def test_start_execution_over_the_limits_is_refused_and_stores_nothing(client: Any, home: Path) -> None:
    made = call(client, "CreateStateMachine", {"name": "M", "definition": json.dumps(PASS), "roleArn": "r"})
    assert made.status_code == 200, made.text
    arn = made.json()["stateMachineArn"]
    before = (stored_bytes(home), len(client.runtime.store.list_runs()))
    huge = call(client, "StartExecution", {"stateMachineArn": arn, "input": json.dumps({"x": "y" * 20_000_000})})
    assert huge.status_code == 413 and "max_body_bytes" in huge.json()["error"]
    big = call(client, "StartExecution", {"stateMachineArn": arn, "input": json.dumps({"x": "y" * 300_000})})
    assert big.status_code == 400 and big.json()["__type"] == "InvalidExecutionInput"
    assert "state_data_bytes" in big.json()["message"]
    deep = call(client, "StartExecution", {"stateMachineArn": arn, "input": "[" * 3000 + "]" * 3000})
    assert deep.status_code == 400 and deep.json()["__type"] == "InvalidExecutionInput"
    raw = call(client, "StartExecution", b"[" * 3000 + b"]" * 3000)
    assert raw.status_code == 400
    assert len(client.runtime.store.list_runs()) == before[1]
    assert stored_bytes(home) < before[0] + 1_000_000


def test_a_deep_definition_over_the_api_is_an_invalid_definition(client: Any) -> None:
    answer = call(client, "CreateStateMachine", {"name": "D", "definition": nested_text(400), "roleArn": "r"})
    assert answer.status_code == 400 and answer.json()["__type"] == "InvalidDefinition"
    answer = call(client, "CreateStateMachine", {"name": "D", "definition": nested_text(150), "roleArn": "r"})
    assert answer.status_code == 400 and "definition_nesting" in answer.json()["message"]


def test_rest_bodies_over_the_limit_get_413_before_they_are_read(client: Any) -> None:
    answer = client.post("/api/events/s3", content=b'{"params": {"x": "' + b"y" * 2_000_000 + b'"}}',
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 413
    chunks = (b"y" * 65536 for _ in range(40))  # no Content-Length: counted as it arrives
    answer = client.post("/api/events/s3", content=chunks, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_the_body_limit_is_a_setting(
    home: Path, monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]
) -> None:
    from fastapi.testclient import TestClient

    from lockgate.server.app import create_app

    monkeypatch.setenv("LOCKGATE_SERVER__MAX_BODY_BYTES", "100")
    with TestClient(create_app(Runtime()), base_url="http://127.0.0.1", headers=admin_headers) as client:
        assert call(client, "ListStateMachines", {"pad": "x" * 200}).status_code == 413
        assert call(client, "ListStateMachines", {}).status_code == 200


def test_a_deeply_nested_trigger_body_is_a_client_error(client: Any) -> None:
    body = b'{"params": {"x": ' + b"[" * 3000 + b"]" * 3000 + b"}}"
    for path in ("/api/pipelines/anything/trigger", "/api/events/s3"):
        answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert 400 <= answer.status_code < 500, (path, answer.status_code)


def test_a_deeply_nested_pipeline_parameter_exits_2(home: Path) -> None:
    Path("flow.py").write_text(
        "from lockgate import pipeline, task\n\n@task\ndef t(x):\n    return 1\n\n"
        "@pipeline\ndef p(x=None):\n    return t(x)\n"
    )
    proc = lockgate("run", "flow.py:p", "-p", "x=" + "[" * 3000 + "]" * 3000)
    assert proc.returncode == 2 and "nests too deeply" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
