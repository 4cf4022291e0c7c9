"""lockgate: durable data pipelines, as Python DAGs or Amazon States Language state machines."""

from lockgate.attempt import StepContext, context
from lockgate.core.errors import (
    CycleError,
    DataQualityError,
    HTTPStatusError,
    LockgateError,
    RunFailed,
    StepTimeout,
    TaskError,
    UsageError,
)
from lockgate.core.retry import Retry, RetryPolicy
from lockgate.dag.pipeline import Pipeline, pipeline
from lockgate.dag.task import Task, task
from lockgate.runtime import Run, Runtime, StepView, run

__version__ = "0.1.0"

__all__ = [
    "CycleError",
    "DataQualityError",
    "HTTPStatusError",
    "LockgateError",
    "Pipeline",
    "Retry",
    "RetryPolicy",
    "Run",
    "RunFailed",
    "Runtime",
    "StepContext",
    "StepTimeout",
    "StepView",
    "Task",
    "TaskError",
    "UsageError",
    "__version__",
    "context",
    "pipeline",
    "run",
    "task",
]
