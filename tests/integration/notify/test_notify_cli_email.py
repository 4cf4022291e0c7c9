# ruff: noqa: F811 - pytest fixtures imported from notify_services are parameters here
"""`lockgate run` of a failing pipeline sends its on_failure email and webhook before it exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from notify_services import Mailbox, Receiver, body_json, receiver, smtp_server  # noqa: F401

from lockgate.notify.channels import verify

PIPELINES = textwrap.dedent(
    """
    from lockgate import DataQualityError, pipeline, task

    @task
    def extract():
        return [1, 2, 3]

    @task
    def transform(rows):
        raise ValueError(f"row 7 of {len(rows)} has no customer id")

    @task
    def check(rows):
        raise DataQualityError("2 rows break rule not_null(id); report: s3://lake/reports/orders.json")

    @task
    def ok():
        return "fine"

    @pipeline(on_failure=["ops"])
    def etl():
        transform(extract())

    @pipeline(on_failure=["ops"])
    def quality():
        check(extract())

    @pipeline(on_success=["ops"])
    def good():
        ok()
    """
)


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=timeout,
    )


def setup_topic(tmp: Path, *subscriptions: list[str]) -> None:
    (tmp / "pipes.py").write_text(PIPELINES)
    assert cli("topics", "create", "ops").returncode == 0
    for args in subscriptions:
        done = cli("topics", "subscribe", "ops", *args)
        assert done.returncode == 0, done.stderr


def smtp_env(port: int) -> dict[str, str]:
    return {**os.environ, "LOCKGATE_SMTP__HOST": "127.0.0.1", "LOCKGATE_SMTP__PORT": str(port)}


def test_a_failed_run_emails_the_run_id_the_failed_step_and_the_error(
    tmp_path: Path, smtp_server: Mailbox, receiver: Receiver
) -> None:
    setup_topic(tmp_path, ["email:ops@example.com"], [f"webhook:{receiver.url}", "--secret", "s3cr3t"])
    done = cli("run", "pipes.py:etl", "--json", env=smtp_env(smtp_server.port))
    assert done.returncode == 1, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "FAILED"

    # delivered before `lockgate run` exited: no waiting here
    mails = smtp_server.messages()
    assert len(mails) == 1
    mail = mails[0]
    text = mail.get_content()
    assert mail["To"] == "ops@example.com"
    assert run["run_id"] in mail["Subject"] and "transform" in mail["Subject"]
    assert f"Run:         {run['run_id']}" in text
    assert "Pipeline:    etl" in text
    assert "Failed step: transform (attempt 1)" in text
    assert "Error:       ValueError" in text
    assert "row 7 of 3 has no customer id" in text
    assert f"lockgate logs {run['run_id']} transform" in text

    (hook,) = receiver.requests
    assert hook["headers"]["x-lockgate-signature"].startswith("sha256=")
    assert verify("s3cr3t", hook["body"], hook["headers"]["x-lockgate-signature"])
    assert not verify("other", hook["body"], hook["headers"]["x-lockgate-signature"])
    assert abs(int(hook["headers"]["x-lockgate-timestamp"]) - time.time()) < 120
    payload = body_json(hook)
    assert payload["delivery_id"] == hook["headers"]["x-lockgate-delivery"]
    assert payload["data"]["run_id"] == run["run_id"]
    assert payload["data"]["step"] == "transform"
    assert payload["data"]["error"] == {"name": "ValueError", "cause": "row 7 of 3 has no customer id"}

    log = json.loads(cli("notifications", "--json").stdout)
    assert sorted(d["channel"] for d in log) == ["email", "webhook"]
    assert all(d["status"] == "DELIVERED" and d["attempts"] == 1 and d["run_id"] == run["run_id"] for d in log)


def test_a_data_quality_failure_names_the_report(tmp_path: Path, smtp_server: Mailbox) -> None:
    setup_topic(tmp_path, ["email:dq@example.com"])
    done = cli("run", "pipes.py:quality", "--json", env=smtp_env(smtp_server.port))
    assert done.returncode == 1
    (mail,) = smtp_server.messages()
    text = mail.get_content()
    assert "Error:       lockgate.DataQuality" in text
    assert "Report:      s3://lake/reports/orders.json" in text


def test_an_unreachable_mail_server_never_changes_the_run(tmp_path: Path) -> None:
    from tests.conftest import free_port

    setup_topic(tmp_path, ["email:ops@example.com"])
    env = {**smtp_env(free_port()), "LOCKGATE_NOTIFY__FLUSH_SECONDS": "3"}
    started = time.monotonic()
    done = cli("run", "pipes.py:good", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "SUCCEEDED"
    assert time.monotonic() - started < 20
    (delivery,) = json.loads(cli("notifications", "--json").stdout)
    assert delivery["status"] == "RETRYING"
    assert delivery["attempts"] == 1
    assert "Connection refused" in delivery["last_error"]
    shown = json.loads(cli("show", json.loads(done.stdout)["run_id"], "--json").stdout)
    assert shown["status"] == "SUCCEEDED"
