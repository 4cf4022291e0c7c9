"""Commands about runs: run, runs, show, logs, resume, retry, cancel, config."""

from __future__ import annotations

import time
from typing import Any

import typer

from lockgate import _json
from lockgate.cli import _output, app
from lockgate.cli._output import Exit, emit_json, parse_params
from lockgate.core.errors import UsageError
from lockgate.core.history import RUN_STATUSES

JSON = typer.Option(False, "--json", help="Print one JSON document instead of tables.")
EXECUTOR = typer.Option(None, "--executor", help="inline, threads or processes (default from settings).")

_STYLE = {
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "ABORTED": "magenta",
    "RUNNING": "cyan",
    "RETRYING": "yellow",
    "SKIPPED": "dim",
    "PENDING": "dim",
    "QUEUED": "dim",
}


def _runtime() -> Any:
    from lockgate.runtime import default_runtime

    return default_runtime()


def _existing_runtime() -> Any:
    """The runtime of a home that must exist already: for commands about runs made before."""
    _output.require_home()
    return _runtime()


@app.command()
def run(
    target: str = typer.Argument(..., help="path/to/file.py:pipeline or package.module:pipeline"),
    param: list[str] = typer.Option([], "--param", "-p", help="A parameter, NAME=VALUE; repeat for more."),
    as_json: bool = JSON,
    executor: str | None = EXECUTOR,
    idempotency_key: str | None = typer.Option(None, "--idempotency-key", help="At most one run per key, ever."),
) -> None:
    """Run a pipeline to its end in this process; exit 0 if it succeeded, 1 if not."""
    from lockgate.dag.loader import load_target
    from lockgate.dag.pipeline import Pipeline

    obj = load_target(target)
    if not isinstance(obj, Pipeline):
        raise UsageError(f"{target} is a {type(obj).__name__}, not a @pipeline")
    bound = obj.bind(parse_params(param), from_text=True)
    workflow = obj.compile(bound)
    runtime = _runtime()
    params = _json.loads(_json.dumps(bound))
    if as_json:
        result = runtime.execute(workflow, params, executor=executor, idempotency_key=idempotency_key)
    else:
        with _LiveView() as view:
            result = runtime.execute(
                workflow, params, executor=executor, observer=view.update, idempotency_key=idempotency_key
            )
    _report(result, as_json)


def _report(result: Any, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_json())
    else:
        _print_run(result)
    raise Exit(_output.status_code(result.status))


