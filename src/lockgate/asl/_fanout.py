"""Parallel and Map states: child frames for branches or iterations, joined into one result list."""

from __future__ import annotations

from collections import ChainMap
from typing import TYPE_CHECKING, Any

from lockgate.asl import errors as e
from lockgate.asl import limits
from lockgate.asl._dataflow import check_size
from lockgate.asl._recovery import Failure

if TYPE_CHECKING:
    from lockgate.asl._frames import Frame, Visit
    from lockgate.asl.machine import Machine


class FanOut:
    """The children of one Parallel or Map attempt and what has become of them."""

    def __init__(self, m: Machine, frame: Frame, visit: Visit, children: list[tuple[dict[str, Any], Any]],
                 limit: int, tolerated: tuple[float | None, float | None] | None) -> None:  # fmt: skip
        self.frame = frame
        self.visit = visit
        self.is_map = visit.kind == "Map"
        self.children = children  # (processor definition with StartAt/States, input)
        self.limit = limit
        self.tolerated = tolerated  # (count, percentage) or None: any failure fails the state
        self.results: list[Any] = [None] * len(children)
        self.frames: list[Frame] = []
        self.running = 0
        self.finished = 0
        self.failed = 0
        self.failed_at: set[int] = set()
        self.over = False
        self.queued: list[Frame] = []  # frames to set running again (a redrive), before new ones
        self.map_run: str | None = None  # the Map Run's ARN when the iterations are child executions
        frame.waiting = True
        visit.activity = self

    def launch(self, m: Machine) -> None:
        from lockgate.asl._frames import Frame

        prefix = f"{self.visit.attempt_id()}/{'Map' if self.is_map else 'Branch'}"
        while self.queued and (self.limit <= 0 or self.running < self.limit):
            self.running += 1
            self._restart(m, self.queued.pop(0))
        while len(self.frames) < len(self.children) and (self.limit <= 0 or self.running < self.limit):
            index = len(self.frames)
            definition, value = self.children[index]
            if self.map_run is not None:
                from lockgate.asl._distributed import start_child

                child = Frame(f"{prefix}[{index}]/", {}, definition.get("StartAt", ""), value, ChainMap({}), self,
                              index, self.frame.last)  # fmt: skip
                self.frames.append(child)
                self.running += 1
                start_child(m, self, child)
                continue
            if self.is_map:
                m.event(self.frame, "MapIterationStarted", {"name": self.visit.name, "index": index})
            variables: ChainMap[str, Any] = ChainMap({}, *self.frame.variables.maps)
            child = Frame(f"{prefix}[{index}]/", definition.get("States") or {}, definition.get("StartAt", ""), value,
                          variables, self, index, self.frame.last)  # fmt: skip
            self.frames.append(child)
            self.running += 1
            m.spawn(child)

    def _restart(self, m: Machine, child: Frame) -> None:
        if self.map_run is not None:
            from lockgate.asl._distributed import start_child

            child.failed_state, child.alive = None, True
            start_child(m, self, child)
            return
        from lockgate.asl._redrive import revive

        if self.is_map:
            m.event(self.frame, "MapIterationStarted", {"name": self.visit.name, "index": child.index})
        revive(m, child)

    def redrive(self, m: Machine) -> bool:
        """Run the unsuccessful children again (a redrive); False when none is left to run."""
        undone = [c for c in self.frames if c.name is not None or c.failed_state is not None]
        if not undone and len(self.frames) == len(self.children):
            if self.is_map and "ResultWriter" in self.visit.state and self.finished == len(self.children):
                from lockgate.asl._distributed import write

                self.over = True
                write(m, self.frame, self.visit, self.results, self.failed_at)
                return True
            return False
        self.over = False
        self.failed = 0
        self.running = 0
        self.finished = len(self.frames) - len(undone)
        for child in undone:
            self.failed_at.discard(child.index)
            self.results[child.index] = None
            child.name, child.failed_state = child.failed_state or child.name, None
        self.queued = undone
        if self.map_run is not None:
            run = m.map_runs[self.map_run]
            run["redrive_count"] += 1
            run["status"], run["stopped"], run["redriven_at"] = "RUNNING", None, m._now
            m.event(self.frame, "MapRunRedriven", {"mapRunArn": self.map_run, "redriveCount": run["redrive_count"]})
        self.launch(m)
        return True

    def child_succeeded(self, m: Machine, child: Frame, output: Any) -> None:
        if self.over:
            return
        self.running -= 1
        self.results[child.index] = output
        if self.map_run is not None:
            m.map_runs[self.map_run]["outcomes"][child.index] = "SUCCEEDED"
        elif self.is_map:
            self._event(m, child, "MapIterationSucceeded", {"name": self.visit.name, "index": child.index})
        self._settle(m, child)

    def child_failed(self, m: Machine, child: Frame, failure: Failure) -> None:
        if self.over:
            return
        self.running -= 1
        self.failed += 1
        if self.map_run is not None:
            m.map_runs[self.map_run]["outcomes"][child.index] = "FAILED"
        elif self.is_map:
            self._event(m, child, "MapIterationFailed", {"name": self.visit.name, "index": child.index})
        total = len(self.children)
        if self.tolerated is not None and failure.error != e.RUNTIME:
            count, percentage = self.tolerated
            if (count is None or self.failed <= count) and (
                percentage is None or self.failed * 100 <= percentage * total
            ):
                self.results[child.index] = failure.output()
                self.failed_at.add(child.index)
                self._settle(m, child)
                return
            failure = Failure(e.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                              f"{self.failed} of {total} iterations failed, over the tolerated failures")  # fmt: skip
        self._fail(m, child, Failure(failure.error, failure.cause, branch=True))

    def _event(self, m: Machine, child: Frame, kind: str, details: dict[str, Any] | None = None) -> None:
        self.frame.last = max(self.frame.last, child.last)
        m.event(self.frame, kind, details)

    def _settle(self, m: Machine, child: Frame) -> None:
        self.finished += 1
        if self.finished == len(self.children):
            self.over = True
            if self.map_run is not None:
                self._event(m, child, "MapRunSucceeded")
                m.map_runs[self.map_run].update(status="SUCCEEDED", stopped=m._now)
            self._event(m, child, "MapStateSucceeded" if self.is_map else "ParallelStateSucceeded")
            if self.is_map and "ResultWriter" in self.visit.state:
                from lockgate.asl._distributed import write

                m.wake(self.frame)
                write(m, self.frame, self.visit, self.results, self.failed_at)
            else:
                joined(m, self.frame, self.visit, self.results)
        else:
            self.launch(m)

    def _fail(self, m: Machine, child: Frame, failure: Failure) -> None:
        from lockgate.asl._states import guarded

        self.over = True
        for other in self.frames:
            m.kill(other)
        if self.map_run is not None:
            self._event(m, child, "MapRunFailed", {"error": failure.error, "cause": failure.cause})
            m.map_runs[self.map_run].update(status="FAILED", stopped=m._now, error=failure.error, cause=failure.cause)
        self._event(m, child, "MapStateFailed" if self.is_map else "ParallelStateFailed")
        m.wake(self.frame)
        visit = self.visit
        m.state_failed(self.frame, visit, failure, lambda: guarded(m, self.frame, visit, restart))


