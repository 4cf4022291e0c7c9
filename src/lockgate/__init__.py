"""lockgate: durable data pipelines, as Python DAGs or Amazon States Language state machines.

Names are imported on first use, so `import lockgate.core` stays free of adapters and
`lockgate --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "CycleError": "lockgate.core.errors",
    "DataQualityError": "lockgate.core.errors",
    "HTTPStatusError": "lockgate.core.errors",
    "LockgateError": "lockgate.core.errors",
    "RunFailed": "lockgate.core.errors",
    "StepTimeout": "lockgate.core.errors",
    "TaskError": "lockgate.core.errors",
    "UsageError": "lockgate.core.errors",
    "Retry": "lockgate.core.retry",
    "RetryPolicy": "lockgate.core.retry",
    "Pipeline": "lockgate.dag.pipeline",
    "pipeline": "lockgate.dag.pipeline",
    "Task": "lockgate.dag.task",
    "task": "lockgate.dag.task",
    "group": "lockgate.dag.control",
    "short_circuit": "lockgate.dag.control",
    "StepContext": "lockgate.attempt",
    "context": "lockgate.attempt",
    "Run": "lockgate.views",
    "Runtime": "lockgate.runtime",
    "StepView": "lockgate.views",
    "run": "lockgate.runtime",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
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
    from lockgate.dag.control import group, short_circuit
    from lockgate.dag.pipeline import Pipeline, pipeline
    from lockgate.dag.task import Task, task
    from lockgate.runtime import Runtime, run
    from lockgate.views import Run, StepView


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lockgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
