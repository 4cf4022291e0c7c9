"""Commands of the trigger service: serve, scheduler, pipelines, pause, unpause, trigger, backfill."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import typer

from lockgate import _json
from lockgate.cli import _output, app
from lockgate.cli._output import Exit, emit_json, parse_params
from lockgate.core.errors import UsageError

PIPELINES = typer.Option(
    None,
    "--pipelines",
    help="Folder of pipeline files (default: [service] pipelines of lockgate.toml, else what a running service "
    "registered, else pipelines/ if it exists, else .).",
)
JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def _runtime() -> Any:
    from lockgate.runtime import default_runtime

    return default_runtime()


def _serve_folder(option: Path | None, runtime: Any) -> Any:
    """The folder a service serves: --pipelines, else [service] pipelines, else pipelines/ or .;
    loaded file by file (a broken file is an import error, the others are served)."""
    from lockgate.asl.resources import allow_folder
    from lockgate.triggers.project import configured_folder, default_folder
    from lockgate.triggers.served import FolderReloader

    folder = option if option is not None else configured_folder(runtime.settings) or default_folder()
    allow_folder(folder)  # python: resources of its modules may run
    reloader = FolderReloader(runtime, folder)
    reloader.load()
    return reloader


def _source(option: Path | None) -> Any:
    from lockgate.config import NoHome, load
    from lockgate.triggers.project import find_source

    try:
        _output.require_home()
    except NoHome:  # nothing registered where there is no home: read the folder, create nothing
        return find_source(option, None, load())
    return find_source(option, _runtime())


def _loaded(source: Any) -> Any:
    """The source's folder loaded here (tolerantly); UsageError when it cannot be read."""
    from lockgate.triggers.served import FolderLoader

    if source.folder is None or not source.folder.is_dir():
        if source.origin == "registry":
            raise UsageError(
                f"the service's pipelines folder {source.folder} cannot be read here; pass --pipelines DIR"
            )
        raise UsageError(f"--pipelines {source.folder}: no such folder")
    from lockgate.asl.resources import allow_folder

    allow_folder(source.folder)  # python: resources of its modules may run
    return FolderLoader(source.folder).load()


def _named(name: str, option: Path | None) -> Any:
    """The pipeline or state machine `name`, from where the CLI finds pipelines."""
    from lockgate.triggers.project import NO_SERVICE_HINT, find_pipeline

    source = _source(option)
    loaded = _loaded(source)
    try:
        return find_pipeline(loaded.items, name, source.folder)
    except UsageError as exc:
        hints = [str(exc)]
        broken = [e for e in loaded.errors if Path(e.file).stem == name or name in e.message]
        for problem in broken or loaded.errors[:3]:
            where = f"{problem.file}:{problem.line}" if problem.line else problem.file
            hints.append(f"import error in {where}: {problem.message}")
        if source.origin == "default" and not loaded.items:
            hints.append(NO_SERVICE_HINT)
        raise UsageError("\n".join(hints)) from None


def _start_service(runtime: Any, stop: threading.Event) -> None:
    """What both service commands do first: logging from `[logging]`, and the notification upkeep."""
    from lockgate.notify.upkeep import Upkeep
    from lockgate.server.logs import configure_logging

    configure_logging(runtime.settings)
    if not Upkeep(runtime).start(stop):
        logging.getLogger("lockgate.notify").warning("this store keeps no notifications: none are retried")


def _on_signals(stop: threading.Event, wake: Any) -> None:
    """SIGINT and SIGTERM ask the service to stop (exit 0) instead of raising KeyboardInterrupt."""

    def handle(signum: int, _frame: Any) -> None:
        stop.set()
        wake()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _leave(scheduler: Any, grace: float = 5.0) -> None:
    """Give runs in flight a few seconds to end; then exit without waiting for their steps.

    Their state is in the store: the next start resumes them (a step in flight is retried
    under its retry policy). Step threads are not daemons, so only a hard exit leaves them.
    """
    if scheduler.dispatcher.wait_idle(grace):
        return
    log = logging.getLogger("lockgate.triggers")
    log.warning("%d runs still in flight; they resume at the next start", scheduler.dispatcher.in_flight)
    from lockgate.runtime import close_default

    close_default()
    sys.stdout.flush()
    sys.stderr.flush()
    import os

    os._exit(_output.EXIT_OK)


