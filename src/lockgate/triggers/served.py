"""What a service serves: a folder loaded file by file, its versions and import errors, and the
registry in the store through which every CLI with the same store sees it.

A file that fails to load (syntax error, NameError, ImportError, a cycle among its steps) is an
import error naming the file and line; the folder's other pipelines are served regardless. A
pipeline's version is the digest of its source file: compiled workflows carry it, so a run says
which version it ran, and a changed file makes a new version without touching runs in flight.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import threading
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.core.errors import CycleError, UsageError
from lockgate.store.schema import served, served_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """A file that could not be served, and where."""

    file: str
    line: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass(slots=True)
class Loaded:
    """A folder as loaded: what it serves, and the files it could not."""

    folder: Path
    items: list[Any] = field(default_factory=list)
    errors: list[ImportProblem] = field(default_factory=list)


def digest(path: Path) -> str:
    """A file's version: the first 12 hex digits of the SHA-256 of its bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class FolderLoader:
    """Loads a pipelines folder again and again, importing only the files that changed."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder).absolute()
        self._versions: dict[Path, str] = {}  # file -> the digest it had when last imported

    def load(self) -> Loaded:
        """Every pipeline of the folder's *.py files and every state machine of its lockgate.toml."""
        from lockgate.dag.loader import forget_file, load_file
        from lockgate.dag.pipeline import Pipeline

        if not self.folder.is_dir():
            raise UsageError(f"--pipelines {self.folder}: no such folder")
        loaded = Loaded(self.folder)
        files = [p for p in sorted(self.folder.glob("*.py")) if not p.name.startswith((".", "_"))]
        for gone in set(self._versions) - set(files):
            forget_file(gone)
            del self._versions[gone]
        names: dict[str, Path] = {}
        for path in files:
            try:
                version = digest(path)
            except OSError as exc:
                loaded.errors.append(ImportProblem(str(path), None, f"cannot read it: {exc.strerror}"))
                continue
            if self._versions.get(path) != version:
                forget_file(path)
                self._versions.pop(path, None)
            try:
                module = load_file(path)
            except UsageError as exc:
                file, line = getattr(exc, "location", (str(path), None))
                loaded.errors.append(ImportProblem(file, line, str(exc)))
                continue
            self._versions[path] = version
            found = [v for v in vars(module).values() if isinstance(v, Pipeline) and v.fn.__module__ == module.__name__]
            for pipeline in dict.fromkeys(found):
                line = inspect.getsourcelines(pipeline.fn)[1] if _has_source(pipeline.fn) else None
                if pipeline.name in names:
                    message = f"pipeline {pipeline.name!r} is defined twice: in {names[pipeline.name]} and in {path}"
                    loaded.errors.append(ImportProblem(str(path), line, message))
                    continue
                cycle = _cycle_of(pipeline)
                if cycle is not None:
                    loaded.errors.append(ImportProblem(str(path), line, cycle))
                    continue
                pipeline.version = version
                names[pipeline.name] = path
                loaded.items.append(pipeline)
        self._machines(loaded, names)
        return loaded

    def _machines(self, loaded: Loaded, names: dict[str, Path]) -> None:
        from lockgate.triggers.state_machines import PROJECT_FILE, load_state_machines

        toml = self.folder / PROJECT_FILE
        try:
            machines = load_state_machines(self.folder)
        except UsageError as exc:
            loaded.errors.append(ImportProblem(str(toml), None, str(exc)))
            return
        for machine in machines:
            if machine.name in names:
                message = f"state machine {machine.name!r} has the name of a Python pipeline in {names[machine.name]}"
                loaded.errors.append(ImportProblem(str(toml), None, message))
                continue
            machine.version = digest(machine.path)
            loaded.items.append(machine)

    def fingerprint(self) -> tuple[Any, ...]:
        """Cheap to compute; changes when a file of the folder (or a state machine definition) does."""
        entries = []
        try:
            paths = sorted(self.folder.iterdir())
        except OSError:
            return ()
        for path in paths:
            if path.suffix in (".py", ".toml", ".json", ".yaml", ".yml") and not path.name.startswith("."):
                try:
                    stat = path.stat()
                except OSError:
                    continue
                entries.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(entries)


def _has_source(fn: Callable[..., Any]) -> bool:
    try:
        inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return False
    return True


