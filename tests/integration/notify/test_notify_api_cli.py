# ruff: noqa: F811 - pytest fixtures imported from notify_services are parameters here
"""Topics through the REST API and the CLI: create, subscribe, publish, unsubscribe, the log."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
from notify_services import Receiver, api_server, body_json, receiver  # noqa: F401

from lockgate.config import load
from lockgate.notify.channels import verify
from lockgate.runtime import default_runtime
from lockgate.server.logs import JsonFormatter, configure_logging


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, env=dict(os.environ), timeout=60
    )


def test_topics_over_the_api(api_server: str, receiver: Receiver, admin_headers: dict[str, str]) -> None:
    with httpx.Client(base_url=api_server, headers=admin_headers) as client:
        assert client.post("/api/topics", json={"name": "ops"}).status_code == 201
        assert client.post("/api/topics", json={"name": "bad name!"}).status_code == 400
        answer = client.post("/api/topics/ops/subscriptions", json={"target": f"webhook:{receiver.url}"})
        assert answer.status_code == 201
        secret = answer.json()["secret"]
        assert client.post("/api/topics/nope/subscriptions", json={"target": "email:a@b.c"}).status_code == 404
        listed = client.get("/api/topics").json()
        assert listed[0]["name"] == "ops" and "secret" not in listed[0]["subscriptions"][0]
        published = client.post("/api/topics/ops/publish", json={"subject": "hello", "message": "world"})
        assert published.status_code == 202
        (delivery_id,) = published.json()["delivery_ids"]
        (request,) = receiver.wait(1)
        assert request["headers"]["x-lockgate-delivery"] == delivery_id
        assert verify(secret, request["body"], request["headers"]["x-lockgate-signature"])
        default_runtime().close()
        log = client.get("/api/notifications").json()
        assert [(d["delivery_id"], d["status"]) for d in log] == [(delivery_id, "DELIVERED")]
        assert client.get("/api/notifications", params={"status": "LOST"}).status_code == 400
        sub_id = answer.json()["id"]
        assert client.delete(f"/api/topics/ops/subscriptions/{sub_id}").status_code == 200
        assert client.get("/api/topics").json()[0]["subscriptions"] == []
        assert client.get("/api/alarms").json() == []


def test_topics_from_the_cli(receiver: Receiver) -> None:
    assert cli("topics", "create", "ops").returncode == 0
    assert "already exists" in cli("topics", "create", "ops").stdout
    done = cli("topics", "subscribe", "ops", f"webhook:{receiver.url}")
    assert done.returncode == 0
    secret = done.stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    bad = cli("topics", "subscribe", "ops", "email:not-an-address")
    assert bad.returncode == 2 and bad.stderr.startswith(
        "error: subscription: 'not-an-address' is not an email address"
    )
    assert "Traceback" not in bad.stderr
    missing = cli("topics", "publish", "nope", "-s", "x", "-m", "y")
    assert missing.returncode == 2 and "no topic 'nope'" in missing.stderr

    sent = cli("topics", "publish", "ops", "--subject", "deploy", "--message", "v2 is live", "--json")
    assert sent.returncode == 0, sent.stderr
    (delivery,) = json.loads(sent.stdout)
    assert delivery["status"] == "DELIVERED"
    (request,) = receiver.requests
    assert verify(secret, request["body"], request["headers"]["x-lockgate-signature"])
    assert body_json(request)["message"] == "v2 is live"

    receiver.statuses = [500]
    failed = cli("topics", "publish", "ops", "-s", "again", "-m", "m")
    assert failed.returncode == 1 and "RETRYING: HTTP 500" in failed.stdout
    log = json.loads(cli("notifications", "--json", "--status", "RETRYING").stdout)
    assert [d["subject"] for d in log] == ["again"]

    listed = json.loads(cli("topics", "list", "--json").stdout)
    (sub,) = listed[0]["subscriptions"]
    assert secret not in cli("topics", "list").stdout
    assert cli("topics", "unsubscribe", "ops", sub["id"]).returncode == 0
    assert json.loads(cli("topics", "list", "--json").stdout)[0]["subscriptions"] == []
    assert cli("topics", "delete", "ops").returncode == 0
    assert json.loads(cli("topics", "list", "--json").stdout) == []


def test_json_logs_carry_extra_fields_and_mask_passwords(tmp_path: Path) -> None:
    (tmp_path / "lockgate.toml").write_text('[logging]\nformat = "json"\nlevel = "debug"\n')
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(load(environ={}, cwd=tmp_path))
        handler = next(h for h in root.handlers if getattr(h, "_lockgate", False))
        assert isinstance(handler.formatter, JsonFormatter)
        assert root.level == logging.DEBUG
        record = logging.LogRecord(
            "lockgate.x", logging.WARNING, "f.py", 1, "cannot reach %s", ("postgresql://u:pw@h/db",), None
        )
        record.run_id = "r1"
        document = json.loads(handler.formatter.format(record))
        assert document["message"] == "cannot reach postgresql://u:***@h/db"
        assert document["run_id"] == "r1" and document["level"] == "WARNING" and document["time"].endswith("Z")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    (tmp_path / "lockgate.toml").write_text('[logging]\nformat = "xml"\n')
    from lockgate.core.errors import UsageError

    try:
        configure_logging(load(environ={}, cwd=tmp_path))
    except UsageError as exc:
        assert "logging.format 'xml' is not one of text, json" in str(exc)
    else:
        raise AssertionError("a bad format must be refused")
