"""The outbox: held first attempts, leases, backoff from the retry policy."""

from __future__ import annotations

import logging

import pytest

import lockgate
from lockgate import pipeline, task
from lockgate.config import load
from lockgate.notify.channels import Message
from lockgate.notify.outbox import LEASE_SECONDS, Outbox, retry_policy
from lockgate.notify.plugin import notifier_of
from lockgate.notify.topics import Topics
from lockgate.runtime import default_runtime

T0 = 1_800_000_000.0


def outbox() -> tuple[Outbox, Topics]:
    runtime = default_runtime()
    topics = Topics(runtime.store.engine, runtime.settings)
    topics.create("ops", T0)
    topics.subscribe("ops", "email:ops@example.com", None, T0)
    return Outbox(runtime.store.engine, retry_policy(load())), topics


def test_a_new_delivery_is_held_by_its_process_until_the_lease_ends() -> None:
    box, topics = outbox()
    (sub,) = topics.subscriptions_of(["ops"])["ops"]
    (delivery_id,) = box.add([(sub, Message("s", "m"), None)], T0)
    assert box.claim_due(T0 + 1, 10) == []  # its own process sends it
    assert [d.id for d in box.held([delivery_id])] == [delivery_id]
    (claimed,) = box.claim_due(T0 + LEASE_SECONDS + 1, 10)  # that process did not: anyone may
    assert claimed.id == delivery_id
    assert box.claim_due(T0 + LEASE_SECONDS + 2, 10) == []  # now leased to the claimer


def test_failed_attempts_wait_by_the_retry_policy_then_fail() -> None:
    box, topics = outbox()
    (sub,) = topics.subscriptions_of(["ops"])["ops"]
    box.add([(sub, Message("s", "m"), None)], T0)
    now = T0 + LEASE_SECONDS + 1
    waits = []
    statuses = []
    for _ in range(10):
        (d,) = box.claim_due(now, 10)
        ((_, status),) = box.record([(d, "refused", False)], now)
        statuses.append(status)
        if status == "FAILED":
            break
        (after,) = box.list()
        waits.append(after.next_attempt_at - now)
        now = after.next_attempt_at
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]  # 30 s, doubling, capped at an hour
    assert statuses == ["RETRYING"] * 9 + ["FAILED"]  # max_attempts = 10 in all
    assert box.claim_due(now + 10**6, 10) == []


@task
def fails() -> None:
    raise ValueError("x")


@pipeline(on_failure=["nobody-made-this"])
def orphan() -> None:
    fails()


def test_a_missing_topic_is_logged_and_the_run_is_untouched(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lockgate.notify"):
        run = lockgate.run(orphan)
        notifier_of(default_runtime()).close()
    assert run.status == "FAILED"
    assert "notifies topic 'nobody-made-this', which does not exist" in caplog.text
    assert default_runtime().view(run.run_id).status == "FAILED"
