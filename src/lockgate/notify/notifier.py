"""Turning run events into deliveries, off the run loop.

The observer runs on the run loop's thread, so it only builds the messages and appends them
to an in-memory queue. A sender thread writes them to the outbox (one transaction per burst)
and hands their ids to a delivery process (lockgate.notify.worker), which sends them on
another core; with `[notify] sender = "thread"` the thread sends them itself. `close()` (the
CLI calls it before exiting) drains the queue and waits up to `[notify] flush_seconds` for
this process's first attempts; what failed stays in the outbox for `lockgate serve` (or
`lockgate notifications deliver`) to retry.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

from lockgate.config import Settings
from lockgate.core import history as h
from lockgate.core.engine import RunState
from lockgate.core.errors import UsageError
from lockgate.notify.channels import Channels, Message
from lockgate.notify.delivery import COALESCE_SECONDS, count, send_claimed
from lockgate.notify.messages import messages_for
from lockgate.notify.outbox import Outbox, retry_policy
from lockgate.notify.topics import Topics

log = logging.getLogger(__name__)

TOPIC_KINDS = ("on_failure", "on_success", "on_retry")
SENDERS = ("process", "thread")
POLL_SECONDS = 1.0


class Notifier:
    """One runtime's notifications: the observer, `publish`, the sender and its flush."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        settings: Settings = runtime.settings
        self.settings = settings
        self.topics = Topics(runtime.store.engine, settings)
        self.outbox = Outbox(runtime.store.engine, retry_policy(settings))
        self.flush_seconds = float(settings.get("notify", "flush_seconds", 5.0))
        self.sender = str(settings.get("notify", "sender", "process"))
        if self.sender not in SENDERS:
            where = settings.source or "settings"
            raise UsageError(f"{where}: notify.sender {self.sender!r} is not one of {', '.join(SENDERS)}")
        # An in-memory SQLite database lives in one connection of one thread: nothing sends
        # in the background; close() sends from the caller's thread.
        self._background = ":memory:" not in str(getattr(runtime.store, "url", ""))
        if not self._background:
            self.sender = "thread"
        self._queue: collections.deque[tuple[list[str], Message, str | None]] = collections.deque()
        self._ids: dict[str, None] = {}  # deliveries queued here, in order, not yet handed over or tried
        self._wake = threading.Event()
        self._stop_wait = threading.Event()
        self._stopping = False
        self._deadline: float | None = None
        self._thread: threading.Thread | None = None
        self._worker: Any = None
        self._lock = threading.Lock()

    def clock(self) -> float:
        return float(self.runtime.clock())

    # -- on the run loop: cheap ---------------------------------------------------------

    def observe(self, state: RunState, batch: list[h.Event]) -> None:
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

        Raises UsageError when the topic does not exist. It is sent soon; `close()` waits for it.
        """
        subs = self.topics.subscriptions_of([topic])
        if topic not in subs:
            raise UsageError(
                f"no topic {topic!r}; create it with `lockgate topics create {topic}` or declare it in lockgate.toml"
            )
        ids = self.outbox.add([(sub, message, run_id) for sub in subs[topic]], self.clock())
        if ids:
            with self._lock:
                self._ids.update(dict.fromkeys(ids))
            self._start()
            self._wake.set()
        return ids

    # -- the sender thread --------------------------------------------------------------

    def _start(self) -> None:
        if not self._background:
            return
        with self._lock:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="lockgate-notify", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        channels = Channels(self.settings) if self.sender == "thread" else None
        last = 0.0
        try:
            while True:
                self._wake.wait(POLL_SECONDS)
                rest = COALESCE_SECONDS - (time.monotonic() - last)
                if rest > 0 and not self._stopping:
                    self._stop_wait.wait(rest)  # let a burst gather: one write, one hand-over
                self._wake.clear()
                last = time.monotonic()
                stopping = self._stopping
                try:
                    self._pass(channels)
                except Exception:  # the store or a channel broke; the outbox keeps what is left
                    log.exception("sending notifications failed")
                if stopping:
                    return
        finally:
            if channels is not None:
                channels.close()

    def _drain(self) -> None:
        items: list[tuple[list[str], Message, str | None]] = []
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
        ids = self.outbox.add(rows, self.clock())
        with self._lock:
            self._ids.update(dict.fromkeys(ids))

    def _take_ids(self) -> list[str]:
        with self._lock:
            ids, self._ids = self._ids, {}
        return list(ids)

    def _pass(self, channels: Channels | None) -> None:
        self._drain()
        ids = self._take_ids()
        if not ids:
            return
        if channels is None and self._hand_over(ids):
            return
        own = channels or Channels(self.settings)
        try:
            while ids:
                held = self.outbox.held(ids)
                count(send_claimed(held, self.topics, self.outbox, own, self.clock, self._deadline))
                self._drain()
                ids = self._take_ids()
        finally:
            if channels is None:
                own.close()

    def _hand_over(self, ids: list[str]) -> bool:
        """Give the ids to the delivery process; False if it cannot run (this thread sends instead)."""
        lines = [f"id {i}" for i in ids]
        for _ in range(2):
            if self._worker is None or not self._worker.alive():
                try:
                    from lockgate.notify.worker import WorkerProcess

                    self._worker = WorkerProcess(self.settings)
                except OSError as exc:
                    log.warning("cannot start the delivery process (%s); sending from this one", exc)
                    return False
            if self._worker.tell(lines):
                return True
            self._worker = None
        return False

    def close(self) -> None:
        """Send what is queued here, for up to `flush_seconds`; the rest stays in the outbox."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._deadline = time.monotonic() + self.flush_seconds
        try:
            if thread is not None:
                self._stop_wait.set()
                self._wake.set()
                thread.join(self.flush_seconds + 1.0)
            elif self._queue or self._ids:
                self._pass(Channels(self.settings) if self.sender == "thread" else None)
            if self._worker is not None:
                if not self._worker.close(max(0.5, self._deadline - time.monotonic()) + 1.0):
                    log.warning(
                        "notifications still sending after %.0f s; lockgate serve will retry them", self.flush_seconds
                    )
                self._worker = None
        finally:
            with self._lock:  # usable again: a runtime may run more after closing
                self._thread, self._stopping, self._deadline = None, False, None
                self._stop_wait.clear()
