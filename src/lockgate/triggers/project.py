"""A folder of pipelines as the service sees it: loading every file, and how pipelines depend on each other."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.core.errors import UsageError
from lockgate.triggers.upstream import PipelineSucceeded


def default_folder() -> Path:
    """`pipelines/` when it exists, else the current folder."""
    return Path("pipelines") if Path("pipelines").is_dir() else Path(".")


def load_pipelines(folder: str | os.PathLike[str] | None) -> list[Any]:
    """Every @pipeline defined by the *.py files of `folder` (not its subfolders), by file name order.

    Raises UsageError naming the folder when it is missing, a file when it cannot be imported,
    and both files when two pipelines share a name.
    """
    from lockgate.dag.loader import load_file
    from lockgate.dag.pipeline import Pipeline

    where = Path(folder) if folder is not None else default_folder()
    if not where.is_dir():
        raise UsageError(f"--pipelines {where}: no such folder")
    found: dict[str, tuple[Any, Path]] = {}
    for path in sorted(where.glob("*.py")):
        if path.name.startswith((".", "_")):
            continue
        module = load_file(path)
        for value in vars(module).values():
            if isinstance(value, Pipeline) and value.fn.__module__ == module.__name__:
                other = found.get(value.name)
                if other is not None and other[0] is not value:
                    raise UsageError(f"pipeline {value.name!r} is defined twice: in {other[1]} and in {path}")
                found[value.name] = (value, path)
    return [pipeline for pipeline, _ in found.values()]


def load_project(folder: str | os.PathLike[str] | None) -> list[Any]:
    """The folder's Python pipelines and the state machines of its lockgate.toml (see
    lockgate.triggers.state_machines); UsageError when a name is used by both."""
    from lockgate.triggers.state_machines import load_state_machines

    pipelines = load_pipelines(folder)
    where = Path(folder) if folder is not None else default_folder()
    machines = load_state_machines(where)
    names = {p.name for p in pipelines}
    for machine in machines:
        if machine.name in names:
            raise UsageError(
                f"{where / 'lockgate.toml'}: state machine {machine.name!r} "
                f"has the name of a Python pipeline in {where}"
            )
    return pipelines + machines


def find_pipeline(pipelines: list[Any], name: str, folder: str | os.PathLike[str] | None) -> Any:
    for pipeline in pipelines:
        if pipeline.name == name:
            return pipeline
    names = ", ".join(sorted(p.name for p in pipelines)) or "none"
    where = folder if folder is not None else default_folder()
    raise UsageError(f"no pipeline {name!r} in {where} (pipelines there: {names})")


def describe_pipelines(pipelines: list[Any], paused: set[str]) -> list[dict[str, Any]]:
    """Each pipeline's (or state machine's) kind, triggers, pause state and upstream/downstream
    pipelines (by PipelineSucceeded)."""
    upstream = {p.name: [t.name for t in p.triggers if isinstance(t, PipelineSucceeded)] for p in pipelines}
    downstream: dict[str, list[str]] = {p.name: [] for p in pipelines}
    for name, ups in upstream.items():
        for up in ups:
            downstream.setdefault(up, []).append(name)
    return [
        {
            "name": p.name,
            "kind": getattr(p, "kind", "python"),
            "triggers": [t.describe() if hasattr(t, "describe") else repr(t) for t in p.triggers],
            "paused": p.name in paused,
            "max_active_runs": p.max_active_runs,
            "upstream": upstream[p.name],
            "downstream": sorted(downstream.get(p.name, [])),
        }
        for p in sorted(pipelines, key=lambda p: p.name)
    ]


NO_SERVICE_HINT = (
    "no service has registered pipelines in this store; start `lockgate serve --pipelines DIR` "
    "with the same LOCKGATE_HOME (or LOCKGATE_DATABASE_URL), pass --pipelines DIR, "
    'or set [service] pipelines = "DIR" in lockgate.toml'
)


@dataclass(slots=True)
class Source:
    """Where a command found the pipelines it names: a folder, and how it was chosen
    (`--pipelines`, `lockgate.toml`, `registry` or `default`), with the registry's rows when
    that is where it looked."""

    folder: Path | None
    origin: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def label(self) -> str:
        if self.origin == "registry":
            return f"the pipelines a service serves from {self.folder}"
        return str(self.folder)


def configured_folder(settings: Any) -> Path | None:
    """`[service] pipelines` of the settings, relative to the lockgate.toml that sets it."""
    value = settings.get("service", "pipelines")
    if not value:
        return None
    path = Path(str(value))
    if not path.is_absolute() and settings.source is not None:
        path = Path(settings.source).parent / path
    return path


def find_source(option: Path | None, runtime: Any, settings: Any = None) -> Source:
    """Where the CLI finds pipelines: `--pipelines DIR`, else `[service] pipelines` of lockgate.toml,
    else what a running service registered in the store, else ./pipelines/ or .

    `runtime` is None where there is no home yet: then no service has registered anything, and
    `settings` are the ones to read."""
    if option is not None:
        return Source(Path(option), "--pipelines")
    settings = runtime.settings if runtime is not None else settings
    configured = configured_folder(settings)
    if configured is not None:
        if not configured.is_dir():
            raise UsageError(f"{settings.source}: [service] pipelines {configured}: no such folder")
        return Source(configured, "lockgate.toml")
    if runtime is None:
        return Source(default_folder(), "default")
    from lockgate.triggers.served import Registry

    registry = Registry(runtime)
    folders = registry.folders()
    if folders:
        return Source(Path(folders[0]), "registry", registry.rows(), registry.errors())
    return Source(default_folder(), "default")
