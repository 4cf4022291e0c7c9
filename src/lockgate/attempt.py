"""What a running step may know about itself: `lockgate.context()`."""

from __future__ import annotations

import threading
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

    @property
    def idempotency_key(self) -> str:
        return f"{self.run_id}:{self.step}:{self.attempt - self.interruptions}"


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
