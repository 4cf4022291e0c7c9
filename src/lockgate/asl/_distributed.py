"""Distributed Map extras: ItemReader and ResultWriter as commands, ItemBatcher as pure data work.

Reading items and writing results are I/O, so the machine issues them as `Invoke` commands
(resources `lockgate:items:read` and `lockgate:items:write`, carried out by
`lockgate.asl.items`); their answers are recorded like any task result, so a durable run never
reads its items twice. Iterations run as child frames, as in an inline Map.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import TYPE_CHECKING, Any

from lockgate.asl import arns
from lockgate.asl import errors as e
from lockgate.asl._recovery import Failure
from lockgate.asl.commands import Invoke

if TYPE_CHECKING:
    from lockgate.asl._fanout import FanOut
    from lockgate.asl._frames import Frame, Visit
    from lockgate.asl.machine import Machine

READ, WRITE = "lockgate:items:read", "lockgate:items:write"
CHILD = "lockgate:map:child"  # run one child execution of a Map Run (carried out by the driver)
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"


def _parameters(visit: Visit, spec: dict[str, Any]) -> Any:
    d = visit.data
    if d.jsonata:
        return d.evaluate(spec["Arguments"]) if "Arguments" in spec else {}
    return d.template(spec["Parameters"], d.effective()) if "Parameters" in spec else {}


def _issue(m: Machine, frame: Frame, visit: Visit, what: str, resource: str, payload: dict[str, Any]) -> None:
    invoke_id = f"{visit.attempt_id()}/{'ItemReader' if what == 'reader' else 'ResultWriter'}"
    m.issue(Invoke(invoke_id, visit.name, resource, payload, None, None, m.token(invoke_id)), frame, visit, what)


def read(m: Machine, frame: Frame, visit: Visit) -> None:
    """Ask the driver for the Map's items (ItemReader)."""
    spec = visit.state["ItemReader"]
    if not isinstance(spec, dict):
        raise e.StatesError(e.ITEM_READER_FAILED, f"state {visit.name!r}: ItemReader must be an object")
    config = dict(spec.get("ReaderConfig") or {})
    if "MaxItemsPath" in config:
        config["MaxItems"] = visit.data.select(config.pop("MaxItemsPath"), visit.data.effective())
    payload = {"Resource": spec.get("Resource"), "Parameters": _parameters(visit, spec), "ReaderConfig": config}
    visit.activity = payload  # read back for $$.Map.Item.Source
    _issue(m, frame, visit, "reader", READ, payload)


def _sources(payload: Any, items: list[Any]) -> list[str] | None:
    """Where each item read was found ($$.Map.Item.Source): the object's URI."""
    if not isinstance(payload, dict) or not isinstance(payload.get("Parameters"), dict):
        return None
    params = payload["Parameters"]
    bucket = params.get("Bucket")
    if payload.get("Resource") == LIST_OBJECTS:
        keys = [item.get("Key") if isinstance(item, dict) else None for item in items]
        return [f"s3://{bucket}/{key}" if isinstance(bucket, str) else str(key) for key in keys]
    where = f"s3://{bucket}/{params.get('Key')}" if isinstance(bucket, str) else str(params.get("Path"))
    return [where] * len(items)


def map_run(m: Machine, visit: Visit) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{m.context(visit)['Execution']['Name']}-{visit.attempt_id()}")
    return name


def map_run_arn(m: Machine, visit: Visit) -> str:
    """The service's Map Run ARN: `mapRun:<state machine>/<Label or state name>:<id>`."""
    execution = m.context(visit)["Execution"]
    run_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{execution['Id']}/{visit.attempt_id()}")
    return arns.states("mapRun", child_machine(m, visit), str(run_id))


def child_machine(m: Machine, visit: Visit) -> str:
    """The state machine name of a Map Run's child executions: `<state machine>/<Label or state name>`."""
    label = visit.state.get("Label") or visit.name
    return f"{m.context(visit)['StateMachine']['Name']}/{label}"


