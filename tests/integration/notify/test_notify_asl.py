# ruff: noqa: F811 - pytest fixtures imported from notify_services are parameters here
"""State machines and notifications: sns:publish to topics, lockgate:task:notify, on_failure/on_success."""

from __future__ import annotations

import time
from typing import Any

from notify_services import Receiver, body_json, receiver  # noqa: F401

from lockgate.asl import durable
from lockgate.notify.plugin import notifier_of
from lockgate.runtime import default_runtime


def subscribe(receiver: Receiver) -> None:
    topics = notifier_of(default_runtime()).topics
    topics.create("ops", time.time())
    topics.subscribe("ops", f"webhook:{receiver.url}", "k3y", time.time())


def run(definition: dict[str, Any], input: Any, name: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    runtime = default_runtime()
    created = durable.create(runtime, definition, input, state_machine=name, meta=meta)
    result = durable.execute(runtime, created, sleep=lambda _: None)
    runtime.close()  # as the CLI does: this process's deliveries are sent
    return {**result, "run_id": created.run_id}


PUBLISH = {
    "StartAt": "Announce",
    "States": {
        "Announce": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ops",
                "Subject": "loaded",
                "Message": {"rows.$": "$.rows"},
            },
            "ResultPath": "$.published",
            "Next": "Plain",
        },
        "Plain": {
            "Type": "Task",
            "Resource": "lockgate:task:notify",
            "Parameters": {"topic": "ops", "subject": "plain", "message": "just text"},
            "ResultPath": "$.notified",
            "Next": "Missing",
        },
        "Missing": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {"TopicArn": "arn:aws:sns:eu-west-1:123456789012:nobody", "Message": "x"},
            "Catch": [{"ErrorEquals": ["SNS.NotFoundException"], "ResultPath": "$.missing", "Next": "Done"}],
            "End": True,
        },
        "Done": {"Type": "Succeed"},
    },
}


def test_sns_publish_and_the_notify_task_reach_a_topic(receiver: Receiver) -> None:
    subscribe(receiver)
    result = run(PUBLISH, {"rows": 42}, "announce")
    assert result["status"] == "SUCCEEDED", result
    output = result["output"]
    assert set(output["published"]) == {"MessageId"} and output["published"]["MessageId"]
    assert output["notified"] == {"topic": "ops", "deliveries": 1}
    assert output["missing"]["Error"] == "SNS.NotFoundException" and "nobody" in output["missing"]["Cause"]
    bodies = [body_json(r) for r in receiver.wait(2)]
    published = next(b for b in bodies if b["subject"] == "loaded")
    assert published["message"] == '{"rows": 42}' and published["data"]["message"] == {"rows": 42}
    assert published["delivery_id"] == output["published"]["MessageId"]
    assert next(b for b in bodies if b["subject"] == "plain")["message"] == "just text"


FAILING = {
    "StartAt": "Load",
    "States": {
        "Load": {"Type": "Pass", "Next": "Reject"},
        "Reject": {"Type": "Fail", "Error": "Feed.Invalid", "Cause": "rating 9 is above 5"},
    },
}


def test_on_failure_and_on_success_topics_of_a_state_machine(receiver: Receiver) -> None:
    subscribe(receiver)
    failed = run(FAILING, {}, "feed", meta={"on_failure": ["ops"]})
    assert failed["status"] == "FAILED"
    ok = run({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}, {}, "feed_ok", meta={"on_success": ["ops"]})
    assert ok["status"] == "SUCCEEDED"
    quiet = run(FAILING, {}, "feed_quiet")  # no topics: no message
    assert quiet["status"] == "FAILED"
    bodies = [body_json(r) for r in receiver.wait(2)]
    assert len(bodies) == 2  # each run's deliveries were sent when its runtime closed: none for feed_quiet
    failure = next(b["data"] for b in bodies if b["data"]["kind"] == "run_failed")
    assert (failure["pipeline"], failure["run_id"], failure["step"]) == ("feed", failed["run_id"], "Reject")
    assert failure["error"] == {"name": "Feed.Invalid", "cause": "rating 9 is above 5"}
    success = next(b["data"] for b in bodies if b["data"]["kind"] == "run_succeeded")
    assert (success["pipeline"], success["run_id"]) == ("feed_ok", ok["run_id"])


def test_on_retry_topics_hear_each_retrier_that_fires(receiver: Receiver) -> None:
    from lockgate.asl.resources import register_task

    calls = {"n": 0}

    def flaky(**payload: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ConnectionError(f"feed unreachable (call {calls['n']})")
        return {"rows": 7}

    register_task("notify_asl_flaky", flaky)
    definition = {
        "StartAt": "Fetch",
        "States": {
            "Fetch": {
                "Type": "Task",
                "Resource": "lockgate:task:notify_asl_flaky",
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1.5}],
                "End": True,
            }
        },
    }
    subscribe(receiver)
    result = run(definition, {}, "fetcher", meta={"on_retry": ["ops"]})
    assert result["status"] == "SUCCEEDED" and result["output"] == {"rows": 7}, result
    bodies = sorted((body_json(r) for r in receiver.wait(2)), key=lambda b: b["data"]["retry"])
    retries = [b["data"] for b in bodies]
    assert [r["kind"] for r in retries] == ["step_retrying", "step_retrying"]
    assert all((r["pipeline"], r["run_id"], r["step"]) == ("fetcher", result["run_id"], "Fetch") for r in retries)
    assert [(r["attempt"], r["retry"], r["wait_seconds"]) for r in retries] == [(1, 1, 1.0), (2, 2, 1.5)]
    assert retries[0]["error"]["name"] == "ConnectionError" and "call 1" in retries[0]["error"]["cause"]
    assert "retrying (ConnectionError)" in bodies[0]["subject"]
    # No topic: no message; a run that does not retry sends none either.
    calls["n"] = 0
    assert run(definition, {}, "fetcher_quiet")["status"] == "SUCCEEDED"
    calls["n"] = 5
    assert run(definition, {}, "fetcher_steady", meta={"on_retry": ["ops"]})["status"] == "SUCCEEDED"
    time.sleep(1.0)
    assert len(receiver.requests) == 2


def test_on_retry_is_read_from_the_projects_state_machine_table(tmp_path: Any) -> None:
    import json

    import pytest

    from lockgate.core.errors import UsageError
    from lockgate.triggers.state_machines import load_state_machines

    (tmp_path / "m.asl.json").write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))
    (tmp_path / "lockgate.toml").write_text(
        '[asl.state_machines.m]\ndefinition = "m.asl.json"\non_retry = ["ops"]\non_failure = ["pager"]\n'
    )
    (machine,) = load_state_machines(tmp_path)
    assert machine.meta["on_retry"] == ["ops"] and machine.meta["on_failure"] == ["pager"]
    (tmp_path / "lockgate.toml").write_text('[asl.state_machines.m]\ndefinition = "m.asl.json"\non_retry = 3\n')
    with pytest.raises(UsageError, match="on_retry"):
        load_state_machines(tmp_path)
