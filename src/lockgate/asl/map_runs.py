"""Distributed Map runs: each iteration (or batch) a child execution, as the service runs them.

A Map whose `ItemProcessor.ProcessorConfig.Mode` is `DISTRIBUTED` starts one Map Run; each of
its iterations is a child execution named by the Map Run, of the state machine
`<parent state machine>/<Label or state name>`. `ExecutionType` `STANDARD` children are durable
runs of kind "asl" whose `parent_run_id` is the parent's run (listed by `lockgate runs`,
described through the API); `EXPRESS` children run in memory, as the service keeps no history
of them. A child is found by its name before it is started, so a parent that resumes after a
crash never runs again a child that already ended: it takes its result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from lockgate.asl import errors as e
from lockgate.asl.mock import MockConfig
from lockgate.asl.resources import Resources, TaskFailure

log = logging.getLogger(__name__)


def _outcome(result: dict[str, Any]) -> Any:
    if result.get("status") == "SUCCEEDED":
        return result.get("output")
    raise TaskFailure(
        str(result.get("error") or e.TASK_FAILED),
        str(result.get("cause") or f"the child execution ended {result.get('status')}"),
    )


def run_in_memory(payload: dict[str, Any], resources: Resources, mock: MockConfig | None = None) -> Any:
    """Run one child execution in memory (EXPRESS children, and in-memory parents).

    The parent's mocked responses apply to the child's states too, counted per child execution.
    """
    from lockgate.asl.driver import run_execution
    from lockgate.asl.durable import context_base

    context = context_base(payload["StateMachine"], payload["Name"])
    return _outcome(
        run_execution(payload["Definition"], payload["Input"], resources=resources, mock=mock, context_base=context)
    )


class ChildRunner:
    """Runs the child executions of a durable parent run as durable runs of their own."""

    def __init__(
        self,
        runtime: Any,
        parent_run_id: str,
        resources: Resources,
        sleep: Callable[[float], None] = time.sleep,
        executor: str | None = None,
    ) -> None:
        self.runtime, self.parent_run_id, self.resources, self.sleep = runtime, parent_run_id, resources, sleep
        self.executor = executor  # the parent's executor kind: its children's Task states run there too

    def __call__(self, payload: dict[str, Any], mock: MockConfig | None = None) -> Any:
        from lockgate.asl import durable
        from lockgate.core.errors import UsageError

        if payload.get("ExecutionType") == "EXPRESS":
            return run_in_memory(payload, self.resources, mock)
        machine, name = payload["StateMachine"], payload["Name"]
        key = durable.execution_key(machine, name)
        record = self.runtime.store.find_by_key(key)
        if record is None:
            try:
                created = durable.create(
                    self.runtime,
                    payload["Definition"],
                    payload["Input"],
                    state_machine=machine,
                    name=name,
                    mock=mock,
                    parent_run_id=self.parent_run_id,
                    extra={"map_run": payload["MapRunArn"], "index": payload["Index"]},
                )
            except UsageError:  # created meanwhile by another driver of the same parent
                record = self.runtime.store.find_by_key(key)
            else:
                return _outcome(
                    durable.execute(
                        self.runtime, created, resources=self.resources, sleep=self.sleep, executor=self.executor
                    )
                )
        return _outcome(self._carry_on(record, payload))

    def _carry_on(self, record: Any, payload: dict[str, Any]) -> dict[str, Any]:
        """An existing child: its result, or run it on (resumed, or redriven when the parent is)."""
        from lockgate.asl import durable, redrive
        from lockgate.core.errors import UsageError

        while True:
            if record.status == "SUCCEEDED":
                return {"status": "SUCCEEDED", "output": record.output}
            if record.status != "RUNNING":
                if not payload.get("Redrive"):
                    return {"status": record.status, "error": record.error, "cause": record.cause}
                try:
                    return redrive.redrive(
                        self.runtime, record.run_id, resources=self.resources, sleep=self.sleep, executor=self.executor
                    )
                except UsageError:  # redriven meanwhile by another driver
                    pass
            else:
                try:
                    return durable.resume(
                        self.runtime, record.run_id, resources=self.resources, sleep=self.sleep, executor=self.executor
                    )
                except UsageError:  # still owned by a live process: wait for it to end or go stale
                    self.sleep(float(getattr(self.runtime, "heartbeat_seconds", 5.0)))
            record = self.runtime.store.get_run(record.run_id)


# -- the API's view of Map Runs ---------------------------------------------------------------


def parent_machine(runtime: Any, record: Any) -> Any:
    """The parent's machine rebuilt from its history (its `map_runs`)."""
    from lockgate.asl.durable import replay

    return replay(runtime.store.history(record.run_id)).machine


