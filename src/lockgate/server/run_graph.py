"""The graph of a run as the web UI draws it: steps (or states), their edges and their statuses.

A Python pipeline's graph is its compiled workflow (from the run's RunStarted event): one node
per step, an edge from each upstream step; a mapped step is one node with a count of its
elements per status. A state machine's graph is its definition: one node per state (states of
Parallel branches and Map item processors are children of their Parallel or Map node), an edge
per transition (Next, Default, Choices, Catch); each state's status is read from the
execution's history.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lockgate.core import history as h
from lockgate.core.engine import RunState

# Which status a node with several runs (mapped elements, Map iterations, loops) shows.
PRECEDENCE = ("RUNNING", "RETRYING", "FAILED", "ABORTED", "SUCCEEDED", "SKIPPED", "PENDING")
STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
# Event type prefixes that belong to a Task state although they do not say "Task".
_TASK_EVENTS = ("Lambda", "Activity")
_FAILURES = ("Failed", "TimedOut")


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    label: str
    status: str
    kind: str
    parent: str | None = None
    counts: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "status": self.status, "kind": self.kind,
                "parent": self.parent, "counts": self.counts}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    labels: dict[tuple[str, str], str] = field(default_factory=dict)  # a Choice rule's condition, ...

    def to_json(self) -> dict[str, Any]:
        edges = []
        for s, t in self.edges:
            edge = {"id": f"{s}->{t}", "source": s, "target": t}
            if (s, t) in self.labels:
                edge["label"] = self.labels[(s, t)]
            edges.append(edge)
        return {"nodes": [n.to_json() for n in self.nodes], "edges": edges}


def overall(statuses: Counter[str]) -> str:
    """The one status a node shows for the statuses of its runs."""
    for status in PRECEDENCE:
        if statuses.get(status):
            return status
    return "PENDING"


# -- Python pipelines ----------------------------------------------------------------------


def pipeline_graph(state: RunState) -> Graph:
    """Steps and dependencies of a Python pipeline run, each with its current status."""
    nodes = []
    edges = []
    groups: dict[str, Counter[str]] = {}
    for name, spec in state.workflow.steps.items():
        step = state.steps[name]
        counts = None
        if spec.map_over is not None:
            counts = dict(Counter(child.status for child in step.children or ()))
        parent = f"group:{spec.group}" if spec.group else None
        label = name.removeprefix(f"{spec.group}.") if spec.group else name
        nodes.append(Node(name, label, step.status, spec.task.rpartition(":")[2] or spec.task, parent, counts))
        edges += [(up, name) for up in spec.upstream]
        path = spec.group
        while path:  # a step in a nested group counts in every enclosing group
            groups.setdefault(path, Counter())[step.status] += 1
            path = path.rpartition(".")[0]
    for path, statuses in groups.items():  # a task group is one compound node around its steps
        outer = path.rpartition(".")[0]
        nodes.append(Node(f"group:{path}", path.rpartition(".")[2], overall(statuses), "group",
                          f"group:{outer}" if outer else None))  # fmt: skip
    return Graph(nodes, edges)


# -- state machines ------------------------------------------------------------------------


@dataclass(eq=False)
class _Visit:
    """One entry into a state: by a loop, a Map iteration, or once."""

    node: str
    kind: str
    parent: _Visit | None
    status: str = "RUNNING"
    failed: bool = False
    open: bool = True
    superseded: bool = False  # a redrive entered the state again


def machine_graph(definition: dict[str, Any], events: list[dict[str, Any]], run_status: str) -> Graph:
    """States and transitions of `definition`, with statuses from the execution's `events`
    (the history as Machine.history renders it) and the run's status."""
    nodes: list[tuple[str, str, str, str | None]] = []  # id, label, type, parent
    edges: list[tuple[str, str]] = []
    labels: dict[tuple[str, str], str] = {}
    _walk(definition, None, nodes, edges, labels)
    visits = _visits(events, {n[0]: n[2] for n in nodes})
    terminal = run_status in h.TERMINAL_RUN
    per_node: dict[str, Counter[str]] = {}
    for visit in visits:
        if visit.superseded:
            continue
        status = visit.status
        if visit.open and terminal:
            status = "ABORTED" if run_status in ("ABORTED", "SUCCEEDED") else "FAILED"
        elif visit.open and visit.failed:
            status = "RETRYING"
        per_node.setdefault(visit.node, Counter())[status] += 1
    out = []
    for node_id, label, kind, parent in nodes:
        counts = per_node.get(node_id)
        never = "SKIPPED" if terminal else "PENDING"  # a branch the run did not (yet) take
        status = overall(counts) if counts else never
        shown = dict(counts) if counts and sum(counts.values()) > 1 else None
        out.append(Node(node_id, label, status, kind, parent, shown))
    return Graph(out, edges, labels)


def _walk(
    machine: dict[str, Any],
    parent: str | None,
    nodes: list[Any],
    edges: list[tuple[str, str]],
    labels: dict[tuple[str, str], str],
) -> None:
    states = machine.get("States")
    if not isinstance(states, dict):
        return
    ids = {name: _node_id(parent, name) for name in states}
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        kind = str(state.get("Type", ""))
        nodes.append((ids[name], name, kind, parent))
        targets: list[tuple[Any, str | None]] = [(state.get("Next"), None)]
        targets += [(c.get("Next"), choice_label(c)) for c in state.get("Choices") or () if isinstance(c, dict)]
        targets.append((state.get("Default"), "default" if kind == "Choice" else None))
        targets += [
            (c.get("Next"), "catch " + ", ".join(map(str, c.get("ErrorEquals") or [])))
            for c in state.get("Catch") or ()
            if isinstance(c, dict)
        ]
        for target, text in targets:
            if not (isinstance(target, str) and target in ids):
                continue
            edge = (ids[name], ids[target])
            if edge not in edges:
                edges.append(edge)
            if text:
                labels[edge] = f"{labels[edge]} | {text}" if edge in labels else text
        for branch in state.get("Branches") or ():
            if isinstance(branch, dict):
                _walk(branch, ids[name], nodes, edges, labels)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if isinstance(processor, dict):
            _walk(processor, ids[name], nodes, edges, labels)