@app.command()
def serve(
    pipelines: Path | None = PIPELINES,
    host: str = typer.Option("127.0.0.1", "--host", help="Address the HTTP API listens on."),
    port: int = typer.Option(8710, "--port", help="Port the HTTP API listens on."),
) -> None:
    """Run the scheduler, the triggers, the runs and the HTTP API in one process until Ctrl-C."""
    import socket

    from lockgate.triggers.scheduler import Scheduler

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(f"--host {host} --port {port}: cannot listen there: {exc.strerror}") from None
    import uvicorn

    from lockgate.server import serving
    from lockgate.server.app import create_app

    runtime = _runtime()
    reloader = _serve_folder(pipelines, runtime)
    loaded = reloader.last.items
    stop = threading.Event()
    _start_service(runtime, stop)
    serving.prepare(runtime, host)
    scheduler = Scheduler(runtime, loaded)
    scheduler.reloader = reloader
    reloader.watch(scheduler.wake)
    scheduler.start()
    worker = threading.Thread(target=scheduler.run, args=(stop,), name="lockgate-scheduler", daemon=True)
    config = uvicorn.Config(create_app(runtime, bind=host), host=host, port=port, log_level="warning",
                            **serving.tls_options(runtime.settings))  # fmt: skip
    server = uvicorn.Server(config)
    _on_signals(stop, scheduler.wake)
    logging.getLogger("lockgate.triggers").info(
        "serving %d pipelines and state machines on http://%s:%d", len(loaded), host, port
    )
    worker.start()

    def stop_server() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=stop_server, daemon=True).start()
    server.run()
    stop.set()
    scheduler.wake()
    worker.join(timeout=30)
    _leave(scheduler)


@app.command()
def scheduler(pipelines: Path | None = PIPELINES) -> None:
    """Run the scheduler alone (triggers and runs, no HTTP API) until Ctrl-C."""
    from lockgate.triggers.scheduler import Scheduler

    runtime = _runtime()
    reloader = _serve_folder(pipelines, runtime)
    loaded = reloader.last.items
    stop = threading.Event()
    _start_service(runtime, stop)
    service = Scheduler(runtime, loaded)
    service.reloader = reloader
    reloader.watch(service.wake)
    _on_signals(stop, service.wake)
    logging.getLogger("lockgate.triggers").info("scheduling %d pipelines", len(loaded))
    service.run(stop)
    _leave(service)


@app.command("pipelines")
def list_pipelines(pipelines: Path | None = PIPELINES, as_json: bool = JSON) -> None:
    """What is served: kind, triggers, next run, paused, version, the pipelines each waits for, import errors.

    From any folder: with no --pipelines (nor [service] pipelines), what a running service registered in the store.
    """
    from lockgate.config import NoHome
    from lockgate.triggers.ledger import Ledger
    from lockgate.triggers.project import NO_SERVICE_HINT, describe_pipelines
    from lockgate.triggers.served import Registry, source_file

    source = _source(pipelines)
    if source.origin == "registry":
        rows, errors = source.rows, source.errors
    else:
        loaded = _loaded(source)
        try:
            _output.require_home()
            runtime = _runtime()
            paused, registered = Ledger(runtime).paused(), {row["name"]: row for row in Registry(runtime).rows()}
        except NoHome:  # a folder's pipelines list without a home; none is paused or served before there is one
            paused, registered = set(), {}
        rows = describe_pipelines(loaded.items, paused)
        by_name = {item.name: item for item in loaded.items}
        for row in rows:
            item = by_name[row["name"]]
            row["version"] = item.version
            row["source_file"] = source_file(item)
            same = registered.get(row["name"])
            row["next_run"] = same["next_run"] if same and same["version"] == item.version else None
        errors = [e.to_json() for e in loaded.errors]
        if source.origin == "default" and not rows and not errors:
            typer.echo(f"nothing in {source.folder}; {NO_SERVICE_HINT}", err=True)
    try:
        _output.require_home()
        rows = Ledger(_runtime()).annotate(rows)  # who paused and unpaused each, and when
    except NoHome:
        pass
    if as_json:
        emit_json([*rows, *({"name": None, "kind": "import_error", **e} for e in errors)])
    else:
        _pipelines_table(rows)
    for error in errors:
        where = f"{error['file']}:{error['line']}" if error.get("line") else error["file"]
        message = str(error["message"]).removeprefix(f"{where}: ")  # a syntax error names its place already
        typer.echo(f"import error {where}: {message}", err=True)
    if errors:  # what is served is listed; the files that are not make it a failure to look at
        raise Exit(_output.EXIT_USAGE)