def restart(m: Machine, frame: Frame, visit: Visit) -> None:
    (start_map if visit.kind == "Map" else start_parallel)(m, frame, visit)


def joined(m: Machine, frame: Frame, visit: Visit, results: Any) -> None:
    from lockgate.asl._states import guarded

    def finish(m: Machine, frame: Frame, visit: Visit) -> None:
        d, state = visit.data, visit.state
        check_size(results, f"the result of state {visit.name!r}")
        selected = d.selected(results)
        assigned = d.assignments(state.get("Assign"), selected, result=results)
        output = d.output(selected, result=results)
        check_size(output, f"the output of state {visit.name!r}")
        m.leave(frame, visit, output, assigned)

    m.wake(frame)
    try:
        finish(m, frame, visit)
    except e.StatesError as exc:
        m.state_failed(frame, visit, Failure(exc.error, exc.cause), lambda: guarded(m, frame, visit, restart))


def start_parallel(m: Machine, frame: Frame, visit: Visit) -> None:
    branches = visit.state.get("Branches")
    if not isinstance(branches, list):
        raise e.StatesError(e.RUNTIME, f"state {visit.name!r} has no Branches")
    value = visit.data.arguments()
    fan = FanOut(m, frame, visit, [(branch, value) for branch in branches], 0, None)
    m.event(frame, "ParallelStateStarted")
    if not branches:
        fan.over = True
        m.event(frame, "ParallelStateSucceeded")
        joined(m, frame, visit, [])
        return
    fan.launch(m)


