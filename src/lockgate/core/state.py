"""A run's state as its history makes it: steps, readiness, timers. Changed only by `apply`."""

from __future__ import annotations

import copy
import heapq
from collections.abc import Callable
from typing import Any

from lockgate.core.errors import ErrorInfo
from lockgate.core.model import Step, Workflow, refs_in, resolve

MAX_INTERRUPTIONS = 3
RESOLVED = frozenset({"SUCCEEDED", "FAILED", "SKIPPED"})


class StepState:
    """Where one step (or one mapped element, `name[i]`) stands."""

    __slots__ = (
        "attempt",
        "children",
        "deaths",
        "ended_at",
        "error",
        "failed_up",
        "index",
        "interruptions",
        "name",
        "open_children",
        "parent",
        "queue",
        "result",
        "retries",
        "running_children",
        "skipped_up",
        "spec",
        "started_at",
        "status",
        "succeeded_up",
        "waiting",
    )  # fmt: skip

    def __init__(self, name: str, spec: Step, index: int | None = None, parent: StepState | None = None) -> None:
        self.name = name
        self.spec = spec
        self.status = "PENDING"
        self.attempt = 0
        self.retries = [0] * len(spec.retry)
        self.interruptions = 0  # every interruption: attempts that ran again under one idempotency key
        self.deaths = 0  # the counted ones (MAX_INTERRUPTIONS of them fail the step)
        self.result: Any = None
        self.error: ErrorInfo | None = None
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.index = index
        self.parent = parent
        self.children: list[StepState] | None = None
        self.queue: list[int] = []  # children waiting to start, lowest index first
        self.running_children = 0
        self.open_children = 0
        self.waiting = len(spec.upstream)
        self.succeeded_up = 0
        self.failed_up = 0
        self.skipped_up = 0

    @property
    def mapped(self) -> bool:
        return self.spec.map_over is not None and self.index is None


class RunState:
    """A run as its history so far makes it."""

    def __init__(self, run_id: str, pipeline: str, workflow: Workflow, params: dict[str, Any], at: float) -> None:
        self.run_id = run_id
        self.pipeline = pipeline
        self.workflow = workflow
        self.params = params
        self.status = "RUNNING"
        self.started_at = at
        self.ended_at: float | None = None
        self.output: Any = None
        self.error: str | None = None
        self.cause: str | None = None
        self.steps: dict[str, StepState] = {}
        self.downstream: dict[str, list[str]] = {name: [] for name in workflow.steps}
        self.ready: dict[str, None] = {}
        self.running: set[str] = set()
        self.timers: list[tuple[float, int, str, str, int]] = []
        self.unresolved = len(workflow.steps)
        self.failed: list[str] = []
        self.newly_skipped: list[str] = []
        self.skip_reasons: dict[str, str] = {}  # why a newly skipped step was, when not its trigger rule
        self.element_attempts: dict[str, int] = {}  # mapped elements dropped by a clear: attempts go on
        self._timer_seq = 0
        # A mapped step's lists, resolved once for all its elements (see items_of).
        self._mapped: dict[str, tuple[Any, list[str], tuple[Any, ...], list[Any]]] = {}
        self.load: Callable[[Any], Any] = lambda value: value
        for name, spec in workflow.steps.items():
            self.steps[name] = StepState(name, spec)
            for up in spec.upstream:
                self.downstream[up].append(name)
        for name, step in self.steps.items():
            if step.waiting == 0:
                self.ready[name] = None
        if workflow.timeout is not None:
            self.push_timer(at + workflow.timeout, "run_timeout", "", 0)

    def push_timer(self, due: float, kind: str, step: str, attempt: int) -> None:
        self._timer_seq += 1
        heapq.heappush(self.timers, (due, self._timer_seq, kind, step, attempt))

    def next_wakeup(self) -> float | None:
        """When `decide(Tick)` next has something to do, if ever; drops stale timers."""
        while self.timers:
            due, _, kind, name, attempt = self.timers[0]
            if self.timer_live(kind, name, attempt):
                return due
            heapq.heappop(self.timers)
        return None

    def timer_live(self, kind: str, name: str, attempt: int) -> bool:
        if self.status != "RUNNING":
            return False
        if kind == "run_timeout":
            return True
        step = self.steps.get(name)  # None: an element dropped by a clear or a mark
        wanted = "RUNNING" if kind == "timeout" else "RETRYING"
        return step is not None and step.status == wanted and step.attempt == attempt

    def result_of(self, name: str) -> Any:
        """A step's result for a downstream argument: None unless it succeeded."""
        step = self.steps[name]
        return self.load(step.result) if step.status == "SUCCEEDED" else None

    def items_of(self, step: StepState) -> tuple[Any, ...]:
        """The mapped arguments of element `step` (`name[i]`), read from upstream results."""
        assert step.parent is not None and step.index is not None
        lists = self._mapped_lists(step.parent.name, step.spec.map_over or ())
        # A copy of an item that is a container: an attempt that changes its input in place
        # must not change what the next attempt gets.
        return tuple(_fresh(values[step.index]) for values in lists)

    def _mapped_lists(self, parent: str, templates: Any) -> list[Any]:
        """The lists a mapped step runs over, resolved once, not once per element (a map of n
        items would cost n^2). Resolved again when a step they refer to has another status or
        result (a clear or a mark): the cache's key holds those results themselves."""
        cached = self._mapped.get(parent)
        refs = cached[1] if cached is not None and cached[0] is templates else refs_in(list(templates))
        key = tuple((self.steps[name].status, self.steps[name].result) for name in refs)
        if cached is not None and cached[0] is templates and cached[2] == key:
            return cached[3]
        lists = [resolve(t, self.result_of) for t in templates]
        self._mapped[parent] = (templates, refs, key, lists)
        return lists

    def step_input(self, name: str) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments of a step's next attempt."""
        step = self.steps[name]
        items = self.items_of(step) if step.parent is not None else ()
        args = resolve(step.spec.args, self.result_of, items)
        return args["args"], args["kwargs"]


def _fresh(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, dict | list) else value
