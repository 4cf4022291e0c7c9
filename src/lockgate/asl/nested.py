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


def start_execution(arn: str, payload: Any, mapping: dict[str, str]) -> Any:
    """Run the `startExecution` integration `arn` (with its suffix) for the task's `payload`."""
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
    name = payload.get("Name")
    try:
        created = durable.create(runtime, definition, value, state_machine=machine_name, name=name)
    except UsageError as exc:
        raise TaskFailure("StepFunctions.ExecutionAlreadyExistsException", str(exc)) from None
    started = runtime.clock()
    execution_arn = arns.execution(machine_name, created.name)
    if not arn.endswith((".sync", ".sync:2")):
        threading.Thread(target=durable.execute, args=(runtime, created), daemon=True).start()
        return {"ExecutionArn": execution_arn, "StartDate": _json.iso(started)}
    result = durable.execute(runtime, created)
    described = {
        "ExecutionArn": execution_arn,
        "StateMachineArn": machine_arn,
        "Name": created.name,
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
