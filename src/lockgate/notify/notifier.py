"""Turning run events into deliveries and sending them from a background thread.

The observer runs on the run loop's thread, so it only builds the messages and appends them
to an in-memory queue; the sender thread writes them to the outbox (one transaction per
batch) and sends them. `close()` (the CLI calls it before exiting) drains the queue and waits
up to `[notify] flush_seconds` for this process's first attempts; what failed stays in the
outbox for `lockgate serve` (or `lockgate notifications deliver`) to retry.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from lockgate.config import Settings
from lockgate.core import history as h
from lockgate.core.engine import RunState
from lockgate.core.errors import UsageError
from lockgate.notify.channels import Channels, DeliveryError, Message
from lockgate.notify.messages import messages_for
from lockgate.notify.outbox import Delivery, Outbox, Outcome, retry_policy
from lockgate.notify.topics import Subscription, Topics

log = logging.getLogger(__name__)

TOPIC_KINDS = ("on_failure", "on_success", "on_retry")
BATCH = 50
POLL_SECONDS = 1.0


def send_claimed(
    claimed: Sequence[Delivery],
    topics: Topics,
    outbox: Outbox,
    channels: Channels,
    clock: Callable[[], float],
    deadline: float | None = None,
) -> list[tuple[Delivery, str]]:
    """Attempt each claimed delivery once and record the outcomes; returns (delivery, new status)."""
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
    done = outbox.record(outcomes, clock())
    from lockgate.server import metrics

    for delivery, status in done:
        metrics.count_notification(delivery.channel, status.lower())
    return done


def deliver_due(runtime: Any, now: float | None = None, limit: int = 1000) -> list[tuple[Delivery, str]]:
    """One pass over every due delivery of the store (what `lockgate serve` calls periodically).

    `now` decides what is due (default: the runtime's clock), so a test can jump past backoffs.
    Returns (delivery, new status) for each attempt made.
    """
    notifier = Notifier(runtime)
    clock = runtime.clock if now is None else (lambda: now)
    channels = Channels(runtime.settings)
    done: list[tuple[Delivery, str]] = []
    try:
        while len(done) < limit:
            claimed = notifier.outbox.claim_due(clock(), min(BATCH, limit - len(done)))
            if not claimed:
                break
            done += send_claimed(claimed, notifier.topics, notifier.outbox, channels, clock)
    finally:
        channels.close()
    return done


class Notifier:
    """One runtime's notifications: the observer, `publish`, the sender thread and its flush."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        settings: Settings = runtime.settings
        self.settings = settings
        self.topics = Topics(runtime.store.engine, settings)
        self.outbox = Outbox(runtime.store.engine, retry_policy(settings))
        self.flush_seconds = float(settings.get("notify", "flush_seconds", 5.0))
        self._queue: collections.deque[tuple[list[str], Message, str]] = collections.deque()
        self._own_runs: set[str] = set()
        self._own_ids: set[str] = set()
        self._wake = threading.Event()
        self._stopping = False
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def clock(self) -> float:
        return float(self.runtime.clock())

    # -- on the run loop: cheap ---------------------------------------------------------

    def observe(self, state: RunState, batch: list[h.Event]) -> None:
        self._own_runs.add(state.run_id)
        meta = state.workflow.meta
        if not any(meta.get(kind) for kind in TOPIC_KINDS):
            return
        queued = False
        for kind, message in messages_for(state, batch):
            names = meta.get(kind)
            if names:
                self._queue.append((list(names), message, state.run_id))
                queued = True
        if queued:
            self._start()
            self._wake.set()

    # -- publishing ---------------------------------------------------------------------

    def publish(self, topic: str, message: Message, run_id: str | None = None) -> list[str]:
        """Queue a message to every subscription of `topic` (durably); returns the delivery ids.

        Raises UsageError when the topic does not exist. The sender thread sends it soon;
        `close()` waits for it.
        """
        subs = self.topics.subscriptions_of([topic])
        if topic not in subs:
            raise UsageError(
                f"no topic {topic!r}; create it with `lockgate topics create {topic}` or declare it in lockgate.toml"
            )
        ids = self.outbox.add([(sub, message, run_id) for sub in subs[topic]], self.clock())
        self._own_ids.update(ids)
        if ids:
            self._start()
            self._wake.set()
        return ids

    # -- the sender ---------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="lockgate-notify", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        channels = Channels(self.settings)
        try:
            while True:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
                stopping = self._stopping
                try:
                    self._pass(channels)
                except Exception:  # the store or a channel broke; the outbox keeps what is left
                    log.exception("sending notifications failed")
                    if stopping:
                        return
                if stopping:
                    return
        finally:
            channels.close()

    def _drain(self) -> None:
        items: list[tuple[list[str], Message, str]] = []
        while self._queue:
            items.append(self._queue.popleft())
        if not items:
            return
        subs = self.topics.subscriptions_of(sorted({name for names, _, _ in items for name in names}))
        rows = []
        for names, message, run_id in items:
            for name in names:
                if name not in subs:
                    log.warning(
                        "run %s notifies topic %r, which does not exist", run_id, name, extra={"run_id": run_id}
                    )
                    continue
                rows += [(sub, message, run_id) for sub in subs[name]]
        self.outbox.add(rows, self.clock())

    def _pass(self, channels: Channels) -> None:
        self._drain()
        while True:
            if self._deadline is not None and time.monotonic() > self._deadline:
                return
            claimed = self.outbox.claim_due(self.clock(), BATCH, sorted(self._own_runs), sorted(self._own_ids))
            if not claimed:
                return
            send_claimed(claimed, self.topics, self.outbox, channels, self.clock, self._deadline)
            self._drain()

    def close(self) -> None:
        """Send what is queued and due for this process's runs, for up to `flush_seconds`."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._deadline = time.monotonic() + self.flush_seconds
        try:
            if thread is not None:
                self._wake.set()
                thread.join(self.flush_seconds + 1.0)
                if thread.is_alive():
                    log.warning(
                        "notifications still sending after %.0f s; lockgate serve will retry them", self.flush_seconds
                    )
            elif self._queue or self._own_ids or (self._own_runs and self.outbox.count_pending(sorted(self._own_runs))):
                channels = Channels(self.settings)
                try:
                    self._pass(channels)
                finally:
                    channels.close()
        finally:
            with self._lock:  # usable again: a runtime may run more after closing
                self._thread, self._stopping, self._deadline = None, False, None
                self._own_ids.clear()
