"""What an executor runs (a Job) and gives back (an Outcome), and the code around user code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lockgate import _capture, _json
from lockgate import attempt as _context
from lockgate.core.errors import ErrorInfo, describe


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt of one step, with everything another process needs to run it."""

    run_id: str
    pipeline: str
    step: str
    attempt: int
    task: str
    source: str
    args: list[Any]
    kwargs: dict[str, Any]
    log_path: str
    home: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended: `result_json` when it returned, `error` when it raised."""

    step: str
    attempt: int
    result_json: str | None = None
    error: ErrorInfo | None = None


class Executor(Protocol):
    """Runs jobs somewhere and reports their outcomes to the run loop."""

    capacity: int

    def submit(self, job: Job) -> None: ...

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Outcomes ready now, waiting up to `timeout` seconds (None: forever) for the first."""
        ...

    def shutdown(self) -> None: ...


def execute(job: Job) -> Outcome:
    """Run one attempt: the single boundary around user code. Never raises an Exception."""
    from lockgate.dag.loader import find_task

    log_path = Path(job.log_path)
    ctx = _context.StepContext(job.run_id, job.pipeline, job.step, job.attempt, log_path, Path(job.home))
    previous = _context.enter(ctx)
    try:
        with _capture.attempt_log(log_path):
            try:
                task = find_task(job.task, job.source)
                value = task.fn(*job.args, **job.kwargs)
            except Exception as exc:
                error = describe(exc)
                _capture_error(error)
                return Outcome(job.step, job.attempt, error=error)
            try:
                return Outcome(job.step, job.attempt, result_json=_json.dumps(value))
            except (TypeError, ValueError) as exc:
                error = ErrorInfo(
                    name="lockgate.ResultNotSerializable",
                    cause=f"step {job.step} returned a value that is not JSON: {exc}",
                    retryable=False,
                )
                _capture_error(error)
                return Outcome(job.step, job.attempt, error=error)
    finally:
        _context.enter(previous)


def _capture_error(error: ErrorInfo) -> None:
    import sys

    sys.stderr.write(error.traceback or f"{error.name}: {error.cause}\n")
