"""Redrive a durable state machine execution (`lockgate retry RUN_ID`, RedriveExecution).

The run reopens with a RunRedriven event in its history; replaying that history rebuilds the
machine, which the event then sets running again from its failed state (see `_redrive`). What
succeeded before keeps its recorded result and is never run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lockgate.asl import durable
from lockgate.asl.mock import MockConfig
from lockgate.asl.resources import Resources
from lockgate.core import history as h
from lockgate.core.errors import UsageError

REDRIVABLE = ("FAILED", "TIMED_OUT", "ABORTED")


def reopen(runtime: Any, run_id: str) -> str:
    """Set an unsuccessful execution running again (a RunRedriven event); its run id.

    UsageError (exit 2) for a run that succeeded or is still running.
    """
    record = durable._record(runtime, run_id)
    if record.status not in REDRIVABLE:
        raise UsageError(
            f"run {record.run_id} is {record.status}; only a failed, timed-out or aborted execution can be redriven"
        )
    now = runtime.clock()
    if not runtime.store.reopen(record.run_id, runtime.owner, h.RunRedriven(at=now), now):
        raise UsageError(f"run {record.run_id} changed while it was being redriven; try again")
    return record.run_id


def carry_on(
    runtime: Any,
    run_id: str,
    *,
    resources: Resources | None = None,
    sleep: Callable[[float], None] = time.sleep,
    executor: str | None = None,
) -> dict[str, Any]:
    """Drive a reopened execution to its end in this process (its Task states on `executor`,
    default `[engine] executor`); its result."""
    replayed = durable.replay(runtime.store.history(run_id))
    mock = replayed.started.get("mock")
    mock_config = MockConfig(mock["data"], mock["state_machine"], mock["test_case"]) if mock else None
    seen = durable.observed_of(runtime.store.get_run(run_id), replayed)
    return durable.run(runtime, run_id, replayed.machine, resources=resources, mock=mock_config, observed=seen,
                       sleep=sleep, replayed=replayed, executor=executor)  # fmt: skip


def redrive(
    runtime: Any,
    run_id: str,
    *,
    resources: Resources | None = None,
    sleep: Callable[[float], None] = time.sleep,
    executor: str | None = None,
) -> dict[str, Any]:
    """Run a failed, timed-out or aborted execution on from where it stopped; its result.

    UsageError (exit 2) for a run that succeeded or is still running.
    """
    return carry_on(runtime, reopen(runtime, run_id), resources=resources, sleep=sleep, executor=executor)


def redrive_count(events: list[h.Event]) -> int:
    return sum(isinstance(event, h.RunRedriven) for event in events)