def _cycle_of(pipeline: Any) -> str | None:
    """A cycle among the pipeline's steps, found at load: a pipeline that can never run is an
    import error, not a failed run.

    The pipeline function is called in build mode (task calls only add steps: no task body runs)
    with its defaults, and a stand-in value of its annotated type for each parameter that has
    none (see `stand_ins`). A build that fails for another reason may depend on real values, so
    only a cycle is reported here; a run reports the rest.
    """
    try:
        params = {name: p.default for name, p in pipeline.signature.parameters.items()
                  if p.default is not inspect.Parameter.empty}  # fmt: skip
        pipeline.compile({**params, **stand_ins(pipeline)})
    except CycleError as exc:
        return str(exc)
    except Exception:  # other build problems depend on the params of a run: the run reports them
        return None
    return None


def stand_ins(pipeline: Any) -> dict[str, Any]:
    """A value for each parameter without a default, of its annotated type: `False`, `1`, `1.0`,
    `"x"`, today's date or time, `[]`, `{}`, a Literal's first value or an Enum's first member,
    None for an optional one, and "x" where there is no annotation."""
    from lockgate.dag.pipeline import _hints

    hints = _hints(pipeline.fn)
    out = {}
    for name, param in pipeline.signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.default is not inspect.Parameter.empty:
            continue
        out[name] = _stand_in(hints.get(name, Any))
    return out


def _stand_in(hint: Any) -> Any:
    import datetime as dt
    import enum
    import types
    import typing

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        return None if type(None) in options else _stand_in(options[0])
    if origin is typing.Literal:
        return typing.get_args(hint)[0]
    base = origin or hint
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return next(iter(base))
    samples: dict[Any, Any] = {bool: False, int: 1, float: 1.0, str: "x", list: [], tuple: [], dict: {},
                               dt.datetime: dt.datetime.now(dt.UTC), dt.date: dt.date.today()}  # fmt: skip
    return samples.get(base, "x")


# -- the registry --------------------------------------------------------------------------------


def _describe_triggers(item: Any) -> list[str]:
    return [t.describe() if hasattr(t, "describe") else repr(t) for t in item.triggers]


def parameters_of(item: Any) -> list[dict[str, Any]]:
    """A pipeline's typed parameters (name, type, default, required), for forms and the registry."""
    if getattr(item, "kind", "python") != "python":
        return []
    from lockgate.dag.pipeline import _hints

    hints = _hints(item.fn)
    out = []
    for name, param in item.signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        hint = hints.get(name)
        if hint is None:
            type_name = ""
        elif typing.get_origin(hint) is not None:  # Literal['a', 'b'], list[int], int | None
            type_name = str(hint).replace("typing.", "")
        else:
            type_name = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
        required = param.default is inspect.Parameter.empty
        default = None if required else _json.loads(_json.dumps(param.default))
        out.append({"name": name, "type": type_name, "required": required, "default": default})
    return out


def _detail(item: Any) -> dict[str, Any]:
    from lockgate.triggers.upstream import PipelineSucceeded

    out: dict[str, Any] = {
        "max_active_runs": item.max_active_runs,
        "upstream": [t.name for t in item.triggers if isinstance(t, PipelineSucceeded)],
    }
    if getattr(item, "kind", "python") == "asl":
        out.update(machine_summary(item.definition))
    else:
        out["parameters"] = parameters_of(item)
    return out


def machine_summary(definition: dict[str, Any]) -> dict[str, Any]:
    """A state machine's query language and how many states it has (nested ones included)."""

    def count(states: Any) -> int:
        total = 0
        for state in (states or {}).values():
            total += 1
            for branch in state.get("Branches", []) or []:
                total += count(branch.get("States"))
            for key in ("Iterator", "ItemProcessor"):
                if isinstance(state.get(key), dict):
                    total += count(state[key].get("States"))
        return total

    return {"type": str(definition.get("QueryLanguage", "JSONPath")), "states": count(definition.get("States"))}


def source_file(item: Any) -> str:
    if getattr(item, "kind", "python") == "asl":
        return str(Path(item.path).absolute())
    return os.path.abspath(inspect.getsourcefile(item.fn) or "")


