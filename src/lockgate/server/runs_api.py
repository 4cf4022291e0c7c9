"""REST endpoints for runs: list, show, graph, logs, resume, retry, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import Request  # at module level: routes' `request: Request` annotations resolve here

from lockgate import _json


def actor_of(request: Any) -> str:
    """Who asks, for the history: the API token's name (set by the auth middleware), else "api"."""
    from lockgate.core import history

    return str(history.ACTOR.get() or getattr(request.state, "actor", None) or "api")


def router(runtime: Any) -> Any:
    from fastapi import APIRouter, Body, HTTPException, Query
    from fastapi.responses import PlainTextResponse

    from lockgate.config import mask
    from lockgate.core.errors import UsageError

    api = APIRouter(prefix="/api", tags=["runs"])

    @api.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/runs")
    def list_runs(
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = Query(100, ge=1, le=10000),
        before: str | None = Query(None, description="A run id: the next page, runs created before it."),
    ) -> list[dict[str, Any]]:
        return [
            {
                "run_id": r.run_id,
                "pipeline": r.pipeline,
                "status": r.status,
                "started_at": _json.iso(r.started_at),
                "ended_at": _json.iso(r.ended_at),
                "created_by": r.created_by,
            }
            for r in runtime.store.list_runs(pipeline=pipeline, status=status, limit=limit, before=before)
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
            raise HTTPException(404 if str(exc).startswith("no run") else 409, str(exc)) from None
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

    @api.post("/runs/{run_id}/clear", status_code=202)
    def clear_run(request: Request, run_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Run chosen steps again: `{"step": "enrich", "downstream": true, "upstream": false}`."""
        from lockgate import reruns

        step = _step_of(body)
        downstream, upstream = bool(body.get("downstream", False)), bool(body.get("upstream", False))
        return _rerun(
            lambda: reruns.clear(
                runtime, run_id, step, downstream=downstream, upstream=upstream, actor=actor_of(request)
            )
        )

    @api.post("/runs/{run_id}/mark", status_code=202)
    def mark_run(request: Request, run_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Record a step's outcome by hand: `{"step": "load", "status": "SUCCEEDED"}` (or "FAILED")."""
        from lockgate import reruns

        step = _step_of(body)
        status = str(body.get("status", "")).upper()
        return _rerun(lambda: reruns.mark(runtime, run_id, step, status, actor=actor_of(request)))

    def _step_of(body: dict[str, Any]) -> str:
        step = body.get("step")
        if not isinstance(step, str) or not step:
            raise HTTPException(400, "step: expected the name of a step")
        return step

    def _rerun(operation: Any) -> dict[str, Any]:
        from lockgate.server.run_control import carry_on

        try:
            done = operation()
        except UsageError as exc:
            raise HTTPException(404 if str(exc).startswith("no run") else 409, str(exc)) from None
        if done.by == "here":
            carry_on(runtime, done.run_id)
        return {**done.to_json(), "accepted": True}

    def _control(operation: Any, run_id: str) -> str:
        try:
            return str(operation(runtime, run_id))
        except UsageError as exc:
            raise HTTPException(404 if str(exc).startswith("no run") else 409, str(exc)) from None

    return api
