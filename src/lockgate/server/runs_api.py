"""REST endpoints for runs: list, show, graph, logs, resume, retry, cancel."""

from __future__ import annotations

from typing import Any

from lockgate import _json


def router(runtime: Any) -> Any:
    from fastapi import APIRouter, HTTPException, Query
    from fastapi.responses import PlainTextResponse

    from lockgate.config import mask
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
        return mask({**runtime.view(record.run_id).to_json(), "history": history})  # type: ignore[no-any-return]

    @api.post("/runs/{run_id}/cancel")
    def cancel_run(run_id: str) -> dict[str, Any]:
        try:
            run = runtime.cancel(run_id)
        except UsageError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"run_id": run.run_id, "pipeline": run.pipeline, "status": run.status}

    @api.get("/runs/{run_id}/graph")
    def run_graph(run_id: str) -> dict[str, Any]:
        """Nodes (steps or states, with status and per-status counts) and edges, as the UI draws them."""
        from lockgate.server.run_graph import graph_of

        try:
            return graph_of(runtime, run_id)
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None

    @api.get("/runs/{run_id}/logs/{step}")
    def step_logs(run_id: str, step: str, attempt: int | None = Query(None, ge=1)) -> list[dict[str, Any]]:
        """The log of each attempt of a step (of each element of a mapped step)."""
        from lockgate.server.attempt_logs import attempt_logs

        try:
            return [entry.to_json() for entry in attempt_logs(runtime, run_id, step, attempt)]
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None

    @api.get("/runs/{run_id}/logs/{step}/text", response_class=PlainTextResponse)
    def step_logs_text(run_id: str, step: str, attempt: int | None = Query(None, ge=1)) -> Any:
        """The same logs as plain text (`text/plain`, never rendered as HTML)."""
        from lockgate.server.attempt_logs import logs_as_text

        return logs_as_text(runtime, run_id, step, attempt)

    @api.post("/runs/{run_id}/retry", status_code=202)
    def retry_run(run_id: str) -> dict[str, Any]:
        """Run a failed run again from its failed steps, in the server's process."""
        from lockgate.server.run_control import start_retry

        return {"run_id": _control(start_retry, run_id), "accepted": True}

    @api.post("/runs/{run_id}/resume", status_code=202)
    def resume_run(run_id: str) -> dict[str, Any]:
        """Continue a run whose process died, in the server's process."""
        from lockgate.server.run_control import start_resume

        return {"run_id": _control(start_resume, run_id), "accepted": True}

    def _control(operation: Any, run_id: str) -> str:
        try:
            return str(operation(runtime, run_id))
        except UsageError as exc:
            raise HTTPException(404 if str(exc).startswith("no run") else 409, str(exc)) from None

    return api
