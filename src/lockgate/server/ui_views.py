"""What each page of the web UI shows, read from the store and the loaded pipelines.

Each function returns the context of one template; rendering and HTTP are in `ui.py`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from lockgate.core import history as h
from lockgate.core.errors import UsageError

RECENT = 20  # runs shown as marks per pipeline
MAX_ELEMENTS = 50  # elements of a mapped step listed on a run's page; the step's logs page has them all


def run_pipelines(runtime: Any) -> list[str]:
    """Names of the pipelines and state machines that have runs, for the runs filter."""
    engine = getattr(runtime.store, "engine", None)
    if engine is None:
        return sorted({r.pipeline for r in runtime.store.list_runs(limit=10000)})
    import sqlalchemy as sa

    from lockgate.store.schema import runs

    if engine.dialect.name in ("sqlite", "postgresql"):
        # A loose index scan: one seek of ix_runs_pipeline_created per name, not a pass over every run.
        with engine.connect() as conn:
            return [row[0] for row in conn.execute(sa.text(DISTINCT_PIPELINES))]
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.select(runs.c.pipeline).distinct().order_by(runs.c.pipeline))]


DISTINCT_PIPELINES = """
WITH RECURSIVE names(name) AS (
    SELECT MIN(pipeline) FROM runs
    UNION ALL
    SELECT (SELECT MIN(pipeline) FROM runs WHERE pipeline > names.name) FROM names WHERE names.name IS NOT NULL
)
SELECT name FROM names WHERE name IS NOT NULL
"""


def run_detail(runtime: Any, run_id: str, max_history: int) -> dict[str, Any]:
    """A run's summary, steps (or states), history and the actions it allows; raises UsageError."""
    from lockgate.server import run_control
    from lockgate.server.run_graph import graph_json, machine_history
    from lockgate.views import step_views

    record, state, events = runtime.state(run_id)
    machine_events = machine_history(record, events)
    graph = graph_json(record, state, events, machine_events)
    if machine_events is not None:
        history = [_asl_row(e) for e in machine_events]
        steps: list[Any] = []
    else:
        history = [_event_row(i, e) for i, e in enumerate(events, 1)]
        steps = _capped(step_views(state), state.workflow.steps)
    shown = history[-max_history:]
    live_owner = record.status == "RUNNING" and not runtime.is_orphaned(record)  # a clear or mark is asked of it
    reopenable = record.status in h.TERMINAL_RUN or live_owner
    rerunnable = record.kind == "python" and reopenable and bool(state.workflow.steps)
    return {
        "record": record,
        "version": state.workflow.meta.get("version"),
        "orphaned": record.status == "RUNNING" and runtime.is_orphaned(record),
        "gantt": gantt(events, runtime.clock()) if machine_events is None else None,
        "can_rerun": rerunnable,
        "step_names": list(state.workflow.steps) if rerunnable else [],
        "live": record.status not in h.TERMINAL_RUN,
        "steps": steps,
        "states": [n for n in graph["nodes"]] if record.kind == "asl" else [],
        "graph_json": json.dumps(graph, default=str),
        "history": shown,
        "history_hidden": len(history) - len(shown),
        "output": runtime.view(record.run_id).output if record.status == "SUCCEEDED" else None,
        "can_cancel": record.status in ("QUEUED", "RUNNING"),
        "can_retry": run_control.can_retry(record),
        "can_resume": run_control.can_resume(runtime, record),
    }


GANTT_WIDTH = 800  # px of the timeline's bars (an SVG: the page's CSP allows no inline style)
GANTT_ROW = 18
MAX_BARS = 300


