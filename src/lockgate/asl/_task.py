"""The Task state: build the payload, issue an `Invoke`, and turn its result into the state output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lockgate.asl import arns
from lockgate.asl import errors as e
from lockgate.asl._dataflow import check_size
from lockgate.asl._events import Raw
from lockgate.asl._recovery import Failure
from lockgate.asl.activities import activity_name
from lockgate.asl.commands import Invoke

if TYPE_CHECKING:
    from lockgate.asl._frames import Frame, Visit
    from lockgate.asl.machine import Machine


def resource_parts(resource: str) -> tuple[str, str]:
    """(resourceType, resource) as the service's task events name them."""
    if resource.startswith("arn:aws:states:::"):
        service, _, action = resource[len("arn:aws:states:::") :].partition(":")
        return service, action
    if resource.startswith("arn:"):
        fields = resource.split(":")
        return (fields[2] if len(fields) > 2 else "arn"), resource
    kind, _, rest = resource.partition(":")
    return kind, rest or resource


def _seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise e.StatesError(e.RUNTIME, f"{what} must be a positive number of seconds, not {value!r}")
    return float(value)


def start(m: Machine, frame: Frame, visit: Visit) -> None:
    """Issue the attempt; raised errors go to Retry/Catch through the caller's guard."""
    d, state = visit.data, visit.state
    resource = state.get("Resource")
    if not isinstance(resource, str):
        raise e.StatesError(e.RUNTIME, f"state {visit.name!r} has no Resource")
    payload = d.arguments()
    timeout = _seconds(d.field("TimeoutSeconds", "TimeoutSecondsPath"), f"state {visit.name!r}: TimeoutSeconds")
    heartbeat = _seconds(d.field("HeartbeatSeconds", "HeartbeatSecondsPath"), f"state {visit.name!r}: HeartbeatSeconds")
    check_size(payload, f"the input of task {visit.name!r}")
    limits: dict[str, Any] = {}
    if timeout is not None:
        limits["timeoutInSeconds"] = int(timeout)
    if heartbeat is not None:
        limits["heartbeatInSeconds"] = int(heartbeat)
    if activity_name(resource) is not None:  # the service's Activity events, not Task events
        m.event(frame, "ActivityScheduled", {"resource": resource, "input": Raw(payload), **limits})
    else:
        kind, name = resource_parts(resource)
        scheduled = {"resourceType": kind, "resource": name, "region": arns.where()[0], "parameters": Raw(payload)}
        m.event(frame, "TaskScheduled", {**scheduled, **limits})
        m.event(frame, "TaskStarted", {"resourceType": kind, "resource": name})
    invoke_id = visit.attempt_id()
    now = m._now
    timeout_at = now + timeout if timeout is not None else None
    command = Invoke(invoke_id, visit.name, resource, payload, timeout_at, heartbeat, m.token(invoke_id))
    m.issue(command, frame, visit, "task", timeout_at, heartbeat)


def on_report(m: Machine, frame: Frame, visit: Visit, kind: str, a: Any, b: Any) -> None:
    from lockgate.asl._states import guarded

    resource = visit.state["Resource"]
    activity = activity_name(resource) is not None
    rtype, name = resource_parts(resource)
    if kind == "complete":
        if activity:
            m.event(frame, "ActivitySucceeded", {"output": Raw(a)})
        else:
            m.event(frame, "TaskSucceeded", {"resourceType": rtype, "resource": name, "output": Raw(a)})
        try:
            _succeeded(m, frame, visit, a)
        except e.StatesError as exc:
            m.state_failed(frame, visit, Failure(exc.error, exc.cause), lambda: guarded(m, frame, visit, start))
        return
    error, cause = str(a or ""), str(b or "")
    if activity:
        m.event(frame, "ActivityTimedOut" if kind == "timeout" else "ActivityFailed", {"error": error, "cause": cause})
    else:
        event = "TaskTimedOut" if kind == "timeout" else "TaskFailed"
        m.event(frame, event, {"resourceType": rtype, "resource": name, "error": error, "cause": cause})
    m.state_failed(frame, visit, Failure(error, cause), lambda: guarded(m, frame, visit, start))


def _succeeded(m: Machine, frame: Frame, visit: Visit, result: Any) -> None:
    d, state = visit.data, visit.state
    check_size(result, f"the result of task {visit.name!r}")
    selected = d.selected(result)
    assigned = d.assignments(state.get("Assign"), selected, result=result)
    output = d.output(selected, result=result)
    check_size(output, f"the output of state {visit.name!r}")
    m.leave(frame, visit, output, assigned)
