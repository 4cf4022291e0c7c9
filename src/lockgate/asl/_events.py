"""A state machine's execution history, with the service's event names and fields.

Events are kept as light tuples while the machine runs and turned into the service's dicts
only when read: values are JSON-encoded then, so the interpreter never pays for it per step.
The machine never changes a value after handing it to the log.
"""

from __future__ import annotations

import json
from typing import Any


class Raw:
    """A value shown as JSON text in the history (input, output, parameters)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


_DETAILS = {
    "ExecutionStarted": "executionStartedEventDetails",
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "TaskScheduled": "taskScheduledEventDetails",
    "TaskStarted": "taskStartedEventDetails",
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "ActivityScheduled": "activityScheduledEventDetails",
    "ActivityStarted": "activityStartedEventDetails",
    "ActivitySucceeded": "activitySucceededEventDetails",
    "ActivityFailed": "activityFailedEventDetails",
    "ActivityTimedOut": "activityTimedOutEventDetails",
    "ExecutionRedriven": "executionRedrivenEventDetails",
    "MapStateStarted": "mapStateStartedEventDetails",
    "MapRunStarted": "mapRunStartedEventDetails",
    "MapRunFailed": "mapRunFailedEventDetails",
    "MapRunRedriven": "mapRunRedrivenEventDetails",
    "MapIterationStarted": "mapIterationStartedEventDetails",
    "MapIterationSucceeded": "mapIterationSucceededEventDetails",
    "MapIterationFailed": "mapIterationFailedEventDetails",
    "MapIterationAborted": "mapIterationAbortedEventDetails",
}


def details_key(kind: str) -> str | None:
    """The name of the field that holds an event type's details, or None when it has none."""
    if kind.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if kind.endswith("StateExited"):
        return "stateExitedEventDetails"
    return _DETAILS.get(kind)


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _render(details: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, Raw):
            out[key] = _text(value.value)
            if key in ("input", "output"):
                out[key + "Details"] = {"truncated": False}
        elif isinstance(value, dict) and key == "assignedVariables":
            out[key] = {name: _text(v) for name, v in value.items()}
            out["assignedVariablesDetails"] = {"truncated": False}
        else:
            out[key] = value
    return out


class EventLog:
    """Append-only list of (type, previous id, time, details); ids count from 1."""

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: list[tuple[str, int, float, dict[str, Any] | None]] = []

    def add(self, kind: str, previous: int, at: float, details: dict[str, Any] | None = None) -> int:
        self._events.append((kind, previous, at, details))
        return len(self._events)

    def __len__(self) -> int:
        return len(self._events)

    @property
    def events(self) -> list[tuple[str, int, float, dict[str, Any] | None]]:
        """The raw list (read-only by convention): its length is checked once per state."""
        return self._events

    def render(self) -> list[dict[str, Any]]:
        """The history as the service's GetExecutionHistory lists it (timestamps in epoch seconds)."""
        rendered = []
        for index, (kind, previous, at, details) in enumerate(self._events, 1):
            event: dict[str, Any] = {"id": index, "previousEventId": previous, "timestamp": at, "type": kind}
            key = details_key(kind)
            if key is not None:
                event[key] = _render(details or {})
            rendered.append(event)
        return rendered
