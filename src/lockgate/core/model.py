"""What a pipeline is, once compiled: a Workflow of Steps, whatever front end wrote it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.core.errors import UsageError
from lockgate.core.retry import RetryPolicy

TRIGGER_RULES = ("all_success", "all_done", "one_failed", "one_success", "none_failed")
# What a step's result does to its downstream: nothing, choose which direct downstream steps run
# (the others are SKIPPED), or, when false, skip everything downstream.
CONTROLS = ("", "branch", "short_circuit")

# Markers inside argument templates. A template is JSON in which {REF: "step"} stands for that
# step's result and {ITEM: i} for the i-th mapped iterable's current element.
REF = "__lockgate_ref__"
ITEM = "__lockgate_item__"


@dataclass(frozen=True, slots=True)
class Step:
    """One node of a workflow: a task called with templated arguments."""

    name: str
    task: str
    args: Any = field(default_factory=lambda: {"args": [], "kwargs": {}})
    upstream: tuple[str, ...] = ()
    trigger_rule: str = "all_success"
    retry: tuple[RetryPolicy, ...] = ()
    timeout: float | None = None
    map_over: tuple[Any, ...] | None = None
    map_concurrency: int | None = None
    location: str = ""
    control: str = ""
    group: str = ""
    queue: str = "default"  # routing for executors with queues (celery); local executors ignore these three
    pool: str | None = None
    priority: int = 0

    def __post_init__(self) -> None:
        if self.control not in CONTROLS:
            raise UsageError(f"{self.location or self.name}: control {self.control!r} is not one of {CONTROLS}")
        if self.trigger_rule not in TRIGGER_RULES:
            rules = ", ".join(TRIGGER_RULES)
            raise UsageError(f"{self.location or self.name}: trigger rule {self.trigger_rule!r} is not one of {rules}")
        if self.timeout is not None and self.timeout <= 0:
            raise UsageError(f"{self.location or self.name}: timeout {self.timeout} must be above 0")
        if self.map_concurrency is not None and self.map_concurrency < 1:
            raise UsageError(f"{self.location or self.name}: map concurrency {self.map_concurrency} must be at least 1")

    def to_json(self) -> dict[str, Any]:
        routing: dict[str, Any] = {}  # only when set, so a plain step's JSON is as before
        if self.queue != "default":
            routing["queue"] = self.queue
        if self.pool is not None:
            routing["pool"] = self.pool
        if self.priority:
            routing["priority"] = self.priority
        return {
            "name": self.name,
            "task": self.task,
            "args": self.args,
            "upstream": list(self.upstream),
            "trigger_rule": self.trigger_rule,
            "retry": [policy.to_json() for policy in self.retry],
            "timeout": self.timeout,
            "map_over": None if self.map_over is None else list(self.map_over),
            "map_concurrency": self.map_concurrency,
            "location": self.location,
            **({"control": self.control} if self.control else {}),
            **({"group": self.group} if self.group else {}),
            **routing,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Step:
        return cls(
            name=data["name"],
            task=data["task"],
            args=data["args"],
            upstream=tuple(data["upstream"]),
            trigger_rule=data["trigger_rule"],
            retry=tuple(RetryPolicy.from_json(p) for p in data["retry"]),
            timeout=data["timeout"],
            map_over=None if data["map_over"] is None else tuple(data["map_over"]),
            map_concurrency=data["map_concurrency"],
            location=data.get("location", ""),
            control=data.get("control", ""),
            group=data.get("group", ""),
            queue=data.get("queue", "default"),
            pool=data.get("pool"),
            priority=int(data.get("priority", 0)),
        )


@dataclass(frozen=True, slots=True)
class Workflow:
    """A compiled pipeline: steps in dependency order, the output template, limits.

    `meta` carries what adapters need to know of the pipeline (its notification topics, ...)
    and the engine ignores.
    """

    name: str
    steps: Mapping[str, Step]
    output: Any = None
    timeout: float | None = None
    source: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "steps": [step.to_json() for step in self.steps.values()],
            "output": self.output,
            "timeout": self.timeout,
            "source": self.source,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Workflow:
        steps = {s["name"]: Step.from_json(s) for s in data["steps"]}
        return cls(
            name=data["name"],
            steps=steps,
            output=data["output"],
            timeout=data["timeout"],
            source=data["source"],
            meta=data.get("meta", {}),
        )


def refs_in(template: Any) -> list[str]:
    """Names of the steps a template refers to, in order of first appearance."""
    found: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if REF in node and len(node) == 1:
                found[node[REF]] = None
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(template)
    return list(found)


def resolve(template: Any, result_of: Callable[[str], Any], items: tuple[Any, ...] = ()) -> Any:
    """Replace step references in a template by their results and item markers by `items`."""
    if isinstance(template, dict):
        if len(template) == 1:
            if REF in template:
                return result_of(template[REF])
            if ITEM in template:
                return items[template[ITEM]]
        return {key: resolve(value, result_of, items) for key, value in template.items()}
    if isinstance(template, list):
        return [resolve(value, result_of, items) for value in template]
    return template
