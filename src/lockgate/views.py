"""A run as callers and commands see it: `Run` and its `StepView`s, and run ids."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from lockgate import _json
from lockgate.core import engine


@dataclass(frozen=True, slots=True)
class StepView:
    """A step as `lockgate show` and `Run.steps` present it."""

    name: str
    status: str
    attempts: int
    started_at: float | None
    ended_at: float | None
    error: dict[str, str] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "attempts": self.attempts,
            "started_at": _json.iso(self.started_at),
            "ended_at": _json.iso(self.ended_at),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Run:
    """A run's outcome as Python callers get it from `lockgate.run`."""

    run_id: str
    pipeline: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    started_at: float | None
    ended_at: float | None
    steps: list[StepView] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    version: str | None = None  # the pipeline's source digest this run was compiled from
    created_by: str | None = None  # a token's name, `cli:<user>`, or the trigger that started it

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def step(self, name: str) -> StepView:
        for view in self.steps:
            if view.name == name:
                return view
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "status": self.status,
            "params": self.params,
            "output": self.output,
            "error": self.error,
            "cause": self.cause,
            "started_at": _json.iso(self.started_at),
            "ended_at": _json.iso(self.ended_at),
            "version": self.version,
            "created_by": self.created_by,
            "steps": [s.to_json() for s in self.steps],
        }


def new_run_id(now: float) -> str:
    """A 20-character id that sorts by creation time."""
    stamp = int(now * 1000)
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    head = ""
    for _ in range(9):
        head = alphabet[stamp % 32] + head
        stamp //= 32
    return head + uuid.uuid4().hex[:11]


def step_views(state: engine.RunState) -> list[StepView]:
    views = []
    for name in state.workflow.steps:
        step = state.steps[name]
        views.append(_view(step))
        for child in step.children or ():
            views.append(_view(child))
    return views


def _view(step: engine.StepState) -> StepView:
    error = None
    if step.error is not None and step.status in ("FAILED", "RETRYING", "ABORTED"):
        error = {"name": step.error.name, "cause": step.error.cause}
    return StepView(step.name, step.status, step.attempt, step.started_at, step.ended_at, error)