def start_map_run(m: Machine, fan: FanOut, inputs: list[Any], limit: int,
                  tolerated: tuple[float | None, float | None] | None) -> None:  # fmt: skip
    """Make the Map's iterations child executions of one Map Run (MapRunStarted)."""
    visit = fan.visit
    arn = map_run_arn(m, visit)
    fan.map_run = arn
    execution = m.context(visit)["Execution"]
    m.map_runs[arn] = {
        "map_run_arn": arn,
        "execution_arn": execution["Id"],
        "state_machine_arn": arns.state_machine(child_machine(m, visit)),
        "state": visit.name,
        "started": m._now,
        "stopped": None,
        "status": "RUNNING",
        "max_concurrency": limit,
        "tolerated_count": 0 if tolerated is None or tolerated[0] is None else int(tolerated[0]),
        "tolerated_percentage": 0.0 if tolerated is None or tolerated[1] is None else float(tolerated[1]),
        "items": [len(v["Items"]) if "ItemBatcher" in visit.state and isinstance(v, dict) else 1 for v in inputs],
        "outcomes": [None] * len(inputs),
        "redrive_count": 0,
        "error": None,
        "cause": None,
    }
    m.map_run_fans[arn] = fan
    m.event(fan.frame, "MapRunStarted", {"mapRunArn": arn})


def update_map_run(m: Machine, arn: str, settings: dict[str, Any]) -> None:
    """UpdateMapRun: new concurrency and tolerated failures for a Map Run still running."""
    run, fan = m.map_runs.get(arn), m.map_run_fans.get(arn)
    if run is None or fan is None or run["status"] != "RUNNING" or fan.over:
        return  # it ended meanwhile: the service ignores the update too
    if settings.get("maxConcurrency") is not None:
        fan.limit = run["max_concurrency"] = int(settings["maxConcurrency"])
    count, share = fan.tolerated if fan.tolerated is not None else (None, None)
    if settings.get("toleratedFailureCount") is not None:
        count = run["tolerated_count"] = int(settings["toleratedFailureCount"])
    if settings.get("toleratedFailurePercentage") is not None:
        share = run["tolerated_percentage"] = float(settings["toleratedFailurePercentage"])
    fan.tolerated = (count, share)
    fan.launch(m)


def child_name(arn: str, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}/{index}"))


def start_child(m: Machine, fan: FanOut, child: Frame) -> None:
    """Ask the driver to run iteration `child` as a child execution of the Map Run."""
    visit, arn = fan.visit, fan.map_run
    assert arn is not None
    definition, value = fan.children[child.index]
    processor = {k: v for k, v in definition.items() if k != "ProcessorConfig"}
    if m.ql != "JSONPath" and "QueryLanguage" not in processor:
        processor["QueryLanguage"] = m.ql
    run = m.map_runs[arn]
    redrive = run["redrive_count"]
    payload = {
        "MapRunArn": arn,
        "StateMachine": child_machine(m, visit),
        "Name": child_name(arn, child.index),
        "Index": child.index,
        "Definition": processor,
        "Input": value,
        "ExecutionType": (definition.get("ProcessorConfig") or {}).get("ExecutionType", "STANDARD"),
        "Redrive": redrive > 0,
    }
    invoke_id = f"{child.prefix}Execution" + (f"/redrive{redrive}" if redrive else "")
    run["outcomes"][child.index] = "RUNNING"
    m.issue(Invoke(invoke_id, visit.name, CHILD, payload, None, None, m.token(invoke_id)), child, visit, "child")


def on_child_report(m: Machine, child: Frame, kind: str, a: Any, b: Any) -> None:
    """A child execution ended: its output, or its error and cause."""
    if kind == "complete":
        m.end_frame(child, a)
    elif kind in ("fail", "timeout"):
        m.end_frame_failed(child, Failure(str(a), str(b or "")))
    else:
        child.waiting = True