def find_parent(runtime: Any, map_run_arn: str) -> Any:
    """The run of the execution that started a Map Run, or None."""
    child_machine = map_run_arn.split(":mapRun:", 1)[-1].rsplit(":", 1)[0]
    for child in runtime.store.list_runs(pipeline=child_machine, limit=100_000):
        if child.params.get("map_run") == map_run_arn and child.parent_run_id:
            return runtime.store.get_run(child.parent_run_id)
    parent = child_machine.split("/", 1)[0]  # a Map Run with no child started: look through the parents
    for record in runtime.store.list_runs(pipeline=parent, limit=100_000):
        if record.kind == "asl" and map_run_arn in parent_machine(runtime, record).map_runs:
            return record
    return None


def children(runtime: Any, map_run_arn: str) -> list[Any]:
    """The child execution runs of a Map Run, by index."""
    child_machine = map_run_arn.split(":mapRun:", 1)[-1].rsplit(":", 1)[0]
    found = [
        r
        for r in runtime.store.list_runs(pipeline=child_machine, limit=100_000)
        if r.params.get("map_run") == map_run_arn
    ]
    return sorted(found, key=lambda r: int(r.params.get("index", 0)))


def summaries(machine: Any) -> list[dict[str, Any]]:
    """ListMapRuns items for the Map Runs one execution started, newest first."""
    out = []
    for run in sorted(machine.map_runs.values(), key=lambda r: r["started"], reverse=True):
        item = {
            "executionArn": run["execution_arn"],
            "mapRunArn": run["map_run_arn"],
            "stateMachineArn": run["state_machine_arn"],
            "startDate": run["started"],
        }
        if run["stopped"] is not None:
            item["stopDate"] = run["stopped"]
        out.append(item)
    return out


_COUNTS = ("pending", "running", "succeeded", "failed", "timedOut", "aborted")
_STATUS_KEY = {
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "TIMED_OUT": "timedOut",
    "ABORTED": "aborted",
    "QUEUED": "pending",
}


def describe(runtime: Any, parent: Any, map_run_arn: str) -> dict[str, Any] | None:
    """DescribeMapRun: the Map Run's status, settings and item and child execution counts."""
    machine = parent_machine(runtime, parent)
    run = machine.map_runs.get(map_run_arn)
    if run is None:
        return None
    status = run["status"]
    if status == "RUNNING" and machine.status != "RUNNING":
        status = "ABORTED"  # the parent ended while it ran
    by_index = {int(r.params.get("index", -1)): r.status for r in children(runtime, map_run_arn)}
    executions = dict.fromkeys(_COUNTS, 0)
    items = dict.fromkeys(_COUNTS, 0)
    for index, size in enumerate(run["items"]):
        key = _STATUS_KEY.get(by_index.get(index, "QUEUED"), "pending")
        if key == "running" and status != "RUNNING":
            key = "aborted"
        executions[key] += 1
        items[key] += size
    for counts, total in ((executions, len(run["items"])), (items, sum(run["items"]))):
        counts.update(
            total=total,
            resultsWritten=counts["succeeded"] + counts["failed"],
            failuresNotRedrivable=0,
            pendingRedrive=0,
        )
    answer = {
        "mapRunArn": map_run_arn,
        "executionArn": run["execution_arn"],
        "status": status,
        "startDate": run["started"],
        "maxConcurrency": run["max_concurrency"],
        "toleratedFailurePercentage": run["tolerated_percentage"],
        "toleratedFailureCount": run["tolerated_count"],
        "itemCounts": items,
        "executionCounts": executions,
        "redriveCount": run["redrive_count"],
    }
    if run["stopped"] is not None:
        answer["stopDate"] = run["stopped"]
    if run.get("redriven_at") is not None:
        answer["redriveDate"] = run["redriven_at"]
    return answer
