"""The web UI: server-rendered pages (Jinja2, autoescaped) made live by htmx polling.

Pages are `/` (runs), `/ui/runs/{id}`, `/ui/runs/{id}/logs/{step}`, `/ui/pipelines`,
`/ui/catalog` and `/ui/notifications`; every live part is a partial that the page polls
and that stops polling once what it shows can no longer change. The graph script
(`static/ui.js`) reads `/api/runs/{id}/graph`. Buttons post to `/ui/...` actions that call
the same operations as the REST API. No inline script or style: the pages run under a strict
Content-Security-Policy, and nothing is loaded from outside the server.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations
# (Request, defined inside `router`) at definition time.
import dataclasses
import datetime as dt
import json
import logging
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from lockgate.config import mask, mask_url
from lockgate.core import history
from lockgate.core.errors import UsageError
from lockgate.core.history import RUN_STATUSES, TERMINAL_RUN
from lockgate.server import auth

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
STATIC = HERE / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
LIMITS = (25, 50, 100, 500, 2000)
PAGE = 50  # runs a page of the runs list shows unless asked
MAX_HISTORY = 500  # events shown on a run's page (the newest ones)


def environment() -> Any:
    """The Jinja2 environment of the UI's templates (autoescape on for every template)."""
    import jinja2

    from lockgate import __version__

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["pathpart"] = lambda value: quote(str(value), safe="")
    env.filters["pretty"] = lambda value: mask_url(json.dumps(value, indent=2, sort_keys=True, default=str))
    env.filters["compact"] = compact
    env.globals["version"] = __version__
    env.globals["statuses"] = RUN_STATUSES
    env.globals["csrf_token"] = lambda: auth.CSRF.get()
    env.globals["signed_in"] = lambda: history.ACTOR.get() or ""
    return env


