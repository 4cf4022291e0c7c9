# ruff: noqa: F811 - pytest fixtures imported from notify_services are parameters here
"""Alarms evaluated against the store: enter ALARM once, return to OK once, notify each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from notify_services import Receiver, body_json, receiver  # noqa: F401

import lockgate
from lockgate import pipeline, task
from lockgate.notify.delivery import deliver_due
from lockgate.notify.monitor import evaluate_alarms
from lockgate.runtime import default_runtime


@task
def crash() -> None:
    raise KeyError("no such partition")


@pipeline(name="nightly")
def nightly() -> None:
    crash()


def configure(tmp: Path, receiver: Receiver) -> None:
    (tmp / "lockgate.toml").write_text(
        f"""
[notify.topics.ops]
subscriptions = [{{endpoint = "webhook:{receiver.url}", secret = "k"}}]

[[alarms]]
name = "nightly-failing"
kind = "failures"
pipeline = "nightly"
count = 2
window = "10m"
topic = "ops"

[[alarms]]
name = "queue"
kind = "backlog"
max_queued = 5
topic = "ops"
"""
    )


def test_a_failure_alarm_fires_once_on_entering_and_once_on_leaving(tmp_path: Path, receiver: Receiver) -> None:
    configure(tmp_path, receiver)
    runtime = default_runtime()
    now = time.time()
    (failing, queue) = evaluate_alarms(runtime, now)
    assert (failing[1].state, failing[2]) == ("INSUFFICIENT_DATA", None)
    assert (queue[1].state, queue[2]) == ("OK", None)
    lockgate.run(nightly)
    lockgate.run(nightly)
    fired = [what for _, _, what in evaluate_alarms(runtime, now + 1)]
    assert fired == ["ALARM", None]
    for minute in range(2, 5):  # staying in ALARM: no storm
        assert [what for _, _, what in evaluate_alarms(runtime, now + 60 * minute)] == [None, None]
    assert [what for _, _, what in evaluate_alarms(runtime, now + 11 * 60)] == ["OK", None]
    assert [what for _, _, what in evaluate_alarms(runtime, now + 12 * 60)] == [None, None]
    runtime.close()
    deliver_due(runtime, now=now + 13 * 60)
    payloads = [body_json(r) for r in receiver.wait(2)]
    assert [(p["data"]["alarm"], p["data"]["state"]) for p in payloads] == [
        ("nightly-failing", "ALARM"),
        ("nightly-failing", "OK"),
    ]
    assert payloads[0]["subject"].startswith("[lockgate] ALARM: nightly-failing")
    assert "2 failed runs" in payloads[0]["message"]


def test_alarms_list_and_evaluate_from_the_cli(tmp_path: Path, receiver: Receiver) -> None:
    configure(tmp_path, receiver)
    env = dict(os.environ)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, env=env, timeout=60
        )

    listed = json.loads(cli("alarms", "list", "--json").stdout)
    assert [(a["name"], a["state"], a["since"]) for a in listed] == [
        ("nightly-failing", "INSUFFICIENT_DATA", None),
        ("queue", "INSUFFICIENT_DATA", None),
    ]
    runtime = default_runtime()
    for _ in range(6):
        runtime.enqueue("nightly", {})
    done = cli("alarms", "evaluate", "--json")
    assert done.returncode == 0, done.stderr
    evaluated = {a["name"]: a for a in json.loads(done.stdout)}
    assert evaluated["queue"]["state"] == "ALARM" and evaluated["queue"]["fired"] == "ALARM"
    assert evaluated["queue"]["reason"] == "6 runs queued (more than 5)"
    # the evaluating process delivered its alarm before it exited
    (request,) = receiver.wait(1)
    assert body_json(request)["data"]["alarm"] == "queue"
    again = {a["name"]: a for a in json.loads(cli("alarms", "list", "--json").stdout)}
    assert again["queue"]["state"] == "ALARM" and again["queue"]["since"] == evaluated["queue"]["since"]
    assert json.loads(cli("alarms", "evaluate", "--json").stdout)[1]["fired"] is None
    assert len(receiver.requests) == 1
    table = cli("alarms", "list").stdout
    assert "queue" in table and "ALARM" in table