def gantt(events: list[h.Event], now: float) -> dict[str, Any] | None:
    """One bar per attempt (start to its outcome, or to now while it runs), placed on the run's span."""
    bars: list[dict[str, Any]] = []
    open_: dict[tuple[str, int], dict[str, Any]] = {}
    end_of_run = None
    for event in events:
        if isinstance(event, h.StepStarted):
            for key in [k for k in open_ if k[0] == event.step]:  # an attempt a clear or a mark left behind
                abandoned = open_.pop(key)
                abandoned["end"], abandoned["status"] = event.at, "ABORTED"
            bar = {"step": event.step, "attempt": event.attempt, "start": event.at, "end": None, "status": "RUNNING"}
            open_[(event.step, event.attempt)] = bar
            bars.append(bar)
        elif isinstance(event, (h.StepSucceeded, h.StepFailed, h.StepInterrupted)):
            bar = open_.pop((event.step, event.attempt), None)
            if bar is not None:
                bar["end"] = event.at
                bar["status"] = {"StepSucceeded": "SUCCEEDED", "StepFailed": "FAILED"}.get(event.type, "ABORTED")
        elif isinstance(event, (h.RunSucceeded, h.RunFailed, h.RunTimedOut, h.RunAborted)):
            end_of_run = event.at
            for bar in open_.values():
                bar["end"], bar["status"] = event.at, "ABORTED"
            open_.clear()
        elif isinstance(event, (h.StepsCleared, h.StepMarked, h.RunRedriven)):
            end_of_run = None
            names = event.steps if isinstance(event, h.StepsCleared) else [event.step] if isinstance(
                event, h.StepMarked) else []  # fmt: skip
            for key in [k for k in open_ if k[0].partition("[")[0] in names]:  # running when cleared or marked
                abandoned = open_.pop(key)
                abandoned["end"], abandoned["status"] = event.at, "ABORTED"
    if not bars:
        return None
    bars = bars[-MAX_BARS:]
    first = min(b["start"] for b in bars)
    last = max([b["end"] or (end_of_run or now) for b in bars])
    span = max(last - first, 1e-3)
    for i, bar in enumerate(bars):
        end = bar["end"] if bar["end"] is not None else (end_of_run or now)
        bar["x"] = round((bar["start"] - first) / span * GANTT_WIDTH, 1)
        bar["width"] = max(round((end - bar["start"]) / span * GANTT_WIDTH, 1), 2.0)
        bar["y"] = i * GANTT_ROW
        bar["seconds"] = round(end - bar["start"], 3)
    return {"bars": bars, "width": GANTT_WIDTH, "height": len(bars) * GANTT_ROW, "span": round(span, 3),
            "label_width": 220, "row": GANTT_ROW}  # fmt: skip


def _capped(views: list[Any], names: Any) -> list[Any]:
    """The step rows with at most MAX_ELEMENTS elements per mapped step, each such step's rest
    counted in a {"more": n, "parent": step} row after its last element shown."""
    rows: list[Any] = []
    shown: Counter[str] = Counter()
    hidden: dict[str, int] = {}
    for view in views:  # a mapped step's elements follow it
        parent = view.name.partition("[")[0]
        element = parent != view.name and parent in names
        if not element:
            rows += [{"more": n, "parent": p} for p, n in hidden.items()]
            hidden.clear()
        elif shown[parent] >= MAX_ELEMENTS:
            hidden[parent] = hidden.get(parent, 0) + 1
            continue
        else:
            shown[parent] += 1
        rows.append(view)
    rows += [{"more": n, "parent": p} for p, n in hidden.items()]
    return rows


def _event_row(number: int, event: h.Event) -> dict[str, Any]:
    body = event.body()
    if isinstance(body.get("error"), dict):
        body["error"] = {k: v for k, v in body["error"].items() if k in ("name", "cause")}
    if event.type == "RunStarted":
        body = {"params": body.get("params")}
    return {"id": number, "at": event.at, "type": event.type, "details": body}


def _asl_row(event: dict[str, Any]) -> dict[str, Any]:
    details = {k: v for k, v in event.items() if k.endswith("EventDetails")}
    return {"id": event["id"], "at": event["timestamp"], "type": event["type"], "details": details}


# -- pipelines -----------------------------------------------------------------------------


def _loaded(runtime: Any) -> dict[str, Any]:
    from lockgate.server.triggers_api import _pipelines

    return _pipelines(runtime)


