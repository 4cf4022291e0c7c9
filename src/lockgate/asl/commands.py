"""What a running state machine asks its driver to do, and the statuses it can be in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED = "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"


@dataclass(frozen=True, slots=True)
class Invoke:
    """Run one attempt of a Task state; report back with `complete`, `fail` or `heartbeat`.

    `timeout_at` is an absolute time (seconds since the epoch) or None; the machine itself
    times the attempt out when `advance` is called at or after it, so the driver need only
    wake up then. `token` is the attempt's task token (`$$.Task.Token`).
    """

    id: str
    state: str
    resource: str
    payload: Any
    timeout_at: float | None
    heartbeat_seconds: float | None
    token: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Call `fire(id)` then `advance` at or after `due_at` (seconds since the epoch)."""

    id: str
    due_at: float


Command = Invoke | StartTimer
