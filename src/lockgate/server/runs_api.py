"""REST endpoints for runs: list, show, start, resume, retry, cancel."""

from __future__ import annotations

from typing import Any

from lockgate import _json


def router(runtime: Any) -> Any:
    from fastapi import APIRouter, HTTPException, Query

    from lockgate.core.errors import UsageError

    api = APIRouter(prefix="/api", tags=["runs"])

    @api.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/runs")
    def list_runs(
        pipeline: str | None = None, status: str | None = None, limit: int = Query(100, ge=1, le=10000)
    ) -> list[dict[str, Any]]:
        return [
            {
                "run_id": r.run_id,
                "pipeline": r.pipeline,
                "status": r.status,
                "started_at": _json.iso(r.started_at),
                "ended_at": _json.iso(r.ended_at),
            }
            for r in runtime.store.list_runs(pipeline=pipeline, status=status, limit=limit)
        ]

    @api.get("/runs/{run_id}")
    def show_run(run_id: str) -> dict[str, Any]:
        try:
            record, _state, events = runtime.state(run_id)
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None
        history = [{"id": i, "type": e.type, "timestamp": _json.iso(e.at), **e.body()} for i, e in enumerate(events, 1)]
        return {**runtime.view(record.run_id).to_json(), "history": history}

    @api.post("/runs/{run_id}/cancel")
    def cancel_run(run_id: str) -> dict[str, Any]:
        try:
            run = runtime.cancel(run_id)
        except UsageError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"run_id": run.run_id, "pipeline": run.pipeline, "status": run.status}

    return api
