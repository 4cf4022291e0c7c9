"""The errors a state machine raises, named as the Amazon States Language names them.

A `StatesError` is a failure inside an execution (a path that finds nothing, a bad intrinsic
call, a JSONata type error); Retry and Catch match it by its `error` name. It is not a
`UsageError`: a definition that breaks the language's rules is reported by `validate`.
"""

from __future__ import annotations

ALL = "States.ALL"
RUNTIME = "States.Runtime"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
TASK_FAILED = "States.TaskFailed"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
INTRINSIC_FAILURE = "States.IntrinsicFailure"
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
ITEM_READER_FAILED = "States.ItemReaderFailed"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
PERMISSIONS = "States.Permissions"
BRANCH_FAILED = "States.BranchFailed"
# A `python:module:function` whose module cannot be imported: a fault of the code, not a transient
# one, so the States.ALL and States.TaskFailed wildcards neither retry nor catch it (only its name).
IMPORT_FAILED = "lockgate.ImportFailed"


class StatesError(Exception):
    """A failure with an ASL error name and a human cause, as Catch's `{"Error", "Cause"}` shows it."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(error, cause)
        self.error = error
        self.cause = cause

    def __str__(self) -> str:
        return f"{self.error}: {self.cause}"

    def __repr__(self) -> str:
        return f"StatesError({self.error!r}, {self.cause!r})"
