"""State machines the service serves: `[asl.state_machines.NAME]` tables of a folder's lockgate.toml.

    [asl.state_machines.orders]
    definition = "orders.asl.json"          # JSON or YAML, relative to the folder
    cron = "0 6 * * *"                      # or interval = 60 (seconds)
    timezone = "Europe/Paris"
    catchup = false
    file_arrival = {uri = "landing/", pattern = "*.csv"}
    manifest = {uri = "s3://feeds/in/", pattern = "manifest*.json"}
    pipeline_succeeded = "ingest"           # a name or a list of names
    dataset_updated = "s3://lake/orders/"   # a URI or a list of URIs
    max_active_runs = 2
    on_failure = ["ops"]
    on_success = ["reports"]
    on_retry = ["ops"]                      # each Retrier that fires

A state machine stands beside the folder's Python pipelines: the scheduler queues its runs
(kind "asl") with the same idempotency keys, and starting one starts a durable execution
(lockgate.asl.durable) whose input is the trigger's event (see `execution_input`).
"""

from __future__ import annotations

import inspect
import json
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lockgate.core.errors import UsageError

PROJECT_FILE = "lockgate.toml"
KIND = "asl"
_TRIGGER_KEYS = ("cron", "interval", "file_arrival", "manifest", "pipeline_succeeded", "dataset_updated")
_SCHEDULE_KEYS = ("timezone", "catchup", "start_date")
_OTHER_KEYS = ("definition", "max_active_runs", "on_failure", "on_success", "on_retry", "description")
_ARRIVAL_KEYS = ("uri", "pattern", "prefix", "settle_seconds", "poll_interval")
_ANY_PARAMS = inspect.Signature([inspect.Parameter("params", inspect.Parameter.VAR_KEYWORD)])


class StateMachine:
    """A served state machine: what the scheduler, `lockgate pipelines` and `lockgate trigger` need."""

    kind = KIND
    signature = _ANY_PARAMS  # the trigger's values are all kept: they make the execution input
    timeout = None

    def __init__(
        self,
        name: str,
        definition: dict[str, Any],
        path: Path,
        *,
        triggers: list[Any],
        on_failure: list[str],
        on_success: list[str],
        max_active_runs: int | None,
        resources: Mapping[str, Any],
        on_retry: list[str] | None = None,
    ) -> None:
        self.name = name
        self.definition = definition
        self.path = path
        self.triggers = triggers
        self.on_failure = on_failure
        self.on_success = on_success
        self.on_retry = list(on_retry or [])
        self.max_active_runs = max_active_runs
        self.project_resources = dict(resources)
        self.version = ""  # the definition file's digest, set by the service's loader

    def __repr__(self) -> str:
        return f"<state machine {self.name} ({self.path})>"

    @property
    def meta(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("on_failure", self.on_failure),
                ("on_success", self.on_success),
                ("on_retry", self.on_retry),
                ("version", self.version),
            )
            if v
        }

    def bind(self, params: Mapping[str, Any], *, from_text: bool = False) -> dict[str, Any]:
        """The run's params; `--param k=v` values given as text are read as JSON when they are JSON."""
        if not from_text:
            return dict(params)
        out: dict[str, Any] = {}
        for key, value in params.items():
            try:
                out[key] = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                out[key] = value
        return out

    @staticmethod
    def execution_input(params: Mapping[str, Any]) -> Any:
        """A file, manifest or upstream trigger's `event` itself; otherwise the params as one object
        (a schedule's `logical_date` and data interval, or `lockgate trigger --param` values)."""
        if set(params) == {"event"}:
            return params["event"]
        return dict(params)

    def resources(self, runtime: Any) -> Any:
        """The resource map: `[asl.resources]` of the settings, then of the folder's lockgate.toml."""
        from lockgate.asl.resources import Resources

        configured = Resources.from_settings(runtime.settings)
        mapping = dict(configured.entries)
        mapping.update(self.project_resources)
        return Resources(mapping, policy=configured.policy, queues=runtime.settings.queues())

    def start_claimed(self, runtime: Any, record: Any, park: Callable[[float], bool] | None = None) -> dict[str, Any]:
        """Start a queued run this process claimed as a durable execution and drive it to its end
        (or until `park` takes it: see lockgate.asl.driver.drive)."""
        from lockgate.asl import durable

        return durable.start_claimed(
            runtime,
            record,
            self.definition,
            self.execution_input(record.params),
            meta=self.meta,
            resources=self.resources(runtime),
            park=park,
        )

    def resume(
        self, runtime: Any, run_id: str, park: Callable[[float], bool] | None = None, own: bool = False
    ) -> dict[str, Any]:
        """Continue an execution whose process died (timers keep their due times), or, with `own`,
        one this process parked."""
        from lockgate.asl import durable

        return durable.resume(runtime, run_id, resources=self.resources(runtime), park=park, own=own)

    def run_here(self, runtime: Any, params: Mapping[str, Any], idempotency_key: str | None) -> tuple[str, Any]:
        """Queue a run, claim it and drive it in this process (`lockgate trigger --wait`): (run id, result)."""
        run_id = runtime.enqueue(self.name, dict(params), kind=KIND, idempotency_key=idempotency_key)
        if run_id is None:
            assert idempotency_key is not None
            found = runtime.store.find_by_key(idempotency_key)
            return found.run_id, None
        claimed = [r for r in runtime.claim_queued(1_000_000, [self.name]) if r.run_id == run_id]
        if not claimed:
            raise UsageError(f"run {run_id} of {self.name} was started by another process (a running scheduler)")
        return run_id, self.start_claimed(runtime, claimed[0])


