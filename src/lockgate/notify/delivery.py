"""Sending claimed deliveries once each, and the pass over all due deliveries that `serve` runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from lockgate.notify.channels import Channels, DeliveryError
from lockgate.notify.outbox import Delivery, Outbox, Outcome, retry_policy
from lockgate.notify.topics import Subscription, Topics

log = logging.getLogger(__name__)

BATCH = 500
# A sender works at most this often: a burst of events becomes one outbox write and one claim,
# not many transactions competing with the run loop's own commits.
COALESCE_SECONDS = 0.25


def send_claimed(
    claimed: Sequence[Delivery],
    topics: Topics,
    outbox: Outbox,
    channels: Channels,
    clock: Callable[[], float],
    deadline: float | None = None,
) -> list[tuple[Delivery, str]]:
    """Attempt each claimed delivery once and record the outcomes; returns (delivery, new status).

    Past `deadline` (a time.monotonic() value) the rest are released unsent.
    """
    subs: dict[str, Subscription] = {}
    for found in topics.subscriptions_of(sorted({d.topic for d in claimed})).values():
        subs.update((s.id, s) for s in found)
    outcomes: list[Outcome] = []
    unsent: list[Delivery] = []
    for delivery in claimed:
        if deadline is not None and time.monotonic() > deadline:
            unsent.append(delivery)
            continue
        sub = subs.get(delivery.subscription_id)
        if sub is None:
            outcomes.append((delivery, "the subscription was removed", True))
            continue
        try:
            channels.send(sub.channel, sub.endpoint, sub.secret, delivery.id, delivery.topic, delivery.message, clock())
        except DeliveryError as exc:
            log.warning(
                "delivery %s to %s (%s) failed: %s", delivery.id, sub.channel, delivery.topic, exc,
                extra={"run_id": delivery.run_id},
            )  # fmt: skip
            outcomes.append((delivery, str(exc), False))
        else:
            log.info(
                "delivered %s to %s (%s)", delivery.id, sub.channel, delivery.topic, extra={"run_id": delivery.run_id}
            )
            outcomes.append((delivery, None, False))
    outbox.release(unsent)
    return outbox.record(outcomes, clock())


def count(done: Sequence[tuple[Delivery, str]]) -> None:
    """Add delivery outcomes to this process's lockgate_notifications_total."""
    from lockgate.server import metrics

    for delivery, status in done:
        metrics.count_notification(delivery.channel, status.lower())


def deliver_due(runtime: Any, now: float | None = None, limit: int = 1000) -> list[tuple[Delivery, str]]:
    """One pass over every due delivery of the store (what `lockgate serve` calls periodically).

    `now` decides what is due (default: the runtime's clock), so a test can jump past backoffs.
    Returns (delivery, new status) for each attempt made.
    """
    engine = runtime.store.engine
    topics = Topics(engine, runtime.settings)
    outbox = Outbox(engine, retry_policy(runtime.settings))
    clock = runtime.clock if now is None else (lambda: now)
    channels = Channels(runtime.settings)
    done: list[tuple[Delivery, str]] = []
    try:
        while len(done) < limit:
            claimed = outbox.claim_due(clock(), min(BATCH, limit - len(done)))
            if not claimed:
                break
            sent = send_claimed(claimed, topics, outbox, channels, clock)
            count(sent)
            done += sent
    finally:
        channels.close()
    return done
