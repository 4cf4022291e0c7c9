"""What every durable run loop shares, whichever language the run is written in.

Python pipelines (lockgate.runtime with core.engine deciding) and state machines
(lockgate.asl.durable with asl.machine deciding) drive their runs through the pieces here:

- `Lease`: a process's hold on one run. Every commit is fenced by the owner (`runs.owner`);
  a commit or a heartbeat that matches nothing means the run was cancelled or taken over, and
  the loop stops. `wait_for` bounds a loop's waits so it beats every `heartbeat_seconds`.
- `is_stale`: whether a run's owner is gone, so another process may adopt the run.
- `run_executor`: the Executor a run's attempts go to (inline, threads, processes, celery):
  Python steps and ASL Task states running lockgate or `python:` code share it.
- `notify`: hands a committed batch to the runtime's observers (metrics, notifications).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from lockgate.core import history as h
from lockgate.executors.base import Executor
from lockgate.reruns import REQUESTED
from lockgate.store.base import RunRecord, RunStore, RunUpdate

log = logging.getLogger(__name__)

# How often, at most, a run loop waiting on its steps (or Task states) reads whether the run was
# cancelled or taken over.
CANCEL_CHECK_SECONDS = 1.0


class Lease:
    """One run held by one owner: fenced commits and heartbeats."""

    __slots__ = ("clock", "every", "last", "owner", "run_id", "stopped", "store")

    def __init__(self, store: RunStore, run_id: str, owner: str, clock: Callable[[], float], every: float) -> None:
        self.store, self.run_id, self.owner, self.clock, self.every = store, run_id, owner, clock, every
        self.last = clock()
        self.stopped: RunRecord | None = None  # the run as found when a commit was refused

    def commit(
        self, events: list[h.Event], update: RunUpdate | None = None, also: Callable[[Any], None] | None = None
    ) -> bool:
        """Append a batch (and the run's final update) in one fenced transaction, with what `also`
        writes (see RunStore.append); False when the run is no longer this owner's (cancelled,
        adopted): nothing was written, the loop stops."""
        now = self.clock()
        if self._append(events, update, now, also):
            self.last = now
            return True
        self.stopped = record = self.store.get_run(self.run_id)
        if record is None or record.owner != self.owner + REQUESTED:  # else the owner applies the requests
            self.say_stopped(record)
        return False

    def say_stopped(self, record: RunRecord | None) -> None:
        log.warning(
            "run %s was %s elsewhere; this process stops driving it",
            self.run_id,
            record.status if record else "deleted",
            extra={"run_id": self.run_id},
        )

    def _append(
        self, events: list[h.Event], update: RunUpdate | None, now: float, also: Callable[[Any], None] | None = None
    ) -> bool:
        """store.append, waiting out a database that is unreachable (stopped, restarting, a network
        cut): the run's state and its attempts' outcomes stay here meanwhile, and the batch is
        written once the database answers. A commit whose answer was lost is not written twice:
        the heartbeat it set (`now`) says whether it landed."""
        delay, failing = 0.5, False
        while True:
            try:
                if failing and self._landed(now):
                    return True
                if also is None:
                    return self.store.append(self.run_id, events, update, self.owner, now)
                return self.store.append(self.run_id, events, update, self.owner, now, also)
            except Exception as exc:
                from lockgate.store.sql import describe_unreachable, unreachable

                if not unreachable(exc):
                    raise
                if not failing:
                    log.warning(
                        "run %s: the store is unreachable (%s); its next events wait here until it answers",
                        self.run_id,
                        describe_unreachable(exc),
                        extra={"run_id": self.run_id},
                    )
                failing = True
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _landed(self, now: float) -> bool:
        record = self.store.get_run(self.run_id)
        return record is not None and record.owner == self.owner and record.heartbeat_at == now

    def beat_due(self, now: float) -> bool:
        return now - self.last >= self.every

    def beat(self) -> bool:
        """Refresh the heartbeat when one is due; False when the run was taken from this owner."""
        if not self.beat_due(self.clock()):
            return True
        return self.commit([])

    def wait_for(self, seconds: float | None) -> float:
        """How long a loop may block, at most, so its next heartbeat is on time."""
        left = max(0.0, self.every - (self.clock() - self.last))
        return left if seconds is None else min(seconds, left)


UNREACHABLE: Any = object()  # what `look` gives while the store does not answer


def look(store: RunStore, run_id: str) -> Any:
    """The run's record for a loop's periodic look (cancelled? taken?); UNREACHABLE while the store
    does not answer (a RunRecord or None otherwise): the loop carries on, and its next commit
    waits the outage out."""
    from lockgate.store.sql import unreachable

    try:
        return store.get_run(run_id)
    except Exception as exc:
        if not unreachable(exc):
            raise
        return UNREACHABLE


def patiently(call: Callable[[], Any], run_id: str, what: str) -> Any:
    """`call()`, waiting out a store that is unreachable (as a Lease's commits do): for a run
    loop's own writes beside its commits (a task token registered, an activity offered). The
    call must be idempotent: one whose answer was lost runs again."""
    from lockgate.store.sql import describe_unreachable, unreachable

    delay, warned = 0.5, False
    while True:
        try:
            return call()
        except Exception as exc:
            if not unreachable(exc):
                raise
            if not warned:
                log.warning(
                    "run %s: the store is unreachable (%s); %s waits until it answers",
                    run_id,
                    describe_unreachable(exc),
                    what,
                    extra={"run_id": run_id},
                )
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def is_stale(
    owner: str | None, heartbeat_at: float | None, now: float, stale_after: float, me: str | None = None
) -> bool:
    """Whether a run's owner is gone: on this host, its pid is not alive (the kernel can tell at
    once); elsewhere, its heartbeat is older than `stale_after` seconds."""
    if owner is None:
        return True
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            return owner.removesuffix(REQUESTED) != me
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return heartbeat_at is None or heartbeat_at < now - stale_after


def run_executor(runtime: Any, kind: str, run_id: str, capacity: int) -> Executor:
    """The executor of one run: the cluster's workers for "celery", else one of this machine."""
    if kind == "celery":
        from lockgate.executors.celery import CeleryExecutor

        return CeleryExecutor(runtime, run_id, capacity)
    from lockgate.executors.local import make_executor

    return make_executor(kind, capacity)


def notify(observers: Iterable[Callable[[Any, list[h.Event]], None]], state: Any, batch: list[h.Event]) -> None:
    """Hand a committed batch to each observer; one that fails is logged and skipped."""
    for observer in observers:
        try:
            observer(state, batch)
        except Exception:
            log.exception("observer %r failed", observer, extra={"run_id": state.run_id})
