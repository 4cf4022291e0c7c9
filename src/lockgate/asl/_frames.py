"""The interpreter's threads of control (frames) and state entries (visits)."""

from __future__ import annotations

from collections import ChainMap
from typing import Any

from lockgate.asl._dataflow import StateData


class Frame:
    """One thread of control over a `States` table: the execution, a Parallel branch or a Map iteration."""

    __slots__ = (
        "alive",
        "failed_state",
        "index",
        "input",
        "last",
        "name",
        "parent",
        "prefix",
        "states",
        "variables",
        "visit",
        "visits",
        "waiting",
    )

    def __init__(self, prefix: str, states: dict[str, Any], start: str, value: Any, variables: ChainMap[str, Any],
                 parent: Any, index: int, last: int) -> None:  # fmt: skip
        self.prefix = prefix
        self.states = states
        self.name: str | None = start
        self.input = value
        self.variables = variables
        self.visits: dict[str, int] = {}
        self.parent = parent  # the fan-out waiting on this frame, None for the execution itself
        self.index = index
        self.last = last  # id of this frame's latest history event
        self.waiting = False
        self.alive = True
        self.visit: Visit | None = None  # the state entry in progress (or the one that failed)
        self.failed_state: str | None = None  # the state at which the frame failed, for a redrive


class Visit:
    """One entry into a state, across its retries."""

    __slots__ = ("activity", "counts", "data", "entered", "id", "kind", "name", "retries", "state")

    def __init__(self, name: str, state: dict[str, Any], id: str, data: StateData, entered: float) -> None:
        self.name = name
        self.state = state
        self.kind: str = state["Type"]
        self.id = id
        self.data = data
        self.entered = entered
        self.counts: list[int] = [0] * len(state.get("Retry") or ())
        self.retries = 0
        self.activity: Any = None

    def attempt_id(self) -> str:
        return self.id if self.retries == 0 else f"{self.id}/retry{self.retries}"