def write(m: Machine, frame: Frame, visit: Visit, results: list[Any], failed: set[int]) -> None:
    """Ask the driver to write the Map's results (ResultWriter)."""
    spec = visit.state["ResultWriter"]
    rows: list[dict[str, Any]] = []
    for index, value in enumerate(results):
        if index in failed:
            rows.append({"Index": index, "Status": "FAILED", "Error": value.get("Error"), "Cause": value.get("Cause")})
        else:
            rows.append({"Index": index, "Status": "SUCCEEDED", "Output": json.dumps(value)})
    fan = visit.activity
    arn = getattr(fan, "map_run", None) or arns.states("mapRun", child_machine(m, visit), map_run(m, visit))
    payload = {"Resource": spec.get("Resource"), "Parameters": _parameters(visit, spec), "Results": rows,
               "Run": arn.rsplit(":", 1)[-1], "MapRunArn": arn}  # fmt: skip
    _issue(m, frame, visit, "writer", WRITE, payload)


def on_report(m: Machine, frame: Frame, visit: Visit, what: str, kind: str, a: Any, b: Any) -> None:
    from lockgate.asl._fanout import joined, launch_map, restart
    from lockgate.asl._states import guarded

    if kind == "complete" and what == "reader":
        if not isinstance(a, (list, dict)):
            m.state_failed(frame, visit, Failure(e.ITEM_READER_FAILED, "the items read are not an array"),
                           lambda: guarded(m, frame, visit, restart))  # fmt: skip
            return
        keys = list(a) if isinstance(a, dict) else None
        items = list(a.values()) if isinstance(a, dict) else a
        sources = _sources(visit.activity, items)
        guarded(m, frame, visit, lambda m_, f_, v_: launch_map(m_, f_, v_, items, keys, sources))
        return
    if kind == "complete":
        fan = visit.activity
        arn = getattr(fan, "map_run", None) or arns.states("mapRun", child_machine(m, visit), map_run(m, visit))
        joined(m, frame, visit, {"MapRunArn": arn, "ResultWriterDetails": a})
        return
    error = e.ITEM_READER_FAILED if what == "reader" else e.RESULT_WRITER_FAILED
    cause = f"{a}: {b}" if a not in (error, None, "") else str(b or "")
    m.state_failed(frame, visit, Failure(error, cause), lambda: guarded(m, frame, visit, restart))


def batches(visit: Visit, inputs: list[Any]) -> list[Any]:
    """Group iteration inputs as ItemBatcher says: `{"BatchInput": {...}, "Items": [...]}` each, as the service
    does (`BatchInput` only when the state has one)."""
    d, spec = visit.data, visit.state["ItemBatcher"]
    if not isinstance(spec, dict):
        raise e.StatesError(e.RUNTIME, f"state {visit.name!r}: ItemBatcher must be an object")
    saved, d.state = d.state, spec
    try:
        max_items = d.field("MaxItemsPerBatch", "MaxItemsPerBatchPath")
        max_bytes = d.field("MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath")
    finally:
        d.state = saved
    extra: Any = None
    if "BatchInput" in spec:
        extra = d.evaluate(spec["BatchInput"]) if d.jsonata else d.template(spec["BatchInput"], d.effective())
    if extra is not None and not isinstance(extra, dict):
        raise e.StatesError(e.RUNTIME, f"state {visit.name!r}: BatchInput must be an object")
    for value, name in ((max_items, "MaxItemsPerBatch"), (max_bytes, "MaxInputBytesPerBatch")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise e.StatesError(e.RUNTIME, f"state {visit.name!r}: {name} must be a positive integer, not {value!r}")
    groups: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    for item in inputs:
        item_size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode())
        full = (max_items is not None and len(current) >= max_items) or (
            max_bytes is not None and current and size + item_size > max_bytes
        )
        if current and full:
            groups.append(current)
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        groups.append(current)
    if extra is None:
        return [{"Items": group} for group in groups]
    return [{"BatchInput": extra, "Items": group} for group in groups]
