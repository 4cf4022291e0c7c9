"""REST endpoints for triggers: pushed S3 notifications, pipelines, manual triggers, pause/unpause."""

from __future__ import annotations

import logging
from typing import Any

from lockgate.core.history import current_actor

log = logging.getLogger(__name__)


def _pipelines(runtime: Any) -> dict[str, Any]:
    """The pipelines this process serves: the scheduler's, else every one defined in the process."""
    from lockgate.dag.pipeline import PIPELINES
    from lockgate.triggers.scheduler import attached

    scheduler = attached(runtime)
    return dict(scheduler.pipelines) if scheduler is not None else dict(PIPELINES)


def router(runtime: Any) -> Any:
    from fastapi import APIRouter, Body, HTTPException

    from lockgate import _json
    from lockgate.core.errors import UsageError
    from lockgate.triggers.ledger import Ledger, kind_of, run_key
    from lockgate.triggers.notifications import parse_notification
    from lockgate.triggers.project import describe_pipelines
    from lockgate.triggers.scheduler import Scheduler, attached

    api = APIRouter(prefix="/api", tags=["triggers"])
    ledger = Ledger(runtime)
    standalone: list[Scheduler] = []  # made on first use when no scheduler runs in this process

    def pipeline_named(name: str) -> Any:
        pipeline = _pipelines(runtime).get(name)
        if pipeline is None:
            raise HTTPException(404, f"no pipeline {name!r} is served here")
        return pipeline

    @api.post("/events/s3")
    def s3_events(body: Any = Body(...)) -> dict[str, Any]:
        """S3 or MinIO event notifications, or an EventBridge "Object Created" event."""
        try:
            objects = parse_notification(body, runtime.clock())
        except UsageError as exc:
            raise HTTPException(400, str(exc)) from None
        scheduler = attached(runtime)
        if scheduler is None:  # no scheduler here: match against the defined pipelines, queue only
            if not standalone:
                standalone.append(Scheduler(runtime, _pipelines(runtime).values()))
            scheduler = standalone[0]
            scheduler.paused = ledger.paused()
        queued = scheduler.accept_objects(objects)
        return {"objects": len(objects), "queued": queued}

    @api.get("/pipelines")
    def list_pipelines() -> list[dict[str, Any]]:
        """What is served here, with each one's version, next run and parameters from the registry."""
        from lockgate.triggers.served import Registry

        rows = describe_pipelines(list(_pipelines(runtime).values()), ledger.paused())
        registered = {row["name"]: row for row in Registry(runtime).rows()}
        for row in rows:
            extra = registered.get(row["name"], {})
            for key in ("version", "next_run", "source_file", "parameters", "type", "states"):
                if key in extra:
                    row[key] = extra[key]
        return ledger.annotate(rows)

    @api.get("/import_errors")
    def import_errors() -> list[dict[str, Any]]:
        """Files of the served folder that failed to load: file, line, message."""
        from lockgate.triggers.served import Registry

        scheduler = attached(runtime)
        reloader = getattr(scheduler, "reloader", None)
        if reloader is not None and reloader.last is not None:
            return [e.to_json() for e in reloader.last.errors]
        return [{k: e[k] for k in ("file", "line", "message")} for e in Registry(runtime).errors()]

    @api.post("/pipelines/{name}/trigger")
    def trigger(name: str, body: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
        """Queue a run: `{"params": {...}, "idempotency_key": "..."}`, both optional."""
        pipeline = pipeline_named(name)
        body = body or {}
        params = body.get("params") or {}
        key = body.get("idempotency_key")
        if not isinstance(params, dict):
            raise HTTPException(400, "params: expected an object")
        if key is not None and not isinstance(key, str):
            raise HTTPException(400, "idempotency_key: expected a string")
        try:
            bound = _json.loads(_json.dumps(pipeline.bind(params)))
        except (UsageError, TypeError) as exc:
            raise HTTPException(400, str(exc)) from None
        full_key = run_key("manual", name, key) if key else None
        run_id = runtime.enqueue(name, bound, kind=kind_of(pipeline), idempotency_key=full_key)
        if run_id is None:
            record = runtime.store.find_by_key(full_key)
            return {"run_id": record.run_id, "pipeline": name, "status": record.status, "created": False}
        scheduler = attached(runtime)
        if scheduler is not None:
            scheduler.wake()
        log.info("run %s of %s queued by %s", run_id, name, current_actor(), extra={"run_id": run_id})
        return {"run_id": run_id, "pipeline": name, "status": "QUEUED", "created": True}

    @api.post("/pipelines/{name}/pause")
    def pause(name: str) -> dict[str, Any]:
        pipeline_named(name)
        ledger.pause(name, runtime.clock())  # records who: the token's name
        return {"name": name, "paused": True, "by": current_actor()}

    @api.post("/pipelines/{name}/unpause")
    def unpause(name: str) -> dict[str, Any]:
        pipeline_named(name)
        ledger.unpause(name)
        scheduler = attached(runtime)
        if scheduler is not None:
            scheduler.wake()
        return {"name": name, "paused": False, "by": current_actor()}

    return api