_COMPARISONS = {
    "Equals": "==", "GreaterThan": ">", "GreaterThanEquals": ">=", "LessThan": "<", "LessThanEquals": "<=",
    "Matches": "matches",
}  # fmt: skip
MAX_LABEL = 60


def choice_label(rule: dict[str, Any]) -> str:
    """A Choice rule as a short condition: `$.n > 1000`, `$.ok == true and not $.late`, a JSONata
    `Condition` as written."""
    text = _condition(rule)
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _condition(rule: dict[str, Any]) -> str:
    if isinstance(rule.get("Condition"), str):
        return rule["Condition"].removeprefix("{%").removesuffix("%}").strip()
    if isinstance(rule.get("And"), list):
        return " and ".join(_condition(r) for r in rule["And"] if isinstance(r, dict))
    if isinstance(rule.get("Or"), list):
        return " or ".join(_condition(r) for r in rule["Or"] if isinstance(r, dict))
    if isinstance(rule.get("Not"), dict):
        return "not " + _condition(rule["Not"])
    variable = str(rule.get("Variable", "?"))
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment", "Assign", "Output"):
            continue
        test = key.removesuffix("Path")
        shown = str(value) if key.endswith("Path") else json.dumps(value)
        for kind in ("String", "Numeric", "Boolean", "Timestamp"):
            if test.startswith(kind):
                test = test.removeprefix(kind)
                break
        if test.startswith("Is"):
            return f"{variable} {test[2:].lower()}" if value else f"{variable} not {test[2:].lower()}"
        return f"{variable} {_COMPARISONS.get(test, test)} {shown}"
    return variable


def _node_id(parent: str | None, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _family(event_type: str) -> str | None:
    """The state type an event belongs to (TaskScheduled -> Task); None for execution events."""
    if event_type.startswith(_TASK_EVENTS):
        return "Task"
    for kind in STATE_TYPES:
        if event_type.startswith(kind):
            return kind
    return None


def _visits(events: list[dict[str, Any]], kinds: dict[str, str]) -> list[_Visit]:
    """Every entry into a state, in order, with how it ended.

    An event continues the chain of its previousEventId. An event of a Parallel or Map state
    may follow the last event of one of its children, so the chain is walked up to the visit
    of the state the event's type names.
    """
    visit_of: dict[int, _Visit | None] = {}
    visits: list[_Visit] = []
    for event in events:
        kind = str(event.get("type", ""))
        before = visit_of.get(int(event.get("previousEventId") or 0))
        if kind.endswith("StateEntered"):
            name = str((event.get("stateEnteredEventDetails") or {}).get("name", ""))
            parent = before if before is not None and before.open and before.kind in ("Parallel", "Map") else (
                before.parent if before is not None else None)  # fmt: skip
            node = _node_id(parent.node if parent else None, name)
            entered = _Visit(node, kinds.get(node, ""), parent)
            if entered.kind == "Fail":
                entered.status, entered.open = "FAILED", False
            visits.append(entered)
            visit_of[int(event["id"])] = entered
            continue
        if kind == "ExecutionRedriven":
            _redriven(visits)
        family = _family(kind)
        visit = before
        while visit is not None and family is not None and visit.kind != family:
            visit = visit.parent
        visit_of[int(event["id"])] = visit if visit is not None else before
        if visit is None or family is None:
            continue
        if kind.endswith("StateExited"):
            visit.open = False
            visit.status = "FAILED" if visit.failed else "SUCCEEDED"
        elif kind.endswith(_FAILURES) and not kind.startswith(("MapIteration", "MapRun")):
            visit.failed = True
        elif kind.endswith(("Scheduled", "Started")) and family == "Task":
            visit.failed = False  # a retry began
    return visits


def _redriven(visits: list[_Visit]) -> None:
    """A redrive enters the states that stopped the execution again; a Parallel or Map state
    goes on in the same visit, running again only its branches or iterations that failed."""
    for visit in visits:
        if not visit.open:
            continue
        if visit.kind in ("Parallel", "Map"):
            visit.failed = False
        else:
            visit.open, visit.superseded = False, True


def graph_of(runtime: Any, run_id: str) -> dict[str, Any]:
    """The graph of a run (by id or unique prefix) as JSON; raises UsageError for an unknown run."""
    record, state, events = runtime.state(run_id)
    return graph_json(record, state, events, machine_history(record, events))


def machine_history(record: Any, events: list[h.Event]) -> list[dict[str, Any]] | None:
    """A state machine run's execution history (Machine.history), None for other runs."""
    if record.kind != "asl" or not events or not isinstance(events[0], h.RunStarted):
        return None
    from lockgate.asl import durable

    return durable.replay(events).machine.history


def graph_json(
    record: Any, state: RunState, events: list[h.Event], history: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """The graph of a run read already: its record, state, events and (for a state machine) history."""
    if history is not None:
        assert isinstance(events[0], h.RunStarted)
        graph = machine_graph(events[0].workflow.get("definition") or {}, history, record.status)
    else:
        graph = pipeline_graph(state)
    return {"run_id": record.run_id, "pipeline": record.pipeline, "kind": record.kind, "status": record.status,
            **graph.to_json()}  # fmt: skip