def when(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(pair: tuple[float | None, float | None]) -> str:
    start, end = pair
    if start is None or end is None:
        return ""
    seconds = max(0.0, end - start)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def compact(value: Any, limit: int = 300) -> str:
    text = mask_url(value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ui_actor(request: Any) -> str:
    """Who acts from the web UI, for the history: the signed-in user once sessions name one."""
    return str(history.ACTOR.get() or getattr(request.state, "actor", None) or "web UI")


def install_error_pages(app: Any) -> None:
    """Errors of the UI's pages are HTML pages (a 404 for an unknown run); the API keeps JSON."""
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.responses import HTMLResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    env = environment()

    async def handler(request: Any, exc: Any) -> Any:
        path = request.url.path
        if path == "/" or (path.startswith("/ui/") and not path.startswith("/ui/static/")):
            title = {404: "Not found", 400: "Bad request", 403: "Forbidden"}.get(exc.status_code, "Refused")
            html = env.get_template("error.html").render(message=exc.detail, back="/ui/runs", title=title)
            return HTMLResponse(html, status_code=exc.status_code, headers={"Content-Security-Policy": CSP})
        return await http_exception_handler(request, exc)

    app.add_exception_handler(StarletteHTTPException, handler)


def router(runtime: Any) -> Any:
    from fastapi import APIRouter, HTTPException, Query, Request
    from fastapi.responses import (
        FileResponse,
        HTMLResponse,
        JSONResponse,
        RedirectResponse,
        Response,
    )

    from lockgate.server import run_control, ui_views
    from lockgate.server.tokens import TokenStore

    env = environment()
    tokens = TokenStore.of(runtime)
    sessions = auth.Sessions(tokens.key)
    ui = APIRouter(include_in_schema=False)
    statics = {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}

    def page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status_code, headers={"Content-Security-Policy": CSP})

    def same_origin(request: Request) -> None:
        """Refuse a form posted from another site (a browser always sends Origin with a POST)."""
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise HTTPException(403, f"cross-origin request from {origin} refused")

    def done(request: Request, where: str) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=200, headers={"HX-Redirect": where})
        return RedirectResponse(where, status_code=303)

    def refused(request: Request, message: str, back: str) -> Response:
        if request.headers.get("hx-request"):  # htmx swaps 2xx answers only
            return page("_flash.html", message=message)
        return page("error.html", status_code=409, message=message, back=back)

    # -- static files ---------------------------------------------------------------------

    @ui.get("/ui/static/{path:path}")
    def static(path: str) -> FileResponse:
        file = statics.get(path)
        if file is None:
            raise HTTPException(404, f"no static file {path!r}")
        kind = mimetypes.guess_type(file.name)[0] or "text/plain"
        if file.suffix == ".js":
            kind = "text/javascript"
        return FileResponse(file, media_type=kind, headers={"Cache-Control": "max-age=3600"})

    # -- logging in ---------------------------------------------------------------------------

    def safe_next(target: str) -> str:
        """Only a path of this server (never `//host` or `https://...`) to go to after logging in."""
        return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"

    @ui.get("/ui/login", response_class=HTMLResponse)
    def login_page(next: str = "/") -> HTMLResponse:
        return page("login.html", message="", next=safe_next(next))

    @ui.post("/ui/login")
    async def login(request: Request) -> Response:
        same_origin(request)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        where = safe_next((form.get("next") or ["/"])[0])
        token = tokens.check((form.get("token") or [""])[0].strip())
        if token is None:
            message = "That token is not valid: unknown, expired or revoked."
            return page("login.html", status_code=401, message=message, next=where)
        answer = RedirectResponse(where, status_code=303)
        secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        answer.set_cookie(auth.COOKIE, sessions.issue(token), max_age=auth.SESSION_SECONDS, path="/",
                          httponly=True, samesite="strict", secure=secure)  # fmt: skip
        return answer

    @ui.post("/ui/logout")
    def logout(request: Request) -> Response:
        same_origin(request)
        answer = RedirectResponse("/ui/login", status_code=303)
        answer.delete_cookie(auth.COOKIE, path="/", httponly=True, samesite="strict")
        return answer

    # -- runs -----------------------------------------------------------------------------

    def runs_query(
        pipeline: str | None, status: str | None, limit: int, before: str | None = None, after: str | None = None
    ) -> dict[str, Any]:
        """One page of the runs list, newest first: the first, the one older than run `before`, or
        the one newer than run `after` (keyset paging); with the links to the pages beside it."""
        pipeline = pipeline or None
        status = status or None
        before, after = before or None, (after or None) if not before else None
        if status is not None and status not in RUN_STATUSES:
            raise HTTPException(400, f"status {status!r} is not one of {', '.join(RUN_STATUSES)}")
        records = runtime.store.list_runs(pipeline=pipeline, status=status, limit=limit + 1, before=before, after=after)
        if after is not None:  # the page before: one more than a page means yet newer ones exist
            newer, older = len(records) > limit, True
            records = records[-limit:]
        else:
            newer, older = before is not None, len(records) > limit
            records = records[:limit]
        filters = {k: v for k, v in (("pipeline", pipeline), ("status", status), ("limit", limit)) if v}
        cursor = {"before": before} if before else {"after": after} if after else {}
        links = {
            "newer": urlencode({**filters, "after": records[0].run_id}) if newer and records else None,
            "older": urlencode({**filters, "before": records[-1].run_id}) if older and records else None,
            "newest": urlencode(filters) if newer else None,
        }
        if not records and (before or after):  # a page past the end (its runs were deleted): back to the first
            links["newest"] = urlencode(filters)
        return {"runs": records, "pipeline": pipeline or "", "status": status or "", "limit": limit,
                "query": urlencode({**filters, **cursor}), "links": links}  # fmt: skip

    @ui.get("/", response_class=HTMLResponse)
    @ui.get("/ui/runs", response_class=HTMLResponse)
    def runs_page(
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = Query(PAGE, ge=1, le=10000),
        before: str | None = None,
        after: str | None = None,
    ) -> HTMLResponse:
        context = runs_query(pipeline, status, limit, before, after)
        return page("runs.html", **context, pipelines=ui_views.run_pipelines(runtime), limits=LIMITS)

    @ui.get("/ui/runs/rows", response_class=HTMLResponse)
    def runs_rows(
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = Query(PAGE, ge=1, le=10000),
        before: str | None = None,
        after: str | None = None,
    ) -> HTMLResponse:
        return page("_runs_rows.html", **runs_query(pipeline, status, limit, before, after))

    def run_context(run_id: str) -> dict[str, Any]:
        try:
            context = ui_views.run_detail(runtime, run_id, MAX_HISTORY)
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None
        record = context["record"]
        shown = mask({"params": record.params, "error": record.error, "cause": record.cause,
                      "history": context["history"], "output": context["output"]})  # fmt: skip
        context["record"] = dataclasses.replace(
            record, params=shown["params"], error=shown["error"], cause=shown["cause"]
        )
        context.update(history=shown["history"], output=shown["output"])
        return context

    @ui.get("/ui/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str) -> HTMLResponse:
        return page("run.html", **run_context(run_id))

    @ui.get("/ui/runs/{run_id}/live", response_class=HTMLResponse)
    def run_live(run_id: str) -> HTMLResponse:
        return page("_run_live.html", **run_context(run_id))

    @ui.get("/ui/runs/{run_id}/graph.json")
    def run_graph(run_id: str) -> JSONResponse:
        """The run's graph for the page's script (the page's session cookie is not taken by /api)."""
        from lockgate.server.run_graph import graph_of

        try:
            return JSONResponse(graph_of(runtime, run_id))
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None

    def logs_context(run_id: str, step: str) -> dict[str, Any]:
        from lockgate.server.attempt_logs import attempt_logs

        try:
            record = runtime.store.get_run(run_id)
            entries = attempt_logs(runtime, run_id, step)
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None
        live = record.status not in TERMINAL_RUN
        return {"record": record, "step": step, "entries": entries, "live": live}

    @ui.get("/ui/runs/{run_id}/logs/{step}", response_class=HTMLResponse)
    def logs_page(run_id: str, step: str) -> HTMLResponse:
        return page("logs.html", **logs_context(run_id, step))

    @ui.get("/ui/runs/{run_id}/logs/{step}/live", response_class=HTMLResponse)
    def logs_live(run_id: str, step: str) -> HTMLResponse:
        return page("_logs_live.html", **logs_context(run_id, step))

    async def rerun(request: Request, run_id: str, act: Any) -> Response:
        """A clear or a mark from the run page: `act(form, actor)` records it; the run carries on."""
        same_origin(request)
        form = await request.form()
        back = f"/ui/runs/{quote(run_id, safe='')}"
        try:
            done_ = act(form, ui_actor(request))
        except UsageError as exc:
            return refused(request, str(exc), back)
        if done_.by == "here":
            run_control.carry_on(runtime, done_.run_id)
        return done(request, back)

    @ui.post("/ui/runs/{run_id}/clear")
    async def clear_action(request: Request, run_id: str) -> Response:
        """Clear a step (and, with the `downstream` / `upstream` fields, what follows or precedes it)."""
        from lockgate import reruns

        return await rerun(request, run_id, lambda form, actor: reruns.clear(
            runtime, run_id, str(form.get("step", "")), downstream=bool(form.get("downstream")),
            upstream=bool(form.get("upstream")), actor=actor))  # fmt: skip

    @ui.post("/ui/runs/{run_id}/mark")
    async def mark_action(request: Request, run_id: str) -> Response:
        """Mark a step SUCCEEDED or FAILED (the `status` field)."""
        from lockgate import reruns

        return await rerun(request, run_id, lambda form, actor: reruns.mark(
            runtime, run_id, str(form.get("step", "")), str(form.get("status", "")), actor=actor))  # fmt: skip

    @ui.get("/ui/runs/{run_id}/logs/{step}/text")
    def logs_text(run_id: str, step: str, attempt: int | None = Query(None, ge=1)) -> Any:
        from lockgate.server.attempt_logs import logs_as_text

        return logs_as_text(runtime, run_id, step, attempt)

    @ui.post("/ui/runs/{run_id}/{action}")
    def run_action(request: Request, run_id: str, action: str) -> Response:
        same_origin(request)
        back = f"/ui/runs/{quote(run_id, safe='')}"
        try:
            if action == "cancel":
                record = runtime.store.get_run(run_id)
                if record is not None and record.kind == "asl":
                    from lockgate.asl import durable

                    durable.stop(runtime, run_id, "stopped from the web UI")
                else:
                    runtime.cancel(run_id, "cancelled from the web UI")
            elif action == "retry":
                run_control.start_retry(runtime, run_id)
            elif action == "resume":
                run_control.start_resume(runtime, run_id)
            else:
                raise HTTPException(404, f"no action {action!r}; actions are cancel, retry and resume")
        except UsageError as exc:
            return refused(request, str(exc), back)
        return done(request, back)

    # -- pipelines, catalog, notifications --------------------------------------------------

    @ui.get("/ui/pipelines", response_class=HTMLResponse)
    def pipelines_page() -> HTMLResponse:
        return page("pipelines.html", **ui_views.pipelines(runtime))

    @ui.get("/ui/pipelines/{name}/trigger", response_class=HTMLResponse)
    def trigger_page(name: str) -> HTMLResponse:
        try:
            return page("trigger.html", **ui_views.trigger_form(runtime, name))
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None

    @ui.post("/ui/pipelines/{name}/trigger")
    async def trigger_action(request: Request, name: str) -> Response:
        """Queue a run from the trigger form; refused values come back in the form, each beside its field."""
        same_origin(request)
        form = {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}
        try:
            run_id = ui_views.trigger_submit(runtime, name, form)
        except ui_views.FormErrors as exc:
            try:
                context = ui_views.trigger_form(runtime, name, form, exc.errors)
            except UsageError as gone:
                raise HTTPException(404, str(gone)) from None
            if request.headers.get("hx-request"):  # htmx swaps 2xx answers only: the form alone
                return page("_trigger_form.html", **context)
            return page("trigger.html", status_code=400, **context)
        except UsageError as exc:
            return refused(request, str(exc), f"/ui/pipelines/{quote(name, safe='')}/trigger")
        return done(request, f"/ui/runs/{quote(run_id, safe='')}")

    @ui.post("/ui/pipelines/{name}/{action}")
    def pipeline_action(request: Request, name: str, action: str) -> Response:
        same_origin(request)
        operations = {"pause": ui_views.pause, "unpause": ui_views.unpause}
        if action not in operations:
            raise HTTPException(404, f"no action {action!r}; actions are pause, unpause and trigger")
        try:
            operations[action](runtime, name)
        except UsageError as exc:
            return refused(request, str(exc), "/ui/pipelines")
        log.info("pipeline %s: %s by %s from the web UI", name, action, history.current_actor())
        return done(request, "/ui/pipelines")

    @ui.get("/ui/catalog", response_class=HTMLResponse)
    def catalog_page() -> HTMLResponse:
        return page("catalog.html", **ui_views.catalog(runtime))

    @ui.get("/ui/catalog/{database}/{name}", response_class=HTMLResponse)
    def table_page(database: str, name: str) -> HTMLResponse:
        try:
            return page("table.html", **ui_views.catalog_table(runtime, f"{database}.{name}"))
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None

    @ui.get("/ui/notifications", response_class=HTMLResponse)
    def notifications_page() -> HTMLResponse:
        return page("notifications.html", **ui_views.notifications(runtime))

    return ui
