"""What each state type does when entered, and when a command it issued reports back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lockgate.asl import choice, intrinsics
from lockgate.asl import errors as e
from lockgate.asl._dataflow import check_size
from lockgate.asl._recovery import Failure
from lockgate.asl.commands import StartTimer

if TYPE_CHECKING:
    from lockgate.asl._frames import Frame, Visit
    from lockgate.asl.machine import Machine

Step = Callable[["Machine", "Frame", "Visit"], None]


def run_state(m: Machine, frame: Frame) -> None:
    """Enter the frame's current state and run it until it moves on, ends or waits."""
    try:
        visit = m.enter(frame)
    except e.StatesError as exc:
        m.end_frame_failed(frame, Failure(exc.error, exc.cause))
        return
    handler = _handlers().get(visit.kind)
    if handler is None:
        m.end_frame_failed(frame, Failure(e.RUNTIME, f"state {visit.name!r} has an unknown Type {visit.kind!r}"))
        return
    guarded(m, frame, visit, handler)


def guarded(m: Machine, frame: Frame, visit: Visit, step: Step) -> None:
    """Run one step of a state; a States error it raises goes to Retry and Catch."""
    try:
        step(m, frame, visit)
    except e.StatesError as exc:
        m.state_failed(frame, visit, Failure(exc.error, exc.cause), lambda: guarded(m, frame, visit, step))


def on_report(m: Machine, what: str, kind: str, frame: Frame, visit: Visit | None, a: Any, b: Any) -> None:
    """A command issued by `visit` reported back (`kind`: complete, fail, timeout or fire)."""
    from lockgate.asl import _task

    assert visit is not None
    m.wake(frame)
    if what == "backoff" and kind == "fire":
        visit.activity()
    elif what == "wait" and kind == "fire":
        guarded(m, frame, visit, _waited)
    elif what == "task":
        _task.on_report(m, frame, visit, kind, a, b)
    elif what == "child":
        from lockgate.asl import _distributed

        _distributed.on_child_report(m, frame, kind, a, b)
    elif what in ("reader", "writer"):
        from lockgate.asl import _distributed

        _distributed.on_report(m, frame, visit, what, kind, a, b)
    else:
        frame.waiting = True  # a report that does not apply to this command: keep waiting


def _pass(m: Machine, frame: Frame, visit: Visit) -> None:
    d, state = visit.data, visit.state
    if d.jsonata:
        output = d.evaluate(state["Output"]) if "Output" in state else d.raw
        assigned = d.assignments(state.get("Assign"), None)
    else:
        if "Result" in state:
            result = state["Result"]
        elif "Parameters" in state:
            result = d.template(state["Parameters"], d.effective())
        else:
            result = d.effective()
        assigned = d.assignments(state.get("Assign"), result)
        output = d.output(result)
    if assigned or "Result" in state or "Parameters" in state or "Output" in state:
        check_size(output, f"the output of state {visit.name!r}")
    m.leave(frame, visit, output, assigned)


def _choice(m: Machine, frame: Frame, visit: Visit) -> None:
    d, state = visit.data, visit.state
    data = d.raw if d.jsonata else d.effective()
    index = choice.choose_index(state, data, d.context(), d.variables, d.ql)
    if index is None:
        if "Default" not in state:
            raise e.StatesError(
                e.NO_CHOICE_MATCHED, f"no Choice rule of state {visit.name!r} matched and it has no Default"
            )
        rule: dict[str, Any] = {}
        next_name = state["Default"]
    else:
        rule = state["Choices"][index]
        next_name = rule["Next"]
    assign = rule["Assign"] if "Assign" in rule else state.get("Assign")
    assigned = d.assignments(assign, data)
    output = d.evaluate(rule["Output"]) if d.jsonata and "Output" in rule else d.plain_output(data)
    m.leave(frame, visit, output, assigned, next_name)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise e.StatesError(e.RUNTIME, f"{what} must be a non-negative number, not {value!r}")
    return float(value)


def timestamp(value: Any, what: str) -> float:
    """An ISO 8601 / RFC 3339 time as epoch seconds (UTC when it has no offset)."""
    if not isinstance(value, str):
        raise e.StatesError(e.RUNTIME, f"{what} must be an ISO 8601 timestamp, not {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise e.StatesError(e.RUNTIME, f"{what} {value!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def _wait(m: Machine, frame: Frame, visit: Visit) -> None:
    d = visit.data
    seconds = d.field("Seconds", "SecondsPath")
    if "SecondsPath" in visit.state and isinstance(seconds, float) and not seconds.is_integer():
        raise e.StatesError(
            e.RUNTIME,
            f"state {visit.name!r}: the value {seconds} selected by SecondsPath "
            f"'{visit.state['SecondsPath']}' cannot be parsed as a long value",
        )
    if seconds is not None:
        due = visit.entered + _number(seconds, f"state {visit.name!r}: Seconds")
    else:
        stamp = d.field("Timestamp", "TimestampPath")
        if stamp is None:
            raise e.StatesError(e.RUNTIME, f"state {visit.name!r} has no Seconds or Timestamp to wait for")
        due = timestamp(stamp, f"state {visit.name!r}: Timestamp")
    m.issue(StartTimer(visit.id, due), frame, visit, "wait")


def _waited(m: Machine, frame: Frame, visit: Visit) -> None:
    d = visit.data
    data = d.raw if d.jsonata else d.effective()
    assigned = d.assignments(visit.state.get("Assign"), data)
    m.leave(frame, visit, d.plain_output(data), assigned)


def _succeed(m: Machine, frame: Frame, visit: Visit) -> None:
    d = visit.data
    output = d.plain_output(d.raw if d.jsonata else d.effective())
    m.event(frame, "SucceedStateExited", {"name": visit.name, "output": _raw(output)})
    m.end_frame(frame, output)


def _raw(value: Any) -> Any:
    from lockgate.asl._events import Raw

    return Raw(value)


def _fail_text(visit: Visit, name: str) -> str:
    d, state = visit.data, visit.state
    if name in state:
        value = d.field(name)
    elif f"{name}Path" in state:
        path = state[f"{name}Path"]
        if isinstance(path, str) and path.startswith("States."):
            value = intrinsics.evaluate_intrinsic(path, d.raw, d.context(), d.variables, d.entropy)
        else:
            value = d.select(path, d.raw)
    else:
        return ""
    if not isinstance(value, str):
        raise e.StatesError(e.RUNTIME, f"state {visit.name!r}: {name} must be a string, not {value!r}")
    return value


def _fail(m: Machine, frame: Frame, visit: Visit) -> None:
    error = _fail_text(visit, "Error")
    cause = _fail_text(visit, "Cause")
    frame.name = None
    m.end_frame_failed(frame, Failure(error, cause))


def _handlers() -> dict[str, Step]:
    global _HANDLERS
    if _HANDLERS is None:
        from lockgate.asl import _fanout, _task

        _HANDLERS = {
            "Pass": _pass,
            "Choice": _choice,
            "Wait": _wait,
            "Succeed": _succeed,
            "Fail": _fail,
            "Task": _task.start,
            "Parallel": _fanout.start_parallel,
            "Map": _fanout.start_map,
        }
    return _HANDLERS


_HANDLERS: dict[str, Step] | None = None
