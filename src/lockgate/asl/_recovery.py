"""Retry and Catch: which retrier or catcher an error meets, and how long to wait, as ASL rules it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lockgate.asl import errors as e
from lockgate.core.errors import UsageError
from lockgate.core.retry import RetryPolicy

# Never caught nor retried: the execution fails (the service's States.Runtime rule).
_UNCATCHABLE = frozenset({e.RUNTIME})
# Not matched by the States.ALL and States.TaskFailed wildcards; only by name.
_TERMINAL = frozenset({e.DATA_LIMIT_EXCEEDED, e.IMPORT_FAILED})
_TIMEOUTS = frozenset({e.TIMEOUT, e.HEARTBEAT_TIMEOUT})


@dataclass(frozen=True, slots=True)
class Failure:
    """An error as Retry and Catch see it; `branch` when it came out of a Parallel branch or Map iteration."""

    error: str
    cause: str
    branch: bool = False

    def output(self) -> dict[str, str]:
        return {"Error": self.error, "Cause": self.cause}


def matches(pattern: str, failure: Failure) -> bool:
    """Whether one ErrorEquals name matches a failure."""
    error = failure.error
    if error in _UNCATCHABLE:
        return False
    if pattern == error:
        return True
    if pattern == e.ALL:
        return error not in _TERMINAL
    if pattern == e.TASK_FAILED:
        return error not in _TIMEOUTS and error not in _TERMINAL
    if pattern == e.TIMEOUT:
        return error == e.HEARTBEAT_TIMEOUT
    if pattern == e.BRANCH_FAILED:
        return failure.branch
    return False


def _names(rule: dict[str, Any]) -> list[str]:
    names = rule.get("ErrorEquals")
    return names if isinstance(names, list) else []


def policy(retrier: dict[str, Any]) -> RetryPolicy:
    """A Retry entry as a RetryPolicy; a field the language forbids is a States.Runtime error."""
    cap = retrier.get("MaxDelaySeconds")
    try:
        return RetryPolicy(
            errors=tuple(_names(retrier)) or (e.ALL,),
            interval_seconds=float(retrier.get("IntervalSeconds", 1)),
            max_attempts=int(retrier.get("MaxAttempts", 3)),
            backoff_rate=float(retrier.get("BackoffRate", 2.0)),
            max_delay_seconds=math.inf if cap is None else float(cap),
            jitter=retrier.get("JitterStrategy", "NONE"),
        )
    except (UsageError, TypeError, ValueError) as exc:
        raise e.StatesError(e.RUNTIME, f"invalid Retry: {exc}") from None


def retrier_for(state: dict[str, Any], failure: Failure) -> int | None:
    """Index of the first retrier naming the failure (ASL stops at the first match)."""
    for index, retrier in enumerate(state.get("Retry") or ()):
        if any(matches(name, failure) for name in _names(retrier)):
            return index
    return None


def catcher_for(state: dict[str, Any], failure: Failure) -> dict[str, Any] | None:
    for catcher in state.get("Catch") or ():
        if any(matches(name, failure) for name in _names(catcher)):
            return catcher  # type: ignore[no-any-return]
    return None
