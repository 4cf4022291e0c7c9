# ruff: noqa: F811 - pytest fixtures imported from notify_services are parameters here
"""Webhook deliveries: signed, retried with the same delivery id, never touching the run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from notify_services import Receiver, body_json, receiver  # noqa: F401

import lockgate
from lockgate import Retry, pipeline, task
from lockgate.notify.channels import verify, verify_timestamped
from lockgate.notify.delivery import deliver_due
from lockgate.notify.plugin import notifier_of
from lockgate.runtime import default_runtime
from lockgate.tasks import notify


@task
def explode() -> None:
    raise RuntimeError("disk full on /data")


@pipeline(on_failure=["hooks"])
def fragile() -> None:
    explode()


attempts: dict[str, int] = {}


@task(retry=Retry(max_attempts=2, interval=0.01))
def flaky(key: str) -> str:
    attempts[key] = attempts.get(key, 0) + 1
    if attempts[key] == 1:
        raise ConnectionError("upstream reset the connection")
    return "ok"


@pipeline(on_retry=["hooks"], on_success=["hooks"])
def retrying(key: str) -> None:
    flaky(key)


@pipeline
def announcing() -> None:
    notify("hooks", "loaded", "42 rows loaded")


def subscribe(receiver: Receiver, secret: str = "k3y") -> None:
    topics = notifier_of(default_runtime()).topics
    topics.create("hooks", time.time())
    topics.subscribe("hooks", f"webhook:{receiver.url}", secret, time.time())


def test_a_failed_delivery_is_retried_with_the_same_delivery_id(receiver: Receiver) -> None:
    subscribe(receiver)
    receiver.statuses = [500]
    runtime = default_runtime()
    run = lockgate.run(fragile)
    assert run.status == "FAILED"
    runtime.close()  # what the CLI does before exiting: the first attempt is made
    (first,) = receiver.requests
    assert first["status"] == 500
    (delivery,) = notifier_of(runtime).outbox.list(run_id=run.run_id)
    assert delivery.status == "RETRYING" and delivery.attempts == 1 and "HTTP 500" in (delivery.last_error or "")
    assert delivery.next_attempt_at >= delivery.created_at + 30  # [notify] retry_interval_seconds
    assert deliver_due(runtime, now=time.time()) == []  # not due yet

    done = deliver_due(runtime, now=delivery.next_attempt_at + 1)
    assert [status for _, status in done] == ["DELIVERED"]
    first, second = receiver.requests
    assert first["headers"]["x-lockgate-delivery"] == second["headers"]["x-lockgate-delivery"] == delivery.id
    assert first["body"] == second["body"]
    for request in (first, second):
        assert verify("k3y", request["body"], request["headers"]["x-lockgate-signature"])
        stamp = request["headers"]["x-lockgate-timestamp"]
        signed = request["headers"]["x-lockgate-signature-timestamped"]
        assert verify_timestamped("k3y", stamp, request["body"], signed, now=int(stamp) + 10)
        assert not verify_timestamped("k3y", stamp, request["body"], signed, now=int(stamp) + 301)
        assert not verify_timestamped("k3y", str(int(stamp) + 1), request["body"], signed, now=int(stamp))
    assert runtime.view(run.run_id).status == "FAILED"
    (after,) = notifier_of(runtime).outbox.list(run_id=run.run_id)
    assert after.status == "DELIVERED" and after.attempts == 2


def test_deliveries_stop_after_max_attempts(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_NOTIFY__MAX_ATTEMPTS", "2")
    subscribe(receiver)
    receiver.statuses = [503, 503, 503]
    runtime = default_runtime()
    run = lockgate.run(fragile)
    runtime.close()
    (delivery,) = notifier_of(runtime).outbox.list(run_id=run.run_id)
    done = deliver_due(runtime, now=delivery.next_attempt_at + 1)
    assert [status for _, status in done] == ["FAILED"]
    assert deliver_due(runtime, now=time.time() + 10**6) == []
    assert len(receiver.requests) == 2
    assert runtime.view(run.run_id).status == "FAILED"


@pytest.mark.parametrize("sender", ["process", "thread"])
def test_on_retry_and_on_success_notify(receiver: Receiver, sender: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKGATE_NOTIFY__SENDER", sender)
    subscribe(receiver)
    run = lockgate.run(retrying, key=sender)
    assert run.status == "SUCCEEDED"
    default_runtime().close()
    kinds = [body_json(r)["data"]["kind"] for r in receiver.wait(2)]
    assert kinds == ["step_retrying", "run_succeeded"]
    retry = body_json(receiver.requests[0])
    assert retry["data"]["step"] == "flaky"
    assert retry["data"]["error"]["name"] == "ConnectionError"
    assert "upstream reset the connection" in retry["message"]


def test_the_notify_task_publishes_from_a_step(receiver: Receiver) -> None:
    subscribe(receiver)
    run = lockgate.run(announcing)
    assert run.status == "SUCCEEDED"
    assert run.output is None
    assert run.step("notify").status == "SUCCEEDED"
    default_runtime().close()
    (request,) = receiver.wait(1)
    payload = body_json(request)
    assert payload["subject"] == "loaded" and payload["message"] == "42 rows loaded"
    assert payload["data"]["run_id"] == run.run_id and payload["data"]["step"] == "notify"


@pipeline
def announcing_nowhere() -> None:
    notify("nowhere", "x", "y")


def test_the_notify_task_fails_on_an_unknown_topic() -> None:
    run = lockgate.run(announcing_nowhere)
    assert run.status == "FAILED"
    assert "no topic 'nowhere'" in (run.cause or "")


def test_a_script_that_never_closes_still_delivers_at_exit(receiver: Receiver, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    subscribe(receiver)
    (tmp_path / "script.py").write_text(
        "import lockgate\n"
        "from lockgate import pipeline, task\n"
        "@task\n"
        "def explode():\n"
        "    raise RuntimeError('disk full')\n"
        "@pipeline(on_failure=['hooks'])\n"
        "def fragile():\n"
        "    explode()\n"
        "print(lockgate.run(fragile).run_id)\n"
    )
    done = subprocess.run(
        [sys.executable, "script.py"], capture_output=True, text=True, env=dict(os.environ), timeout=60
    )
    assert done.returncode == 0, done.stderr
    (request,) = receiver.requests
    assert body_json(request)["data"]["run_id"] == done.stdout.strip()