def _count(value: Any, what: str, *, percentage: bool = False) -> float:
    top = 100 if percentage else float("inf")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= top:
        bounds = "between 0 and 100" if percentage else "a non-negative number"
        raise e.StatesError(e.RUNTIME, f"{what} must be {bounds}, not {value!r}")
    if not percentage and value != int(value):
        raise e.StatesError(e.RUNTIME, f"{what} must be a whole number, not {value!r}")
    return float(value)


def _items(visit: Visit) -> list[Any]:
    d, state = visit.data, visit.state
    if "ItemReader" in state:
        raise e.StatesError(
            e.ITEM_READER_FAILED, f"state {visit.name!r}: ItemReader (Distributed Map) is not supported"
        )
    if d.jsonata:
        items = d.field("Items") if "Items" in state else d.raw
        code = e.QUERY_EVALUATION_ERROR
    else:
        items = d.select(state["ItemsPath"], d.effective()) if "ItemsPath" in state else d.effective()
        code = e.RUNTIME
    if not isinstance(items, list):
        raise e.StatesError(
            code, f"state {visit.name!r}: the items to iterate over must be an array, not {type(items).__name__}"
        )
    limit = limits.current().map_inline_items
    if len(items) > limit:
        raise e.StatesError(e.RUNTIME, f"state {visit.name!r}: {len(items)} items to iterate over, more than the "
                                       f"limit of {limit} ([limits] map_inline_items)")  # fmt: skip
    return items


def start_map(m: Machine, frame: Frame, visit: Visit) -> None:
    state = visit.state
    processor = state.get("ItemProcessor") or state.get("Iterator")
    if not isinstance(processor, dict):
        raise e.StatesError(e.RUNTIME, f"state {visit.name!r} has no ItemProcessor")
    if "ItemReader" in state:
        from lockgate.asl._distributed import read

        read(m, frame, visit)
        return
    launch_map(m, frame, visit, _items(visit))


def launch_map(
    m: Machine, frame: Frame, visit: Visit, items: list[Any], keys: list[str] | None = None,
    sources: list[str] | None = None,
) -> None:  # fmt: skip
    """Start the iterations over `items` (ItemSelector, ItemBatcher, concurrency, tolerance).

    `keys` are the items' keys when they were a JSON object's values, `sources` where an
    ItemReader found each one: `$$.Map.Item.Key` and `$$.Map.Item.Source` in ItemSelector.
    """
    d, state = visit.data, visit.state
    processor = state.get("ItemProcessor") or state.get("Iterator")
    assert isinstance(processor, dict)  # start_map checked it
    selector_key = "ItemSelector" if "ItemSelector" in state else "Parameters" if "Parameters" in state else None
    inputs = []
    for index, item in enumerate(items):
        if selector_key is None:
            inputs.append(item)
            continue
        about: dict[str, Any] = {"Index": index, "Value": item}
        if keys is not None:
            about["Key"] = keys[index]
        if sources is not None:
            about["Source"] = sources[index]
        context = m.context(visit, {"Map": {"Item": about}})
        if d.jsonata:
            inputs.append(d.evaluate(state[selector_key], context))
        else:
            inputs.append(d.template(state[selector_key], d.effective(), context))
    if "ItemBatcher" in state:
        from lockgate.asl._distributed import batches

        inputs = batches(visit, inputs)
    limit = d.field("MaxConcurrency", "MaxConcurrencyPath")
    limit = 0 if limit is None else int(_count(limit, f"state {visit.name!r}: MaxConcurrency"))
    count = d.field("ToleratedFailureCount", "ToleratedFailureCountPath")
    share = d.field("ToleratedFailurePercentage", "ToleratedFailurePercentagePath")
    tolerated = None
    if count is not None or share is not None:
        tolerated = (
            _count(count, f"state {visit.name!r}: ToleratedFailureCount") if count is not None else None,
            _count(share, f"state {visit.name!r}: ToleratedFailurePercentage", percentage=True)
            if share is not None
            else None,
        )
    distributed = (processor.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
    if distributed and tolerated is None:
        tolerated = (0.0, None)  # a failed child execution fails the Map Run
    fan = FanOut(m, frame, visit, [(processor, value) for value in inputs], limit, tolerated)
    m.event(frame, "MapStateStarted", {"length": len(inputs)})
    if distributed:
        from lockgate.asl._distributed import start_map_run

        start_map_run(m, fan, inputs, limit, tolerated)
    if not inputs:
        fan.over = True
        m.event(frame, "MapStateSucceeded")
        joined(m, frame, visit, [])
        return
    fan.launch(m)
