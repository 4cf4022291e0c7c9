"""The mail server goes away under `lockgate serve` and comes back: runs are not touched (they end
as they would, on time), their notifications wait in the outbox and are retried, and when the
SMTP server (a real aiosmtpd process) listens again each one arrives, exactly once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from tests.chaos._faults import Serve, SmtpProcess, lockgate, show
from tests.conftest import free_port, make_token, wait_until

PIPELINES = """
from lockgate import pipeline, task

@task
def work(n: int) -> int:
    return n * 2

@task
def broken() -> int:
    raise ValueError("no rows today")

@pipeline(on_success=["ops"])
def nightly(n: int = 1):
    return work(n)

@pipeline(on_failure=["ops"])
def fragile():
    return broken()
"""


def deliveries(env: dict[str, str]) -> list[dict[str, object]]:
    done = lockgate("notifications", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.slow
def test_notifications_wait_while_smtp_is_down_and_arrive_once_when_it_is_back(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "flows.py").write_text(PIPELINES)
    smtp = SmtpProcess(free_port(), tmp_path / "mail")
    env = {
        "LOCKGATE_SMTP__HOST": "127.0.0.1",
        "LOCKGATE_SMTP__PORT": str(smtp.port),
        "LOCKGATE_NOTIFY__RETRY_INTERVAL_SECONDS": "1",
        "LOCKGATE_NOTIFY__RETRY_BACKOFF_RATE": "1",
        "LOCKGATE_NOTIFY__DELIVER_EVERY_SECONDS": "1",
        "LOCKGATE_NOTIFY__TIMEOUT_SECONDS": "3",
    }
    assert lockgate("topics", "create", "ops", env=env).returncode == 0
    assert lockgate("topics", "subscribe", "ops", "email:ops@example.com", env=env).returncode == 0
    token = make_token("ops-bot", "operator").secret
    smtp.start()
    service = Serve(tmp_path, env).start()
    api = httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    try:

        def trigger(name: str, **params: int) -> str:
            made = api.post(f"/api/pipelines/{name}/trigger", json={"params": params})
            assert made.status_code == 200, made.text
            return str(made.json()["run_id"])

        def ended(run_id: str) -> str | None:
            status = api.get(f"/api/runs/{run_id}").json()["status"]
            return None if status in ("QUEUED", "RUNNING") else str(status)

        first = trigger("nightly", n=1)
        assert wait_until(lambda: ended(first)) == "SUCCEEDED"
        wait_until(lambda: len(smtp.messages()) == 1, timeout=30)

        smtp.stop()  # the mail server goes away
        started = time.monotonic()
        while_down = [trigger("nightly", n=n) for n in (2, 3)] + [trigger("fragile")]
        statuses = [wait_until(lambda r=r: ended(r), timeout=30) for r in while_down]
        assert statuses == ["SUCCEEDED", "SUCCEEDED", "FAILED"]
        assert time.monotonic() - started < 30  # the runs did not wait for the mail server

        def retried() -> bool:
            waiting = [d for d in deliveries(env) if d["run_id"] in while_down]
            return len(waiting) == 3 and all(d["status"] == "RETRYING" and int(d["attempts"]) >= 2 for d in waiting)

        wait_until(retried, timeout=40, every=0.5)
        waiting = [d for d in deliveries(env) if d["run_id"] in while_down]
        assert all("refused" in str(d["last_error"]).lower() for d in waiting), waiting
        assert len(smtp.messages()) == 1 and service.alive()

        smtp.start()  # back: the outbox delivers what waited
        wait_until(lambda: len(smtp.messages()) >= 4, timeout=40, every=0.5)
        time.sleep(3)  # a duplicate would come with the next rounds of delivery
    finally:
        api.close()
        service.stop()
        smtp.stop()
    mails = smtp.messages()
    assert len(mails) == 4, [m[:300] for m in mails]
    for run_id in [first, *while_down]:
        assert sum(run_id in m for m in mails) == 1, f"run {run_id}: not one mail"
        assert show(run_id, env)["status"] in ("SUCCEEDED", "FAILED")
    final = {d["run_id"]: d for d in deliveries(env)}
    assert all(final[r]["status"] == "DELIVERED" for r in [first, *while_down]), final
    assert all(int(final[r]["attempts"]) >= 3 for r in while_down), final
    assert "Traceback" not in service.stderr(), service.stderr()[-3000:]
