"""What each page of the web UI shows, read from the store and the loaded pipelines.

Each function returns the context of one template; rendering and HTTP are in `ui.py`.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from lockgate.core import history as h
from lockgate.core.errors import UsageError

MAX_ELEMENTS = 50  # elements of a mapped step listed on a run's page; the step's logs page has them all


def run_pipelines(runtime: Any) -> list[str]:
    """Names of the pipelines and state machines that have runs, for the runs filter."""
    engine = getattr(runtime.store, "engine", None)
    if engine is None:
        return sorted({r.pipeline for r in runtime.store.list_runs(limit=10000)})
    import sqlalchemy as sa

    from lockgate.store.schema import runs

    with engine.connect() as conn:
        return [row[0] for row in conn.execute(sa.select(runs.c.pipeline).distinct().order_by(runs.c.pipeline))]


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
    return {
        "record": record,
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

    loaded = _loaded(runtime)
    rows = describe_pipelines(list(loaded.values()), Ledger(runtime).paused())
    for row in rows:
        row["last"] = _last_run(runtime, row["name"])
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
    return {
        "pipelines": rows,
        "machines": _machines(runtime),
        "graph_json": json.dumps({"nodes": nodes, "edges": edges}),
        "has_edges": bool(edges),
    }


def _last_run(runtime: Any, name: str) -> Any:
    found = runtime.store.list_runs(pipeline=name, limit=1)
    return found[0] if found else None


def _machines(runtime: Any) -> list[dict[str, Any]]:
    """State machines registered through the Step Functions API, and those that have runs."""
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
        for (name,) in conn.execute(sa.select(runs.c.pipeline).where(runs.c.kind == "asl").distinct()):
            found.setdefault(name, {"name": name, "type": "", "registered": False, "updated_at": None, "states": None})
    for machine in found.values():
        machine["last"] = _last_run(runtime, machine["name"])
    return [found[name] for name in sorted(found)]


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
