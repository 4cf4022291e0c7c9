"""`lockgate serve` with auth on: a fresh home's admin token, boto3 with an AWS key pair made by
`lockgate tokens create --aws-key`, and the warning for a clear-text network address."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port, wait_for_port

PASS = {"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": {"hi": 1}, "End": True}}}


def lockgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def serve(port: int, host: str = "127.0.0.1") -> subprocess.Popen[str]:
    Path("pipelines").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--pipelines", "pipelines", "--host", host, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not wait_for_port(port, 30):
        proc.kill()
        raise AssertionError(f"serve did not listen: {proc.communicate()[1][-2000:]}")
    return proc


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=30)[1]


def test_a_fresh_home_gets_one_admin_token_written_0600_and_printed_once(home: Path) -> None:
    port = free_port()
    proc = serve(port)
    try:
        path = home / "admin.token"
        token = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/api/runs").status_code == 401
        assert httpx.get(f"{url}/api/runs", headers={"Authorization": f"Bearer {token}"}).json() == []
        assert httpx.get(f"{url}/api/health").json() == {"status": "ok"}
    finally:
        err = stop(proc)
    assert err.count(token) == 1
    listed = json.loads(lockgate("tokens", "list", "--json").stdout)
    assert [(t["name"], t["role"], t["status"]) for t in listed] == [("admin", "admin", "active")]
    assert token not in json.dumps(listed)
    proc = serve(port)  # a second start keeps the token it made
    err = stop(proc)
    assert token not in err and path.read_text().strip() == token


def test_boto3_signs_with_a_key_pair_of_a_token(home: Path, admin_token: str) -> None:
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    made = lockgate("tokens", "create", "ci", "--role", "operator", "--aws-key", "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    port = free_port()
    proc = serve(port)
    try:

        def client(key_id: str, secret: str) -> object:
            return boto3.client(
                "stepfunctions", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                aws_access_key_id=key_id, aws_secret_access_key=secret,
                config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
            )  # fmt: skip

        sfn = client(created["aws_access_key_id"], created["aws_secret_access_key"])
        arn = sfn.create_state_machine(name="hello", definition=json.dumps(PASS), roleArn="arn:aws:iam::1:role/x")[
            "stateMachineArn"
        ]
        started = sfn.start_sync_execution(stateMachineArn=arn, input="{}")
        assert started["status"] == "SUCCEEDED" and json.loads(started["output"]) == {"hi": 1}
        with pytest.raises(ClientError) as wrong:
            client(created["aws_access_key_id"], "x" * 40).list_state_machines()
        assert wrong.value.response["Error"]["Code"] == "InvalidSignatureException"
        with pytest.raises(ClientError) as unknown:
            client("AKLGUNKNOWNKEY000000", "x" * 40).list_state_machines()
        assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"
        assert lockgate("tokens", "revoke", "ci").returncode == 0
    finally:
        stop(proc)
    assert not (home / "admin.token").exists()  # a token existed: serve made none


def test_a_network_address_without_tls_is_warned_about(home: Path, admin_token: str) -> None:
    port = free_port()
    proc = serve(port, host="0.0.0.0")
    err = stop(proc)
    assert "without TLS" in err and "behind_proxy" in err
    Path("lockgate.toml").write_text("[server]\nbehind_proxy = true\n")
    proc = serve(port, host="0.0.0.0")
    assert "without TLS" not in stop(proc)