def _pipelines_table(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table()
    for column in ("pipeline", "kind", "triggers", "next run", "paused", "version", "upstream", "downstream"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            "state machine" if row["kind"] == "asl" else "pipeline",
            "\n".join(row["triggers"]) or "-",
            row.get("next_run") or "-",
            "[yellow]paused[/]" if row["paused"] else "",
            row.get("version") or "",
            ", ".join(row["upstream"]),
            ", ".join(row["downstream"]),
        )
    _output.console().print(table)


def _known(name: str, folder: Path | None) -> None:
    """Refuse a name that is not a pipeline or state machine of where the CLI finds pipelines.

    With nothing registered and a default folder that cannot be loaded or defines nothing, any
    name is accepted (a pipeline may be paused before its file is deployed).
    """
    from lockgate.triggers.project import find_pipeline

    source = _source(folder)
    if source.origin == "registry" and not (source.folder and source.folder.is_dir()):
        names = {row["name"] for row in source.rows}
        if name not in names:
            listed = ", ".join(sorted(names)) or "none"
            raise UsageError(f"no pipeline {name!r} in {source.label()} (pipelines there: {listed})")
        return
    try:
        loaded = _loaded(source)
    except UsageError:
        if source.origin != "default":
            raise
        return
    if loaded.items or source.origin != "default":
        find_pipeline(loaded.items, name, source.folder)


@app.command()
def pause(name: str = typer.Argument(..., help="The pipeline to pause."), pipelines: Path | None = PIPELINES) -> None:
    """Stop scheduling a pipeline; its queued runs wait until it is unpaused."""
    from lockgate.triggers.ledger import Ledger

    _known(name, pipelines)
    runtime = _runtime()
    changed = Ledger(runtime).pause(name, runtime.clock())
    typer.echo(f"{name} paused" if changed else f"{name} was already paused")


@app.command()
def unpause(
    name: str = typer.Argument(..., help="The pipeline to unpause."), pipelines: Path | None = PIPELINES
) -> None:
    """Schedule a paused pipeline again (missed slots follow its catch-up setting)."""
    from lockgate.triggers.ledger import Ledger

    if name not in Ledger(_runtime()).paused():  # a paused name stays unpausable after its file is gone
        _known(name, pipelines)
    changed = Ledger(_runtime()).unpause(name)
    typer.echo(f"{name} unpaused" if changed else f"{name} was not paused")


@app.command()
def trigger(
    name: str = typer.Argument(..., help="The pipeline to run."),
    param: list[str] = typer.Option([], "--param", "-p", help="A parameter, NAME=VALUE; repeat for more."),
    idempotency_key: str | None = typer.Option(None, "--idempotency-key", help="At most one run per key, ever."),
    pipelines: Path | None = PIPELINES,
    wait: bool = typer.Option(False, "--wait", help="Run it here to its end instead of queueing it."),
    as_json: bool = JSON,
) -> None:
    """Queue a run of a pipeline or state machine (the scheduler starts it) and print its id; with --wait, run it here.

    A state machine's execution input is the --param values as one JSON object (values read as JSON when they are).
    """
    from lockgate.triggers.ledger import kind_of, run_key

    pipeline = _named(name, pipelines)
    bound = pipeline.bind(parse_params(param), from_text=True)
    params = _json.loads(_json.dumps(bound))
    key = run_key("manual", name, idempotency_key) if idempotency_key else None
    runtime = _runtime()
    if wait and kind_of(pipeline) == "asl":
        run_id, _ = pipeline.run_here(runtime, params, key)
        record = runtime.store.get_run(run_id)
        if as_json:
            emit_json({"run_id": run_id, "pipeline": name, "status": record.status, "output": record.output,
                       "error": record.error, "cause": record.cause})  # fmt: skip
        else:
            typer.echo(f"{run_id} {record.status}")
        raise Exit(_output.status_code(record.status))
    if wait:
        result = runtime.execute(pipeline.compile(bound), params, idempotency_key=key)
        if as_json:
            emit_json(result.to_json())
        else:
            typer.echo(f"{result.run_id} {result.status}")
        raise Exit(_output.status_code(result.status))
    run_id = runtime.enqueue(name, params, kind=kind_of(pipeline), idempotency_key=key)
    created = run_id is not None
    if run_id is None:
        run_id = runtime.store.find_by_key(key).run_id
    if as_json:
        emit_json({"run_id": run_id, "pipeline": name, "created": created})
    else:
        typer.echo(run_id if created else f"{run_id} (the run this idempotency key already started)")


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected a date, YYYY-MM-DD") from None


@app.command()
def backfill(
    name: str = typer.Argument(..., help="The scheduled pipeline to backfill."),
    start: str = typer.Option(..., "--start", help="First date, YYYY-MM-DD (inclusive, in the schedule's time zone)."),
    end: str = typer.Option(..., "--end", help="Last date, YYYY-MM-DD (inclusive)."),
    max_active: int = typer.Option(4, "--max-active", min=1, help="Runs at once."),
    pipelines: Path | None = PIPELINES,
    as_json: bool = JSON,
) -> None:
    """One run per schedule slot between two dates (none for a slot that already has a run), run here."""
    from lockgate.triggers.ledger import kind_of, params_for, slot_key
    from lockgate.triggers.schedule import Cron, Interval, logical_date, slot_params, slots_between_dates

    pipeline = _named(name, pipelines)
    first, last = _date(start, "--start"), _date(end, "--end")
    if last < first:
        raise UsageError(f"--end {end} is before --start {start}")
    schedules = [t for t in pipeline.triggers if isinstance(t, (Cron, Interval))]
    if not schedules:
        raise UsageError(f"pipeline {name} has no Cron or Interval trigger to backfill")
    slots: dict[float, Any] = {}
    for schedule in schedules:
        for at in slots_between_dates(schedule, first, last):
            slots.setdefault(at, schedule)
    runtime = _runtime()
    mine: dict[str, str] = {}
    skipped = 0
    for at, schedule in sorted(slots.items()):
        run_id = runtime.enqueue(
            name,
            params_for(pipeline, slot_params(schedule, at)),
            kind=kind_of(pipeline),
            idempotency_key=slot_key(name, at),
            created_by="backfill",
        )
        if run_id is None:
            skipped += 1
        else:
            mine[run_id] = logical_date(schedule, at)
    statuses = _execute(runtime, pipeline, mine, max_active, show_progress=not as_json)
    failed = sum(1 for s in statuses.values() if s != "SUCCEEDED")
    if as_json:
        emit_json(
            {
                "pipeline": name,
                "slots": len(slots),
                "queued": len(mine),
                "skipped": skipped,
                "runs": [{"run_id": r, "logical_date": mine[r], "status": statuses[r]} for r in mine],
            }
        )
    else:
        typer.echo(f"{len(slots)} slots: {len(mine)} run, {skipped} already had a run; {failed} did not succeed")
    raise Exit(_output.EXIT_FAILED if failed else _output.EXIT_OK)


def _execute(runtime: Any, pipeline: Any, mine: dict[str, str], max_active: int, show_progress: bool) -> dict[str, str]:
    """Run the queued runs `mine` here, `max_active` at once; returns their final statuses."""
    import sqlalchemy as sa

    from lockgate.store.schema import runs
    from lockgate.triggers.dispatch import Dispatcher

    done = threading.Event()
    dispatcher = Dispatcher(runtime, {pipeline.name: pipeline}, max_active, done.set)
    ids = list(mine)
    statuses: dict[str, str] = {}

    def poll() -> None:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            with runtime.store.engine.begin() as conn:
                for row in conn.execute(sa.select(runs.c.run_id, runs.c.status).where(runs.c.run_id.in_(chunk))):
                    statuses[row.run_id] = row.status

    progress = None
    if show_progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn(f"backfill {pipeline.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_output.console(),
        )
        progress.start()
        bar = progress.add_task("runs", total=len(ids))
    try:
        while True:
            poll()
            ended = sum(1 for s in statuses.values() if s in TERMINAL)
            if progress is not None:
                progress.update(bar, completed=ended)
            if ended == len(ids):
                return statuses
            done.clear()
            dispatcher.dispatch(set())
            done.wait(0.5)
    finally:
        dispatcher.stop()
        if progress is not None:
            progress.stop()
