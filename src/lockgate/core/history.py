"""The events of a run's append-only history; current state is derived from them.

Times are seconds since the epoch (floats) as the runner's clock gave them.
"""

from __future__ import annotations

import contextvars
import getpass
from dataclasses import dataclass, field, fields
from typing import Any

RUN_STATUSES = ("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
STEP_STATUSES = ("PENDING", "RUNNING", "RETRYING", "SUCCEEDED", "FAILED", "SKIPPED", "ABORTED")
TERMINAL_RUN = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


# Who is acting: the API token's name while the HTTP server handles a request (and on the threads
# it starts for it); unset in the CLI, where `cli:<OS user name>` is used. Token names cannot
# hold a colon, so the prefix tells the two apart.
ACTOR: contextvars.ContextVar[str | None] = contextvars.ContextVar("lockgate_actor", default=None)


def current_actor() -> str:
    """The name to record as `by` on the events of an action: the token's name, else `cli:<OS user>`."""
    name = ACTOR.get()
    if name:
        return name
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name (a container without an /etc/passwd entry)
        return "cli:unknown"


@dataclass(frozen=True, slots=True)
class Event:
    """Base of history events; `at` is when it happened."""

    at: float

    @property
    def type(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, Any]:
        """The event's fields but `at`, as JSON-ready values."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "at"}


def event_from(kind: str, at: float, body: dict[str, Any]) -> Event:
    """Rebuild an event read from the store."""
    try:
        cls = _TYPES[kind]
    except KeyError:
        raise ValueError(f"unknown event type {kind!r} in history") from None
    if "by" in cls.__dataclass_fields__ and "by" not in body:  # written before actions named their actor
        body = {**body, "by": None}
    return cls(at=at, **body)


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    run_id: str
    pipeline: str
    params: dict[str, Any]
    workflow: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunResumed(Event):
    owner: str
    by: str | None = field(default_factory=current_actor)


@dataclass(frozen=True, slots=True)
class RunRedriven(Event):
    """`lockgate retry`: failed, skipped and aborted steps start again."""

    by: str | None = field(default_factory=current_actor)


@dataclass(frozen=True, slots=True)
class StepsCleared(Event):
    """`lockgate clear`: these steps run again as new attempts (succeeded ones too), in the same
    run; a finished run is open again. `actor` is who asked (an OS user, an API token's name).
    `request`: the RerunRequested this applies, when the run was running as it was asked."""

    steps: list[str]
    actor: str
    request: str | None = None


@dataclass(frozen=True, slots=True)
class StepMarked(Event):
    """`lockgate mark`: a step's outcome set by hand (`status` SUCCEEDED or FAILED); every step
    after it is pending again and proceeds as if it had ended so."""

    step: str
    status: str
    actor: str
    request: str | None = None


@dataclass(frozen=True, slots=True)
class RerunRequested(Event):
    """A clear (`action` "clear", its `steps`) or a mark ("mark", one step and its `status`) asked
    of a run a live process drives. It changes nothing by itself: the driving process applies it
    at its next commit, as the StepsCleared or StepMarked naming the same `request`."""

    action: str
    steps: list[str]
    status: str | None
    actor: str
    request: str


@dataclass(frozen=True, slots=True)
class StepStarted(Event):
    step: str
    attempt: int


@dataclass(frozen=True, slots=True)
class StepSucceeded(Event):
    step: str
    attempt: int
    result: Any


@dataclass(frozen=True, slots=True)
class StepFailed(Event):
    """An attempt failed; `final` when no retry follows."""

    step: str
    attempt: int
    error: dict[str, Any]
    final: bool


@dataclass(frozen=True, slots=True)
class RetryScheduled(Event):
    step: str
    retrier: int
    retry: int
    wait: float
    due_at: float


@dataclass(frozen=True, slots=True)
class StepInterrupted(Event):
    """The process running an attempt died; the attempt does not count against retries.

    `counted`: whether it counts toward the interruptions that fail the step (False when the
    process that died was driving other runs too, so its death need not be this step's doing).
    """

    step: str
    attempt: int
    counted: bool = True


@dataclass(frozen=True, slots=True)
class StepSkipped(Event):
    step: str
    reason: str


@dataclass(frozen=True, slots=True)
class StepMapped(Event):
    step: str
    count: int


@dataclass(frozen=True, slots=True)
class RunSucceeded(Event):
    output: Any


@dataclass(frozen=True, slots=True)
class RunFailed(Event):
    error: str
    cause: str


@dataclass(frozen=True, slots=True)
class RunTimedOut(Event):
    error: str
    cause: str


@dataclass(frozen=True, slots=True)
class RunAborted(Event):
    cause: str
    by: str | None = field(default_factory=current_actor)


@dataclass(frozen=True, slots=True)
class AslAdvanced(Event):
    """A state machine execution moved on: the task reports and timer firings it applied, in
    order (`reports`: [kind, id, result or error, cause]), and the random draws it made."""

    reports: list[Any]
    fired: list[str]
    draws: list[Any]


_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        RunStarted, RunResumed, RunRedriven, StepsCleared, StepMarked, StepStarted, StepSucceeded, StepFailed,
        RetryScheduled, StepInterrupted, StepSkipped, StepMapped, RunSucceeded, RunFailed, RunTimedOut, RunAborted,
        AslAdvanced, RerunRequested,
    )
}  # fmt: skip
