"""What an executor runs (a Job) and gives back (an Outcome), and the code around user code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lockgate import _capture, _json
from lockgate import attempt as _context
from lockgate import logstore as _logs
from lockgate.core.errors import ErrorInfo, describe


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt of one step, with everything another process needs to run it.

    A Python step names its `task` (found in `source`) and its `args`/`kwargs`. An ASL Task state
    names its `resource` instead (`python:module:function` or `lockgate:task:NAME`, after the
    `[asl.resources]` map), with its `payload`: `step` is then the invocation id
    (`Process/Map[3]/Submit#1`), `state` the state's name, `folders` where `python:` modules are
    looked up first, and `idempotency_key` the invocation's key (the same when an interrupted
    attempt runs again).
    """

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
    interruptions: int = 0  # of this step so far: an interrupted attempt runs again under the same key
    source_hash: str = ""  # sha256 of the pipeline file when the run started ("" for none)
    queue: str = "default"
    pool: str | None = None
    priority: int = 0
    log_url: str = ""  # the object the log is uploaded to while the step runs ("": log_path is the log)
    log_upload_seconds: float = 3.0
    resource: str = ""
    payload: Any = None
    state: str = ""
    folders: tuple[str, ...] = ()
    idempotency_key: str = ""

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (to a child process) as its fields in order: a dataclass's own state functions
        # loop over the fields in Python, twice per attempt on a worker.
        return (Job, tuple(getattr(self, name) for name in self.__slots__))  # type: ignore[attr-defined]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        if "folders" in data:
            data = {**data, "folders": tuple(data["folders"])}
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended: `result_json` when it returned, `error` when it raised."""

    step: str
    attempt: int
    result_json: str | None = None
    error: ErrorInfo | None = None
    interrupted: bool = False  # its worker died: no result, the step runs again without spending a retry

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "attempt": self.attempt,
            "result_json": self.result_json,
            "error": None if self.error is None else self.error.to_json(),
            "interrupted": self.interrupted,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        error = data.get("error")
        return cls(
            data["step"],
            data["attempt"],
            data.get("result_json"),
            None if error is None else ErrorInfo.from_json(error),
            bool(data.get("interrupted", False)),
        )


class Executor(Protocol):
    """Runs jobs somewhere and reports their outcomes to the run loop."""

    capacity: int

    def submit(self, job: Job) -> None: ...

    def wait(self, timeout: float | None) -> list[Outcome]:
        """Outcomes ready now, waiting up to `timeout` seconds (None: forever) for the first."""
        ...

    def cancel(self, step: str, attempt: int) -> None:
        """Stop one running attempt its run left behind (its step was cleared or marked meanwhile):
        its outcome, if one still comes, is ignored by the run loop. No-op for one not running."""
        ...

    def shutdown(self) -> None: ...


def execute(job: Job) -> Outcome:
    """Run one attempt: the single boundary around user code. Never raises an Exception."""
    from lockgate.dag.loader import find_task

    log_path = Path(job.log_path)
    ctx = _context.StepContext(
        job.run_id, job.pipeline, job.step, job.attempt, log_path, Path(job.home), job.interruptions,
        job.idempotency_key,
    )  # fmt: skip
    previous = _context.enter(ctx)
    try:
        with _logs.publishing(log_path, job.log_url, job.log_upload_seconds), _capture.attempt_log(log_path) as sink:
            outcome = _run_resource(job) if job.resource else _attempt(job, find_task)
        if sink.failed is not None:  # the log could not be written (a full disk): the attempt fails
            return Outcome(job.step, job.attempt, error=describe(sink.failed))
        return outcome
    finally:
        _context.enter(previous)


def _run_resource(job: Job) -> Outcome:
    """An ASL Task state's resource, through lockgate.asl.resources: the `python:` policy of this
    process's settings applies; a TaskFailure becomes the Outcome's error with its ASL name."""
    from lockgate.asl.resources import Resources, TaskFailure

    try:
        if job.source:  # the pipeline file of a lockgate:task:NAME, imported here first
            from lockgate.dag.loader import load_source

            try:
                load_source(job.source)
            except Exception as exc:
                raise TaskFailure("lockgate.ImportFailed", f"{job.resource}: cannot load {job.source}: {exc}") from exc
        value = Resources.for_attempt(job.folders).call(job.resource, job.payload)
    except TaskFailure as exc:
        raised = exc.__cause__
        detail = describe(raised) if isinstance(raised, Exception) else None
        error = ErrorInfo(
            name=exc.error,
            cause=exc.cause,
            retryable=detail.retryable if detail is not None else False,
            classes=detail.classes if detail is not None else (),
            traceback=detail.traceback if detail is not None else "",
        )
        _capture_error(error)
        return Outcome(job.step, job.attempt, error=error)
    except Exception as exc:  # a resource must never take the executor down
        error = describe(exc)
        _capture_error(error)
        return Outcome(
            job.step, job.attempt, error=ErrorInfo("States.TaskFailed", f"{type(exc).__name__}: {exc}", False)
        )
    return Outcome(job.step, job.attempt, result_json=_json.dumps(value))


def _attempt(job: Job, find_task: Any) -> Outcome:
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


def _capture_error(error: ErrorInfo) -> None:
    import sys

    try:
        sys.stderr.write(error.traceback or f"{error.name}: {error.cause}\n")
    except Exception:  # the log cannot be written (its disk is full): the outcome says why
        pass
