"""How long a failed step waits before its next attempt: the ASL Retrier rules."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lockgate.core.errors import ALL, TRANSIENT, ErrorInfo, UsageError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """One ASL Retrier; the defaults are ASL's (1 s, 3 retries, rate 2.0, no cap, no jitter).

    `max_attempts` counts retries after the first attempt, as ASL's MaxAttempts does: 3 means
    at most 4 attempts in all; 0 means never retry. `errors` are ErrorEquals names;
    `lockgate.Transient` matches every soft failure.
    """

    errors: tuple[str, ...] = (TRANSIENT,)
    interval_seconds: float = 1.0
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: float = math.inf
    jitter: Literal["NONE", "FULL"] = "NONE"

    def __post_init__(self) -> None:
        if not self.errors:
            raise UsageError("Retry: errors must name at least one error")
        if self.interval_seconds <= 0:
            raise UsageError(f"Retry: interval {self.interval_seconds} must be above 0")
        if self.max_attempts < 0:
            raise UsageError(f"Retry: max_attempts {self.max_attempts} is below 0")
        if self.backoff_rate < 1.0:
            raise UsageError(f"Retry: backoff_rate {self.backoff_rate} is below 1.0")
        if self.max_delay_seconds <= 0:
            raise UsageError(f"Retry: max_delay {self.max_delay_seconds} must be above 0")
        if self.jitter not in ("NONE", "FULL"):
            raise UsageError(f"Retry: jitter {self.jitter!r} is not NONE or FULL")

    def delay(self, retry: int, draw: float) -> float | None:
        """Seconds to wait before retry `retry` (1-based); None once MaxAttempts is spent.

        `draw` is a uniform sample from [0, 1) that only FULL jitter uses. The engine
        records the result in the run's history, so a replay reads it back, never redraws.
        """
        if retry > self.max_attempts:
            return None
        try:
            wait = self.interval_seconds * self.backoff_rate ** (retry - 1)
        except OverflowError:  # a long retry chain outgrows a float; the cap still applies
            wait = math.inf
        wait = min(wait, self.max_delay_seconds)
        return wait * draw if self.jitter == "FULL" and math.isfinite(wait) else wait

    def to_json(self) -> dict[str, object]:
        return {
            "errors": list(self.errors),
            "interval_seconds": self.interval_seconds,
            "max_attempts": self.max_attempts,
            "backoff_rate": self.backoff_rate,
            "max_delay_seconds": None if math.isinf(self.max_delay_seconds) else self.max_delay_seconds,
            "jitter": self.jitter,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> RetryPolicy:
        cap = data.get("max_delay_seconds")
        return cls(
            errors=tuple(data["errors"]),  # type: ignore[arg-type]
            interval_seconds=float(data["interval_seconds"]),  # type: ignore[arg-type]
            max_attempts=int(data["max_attempts"]),  # type: ignore[call-overload]
            backoff_rate=float(data["backoff_rate"]),  # type: ignore[arg-type]
            max_delay_seconds=math.inf if cap is None else float(cap),  # type: ignore[arg-type]
            jitter=data["jitter"],  # type: ignore[arg-type]
        )


def Retry(  # noqa: N802 - reads as a value in user code: @task(retry=Retry(...))
    errors: Sequence[str] | str | None = None,
    *,
    max_attempts: int = 3,
    interval: float = 1.0,
    backoff_rate: float = 2.0,
    max_delay: float | None = None,
    jitter: Literal["NONE", "FULL"] = "NONE",
) -> RetryPolicy:
    """A retry policy for `@task(retry=...)`.

    `errors` are the error names or exception class names to retry (`"ConnectionError"`,
    `"DataQualityError"`, `"States.ALL"`); by default every soft failure and no hard one.
    """
    if errors is None:
        names: tuple[str, ...] = (TRANSIENT,)
    elif isinstance(errors, str):
        names = (errors,)
    else:
        names = tuple(e if isinstance(e, str) else e.__name__ for e in errors)
    return RetryPolicy(
        errors=names,
        interval_seconds=interval,
        max_attempts=max_attempts,
        backoff_rate=backoff_rate,
        max_delay_seconds=math.inf if max_delay is None else max_delay,
        jitter=jitter,
    )


def match_retrier(policies: Sequence[RetryPolicy], error: ErrorInfo) -> int | None:
    """Index of the first retrier whose ErrorEquals names `error`, as ASL picks one."""
    for index, policy in enumerate(policies):
        if any(error.matches(name) for name in policy.errors):
            return index
    return None


def validate_retriers(policies: Sequence[RetryPolicy], where: str) -> None:
    """ASL's rule: States.ALL must stand alone, in the last retrier."""
    for index, policy in enumerate(policies):
        if ALL in policy.errors and (len(policy.errors) > 1 or index != len(policies) - 1):
            raise UsageError(f"{where}: Retry[{index}]: States.ALL must appear alone in the last retrier")
