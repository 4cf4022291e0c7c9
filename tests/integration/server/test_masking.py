"""Secrets planted in lockgate.toml and printed by a task never come out of `lockgate config
--json`, the service's logs or the API's answers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import make_token

from lockgate.config import mask_url

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")

SECRETS = [f"PLANTED{n}x9q" for n in range(10)]
SETTINGS = f"""
[smtp]
username = "mailer"
password = "{SECRETS[0]}"

[server]
secret = "{SECRETS[1]}"

[connections.api]
base_url = "https://api.example.com/v1?token={SECRETS[2]}&page=1"
headers = {{ Authorization = "Bearer {SECRETS[3]}", X-Custom-Key = "{SECRETS[4]}" }}

[connections.warehouse]
url = "postgresql://loader:{SECRETS[5]}@db.internal:5432/dw"

[connections.legacy]
url = "https://legacy.example.com/export?user=me&password={SECRETS[6]}"

[notify]
slack_hook = "https://hooks.slack.com/services/T0AAAA/B0BBBB/{SECRETS[7]}"
slack_token = "xoxb-1234-{SECRETS[8]}"

[alerts]
webhook_secret = "{SECRETS[9]}"
"""


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_config_json_prints_none_of_ten_planted_secrets(tmp_path: Path) -> None:
    (tmp_path / "lockgate.toml").write_text(SETTINGS)
    done = subprocess.run([sys.executable, "-m", "lockgate", "config", "--json"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _leaks(done.stdout) == []
    shown = json.loads(done.stdout)
    assert shown["connections"]["api"]["headers"] == {"Authorization": "***", "X-Custom-Key": "***"}
    assert shown["connections"]["warehouse"]["url"] == "postgresql://loader:***@db.internal:5432/dw"
    assert shown["connections"]["api"]["base_url"] == "https://api.example.com/v1?token=***&page=1"
    assert shown["smtp"]["username"] == "mailer"


def test_the_masking_function_on_text() -> None:
    line = (f"GET https://u:{SECRETS[0]}@h/x?a=1&access_token={SECRETS[1]} Authorization: Bearer {SECRETS[2]} "
            f"posted to https://hooks.slack.com/services/T/B/{SECRETS[3]} with xoxp-99-{SECRETS[4]} "
            f"lgt_0123456789abcdef_{SECRETS[5]}")  # fmt: skip
    masked = mask_url(line)
    assert _leaks(masked) == []
    assert "a=1" in masked and "lgt_0123456789abcdef_***" in masked and "https://hooks.slack.com/services/***" in masked


@pytest.fixture
def client(home: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from lockgate.runtime import default_runtime
    from lockgate.server.app import create_app

    token = make_token().secret
    with TestClient(create_app(default_runtime()), base_url="http://127.0.0.1",
                    headers={"Authorization": f"Bearer {token}"}) as client:  # fmt: skip
        yield client


def test_api_answers_and_logs_of_a_run_that_printed_secrets_mask_them(client: Any, home: Path) -> None:
    from lockgate import pipeline, task
    from lockgate.runtime import default_runtime

    @task
    def leaky(password: str) -> str:
        print(f"connecting to postgresql://app:{password}@db/x?token={SECRETS[1]}")
        raise RuntimeError(f"login failed for https://app:{password}@db.internal/")

    @pipeline(name="leaky_pipeline")
    def leaky_pipeline(password: str = SECRETS[0]) -> None:
        leaky(password)

    bound = leaky_pipeline.bind({})
    run = default_runtime().execute(leaky_pipeline.compile(bound), dict(bound), executor="inline")
    assert run.status == "FAILED"
    answers = [
        client.get(f"/api/runs/{run.run_id}").text,
        client.get(f"/api/runs/{run.run_id}/logs/leaky").text,
        client.get(f"/api/runs/{run.run_id}/logs/leaky/text").text,
        client.get(f"/ui/runs/{run.run_id}/logs/leaky").text,
        client.get(f"/ui/runs/{run.run_id}").text,
        client.get(f"/ui/runs/{run.run_id}/live").text,
        client.get("/api/runs").text,
    ]
    assert "connecting to postgresql://app:***@db/x?token=***" in answers[2]
    assert [_leaks(a) for a in answers] == [[]] * len(answers)
