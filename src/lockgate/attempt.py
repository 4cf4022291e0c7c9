"""What a running step may know about itself: `lockgate.context()`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lockgate.core.errors import UsageError

_local = threading.local()


@dataclass(frozen=True, slots=True)
class StepContext:
    """The attempt being executed. `idempotency_key` is the same on every replay of this attempt,
    and when an attempt whose process or worker died runs again (`interruptions` counts those)."""

    run_id: str
    pipeline: str
    step: str
    attempt: int
    log_path: Path
    home: Path
    interruptions: int = 0
    key: str = ""  # given by the run loop (ASL Task states); else derived from the attempt

    @property
    def idempotency_key(self) -> str:
        return self.key or f"{self.run_id}:{self.step}:{self.attempt - self.interruptions}"


def context() -> StepContext:
    """The current step's context; raises UsageError outside a step."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        raise UsageError("lockgate.context() is only available inside a running step")
    return ctx


def current() -> StepContext | None:
    return getattr(_local, "ctx", None)


def enter(ctx: StepContext | None) -> StepContext | None:
    previous = getattr(_local, "ctx", None)
    _local.ctx = ctx
    return previous


CANCEL_POLL_SECONDS = 0.5  # how often `cancelled()` asks the store, at most, per thread

# Attempts running in this process that their run left behind (their step was cleared or marked
# meanwhile): (run id, step, attempt). The threads executor adds them and removes each when its
# attempt returns.
_superseded: set[tuple[str, str, int]] = set()
_superseded_lock = threading.Lock()


def supersede(run_id: str, step: str, attempt: int) -> None:
    """Tell the attempt (running in a thread of this process) that its outcome is not wanted."""
    with _superseded_lock:
        _superseded.add((run_id, step, attempt))


def forget_superseded(run_id: str, step: str, attempt: int) -> None:
    with _superseded_lock:
        _superseded.discard((run_id, step, attempt))


def cancelled() -> bool:
    """Whether the current attempt should stop: its run was cancelled (`lockgate cancel`, the API,
    the UI), or its step was cleared or marked while it ran (a new attempt replaces it, or none).

    A step running in a thread cannot be stopped from outside; one that loops or waits long calls
    this now and then and returns (or raises) when it is True. It asks the store at most every
    CANCEL_POLL_SECONDS; outside a step it is False.
    """
    ctx = current()
    if ctx is None:
        return False
    with _superseded_lock:
        if (ctx.run_id, ctx.step, ctx.attempt) in _superseded:
            return True
    seen = getattr(_local, "cancel_seen", None)
    now = time.monotonic()
    if seen is not None and seen[0] == ctx.run_id and (seen[2] or now - seen[1] < CANCEL_POLL_SECONDS):
        return bool(seen[2])
    from lockgate.runtime import default_runtime

    record = default_runtime().store.get_run(ctx.run_id)
    aborted = record is not None and record.status == "ABORTED"
    _local.cancel_seen = (ctx.run_id, now, aborted)
    return aborted
