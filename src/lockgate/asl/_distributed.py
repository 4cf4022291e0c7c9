"""Distributed Map extras: ItemReader and ResultWriter as commands, ItemBatcher as pure data work.

Reading items and writing results are I/O, so the machine issues them as `Invoke` commands
(resources `lockgate:items:read` and `lockgate:items:write`, carried out by
`lockgate.asl.items`); their answers are recorded like any task result, so a durable run never
reads its items twice. Iterations run as child frames, as in an inline Map.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from lockgate.asl import errors as e
from lockgate.asl._recovery import Failure
from lockgate.asl.commands import Invoke

if TYPE_CHECKING:
    from lockgate.asl._frames import Frame, Visit
    from lockgate.asl.machine import Machine

READ, WRITE = "lockgate:items:read", "lockgate:items:write"


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
    _issue(m, frame, visit, "reader", READ, payload)


def map_run(m: Machine, visit: Visit) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{m.context(visit)['Execution']['Name']}-{visit.attempt_id()}")
    return name


def write(m: Machine, frame: Frame, visit: Visit, results: list[Any], failed: set[int]) -> None:
    """Ask the driver to write the Map's results (ResultWriter)."""
    spec = visit.state["ResultWriter"]
    rows: list[dict[str, Any]] = []
    for index, value in enumerate(results):
        if index in failed:
            rows.append({"Index": index, "Status": "FAILED", "Error": value.get("Error"), "Cause": value.get("Cause")})
        else:
            rows.append({"Index": index, "Status": "SUCCEEDED", "Output": json.dumps(value)})
    payload = {"Resource": spec.get("Resource"), "Parameters": _parameters(visit, spec), "Results": rows,
               "Run": map_run(m, visit)}  # fmt: skip
    _issue(m, frame, visit, "writer", WRITE, payload)


def on_report(m: Machine, frame: Frame, visit: Visit, what: str, kind: str, a: Any, b: Any) -> None:
    from lockgate.asl._fanout import joined, launch_map, restart
    from lockgate.asl._states import guarded

    if kind == "complete" and what == "reader":
        if not isinstance(a, list):
            m.state_failed(frame, visit, Failure(e.ITEM_READER_FAILED, "the items read are not an array"),
                           lambda: guarded(m, frame, visit, restart))  # fmt: skip
            return
        guarded(m, frame, visit, lambda m_, f_, v_: launch_map(m_, f_, v_, a))
        return
    if kind == "complete":
        joined(m, frame, visit, {"MapRunArn": f"arn:aws:states:local:000000000000:mapRun:{map_run(m, visit)}",
                                 "ResultWriterDetails": a})  # fmt: skip
        return
    error = e.ITEM_READER_FAILED if what == "reader" else e.RESULT_WRITER_FAILED
    cause = f"{a}: {b}" if a not in (error, None, "") else str(b or "")
    m.state_failed(frame, visit, Failure(error, cause), lambda: guarded(m, frame, visit, restart))


def batches(visit: Visit, inputs: list[Any]) -> list[Any]:
    """Group iteration inputs as ItemBatcher says: `{"Items": [...], ...BatchInput}` each."""
    d, spec = visit.data, visit.state["ItemBatcher"]
    if not isinstance(spec, dict):
        raise e.StatesError(e.RUNTIME, f"state {visit.name!r}: ItemBatcher must be an object")
    saved, d.state = d.state, spec
    try:
        max_items = d.field("MaxItemsPerBatch", "MaxItemsPerBatchPath")
        max_bytes = d.field("MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath")
    finally:
        d.state = saved
    if "BatchInput" in spec:
        extra = d.evaluate(spec["BatchInput"]) if d.jsonata else d.template(spec["BatchInput"], d.effective())
    else:
        extra = {}
    if not isinstance(extra, dict):
        raise e.StatesError(e.RUNTIME, f"state {visit.name!r}: BatchInput must be an object")
    for value, name in ((max_items, "MaxItemsPerBatch"), (max_bytes, "MaxInputBytesPerBatch")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise e.StatesError(e.RUNTIME, f"state {visit.name!r}: {name} must be a positive integer, not {value!r}")
    groups: list[list[Any]] = []
    current: list[Any] = []
    size = 0
    for item in inputs:
        item_size = len(json.dumps(item, separators=(",", ":")))
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
    return [{**extra, "Items": group} for group in groups]
