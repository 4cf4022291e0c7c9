"""Commands of a worker cluster: worker, workers, pools."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from lockgate import _json
from lockgate.cli import _output, app
from lockgate.cli._output import emit_json
from lockgate.core.errors import UsageError

JSON = typer.Option(False, "--json", help="Print JSON instead of tables.")

pools_app = typer.Typer(
    help="Pools: slots shared by the whole cluster (`@task(pool=...)`).", invoke_without_command=True
)
app.add_typer(pools_app, name="pools")


def _settings():  # type: ignore[no-untyped-def]
    from lockgate.config import load

    return load()


def _cluster():  # type: ignore[no-untyped-def]
    from lockgate.store.attempts import ClusterStore
    from lockgate.worker import check_database

    settings = _settings()
    check_database(settings)
    from lockgate.store.sql import SqlStore

    return ClusterStore(SqlStore(settings.database_url).engine)


@app.command()
def worker(
    queues: str = typer.Option("default", "--queues", "-Q", help="Queues to take attempts from, comma-separated."),
    concurrency: int = typer.Option(8, "--concurrency", "-c", min=1, help="Attempts at once (threads)."),
    pipelines: Path | None = typer.Option(
        None, "--pipelines", help="This machine's copy of the pipelines folder (default: the paths runs name)."
    ),
) -> None:
    """Run attempts sent by the schedulers (executor "celery") until Ctrl-C or SIGTERM; running ones finish first."""
    from lockgate.server.logs import configure_logging
    from lockgate.worker import serve

    settings = _settings()
    names = [q.strip() for q in queues.split(",") if q.strip()]
    if not names:
        raise UsageError("--queues: name at least one queue")
    if pipelines is not None and not pipelines.is_dir():
        raise UsageError(f"--pipelines {pipelines}: not a folder")
    configure_logging(settings)
    logging.getLogger("lockgate").setLevel(logging.INFO)
    serve(settings, names, concurrency, pipelines)


@app.command()
def workers(as_json: bool = JSON) -> None:
    """Live workers: host, queues, slots in use, last heartbeat."""
    rows = [
        {
            "worker": w.worker,
            "host": w.host,
            "pid": w.pid,
            "queues": w.queues,
            "concurrency": w.concurrency,
            "slots_in_use": w.slots_in_use,
            "started_at": _json.iso(w.started_at),
            "heartbeat_at": _json.iso(w.heartbeat),
        }
        for w in _cluster().list_workers()
    ]
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table()
    for column in ("worker", "host", "queues", "slots in use", "last heartbeat"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["worker"],
            row["host"],
            ",".join(row["queues"]),
            f"{row['slots_in_use']}/{row['concurrency']}",
            row["heartbeat_at"] or "",
        )
    _output.console().print(table if rows else "no live workers")


@pools_app.callback()
def pools(ctx: typer.Context, as_json: bool = JSON) -> None:
    """The pools: slots, slots in use, attempts waiting for one."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _cluster().list_pools()
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table()
    for column in ("pool", "slots", "in use", "waiting"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], str(row["slots"]), str(row["in_use"]), str(row["waiting"]))
    _output.console().print(table if rows else "no pools")


@pools_app.command("set")
def pools_set(
    name: str = typer.Argument(..., help="The pool."),
    slots: int = typer.Option(..., "--slots", min=0, help="Attempts of this pool at once, cluster-wide."),
    as_json: bool = JSON,
) -> None:
    """Create a pool or change its slots (attempts already running keep theirs)."""
    _cluster().set_pool(name, slots)
    if as_json:
        emit_json({"name": name, "slots": slots})
    else:
        typer.echo(f"pool {name}: {slots} slots")