def _print_run(result: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    out = _output.console()
    table = Table(title=f"run {result.run_id} · {result.pipeline}", title_justify="left")
    for column in ("step", "status", "attempts", "started", "ended"):
        table.add_column(column, no_wrap=True)
    table.add_column("error")
    shown = result.steps if len(result.steps) <= 60 else _summarize(result.steps)
    for step in shown:
        error = f"{step.error['name']}: {step.error['cause']}" if step.error else ""
        table.add_row(
            step.name,
            f"[{_STYLE.get(step.status, '')}]{step.status}[/]",
            str(step.attempts),
            _short(step.started_at),
            _short(step.ended_at),
            Text(_clip(error, 600)),  # not markup: an error may hold brackets
        )
    out.print(table)
    style = _STYLE.get(result.status, "")
    line = f"[{style}]{result.status}[/]"
    if result.status == "SUCCEEDED":
        more = f"lockgate show {result.run_id} --json has it whole"
        _output.print_value(out, f"{line}  output:", result.output, more=more)
    else:
        out.print(Text.from_markup(line) + Text(f"  {result.error}: {result.cause}"))


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, ending at a word when it is cut (the whole error is in `show --json`)."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return (text[:cut] if cut > 0 else text[:limit]) + " …"


def _short(ts: float | None) -> str:
    """A time for a table: UTC, to the millisecond, without the date when it is today."""
    text = _json.iso(ts)
    if text is None:
        return ""
    return text[11:23] if text[:10] == (_json.iso(time.time()) or "")[:10] else text[:19].replace("T", " ")


def _summarize(steps: list[Any]) -> list[Any]:
    """The steps worth a line when there are too many: all but succeeded, then the first few."""
    interesting = [s for s in steps if s.status != "SUCCEEDED"][:40]
    return interesting or steps[:20]


class _LiveView:
    """The steps of the run as they change, redrawn at most ten times a second."""

    def __init__(self) -> None:
        from rich.live import Live

        self._live = Live(console=_output.console(), auto_refresh=False, transient=True)
        self._last = 0.0

    def __enter__(self) -> _LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def update(self, state: Any, batch: list[Any]) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and state.status == "RUNNING":
            return
        self._last = now
        from rich.table import Table

        counts: dict[str, int] = {}
        table = Table(title=f"run {state.run_id} · {state.pipeline} · {state.status}", title_justify="left")
        table.add_column("step")
        table.add_column("status")
        table.add_column("attempt")
        rows = 0
        for step in state.steps.values():
            counts[step.status] = counts.get(step.status, 0) + 1
            if rows < 30 and (step.status in ("RUNNING", "RETRYING", "FAILED") or len(state.steps) <= 30):
                table.add_row(step.name, f"[{_STYLE.get(step.status, '')}]{step.status}[/]", str(step.attempt))
                rows += 1
        table.caption = "  ".join(f"{k.lower()}: {v}" for k, v in sorted(counts.items()))
        self._live.update(table, refresh=True)


@app.command("runs")
def list_runs(
    pipeline: str | None = typer.Option(None, "--pipeline", help="Only this pipeline's runs."),
    status: str | None = typer.Option(None, "--status", help="Only runs with this status."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many runs."),
    as_json: bool = JSON,
) -> None:
    """List runs, newest first."""
    if status is not None and status.upper() not in RUN_STATUSES:
        raise UsageError(f"--status {status!r} is not one of {', '.join(RUN_STATUSES)}")
    store = _existing_runtime().store
    records = store.list_runs(pipeline=pipeline, status=status.upper() if status else None, limit=limit)
    rows = [
        {
            "run_id": r.run_id,
            "pipeline": r.pipeline,
            "status": r.status,
            "started_at": _json.iso(r.started_at),
            "ended_at": _json.iso(r.ended_at),
            "created_by": r.created_by,
        }
        for r in records
    ]
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table()
    for column in ("run_id", "pipeline", "status", "started (UTC)", "ended (UTC)"):
        table.add_column(column, no_wrap=column != "pipeline")
    for r in records:
        table.add_row(
            r.run_id, r.pipeline, f"[{_STYLE.get(r.status, '')}]{r.status}[/]", _short(r.started_at), _short(r.ended_at)
        )
    _output.console().print(table)


@app.command()
def show(run_id: str = typer.Argument(..., help="A run id (or a unique prefix)."), as_json: bool = JSON) -> None:
    """A run's steps and its event history."""
    runtime = _existing_runtime()
    if (asl_run := runtime.store.get_run(run_id)) is not None and asl_run.kind == "asl":
        from lockgate.asl.durable import show_run

        return show_run(asl_run, runtime, as_json)
    record, _state, events = runtime.state(run_id)
    result = runtime.view(record.run_id)
    history = [
        {"id": i, "type": e.type, "timestamp": _json.iso(e.at), **_public(e.body())} for i, e in enumerate(events, 1)
    ]
    if as_json:
        emit_json({**result.to_json(), "history": history})
        return
    _print_run(result)
    from rich.table import Table
    from rich.text import Text

    if result.created_by:
        _output.console().print(Text(f"created by {result.created_by}"))
    table = Table(title="history", title_justify="left")
    for column in ("id", "time", "event"):
        table.add_column(column, no_wrap=True)
    table.add_column("details", overflow="fold")
    for item, event in zip(history, events, strict=True):
        details = {k: v for k, v in item.items() if k not in ("id", "type", "timestamp", "workflow")}
        table.add_row(str(item["id"]), _short(event.at), item["type"], Text(_output.fold_json(details)))
    _output.console().print(table)


def _public(body: dict[str, Any]) -> dict[str, Any]:
    """An event's body for display: errors without their retry flag noise."""
    if "error" in body and isinstance(body["error"], dict):
        body = {**body, "error": {k: v for k, v in body["error"].items() if k in ("name", "cause", "traceback")}}
    return body


@app.command()
def logs(
    run_id: str = typer.Argument(..., help="A run id (or a unique prefix)."),
    step: str | None = typer.Argument(None, help="Only this step's attempts."),
    as_json: bool = JSON,
) -> None:
    """Print the log files of a run's attempts (stdout, stderr and logging of each step)."""
    runtime = _existing_runtime()
    record, state, _ = runtime.state(run_id)
    entries = []
    if record.kind == "asl":  # a state machine: its Task states' invocations, by state name
        from lockgate.asl.durable import attempt_logs

        entries = attempt_logs(runtime, record.run_id, step)
    elif step is not None and step not in state.steps:
        raise UsageError(f"run {record.run_id} has no step {step!r}")
    for name, s in state.steps.items():
        if step is not None and name != step and not (s.parent is not None and s.parent.name == step):
            continue
        for attempt in range(1, s.attempt + 1):
            text, _, _ = runtime.logs.read(record.run_id, name, attempt)  # [logs] url: a folder or S3
            where = runtime.logs.location(record.run_id, name, attempt)
            entries.append({"step": name, "index": s.index, "attempt": attempt, "path": where, "text": text})
    if as_json:
        emit_json(entries)
    else:
        for entry in entries:
            what = entry.get("invocation") or entry["step"]
            typer.echo(f"==> {what} attempt {entry['attempt']} ({entry['path']}) <==")
            text = entry["text"].rstrip("\n")
            if entry["index"] is not None and text:
                text = "\n".join(f"[{entry['index']}] {line}" for line in text.split("\n"))
            typer.echo(text or "(no output)")
    if not entries:
        what = f"step {step}" if step is not None else "any step"
        typer.echo(f"no log: {what} of run {record.run_id} has not run an attempt", err=True)


@app.command()
def resume(
    run_id: str = typer.Argument(
        ..., help="The run to continue: its id (or a unique prefix), as `lockgate runs` lists."
    ),
    as_json: bool = JSON,
    executor: str | None = EXECUTOR,
) -> None:
    """Continue a run whose process died, to its end."""
    runtime = _existing_runtime()

    def action(run_id: str, **options: Any) -> Any:
        return _resume(runtime, run_id, **options)

    _drive(action, run_id, as_json, executor)


def _resume(runtime: Any, run_id: str, *, executor: str | None = None, observer: Any = None) -> Any:
    """Runtime.resume; a run whose process died before its first commit is queued again by it,
    and is then started here, unless a live service serving its pipeline will start it."""
    from lockgate import reruns

    run = runtime.resume(run_id, executor=executor, observer=observer)
    if run.status != "QUEUED":
        return run
    if reruns.service_alive(runtime, run.pipeline):
        typer.echo(f"run {run.run_id} is queued again for the service serving {run.pipeline}", err=True)
        return run
    from lockgate.cli.service import _named
    from lockgate.store.attempts import claim_queued_run
    from lockgate.triggers.ledger import kind_of

    pipeline = _named(run.pipeline, None)
    if not claim_queued_run(runtime.store.engine, run.run_id, runtime.owner, runtime.clock()):
        return runtime.view(run.run_id)  # another process started it meanwhile
    record = runtime.store.get_run(run.run_id)
    if kind_of(pipeline) == "asl":
        pipeline.start_claimed(runtime, record)
        return runtime.view(run.run_id)
    try:
        workflow = pipeline.compile(pipeline.bind(record.params))
    except Exception as exc:
        from lockgate.triggers.dispatch import COMPILE_FAILED

        runtime.fail_claimed(record, COMPILE_FAILED, f"pipeline {pipeline.name}: {type(exc).__name__}: {exc}")
        return runtime.view(run.run_id)
    return runtime.execute_claimed(record, workflow, executor=executor, observer=observer)


@app.command()
def retry(
    run_id: str = typer.Argument(..., help="The failed run: its id (or a unique prefix), as `lockgate runs` lists."),
    as_json: bool = JSON,
    executor: str | None = EXECUTOR,
) -> None:
    """Run a failed run again from its failed steps, reusing the results of those that succeeded."""
    _drive(_existing_runtime().retry, run_id, as_json, executor)


def _drive(action: Any, run_id: str, as_json: bool, executor: str | None) -> None:
    """Drive a run with `action` (Runtime.resume or .retry), showing it live unless printing JSON."""
    from lockgate.asl.resources import allow_folder

    allow_folder(".")  # a state machine's python: modules beside the user, as `lockgate asl run` allowed them
    if as_json:
        result = action(run_id, executor=executor)
    else:
        with _LiveView() as view:
            result = action(run_id, executor=executor, observer=view.update)
    _report(result, as_json)


@app.command()
def clear(
    run_id: str = typer.Argument(..., help="A run id (or a unique prefix)."),
    step: str = typer.Argument(..., help="The step to run again."),
    downstream: bool = typer.Option(False, "--downstream", help="Also every step after it."),
    upstream: bool = typer.Option(False, "--upstream", help="Also every step before it."),
    as_json: bool = JSON,
    executor: str | None = EXECUTOR,
) -> None:
    """Run chosen steps of a run again (succeeded ones too) as new attempts in the same run; others keep their results.

    A running service that serves the pipeline carries the run on; otherwise it runs here to its end.
    """
    from lockgate import reruns

    runtime = _existing_runtime()
    done = reruns.clear(runtime, run_id, step, downstream=downstream, upstream=upstream, actor=reruns.os_user())
    _carry_on(runtime, done, f"cleared {', '.join(done.steps)}", as_json, executor)


@app.command()
def mark(
    run_id: str = typer.Argument(..., help="A run id (or a unique prefix)."),
    step: str = typer.Argument(..., help="The step whose outcome to set."),
    success: bool = typer.Option(False, "--success", help="Record it as succeeded."),
    failed: bool = typer.Option(False, "--failed", help="Record it as failed."),
    as_json: bool = JSON,
    executor: str | None = EXECUTOR,
) -> None:
    """Record a step's outcome by hand (the history names you); the steps after it proceed as if it had ended so."""
    from lockgate import reruns

    if success == failed:
        raise UsageError("give one of --success or --failed")
    runtime = _existing_runtime()
    status = "SUCCEEDED" if success else "FAILED"
    done = reruns.mark(runtime, run_id, step, status, actor=reruns.os_user())
    _carry_on(runtime, done, f"marked {step} {status}", as_json, executor)


def _carry_on(runtime: Any, done: Any, what: str, as_json: bool, executor: str | None) -> None:
    if done.by == "owner":  # asked of the live process driving the run: wait until it applied it
        from lockgate import reruns

        applied = reruns.wait_applied(runtime, done.run_id, done.request, 2 * runtime.heartbeat_seconds + 5)
        if as_json:
            emit_json({**done.to_json(), "applied": applied})
        elif applied:
            typer.echo(f"run {done.run_id}: {what}; applied by {done.owner}, the process running it")
        else:
            typer.echo(
                f"run {done.run_id}: {what} asked of {done.owner}, the process running it; it has not applied it "
                "yet (it does at its next commit, or whoever resumes the run does)"
            )
        return
    if done.by == "service":
        if as_json:
            emit_json({**done.to_json(), "status": "QUEUED"})
        else:
            typer.echo(f"run {done.run_id}: {what}; queued for the service serving it")
        return
    if not as_json:
        typer.echo(f"run {done.run_id}: {what}", err=True)
    _drive(lambda run_id, **kw: runtime.carry_on(run_id, **kw), done.run_id, as_json, executor)


@app.command()
def cancel(
    run_id: str = typer.Argument(..., help="The run to abort: its id (or a unique prefix), as `lockgate runs` lists."),
    as_json: bool = JSON,
) -> None:
    """Abort a run: its running steps are stopped (processes and workers kill them; a thread is told)."""
    result = _existing_runtime().cancel(run_id)
    if as_json:
        emit_json({"run_id": result.run_id, "pipeline": result.pipeline, "status": result.status})
    else:
        _output.console().print(f"run {result.run_id} [magenta]{result.status}[/]")


@app.command()
def config(as_json: bool = JSON) -> None:
    """Print the effective settings, secrets masked."""
    from lockgate.config import load

    settings = load().masked()
    if as_json:
        emit_json(settings)
        return
    import tomllib  # noqa: F401 - only to fail early on very old Pythons

    for key, value in settings.items():
        if isinstance(value, dict):
            typer.echo(f"[{key}]")
            for k, v in value.items():
                typer.echo(f"{k} = {_json.dumps(v)}")
        else:
            typer.echo(f"{key} = {_json.dumps(value)}")
