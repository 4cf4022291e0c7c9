"""`arn:aws:states:::states:startExecution` (and `.sync`, `.sync:2`): a state machine starts another.

The child runs as its own durable lockgate run. The state machine to start is found by its ARN
in the state machines created through the API, or in `[asl.resources]` as `asl:PATH` (a
definition file). Request-response starts it and answers `{"ExecutionArn", "StartDate"}`;
`.sync` waits for its end and answers as DescribeExecution does (`Output` as JSON text);
`.sync:2` gives `Output` as JSON. A child that does not succeed fails the task with
`States.TaskFailed` and the description as its cause, as the service does.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from lockgate import _json
from lockgate.asl import arns
from lockgate.asl import errors as e

log = logging.getLogger(__name__)

START_EXECUTION = "arn:aws:states:::states:startExecution"


def _definition(machine_arn: str, mapping: dict[str, str], runtime: Any) -> dict[str, Any]:
    from lockgate.asl import definition, validate
    from lockgate.asl.resources import TaskFailure
    from lockgate.core.errors import UsageError

    target = mapping.get(machine_arn)
    if target is not None and target.startswith("asl:"):
        try:
            loaded = definition.load(Path(target[len("asl:") :]))
        except UsageError as exc:
            raise TaskFailure(e.TASK_FAILED, f"{machine_arn}: {exc}") from None
    else:
        loaded = _stored(machine_arn, runtime)
    problems = validate.validate(loaded)
    if problems:
        raise TaskFailure(
            e.TASK_FAILED, f"{machine_arn}: invalid definition: {problems[0].pointer}: {problems[0].message}"
        )
    return loaded


def _stored(machine_arn: str, runtime: Any) -> dict[str, Any]:
    from lockgate.asl.resources import TaskFailure

    engine = getattr(runtime.store, "engine", None)
    if engine is not None:
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t

        with engine.connect() as conn:
            text = conn.execute(sa.select(t.c.definition).where(t.c.name == machine_arn.rsplit(":", 1)[-1])).scalar()
        if text is not None:
            return json.loads(text)  # type: ignore[no-any-return]
    raise TaskFailure(
        e.TASK_FAILED,
        f"StateMachineDoesNotExist: {machine_arn} (create it through the API, or map it to asl:PATH"
        " in [asl.resources])",
    )


def start_execution(arn: str, payload: Any, mapping: dict[str, str], token: str = "") -> Any:
    """Run the `startExecution` integration `arn` (with its suffix) for the task's `payload`.

    `token` is the task's token, the same whenever this one invocation runs again (after a crash
    of the process driving the parent): the child is named after it when `Name` is not given, and
    a child this invocation already started is taken up again, not started a second time.
    """
    from lockgate.asl import durable
    from lockgate.asl.resources import TaskFailure
    from lockgate.core.errors import UsageError
    from lockgate.runtime import default_runtime

    if not isinstance(payload, dict) or not isinstance(payload.get("StateMachineArn"), str):
        raise TaskFailure(e.TASK_FAILED, f"{arn}: Parameters.StateMachineArn must name the state machine to start")
    machine_arn = payload["StateMachineArn"]
    runtime = default_runtime()
    definition = _definition(machine_arn, mapping, runtime)
    value = payload.get("Input", {})
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise TaskFailure(e.TASK_FAILED, f"{arn}: Input is text that is not JSON") from None
    machine_name = machine_arn.rsplit(":", 1)[-1]
    name = payload.get("Name") or (f"child-{token[:40]}" if token else None)
    sync = arn.endswith((".sync", ".sync:2"))
    try:
        created = durable.create(
            runtime,
            definition,
            value,
            state_machine=machine_name,
            name=name,
            extra={PARENT_TASK: token} if token else None,
        )
    except UsageError as exc:
        again = _started_before(runtime, machine_name, name, token)
        if again is None:
            raise TaskFailure("StepFunctions.ExecutionAlreadyExistsException", str(exc)) from None
        name, started = again.params.get("name", name), again.started_at or again.created_at
        if not sync:
            return {"ExecutionArn": arns.execution(machine_name, name), "StartDate": _json.iso(started)}
        result = _take_up(runtime, again.run_id)
    else:
        name, started = created.name, runtime.clock()
        if not sync:
            threading.Thread(target=durable.execute, args=(runtime, created), daemon=True).start()
            return {"ExecutionArn": arns.execution(machine_name, name), "StartDate": _json.iso(started)}
        result = durable.execute(runtime, created)
    execution_arn = arns.execution(machine_name, name)
    described = {
        "ExecutionArn": execution_arn,
        "StateMachineArn": machine_arn,
        "Name": name,
        "Input": json.dumps(value),
        "InputDetails": {"Included": True},
        "StartDate": _json.iso(started),
        "StopDate": _json.iso(runtime.clock()),
        "Status": result["status"],
    }
    if result["status"] != "SUCCEEDED":
        described["Error"], described["Cause"] = result.get("error"), result.get("cause")
        raise TaskFailure(e.TASK_FAILED, json.dumps(described))
    output = result["output"]
    described["Output"] = output if arn.endswith(".sync:2") else json.dumps(output)
    described["OutputDetails"] = {"Included": True}
    return described


PARENT_TASK = "parent_task"  # the params key of a child execution: the token of the task that started it
TAKE_UP_POLL_SECONDS = 0.2


def _started_before(runtime: Any, machine_name: str, name: str | None, token: str) -> Any:
    """The child execution this very task invocation started before its process died, if that is
    what holds the name (its params carry the invocation's token); None for another execution."""
    from lockgate.asl import durable

    if not token or not name:
        return None
    record = runtime.store.find_by_key(durable.execution_key(machine_name, name))
    if record is None or record.params.get(PARENT_TASK) != token:
        return None
    return record


def _take_up(runtime: Any, run_id: str) -> dict[str, Any]:
    """The result of a child execution started earlier: driven here to its end if its process
    died, else waited for (its owner, or the scheduler that adopted it, drives it)."""
    import time

    from lockgate.asl import durable
    from lockgate.core.errors import UsageError

    while True:
        record = runtime.store.get_run(run_id)
        if record is None:
            return {"status": "ABORTED", "error": None, "cause": "the child execution is gone"}
        if record.status != "RUNNING" or runtime.is_orphaned(record):
            try:
                return durable.resume(runtime, run_id)  # a finished run just gives its result
            except UsageError:
                pass  # another process took it up first: wait for it
        time.sleep(TAKE_UP_POLL_SECONDS)
