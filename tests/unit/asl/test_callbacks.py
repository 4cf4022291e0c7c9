"""`.waitForTaskToken`: a task's result is what is later sent with its token."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from lockgate.asl import callbacks, durable
from lockgate.asl.driver import run_execution
from lockgate.asl.resources import Resources, register_task
from lockgate.core.errors import UsageError
from lockgate.runtime import Runtime


def _definition(**extra: Any) -> dict[str, Any]:
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"MessageBody": {"token.$": "$$.Task.Token", "order.$": "$.order"}},
        "ResultPath": "$.approval",
        "End": True,
        **extra,
    }
    return {"StartAt": "Approve", "States": {"Approve": task}}


RESOURCES = Resources({"arn:aws:states:::sqs:sendMessage": "lockgate:task:test_callbacks.send"})


def test_in_memory_execution_waits_for_send_task_success() -> None:
    def send(MessageBody: dict[str, Any]) -> str:  # noqa: N803 - the SQS field name
        token = MessageBody["token"]
        threading.Timer(0.05, callbacks.send_in_process, (token, "success", {"ok": MessageBody["order"]})).start()
        return "message sent"  # ignored: the result is what comes with the token

    register_task("test_callbacks.send", send)
    result = run_execution(_definition(), {"order": 7}, resources=RESOURCES)
    assert result == {"status": "SUCCEEDED", "output": {"order": 7, "approval": {"ok": 7}}}


def test_send_task_failure_goes_to_catch() -> None:
    register_task(
        "test_callbacks.send",
        lambda MessageBody: threading.Timer(  # noqa: N803
            0.05, callbacks.send_in_process, (MessageBody["token"], "failure"), {"error": "Rejected", "cause": "no"}
        ).start(),
    )
    definition = _definition(Catch=[{"ErrorEquals": ["Rejected"], "Next": "No"}])
    definition["States"]["No"] = {"Type": "Pass", "End": True}
    assert run_execution(definition, {"order": 1}, resources=RESOURCES) == {
        "status": "SUCCEEDED",
        "output": {"Error": "Rejected", "Cause": "no"},
    }


def test_an_unknown_token_is_refused() -> None:
    with pytest.raises(UsageError, match="TaskDoesNotExist"):
        callbacks.send_in_process("no-such-token", "success", {})


def test_durable_callback_through_the_store_survives_a_restart() -> None:
    tokens: list[str] = []
    register_task("test_callbacks.send", lambda MessageBody: tokens.append(MessageBody["token"]))  # noqa: N803
    runtime = Runtime()
    now = [1000.0]
    runtime.clock = lambda: now[0]

    class Stop(BaseException):
        pass

    def sleep_then_die(seconds: float) -> None:
        raise Stop()

    with pytest.raises(Stop):
        durable.start(
            runtime, _definition(), {"order": 3}, state_machine="Approvals", resources=RESOURCES, sleep=sleep_then_die
        )
    (token,) = tokens
    run_id = callbacks.send(runtime.store.engine, token, "success", now[0], {"approved": True})  # type: ignore[attr-defined]
    later = Runtime()
    later.clock = runtime.clock

    def sleep(seconds: float) -> None:
        now[0] += seconds

    result = durable.resume(later, run_id, resources=RESOURCES, sleep=sleep)
    assert result == {"status": "SUCCEEDED", "output": {"order": 3, "approval": {"approved": True}}}
    assert tokens == [token]  # the message was not sent again on resume
    with pytest.raises(UsageError, match="TaskTimedOut"):
        callbacks.send(runtime.store.engine, token, "success", now[0], {})  # type: ignore[attr-defined]


def test_heartbeats_keep_a_waiting_task_alive_until_its_answer() -> None:
    def send(MessageBody: dict[str, Any]) -> None:  # noqa: N803
        token = MessageBody["token"]

        def worker() -> None:
            for _ in range(3):
                callbacks.send_in_process(token, "heartbeat")
                clock_now[0] += 4
                threading.Event().wait(0.02)
            callbacks.send_in_process(token, "success", "done")

        threading.Thread(target=worker).start()

    clock_now = [0.0]
    register_task("test_callbacks.send", send)
    result = run_execution(
        _definition(HeartbeatSeconds=5),
        {"order": 1},
        resources=RESOURCES,
        clock=lambda: clock_now[0],
        sleep=lambda s: None,
    )
    assert result["status"] == "SUCCEEDED" and result["output"]["approval"] == "done"