def pipelines(runtime: Any) -> dict[str, Any]:
    """The loaded pipelines (triggers, paused, last run), state machines, and the graph of
    pipelines that start after others succeed."""
    from lockgate.triggers.ledger import Ledger
    from lockgate.triggers.project import describe_pipelines
    from lockgate.triggers.scheduler import attached
    from lockgate.triggers.served import Registry

    loaded = _loaded(runtime)
    rows = describe_pipelines(list(loaded.values()), Ledger(runtime).paused())
    scheduler = attached(runtime)
    registry = Registry(runtime)
    registered = {row["name"]: row for row in registry.rows()}
    upcoming = scheduler.next_runs() if scheduler is not None else {}
    recent = recent_runs(runtime, [row["name"] for row in rows], RECENT)
    for row in rows:
        row["recent"] = list(reversed(recent.get(row["name"], [])))
        row["last"] = row["recent"][-1] if row["recent"] else None
        row["next_run"] = upcoming.get(row["name"])
        row["version"] = getattr(loaded[row["name"]], "version", "") or registered.get(row["name"], {}).get("version")
    nodes = [{"id": r["name"], "label": r["name"], "status": r["last"].status if r["last"] else "PENDING",
              "kind": "pipeline", "parent": None, "counts": None} for r in rows]  # fmt: skip
    names = {r["name"] for r in rows}
    edges = []
    for row in rows:
        for up in row["upstream"]:
            if up not in names:  # an upstream pipeline that is not loaded here still shows
                names.add(up)
                nodes.append({"id": up, "label": up, "status": "PENDING", "kind": "pipeline", "parent": None,
                              "counts": None})  # fmt: skip
            edges.append({"id": f"{up}->{row['name']}", "source": up, "target": row["name"]})
    reloader = getattr(scheduler, "reloader", None)
    if reloader is not None and reloader.last is not None:
        errors = [e.to_json() for e in reloader.last.errors]
    else:
        errors = registry.errors()
    return {
        "pipelines": rows,
        "import_errors": errors,
        "machines": _machines(runtime, [p for p in loaded.values() if getattr(p, "kind", "") == "asl"]),
        "graph_json": json.dumps({"nodes": nodes, "edges": edges}),
        "has_edges": bool(edges),
    }


@dataclass(frozen=True, slots=True)
class RecentRun:
    run_id: str
    status: str
    created_at: float


def recent_runs(runtime: Any, names: list[str], limit: int) -> dict[str, list[Any]]:
    """The newest `limit` runs of each pipeline, newest first: one small indexed query each, on one
    connection, reading only what the marks show."""
    engine = getattr(runtime.store, "engine", None)
    if engine is None:
        return {name: runtime.store.list_runs(pipeline=name, limit=limit) for name in names}
    import sqlalchemy as sa

    from lockgate.store.schema import runs

    query = (
        sa.select(runs.c.run_id, runs.c.status, runs.c.created_at)
        .where(runs.c.pipeline == sa.bindparam("name"))
        .order_by(runs.c.created_at.desc(), runs.c.run_id.desc())
        .limit(limit)
    )
    out: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for name in names:
            out[name] = [RecentRun(r.run_id, r.status, r.created_at) for r in conn.execute(query, {"name": name})]
    return out


def _last_run(runtime: Any, name: str) -> Any:
    found = runtime.store.list_runs(pipeline=name, limit=1)
    return found[0] if found else None


def _machines(runtime: Any, served: list[Any]) -> list[dict[str, Any]]:
    """State machines served from a lockgate.toml, registered through the Step Functions API, and
    those that have runs."""
    from lockgate.triggers.served import machine_summary

    engine = getattr(runtime.store, "engine", None)
    if engine is None:
        return []
    import sqlalchemy as sa

    from lockgate.asl.schema import asl_state_machines as t
    from lockgate.store.schema import runs

    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(sa.select(t.c.name, t.c.type, t.c.definition, t.c.updated_at)):
            states = json.loads(row.definition).get("States") if row.definition else None
            found[row.name] = {"name": row.name, "type": row.type, "registered": True, "updated_at": row.updated_at,
                               "states": len(states) if isinstance(states, dict) else 0}  # fmt: skip
        for machine in served:
            summary = machine_summary(machine.definition)
            found.setdefault(machine.name, {"name": machine.name, "type": summary["type"], "registered": True,
                                            "updated_at": None, "states": summary["states"],
                                            "served_from": str(machine.path)})  # fmt: skip
        for (name,) in conn.execute(sa.select(runs.c.pipeline).where(runs.c.kind == "asl").distinct()):
            found.setdefault(name, {"name": name, "type": "", "registered": False, "updated_at": None, "states": None})
    for machine in found.values():
        machine["last"] = _last_run(runtime, machine["name"])
        if not machine["type"] and machine["last"] is not None:  # known from its runs only: read its definition
            machine.update(_definition_summary(runtime, machine["last"].run_id))
    return [found[name] for name in sorted(found)]