def _names(value: Any, where: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise UsageError(f"{where}: expected a name or a list of names, not {value!r}")
    return list(values)


def _arrivals(value: Any, where: str, folder: Path, cls: type) -> list[Any]:
    tables = value if isinstance(value, list) else [value]
    out = []
    for i, table in enumerate(tables):
        here = f"{where}[{i}]" if isinstance(value, list) else where
        if not isinstance(table, dict) or "uri" not in table:
            raise UsageError(f'{here}: expected a table like {{uri = "landing/", pattern = "*.csv"}}')
        unknown = sorted(set(table) - set(_ARRIVAL_KEYS))
        if unknown:
            raise UsageError(f"{here}: unknown keys {', '.join(unknown)} (allowed: {', '.join(_ARRIVAL_KEYS)})")
        uri = str(table["uri"])
        if "://" not in uri and not os.path.isabs(uri):
            uri = str((folder / uri).absolute())  # relative folders are relative to the project file
        try:
            out.append(cls(**{**table, "uri": uri}))
        except TypeError as exc:
            raise UsageError(f"{here}: {exc}") from None
    return out


def _triggers(body: dict[str, Any], where: str, folder: Path) -> list[Any]:
    from lockgate.triggers.files import FileArrival
    from lockgate.triggers.manifests import Manifest
    from lockgate.triggers.schedule import Cron, Interval
    from lockgate.triggers.upstream import DatasetUpdated, PipelineSucceeded

    triggers: list[Any] = []
    schedule = {k: body[k] for k in _SCHEDULE_KEYS if k in body}
    if "catchup" in schedule and not isinstance(schedule["catchup"], bool):
        raise UsageError(f"{where}: catchup must be true or false")
    if schedule and "cron" not in body and "interval" not in body:
        raise UsageError(f"{where}: {', '.join(schedule)} apply to a cron or interval trigger, and there is none")
    if "cron" in body:
        for expr in _names(body["cron"], f"{where}: cron"):
            triggers.append(Cron(expr, **schedule))
    if "interval" in body:
        seconds = body["interval"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise UsageError(f"{where}: interval must be a number of seconds, not {seconds!r}")
        triggers.append(Interval(float(seconds), **schedule))
    if "file_arrival" in body:
        triggers += _arrivals(body["file_arrival"], f"{where}: file_arrival", folder, FileArrival)
    if "manifest" in body:
        triggers += _arrivals(body["manifest"], f"{where}: manifest", folder, Manifest)
    for name in _names(body.get("pipeline_succeeded", []), f"{where}: pipeline_succeeded"):
        triggers.append(PipelineSucceeded(name))
    for uri in _names(body.get("dataset_updated", []), f"{where}: dataset_updated"):
        triggers.append(DatasetUpdated(uri))
    return triggers


def _definition(path: Path, where: str) -> dict[str, Any]:
    from lockgate.asl import definition, validate

    loaded = definition.load(path)
    problems = validate.validate(loaded)
    if problems:
        raise UsageError(f"{where}: {path}: invalid state machine definition:\n  " + "\n  ".join(map(str, problems)))
    return loaded


def read_project(folder: Path) -> dict[str, Any]:
    """The folder's lockgate.toml as a dict ({} when there is none); UsageError naming its line."""
    path = folder / PROJECT_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it: {exc}") from None


def load_state_machines(folder: str | os.PathLike[str]) -> list[StateMachine]:
    """The `[asl.state_machines.NAME]` of `folder`/lockgate.toml, by name; UsageError naming the file,
    the state machine and the key at fault (definitions are validated here)."""
    where_folder = Path(folder)
    project = read_project(where_folder)
    asl = project.get("asl", {})
    declared = asl.get("state_machines", {}) if isinstance(asl, dict) else {}
    file = where_folder / PROJECT_FILE
    if not isinstance(declared, dict):
        raise UsageError(f"{file}: asl.state_machines must be a table of state machines")
    resources = asl.get("resources") or {}
    if not isinstance(resources, dict):
        raise UsageError(f"{file}: asl.resources must be a table (ARN = target)")
    from lockgate.asl.resources import parse_entry
    from lockgate.config import load

    settings = load()
    queues = settings.queues()
    configured = settings.table("asl").get("resources") or {}
    for arn, value in configured.items() if isinstance(configured, dict) else ():
        parse_entry(str(arn), value, str(settings.source or "lockgate.toml"), queues)
    for arn, value in resources.items():
        parse_entry(str(arn), value, str(file), queues)  # an unknown queue is refused when loaded
    machines = []
    for name, body in sorted(declared.items()):
        where = f"{file}: asl.state_machines.{name}"
        if not isinstance(body, dict):
            raise UsageError(f"{where} must be a table")
        unknown = sorted(set(body) - {*_TRIGGER_KEYS, *_SCHEDULE_KEYS, *_OTHER_KEYS})
        if unknown:
            allowed = ", ".join(sorted({*_TRIGGER_KEYS, *_SCHEDULE_KEYS, *_OTHER_KEYS}))
            raise UsageError(f"{where}: unknown keys {', '.join(unknown)} (allowed: {allowed})")
        if not isinstance(body.get("definition"), str):
            raise UsageError(f'{where}: needs definition = "FILE.asl.json" (JSON or YAML, relative to {folder})')
        path = Path(body["definition"])
        path = path if path.is_absolute() else where_folder / path
        limit = body.get("max_active_runs")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise UsageError(f"{where}: max_active_runs must be a whole number above 0")
        machines.append(
            StateMachine(
                name,
                _definition(path, where),
                path,
                triggers=_triggers(body, where, where_folder),
                on_failure=_names(body.get("on_failure", []), f"{where}: on_failure"),
                on_success=_names(body.get("on_success", []), f"{where}: on_success"),
                max_active_runs=limit,
                resources={str(k): v for k, v in resources.items()},
                on_retry=_names(body.get("on_retry", []), f"{where}: on_retry"),
            )
        )
    return machines
