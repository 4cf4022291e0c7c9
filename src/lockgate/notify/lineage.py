"""OpenLineage run events for steps, and the API a task uses to say what it read and wrote.

Inside a step, `report(inputs=[...], outputs=[...])` records dataset URIs for the current
attempt (in a file beside the attempt's log, so it works from worker processes too). When
`[lineage] file` or `[lineage] url` is set, each step attempt emits START, then COMPLETE or
FAIL with those datasets, as OpenLineage RunEvent JSON: one line per event appended to the
file, or POSTed to the URL. Emission runs on a background thread; a failure to emit is logged
and never touches the run.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lockgate import _json
from lockgate.config import mask_url
from lockgate.core import history as h
from lockgate.core.engine import RunState
from lockgate.core.errors import UsageError

log = logging.getLogger(__name__)

PRODUCER = "https://github.com/lockgate/lockgate"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_NAMESPACE = uuid.UUID("6f1d3c2e-8a43-4f0e-9d8c-3b7f1e2a5c10")


def _lineage_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.stem + ".lineage.json")


def report(inputs: Iterable[str] = (), outputs: Iterable[str] = ()) -> None:
    """Record the datasets (URIs) the current step attempt read and wrote; adds to earlier reports.

    Raises UsageError outside a running step.
    """
    from lockgate.attempt import current

    ctx = current()
    if ctx is None:
        raise UsageError("lockgate.notify.lineage.report() is only available inside a running step")
    path = _lineage_path(ctx.log_path)
    seen = read_report(path)
    for key, uris in (("inputs", inputs), ("outputs", outputs)):
        for uri in uris:
            if not isinstance(uri, str) or not uri:
                raise UsageError(f"lineage.report: {key} must be URIs (strings), not {uri!r}")
            if uri not in seen[key]:
                seen[key].append(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(seen))
    tmp.replace(path)


def read_report(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"inputs": [], "outputs": []}
    return {"inputs": list(data.get("inputs", [])), "outputs": list(data.get("outputs", []))}


def dataset(uri: str) -> dict[str, str]:
    """An OpenLineage dataset for a URI: namespace `scheme://authority`, name the path."""
    parts = urlsplit(uri)
    if not parts.scheme:
        return {"namespace": "file", "name": str(Path(uri).absolute())}
    if parts.scheme == "file":
        return {"namespace": "file", "name": parts.path}
    name = parts.path.lstrip("/") if parts.netloc else parts.path
    return {"namespace": f"{parts.scheme}://{parts.netloc}", "name": name or "/"}


def run_uuid(*parts: object) -> str:
    """A stable UUID for a run or an attempt (OpenLineage runIds are UUIDs)."""
    return str(uuid.uuid5(_NAMESPACE, "\0".join(str(p) for p in parts)))


def run_event(
    event_type: str,
    at: float,
    namespace: str,
    pipeline: str,
    run_id: str,
    step: str,
    attempt: int,
    datasets: dict[str, list[str]],
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One OpenLineage RunEvent for a step attempt, with its pipeline run as the parent."""
    facets: dict[str, Any] = {
        "parent": {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet",
            "run": {"runId": run_uuid(run_id)},
            "job": {"namespace": namespace, "name": pipeline},
        }
    }
    if error is not None:
        facets["errorMessage"] = {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
            "message": f"{error.get('name')}: {error.get('cause')}",
            "programmingLanguage": "python",
            "stackTrace": error.get("traceback") or "",
        }
    return {
        "eventType": event_type,
        "eventTime": _json.iso(at),
        "run": {"runId": run_uuid(run_id, step, attempt), "facets": facets},
        "job": {"namespace": namespace, "name": f"{pipeline}.{step}"},
        "inputs": [dataset(uri) for uri in datasets.get("inputs", [])],
        "outputs": [dataset(uri) for uri in datasets.get("outputs", [])],
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    }


class LineageEmitter:
    """The run observer that emits step events to `[lineage] file` or `url`, from its own thread."""

    def __init__(self, runtime: Any, file: str, url: str, namespace: str) -> None:
        self.runtime = runtime
        self.file = Path(file) if file else None
        self.url = url or None
        self.namespace = namespace
        self._queue: collections.deque[tuple[str, float, str, str, str, int, dict[str, Any] | None]] = (
            collections.deque()
        )
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def observe(self, state: RunState, batch: list[h.Event]) -> None:
        queued = False
        for event in batch:
            item: tuple[str, float, str, str, str, int, dict[str, Any] | None]
            if isinstance(event, h.StepStarted):
                item = ("START", event.at, state.pipeline, state.run_id, event.step, event.attempt, None)
            elif isinstance(event, h.StepSucceeded):
                item = ("COMPLETE", event.at, state.pipeline, state.run_id, event.step, event.attempt, None)
            elif isinstance(event, h.StepFailed):
                item = ("FAIL", event.at, state.pipeline, state.run_id, event.step, event.attempt, event.error)
            else:
                continue
            self._queue.append(item)
            queued = True
        if queued:
            with self._lock:
                if self._thread is None:
                    self._stop = False
                    self._thread = threading.Thread(target=self._run, name="lockgate-lineage", daemon=True)
                    self._thread.start()
            self._wake.set()

    def _run(self) -> None:
        client = None
        try:
            while True:
                self._wake.wait(1.0)
                self._wake.clear()
                stop = self._stop
                events = []
                while self._queue:
                    kind, at, pipeline, run_id, step, attempt, error = self._queue.popleft()
                    datasets: dict[str, list[str]] = {"inputs": [], "outputs": []}
                    if kind != "START":
                        datasets = read_report(_lineage_path(self.runtime.log_path(run_id, step, attempt)))
                    events.append(run_event(kind, at, self.namespace, pipeline, run_id, step, attempt, datasets, error))
                if events:
                    client = self._emit(events, client)
                if stop:
                    return
        finally:
            if client is not None:
                client.close()

    def _emit(self, events: list[dict[str, Any]], client: Any) -> Any:
        if self.file is not None:
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                with self.file.open("a") as out:
                    out.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))
            except OSError as exc:
                log.warning("lineage events could not be written to %s: %s", self.file, exc)
        if self.url is not None:
            import httpx

            client = client or httpx.Client(timeout=10.0)
            try:
                for event in events:
                    client.post(self.url, json=event).raise_for_status()
            except httpx.HTTPError as exc:
                log.warning("lineage events could not be sent to %s: %s", mask_url(self.url), exc)
        return client

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop = True
        if thread is not None:
            self._wake.set()
            thread.join(10.0)