def _definition_summary(runtime: Any, run_id: str) -> dict[str, Any]:
    """Type and state count of the definition a state machine's run started with."""
    import sqlalchemy as sa

    from lockgate.store.schema import events
    from lockgate.triggers.served import machine_summary

    query = sa.select(events.c.body).where(events.c.run_id == run_id, events.c.type == "RunStarted").limit(1)
    with runtime.store.engine.connect() as conn:
        body = conn.execute(query).scalar()
    workflow = json.loads(body).get("workflow", {}) if body else {}
    definition = workflow.get("definition") if isinstance(workflow, dict) else None
    return machine_summary(definition) if isinstance(definition, dict) else {}


def pause(runtime: Any, name: str) -> None:
    """Pause a loaded pipeline (its triggers queue no runs); raises UsageError for one not loaded."""
    from lockgate.triggers.ledger import Ledger

    _check_loaded(runtime, name)
    Ledger(runtime).pause(name, runtime.clock())


def unpause(runtime: Any, name: str) -> None:
    """Unpause a loaded pipeline and wake the scheduler; raises UsageError for one not loaded."""
    from lockgate.triggers.ledger import Ledger
    from lockgate.triggers.scheduler import attached

    _check_loaded(runtime, name)
    Ledger(runtime).unpause(name)
    scheduler = attached(runtime)
    if scheduler is not None:
        scheduler.wake()


