"""Retrying and resuming runs from the HTTP server: checked at once, driven on a thread.

The checks are the ones Runtime.retry and Runtime.resume make, done before answering, so a
request that cannot work gets its reason; the run itself then goes on in this process.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Any

from lockgate.core.errors import UsageError

log = logging.getLogger(__name__)

RETRYABLE = ("FAILED", "TIMED_OUT", "ABORTED")


def can_retry(record: Any) -> bool:
    """A run that failed, timed out or was aborted (a state machine run is redriven)."""
    return bool(record.status in RETRYABLE)


def can_resume(runtime: Any, record: Any) -> bool:
    """A running run whose owner is gone (its process died)."""
    return bool(record.status == "RUNNING" and runtime.is_orphaned(record))


def start_retry(runtime: Any, run_id: str) -> str:
    """Start running a failed run again from its failed steps (redrive a state machine run);
    its run id. Raises UsageError."""
    record = _record(runtime, run_id)
    if not can_retry(record):
        raise UsageError(
            f"run {record.run_id} is {record.status}; only a failed, timed-out or aborted run can be retried"
        )
    _drive(runtime.retry, record.run_id, "retry")
    return str(record.run_id)


def start_resume(runtime: Any, run_id: str) -> str:
    """Continue a run whose process died; its run id. Raises UsageError."""
    record = _record(runtime, run_id)
    if not can_resume(runtime, record):
        why = f"is {record.status}" if record.status != "RUNNING" else f"is being run by {record.owner}"
        raise UsageError(f"run {record.run_id} {why}; only a run whose process stopped can be resumed")
    _drive(runtime.resume, record.run_id, "resume")
    return str(record.run_id)


def carry_on(runtime: Any, run_id: str) -> None:
    """Drive a run reopened here by clear or mark (no service serves its pipeline), on a thread."""
    _drive(runtime.carry_on, run_id, "carry-on")


def _record(runtime: Any, run_id: str) -> Any:
    record = runtime.store.get_run(run_id)
    if record is None:
        raise UsageError(f"no run {run_id!r}")
    return record


def _drive(operation: Any, run_id: str, what: str) -> None:
    def work() -> None:
        try:
            operation(run_id)
        except UsageError as exc:
            log.warning("%s of run %s: %s", what, run_id, exc, extra={"run_id": run_id})
        except Exception:
            log.exception("%s of run %s failed", what, run_id, extra={"run_id": run_id})

    # The thread carries the request's context: the history names the token that asked (history.ACTOR).
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name=f"lockgate-{what}-{run_id}", daemon=True).start()
