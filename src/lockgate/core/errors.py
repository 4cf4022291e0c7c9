"""Error names and classes: how a failure is named, matched by Retry/Catch, and classed hard or soft.

    LockgateError                     base of everything lockgate raises itself
    +-- UsageError (ValueError)       bad input from a user: a file, a parameter, a definition
    |   +-- CycleError                a pipeline whose dependencies loop
    +-- TaskError                     a failure raised from inside a step, carrying an ASL error name
    |   +-- DataQualityError (ValueError)   lockgate.DataQuality, hard
    |   +-- StepTimeout (TimeoutError)      States.Timeout, soft
    |   +-- HTTPStatusError                 lockgate.HTTP<status>: 5xx soft, 4xx hard
    +-- RunFailed                     raised by calling a pipeline whose run did not succeed

A step's failure is recorded as an `ErrorInfo` (name, cause, traceback, retryable). Retry and
Catch match it by name: its own name, the names of its Python classes, `States.TaskFailed`
(every failure but a timeout), `States.ALL`, and `lockgate.Transient` when it is soft.
"""

from __future__ import annotations

import traceback as _traceback
from dataclasses import dataclass

TRANSIENT = "lockgate.Transient"
ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
INTERRUPTED = "lockgate.Interrupted"

# Hard failures: retrying cannot help until a person changes code, data or permissions.
_HARD_BUILTINS = (
    TypeError,
    NameError,
    AttributeError,
    SyntaxError,
    ImportError,
    KeyError,
    IndexError,
    AssertionError,
    ZeroDivisionError,
    NotImplementedError,
    RecursionError,
    PermissionError,
    UnicodeError,
    LookupError,
)
# Soft failures that are hard-looking subclasses of OSError are still transient.
_SOFT_BUILTINS = (ConnectionError, TimeoutError)


class LockgateError(Exception):
    """Base of every error lockgate raises."""


class UsageError(LockgateError, ValueError):
    """Bad input from a user; the CLI prints it and exits 2."""


class CycleError(UsageError):
    """A pipeline's dependencies form a cycle; `steps` lists it in order, first repeated last."""

    def __init__(self, message: str, steps: list[str]) -> None:
        super().__init__(message)
        self.steps = steps


class TaskError(LockgateError):
    """A failure raised inside a step with an explicit ASL error name."""

    error_name = "States.TaskFailed"
    retryable = True

    def __init__(self, message: str = "", *, error: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        if error is not None:
            self.error_name = error
        if retryable is not None:
            self.retryable = retryable


class DataQualityError(TaskError, ValueError):
    """Data that breaks a rule: a hard failure, never retried unless a policy names it."""

    error_name = "lockgate.DataQuality"
    retryable = False

    def __init__(self, message: str = "", *, report: str | None = None) -> None:
        super().__init__(message)
        self.report = report


class StepTimeout(TaskError, TimeoutError):
    """A step ran past its timeout."""

    error_name = TIMEOUT
    retryable = True


class HTTPStatusError(TaskError):
    """An HTTP call answered with an error status: 5xx are soft, 4xx hard."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, error=f"lockgate.HTTP{status}", retryable=status >= 500 or status in (408, 429))
        self.status = status


class RunFailed(LockgateError):
    """A pipeline called as a function did not succeed; `.run` holds the run."""

    def __init__(self, message: str, run: object) -> None:
        super().__init__(message)
        self.run = run


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """One failure as the history records it."""

    name: str
    cause: str
    retryable: bool
    classes: tuple[str, ...] = ()
    traceback: str = ""

    def matches(self, pattern: str) -> bool:
        """Whether a Retry/Catch ErrorEquals entry names this failure."""
        if pattern == ALL or pattern == self.name or pattern in self.classes:
            return True
        if pattern == TASK_FAILED:
            return self.name != TIMEOUT
        if pattern == TRANSIENT:
            return self.retryable
        return False

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "cause": self.cause,
            "retryable": self.retryable,
            "classes": list(self.classes),
            "traceback": self.traceback,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ErrorInfo:
        return cls(
            name=str(data["name"]),
            cause=str(data.get("cause", "")),
            retryable=bool(data.get("retryable", False)),
            classes=tuple(data.get("classes", ()) or ()),  # type: ignore[arg-type]
            traceback=str(data.get("traceback", "")),
        )


def is_retryable(exc: BaseException) -> bool:
    """Soft (transient) or hard, by the rules in this module's docstring."""
    if isinstance(exc, TaskError):
        return exc.retryable
    if isinstance(exc, LockgateError):  # bad input or a misuse of lockgate: retrying cannot help
        return False
    if isinstance(exc, _SOFT_BUILTINS):
        return True
    return not isinstance(exc, _HARD_BUILTINS)


def error_name(exc: BaseException) -> str:
    """The ASL error name of an exception: an explicit TaskError name, else its class name."""
    if isinstance(exc, TaskError):
        return exc.error_name
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    return type(exc).__name__


def describe(exc: BaseException) -> ErrorInfo:
    """Turn an exception raised by user code into an ErrorInfo, keeping its traceback."""
    classes = tuple(
        dict.fromkeys(
            name
            for klass in type(exc).__mro__
            if klass not in (object, BaseException, Exception)
            for name in (klass.__name__, f"{klass.__module__}.{klass.__qualname__}")
        )
    )
    return ErrorInfo(
        name=error_name(exc),
        cause=str(exc) or type(exc).__name__,
        retryable=is_retryable(exc),
        classes=classes,
        traceback="".join(_traceback.format_exception(exc)),
    )