def trigger_form(runtime: Any, name: str, values: dict[str, str] | None = None,
                 errors: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """The form of a pipeline's typed parameters (a JSON box for a state machine), with the
    values a refused submission gave and the error of each field; raises UsageError."""
    from lockgate.triggers.served import parameters_of

    _check_loaded(runtime, name)
    pipeline = _loaded(runtime)[name]
    kind = getattr(pipeline, "kind", "python")
    fields = [field_of(p, _hint_of(pipeline, p["name"])) for p in parameters_of(pipeline)]
    for field in fields:
        if values is not None:  # what the user typed stays in the form it is shown again
            field["value"] = values.get(field["name"], "")
            if field["widget"] == "checkbox":
                field["checked"] = field["name"] in values
    return {"pipeline": name, "kind": kind, "fields": fields, "errors": errors or {},
            "input": (values or {}).get("input", "{}")}  # fmt: skip


def _hint_of(pipeline: Any, name: str) -> Any:
    from lockgate.dag.pipeline import _hints

    return _hints(pipeline.fn).get(name, Any)


def field_of(param: dict[str, Any], hint: Any) -> dict[str, Any]:
    """One form field for a typed parameter: its widget (checkbox, number, date, datetime-local,
    select, json, text), choices for a select, and its default as the field's first value."""
    import datetime as dt
    import enum
    import types
    import typing

    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        optional = len(options) < len(typing.get_args(hint))
        hint = options[0] if len(options) == 1 else Any
        origin = typing.get_origin(hint)
    base = origin or hint
    choices: list[tuple[str, str]] = []
    step = None
    if origin is typing.Literal:
        widget = "select"
        choices = [(str(v), str(v)) for v in typing.get_args(hint)]
    elif isinstance(base, type) and issubclass(base, enum.Enum):
        widget = "select"
        choices = [(str(m.value), m.name) for m in base]
    elif base is bool:
        widget = "checkbox"
    elif base is int:
        widget, step = "number", "1"
    elif base is float:
        widget, step = "number", "any"
    elif base is dt.datetime:
        widget = "datetime-local"
    elif base is dt.date:
        widget = "date"
    elif base in (list, tuple, dict):
        widget = "json"
    else:
        widget = "text"
    default = param["default"]
    if default is None or param["required"]:
        value = ""
    elif widget == "json" or (widget == "text" and not isinstance(default, str)):
        value = json.dumps(default)
    elif widget == "datetime-local":
        value = str(default).removesuffix("Z")[:19]
    else:
        value = str(default)
    required = param["required"] and not optional and widget != "checkbox"
    return {**param, "widget": widget, "choices": choices, "step": step, "value": value,
            "checked": widget == "checkbox" and default is True, "required": required}  # fmt: skip


def trigger_submit(runtime: Any, name: str, form: dict[str, str]) -> str:
    """Queue a run from the form, validated as `lockgate trigger` validates; its run id.

    Raises FormErrors (the message of each field at fault) or UsageError."""
    from lockgate import _json
    from lockgate.triggers.ledger import kind_of
    from lockgate.triggers.scheduler import attached

    _check_loaded(runtime, name)
    pipeline = _loaded(runtime)[name]
    if kind_of(pipeline) == "asl":
        text = form.get("input", "").strip() or "{}"
        try:
            given = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormErrors({"input": f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"}) from None
        if not isinstance(given, dict):
            raise FormErrors({"input": "expected a JSON object ({...})"})
        try:
            bound = pipeline.bind(given)
        except UsageError as exc:
            raise FormErrors({"input": str(exc)}) from None
    else:
        bound = _bind_form(pipeline, form)
    run_id = runtime.enqueue(name, _json.loads(_json.dumps(bound)), kind=kind_of(pipeline))
    scheduler = attached(runtime)
    if scheduler is not None:
        scheduler.wake()
    return str(run_id)


class FormErrors(UsageError):
    """Values of a form that were refused: the message of each field at fault."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _bind_form(pipeline: Any, form: dict[str, str]) -> dict[str, Any]:
    """The form's values bound as `lockgate trigger -p` binds them: each field converted by its
    annotation on its own (so every field at fault gets its message), then the whole."""
    from lockgate.triggers.served import parameters_of

    given: dict[str, str] = {}
    errors: dict[str, str] = {}
    for param in parameters_of(pipeline):
        name = param["name"]
        field = field_of(param, _hint_of(pipeline, name))
        if field["widget"] == "checkbox":
            given[name] = "true" if name in form else "false"
            continue
        text = form.get(name, "")
        if text.strip() == "":
            if field["required"]:
                errors[name] = "required"
            elif param["required"]:  # an optional type without a default: None
                given[name] = ""
            continue
        given[name] = text
        try:
            pipeline.bind({name: text}, from_text=True, only_given=True)
        except UsageError as exc:
            errors[name] = str(exc).removeprefix(f"pipeline {pipeline.name}: parameter {name!r}: ")
    if errors:
        raise FormErrors(errors)
    return dict(pipeline.bind(given, from_text=True))


def _check_loaded(runtime: Any, name: str) -> None:
    if name not in _loaded(runtime):
        raise UsageError(f"no pipeline {name!r} is served here")


# -- catalog and notifications -------------------------------------------------------------


def _catalog(runtime: Any) -> Any:
    from lockgate.catalog.store import Catalog

    engine = getattr(runtime.store, "engine", None)
    if engine is None:
        raise UsageError("the catalog needs a SQL store (SQLite or PostgreSQL)")
    return Catalog(engine, runtime.clock)


def catalog(runtime: Any) -> dict[str, Any]:
    return {"tables": _catalog(runtime).tables()}


def catalog_table(runtime: Any, ref: str) -> dict[str, Any]:
    """One table with its columns, partitions and schema versions; raises UsageError."""
    cat = _catalog(runtime)
    return {"table": cat.table(ref), "versions": cat.history(ref)}


def notifications(runtime: Any) -> dict[str, Any]:
    """Topics with their subscriptions, alarms with their state, and the latest deliveries."""
    from lockgate.notify.alarms import rules_from_settings
    from lockgate.notify.monitor import states
    from lockgate.notify.plugin import notifier_of

    try:
        notifier = notifier_of(runtime)
    except UsageError as exc:
        return {"problem": str(exc), "topics": [], "alarms": [], "deliveries": []}
    try:
        rules = rules_from_settings(runtime.settings)
    except UsageError as exc:  # a broken [[alarms]] table must not hide the rest
        problem, rules = str(exc), []
    else:
        problem = None
    known = states(runtime.store.engine)
    alarms = []
    for rule in rules:
        state = known.get(rule.name)
        alarms.append({**rule.to_json(), "state": state.state if state else "INSUFFICIENT_DATA",
                       "since": state.since if state else None,
                       "reason": state.reason if state else "not evaluated yet"})  # fmt: skip
    deliveries = [d.to_json() for d in notifier.outbox.list(limit=100, status=None, run_id=None, topic=None)]
    return {"problem": problem, "topics": notifier.topics.all(), "alarms": alarms, "deliveries": deliveries}