class Registry:
    """The `served` and `served_errors` tables: written by services, read by every command."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.engine = runtime.store.engine

    def publish(self, loaded: Loaded, next_runs: dict[str, float], paused: set[str]) -> None:
        """Replace what this folder's service registered by what it serves now, in one transaction."""
        now = self.runtime.clock()
        folder = str(loaded.folder)
        service = self.runtime.owner
        names = [item.name for item in loaded.items]
        rows = [
            {
                "name": item.name,
                "kind": getattr(item, "kind", "python"),
                "source_file": source_file(item),
                "version": item.version,
                "triggers": _json.dumps(_describe_triggers(item)),
                "detail": _json.dumps(_detail(item)),
                "next_run": next_runs.get(item.name),
                "paused": item.name in paused,
                "folder": folder,
                "service": service,
                "home": str(self.runtime.home),
                "updated_at": now,
            }
            for item in loaded.items
        ]
        problems = [{**p.to_json(), "folder": folder, "service": service, "updated_at": now} for p in loaded.errors]
        with self.engine.begin() as conn:
            conn.execute(sa.delete(served).where(sa.or_(served.c.folder == folder, served.c.name.in_(names))))
            conn.execute(sa.delete(served_errors).where(served_errors.c.folder == folder))
            if rows:
                conn.execute(served.insert(), rows)
            if problems:
                conn.execute(served_errors.insert(), problems)

    def set_next_runs(self, next_runs: dict[str, float | None]) -> None:
        if not next_runs:
            return
        with self.engine.begin() as conn:
            for name, at in next_runs.items():
                conn.execute(sa.update(served).where(served.c.name == name).values(next_run=at))

    def rows(self) -> list[dict[str, Any]]:
        """Every registered pipeline and state machine, by name; `paused` is read live."""
        from lockgate.triggers.ledger import Ledger

        paused = Ledger(self.runtime).paused()
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(served).order_by(served.c.name)).all()
        downstream: dict[str, list[str]] = {}
        for row in found:
            for up in _json.loads(row.detail).get("upstream", []):
                downstream.setdefault(up, []).append(row.name)
        return [
            {
                "name": row.name,
                "kind": row.kind,
                "source_file": row.source_file,
                "version": row.version,
                "triggers": _json.loads(row.triggers),
                "next_run": _json.iso(row.next_run) if row.next_run is not None else None,
                "paused": row.name in paused,
                "folder": row.folder,
                "service": row.service,
                "updated_at": _json.iso(row.updated_at),
                **_json.loads(row.detail),
                "downstream": sorted(downstream.get(row.name, [])),
            }
            for row in found
        ]

    def errors(self) -> list[dict[str, Any]]:
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(served_errors).order_by(served_errors.c.file, served_errors.c.id)).all()
        return [{"file": r.file, "line": r.line, "message": r.message, "folder": r.folder} for r in found]

    def folders(self) -> list[str]:
        """Folders services registered, most recently updated first."""
        query = sa.select(served.c.folder, sa.func.max(served.c.updated_at)).group_by(served.c.folder)
        errors = sa.select(served_errors.c.folder, sa.func.max(served_errors.c.updated_at)).group_by(
            served_errors.c.folder
        )
        with self.engine.begin() as conn:
            latest: dict[str, float] = {}
            for folder, at in [*conn.execute(query), *conn.execute(errors)]:
                latest[folder] = max(at, latest.get(folder, at))
        return sorted(latest, key=lambda f: -latest[f])


# -- watching the folder ---------------------------------------------------------------------------


class FolderReloader:
    """The service's side: loads its folder, publishes it, and notices changes (watchdog wakes the
    scheduler at once; each tick compares the folder's fingerprint, so a missed event costs a tick)."""

    def __init__(self, runtime: Any, folder: str | os.PathLike[str]) -> None:
        self.runtime = runtime
        self.loader = FolderLoader(folder)
        self.registry = Registry(runtime)
        self._seen: tuple[Any, ...] = ()
        self._dirty = threading.Event()
        self._observer: Any = None
        self.last: Loaded | None = None

    @property
    def folder(self) -> Path:
        return self.loader.folder

    def load(self) -> Loaded:
        self._seen = self.loader.fingerprint()
        self._dirty.clear()
        self.last = self.loader.load()
        for problem in self.last.errors:
            where = f"{problem.file}:{problem.line}" if problem.line else problem.file
            text = problem.message if problem.message.startswith(problem.file) else f"{where}: {problem.message}"
            log.error("not served: %s", text)
        return self.last

    def changed(self) -> bool:
        return self._dirty.is_set() or self.loader.fingerprint() != self._seen

    def watch(self, wake: Callable[[], None]) -> None:
        """Wake the scheduler when a file of the folder changes (best effort: ticks check anyway)."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return
        dirty = self._dirty

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                dirty.set()
                wake()

        try:
            observer = Observer()
            observer.daemon = True
            observer.schedule(_Handler(), str(self.folder), recursive=False)
            observer.start()
        except OSError as exc:
            log.warning("cannot watch %s for changes (%s); it is checked every tick", self.folder, exc)
            return
        self._observer = observer

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)

    def publish(self, next_runs: dict[str, float], paused: set[str]) -> None:
        if self.last is not None:
            self.registry.publish(self.last, next_runs, paused)


def names_of(items: Iterable[Any]) -> list[str]:
    return sorted(item.name for item in items)
