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
