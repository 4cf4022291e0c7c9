"""What a Task state's `Resource` runs: lockgate tasks, Python callables, HTTP endpoints, mapped AWS ARNs.

    lockgate:task:NAME            a task registered by `register_task`, a `@task` ("module:qualname"
                                  or its name), or one of the task library (`to_parquet`, `validate`,
                                  `crawl`, `query`, `sql_copy`, `spark_submit`, `notify`, ...)
    python:module:function        a callable of a module of the pipelines folder (or the definition's
                                  folder for `lockgate asl run`) or of `[asl] python_modules`; any
                                  other module (os, subprocess, builtins...) is refused
    http:URL / https:URL          POST the payload as JSON, the JSON answer is the result
    arn:...                       looked up in `[asl.resources]` of lockgate.toml (ARN -> one of the above,
                                  or a table: resource = "python:m:f", queue, pool, priority)

The state's effective input is the call's arguments: a JSON object becomes keyword arguments,
anything else one positional argument. `arn:aws:states:::lambda:invoke` looks up
`Parameters.FunctionName` and answers as the service does (`{"Payload": ..., "StatusCode": 200}`);
`arn:aws:states:::sns:publish` publishes to the lockgate topic its TopicArn names (lockgate.notify.sns).
A failure's error name is the exception's (`lockgate.DataQuality` for a DataQualityError, `ConnectionError`,
...), which `States.TaskFailed` and `States.ALL` also match.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.asl import errors as e
from lockgate.core.errors import UsageError, describe

log = logging.getLogger(__name__)

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
SNS_PUBLISH = "arn:aws:states:::sns:publish"
_SUFFIXES = (".sync:2", ".sync", ".waitForTaskToken")
_NAMED: dict[str, Callable[..., Any]] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Route:
    """Where a resource's attempts run on the worker cluster, as `@task(queue=, pool=, priority=)`."""

    queue: str = "default"
    pool: str | None = None
    priority: int = 0


DEFAULT_ROUTE = Route()
_ENTRY_KEYS = ("resource", "queue", "pool", "priority")


def parse_entry(arn: str, value: Any, where: str, queues: Sequence[str] | None) -> tuple[str, Route]:
    """One `[asl.resources]` entry: a target string, or a table with `resource` and its routing.
    UsageError naming `where` and the entry when it is malformed or names an unknown queue."""
    if isinstance(value, str):
        return value, DEFAULT_ROUTE
    entry = f'{where} [asl.resources."{arn}"]'
    if not isinstance(value, Mapping):
        raise UsageError(f'{entry}: must be a target ("python:module:function") or a table with resource = ...')
    unknown = sorted(set(value) - set(_ENTRY_KEYS))
    if unknown:
        raise UsageError(f"{entry}: unknown keys {', '.join(unknown)} (allowed: {', '.join(_ENTRY_KEYS)})")
    target, queue, pool, priority = (value.get(k) for k in _ENTRY_KEYS)
    if not isinstance(target, str) or not target:
        raise UsageError(f'{entry}: needs resource = "python:module:function" (or lockgate:task:NAME, http:URL)')
    if queue is None:
        queue = "default"
    if not isinstance(queue, str):
        raise UsageError(f"{entry}: queue must be a string")
    if queues is not None and queue not in queues:
        raise UsageError(f"{entry}: unknown queue {queue!r} (queues: {', '.join(queues)})")
    if pool is not None and (not isinstance(pool, str) or not pool):
        raise UsageError(f"{entry}: pool must be a name")
    if priority is None:
        priority = 0
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise UsageError(f"{entry}: priority must be a whole number")
    return target, Route(queue, pool, priority)


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A Task state's work as the run's executor runs it: `target` (python:... or
    lockgate:task:...) called with `payload`; `lambda_answer` wraps the result as lambda:invoke does."""

    target: str
    payload: Any
    lambda_answer: bool
    route: Route


class TaskFailure(Exception):
    """A resource call failed with an ASL error name and cause."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(error, cause)
        self.error, self.cause = error, cause


def register_task(name: str, fn: Callable[..., Any]) -> None:
    """Make `fn` callable from a state machine as `lockgate:task:NAME`."""
    if not callable(fn):
        raise TypeError(f"register_task({name!r}): {fn!r} is not callable")
    with _LOCK:
        _NAMED[name] = fn


def find_task(name: str) -> Callable[..., Any] | None:
    """A lockgate task by name: registered, then `@task` keys and names, then `lockgate.tasks.NAME`."""
    if name in _NAMED:
        return _NAMED[name]
    from lockgate.dag.task import REGISTRY

    found = REGISTRY.get(name)
    if found is None:
        matches = [t for t in REGISTRY.values() if t.name == name]
        found = matches[0] if len(matches) == 1 else None
    if found is not None:
        return found.fn
    from lockgate.tasks import _EXPORTS  # built-in tasks whose module has another name (spark_status)

    if name in _EXPORTS:
        name = f"{_EXPORTS[name].rpartition('.')[2]}.{name}"
    module_name, _, attribute = name.partition(".")
    if not module_name.isidentifier():
        return None
    try:
        module = importlib.import_module(f"lockgate.tasks.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("lockgate.tasks"):
            return None
        raise
    if name in _NAMED:  # the module registered itself
        return _NAMED[name]
    fn = getattr(module, attribute or module_name, None)
    if fn is not None and hasattr(fn, "fn"):  # a @task object
        fn = fn.fn
    return fn if callable(fn) else None


def task_source(name: str) -> str:
    """The pipeline file (`file:PATH`) of the `@task` that `lockgate:task:NAME` names in this
    process, so another process (an executor's, a worker) imports it first; "" for built-in and
    registered tasks and for names this process does not know."""
    if name in _NAMED:
        return ""
    from lockgate.dag.task import REGISTRY

    found = REGISTRY.get(name)
    if found is None:
        matches = [t for t in REGISTRY.values() if t.name == name]
        found = matches[0] if len(matches) == 1 else None
    module = sys.modules.get(getattr(getattr(found, "fn", None), "__module__", "") or "")
    file = getattr(module, "__file__", None)
    return f"file:{file}" if file and file.endswith(".py") else ""


_FOLDERS: set[Path] = set()
_POLICIES: dict[tuple[Any, ...], PythonPolicy] = {}


def _policy_key() -> tuple[Any, ...]:
    """What PythonPolicy.from_settings() depends on, cheaply: the settings file and its change
    time, the overrides of its two keys, and the folders and pipeline files this process allows."""
    named = os.environ.get("LOCKGATE_CONFIG")
    path = named or os.path.join(os.getcwd(), "lockgate.toml")
    try:
        changed: int | None = os.stat(path).st_mtime_ns
    except OSError:
        changed = None
    from lockgate.dag.loader import _FILE_MODULES

    return (
        path,
        changed,
        os.environ.get("LOCKGATE_ASL__PYTHON_MODULES"),
        os.environ.get("LOCKGATE_SERVICE__PIPELINES"),
        len(_FOLDERS),
        len(_FILE_MODULES),
    )


def allow_folder(path: str | os.PathLike[str]) -> None:
    """Let `python:` resources run modules of this folder (the pipelines folder a service loads,
    the folder of a definition `lockgate asl run` runs)."""
    with _LOCK:
        _FOLDERS.add(Path(path).resolve())


class PythonPolicy:
    """Which modules `python:module:function` may name: those of the allowed folders and those
    listed in `[asl] python_modules` (a listed package allows its submodules). A definition is
    data anyone with the operator role may submit; without this, `python:os:system` would run
    a shell command as the service's user."""

    def __init__(self, modules: tuple[str, ...] = (), folders: tuple[Path, ...] = ()) -> None:
        self.modules = modules
        self.folders = folders

    @classmethod
    def from_settings(cls, settings: Any = None) -> PythonPolicy:
        if settings is None:
            from lockgate.config import load

            settings = load()
        listed = settings.get("asl", "python_modules", []) or []
        modules = tuple(str(m) for m in ([listed] if isinstance(listed, str) else listed))
        folders = set(_FOLDERS)
        configured = settings.get("service", "pipelines", None)
        if configured:
            folders.add(Path(str(configured)).resolve())
        from lockgate.dag.loader import _FILE_MODULES  # pipeline files this process loaded

        folders.update(Path(file).parent for file in list(_FILE_MODULES))
        return cls(modules, tuple(sorted(folders)))

    def refusal(self, target: str) -> str | None:
        """Why `python:<target>` may not run, or None when it may."""
        module = target.partition(":")[0]
        if not module or not all(part.isidentifier() for part in module.split(".")):
            return f"python:{target}: {module!r} is not a module name"
        if any(module == m or module.startswith(m + ".") for m in self.modules):
            return None
        where = _module_files(module.split(".")[0])
        if where is None:
            return None  # found nowhere: importing it fails (lockgate.ImportFailed), running nothing
        if where and all(any(f.is_relative_to(folder) for folder in self.folders) for f in where):
            return None
        return (
            f"python:{target}: module {module} is not in the pipelines folder nor in [asl] python_modules "
            "of lockgate.toml, so it may not run"
        )


def _module_files(name: str) -> list[Path] | None:
    """Where a top-level module would be imported from (without importing it); None if it is found
    nowhere, [] if it has no file (built in, frozen)."""
    try:
        spec = sys.modules[name].__spec__ if name in sys.modules else importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None
    if spec is None:
        return None
    places = list(spec.submodule_search_locations or [])
    if spec.origin and spec.has_location:
        places.append(spec.origin)
    return [Path(p).resolve() for p in places]


def _states(definition: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state of a definition, nested ones too (Parallel branches, Map processors)."""
    stack = [definition]
    while stack:
        machine = stack.pop()
        states = machine.get("States") if isinstance(machine, dict) else None
        if not isinstance(states, dict):
            continue
        for name, state in states.items():
            if not isinstance(state, dict):
                continue
            yield str(name), state
            stack.extend(b for b in state.get("Branches") or [] if isinstance(b, dict))
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(key), dict):
                    stack.append(state[key])


def _import(target: str, folders: tuple[str, ...] = ()) -> Callable[..., Any]:
    """The callable `module:function` names, its module looked up in `folders` first (then sys.path)."""
    module_name, _, attribute = target.partition(":")
    with _LOCK:
        for folder in reversed(folders):
            if folder not in sys.path:
                sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        where = f" (looked in {', '.join(folders)} and the import path)" if folders else ""
        raise TaskFailure(
            e.IMPORT_FAILED, f"python:{target}: cannot import the module {module_name}: {exc}{where}"
        ) from None
    fn: Any = module
    for part in attribute.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise TaskFailure(
            e.TASK_FAILED, f"python:{target}: {attribute or '(no function)'} is not a callable of {module_name}"
        )
    return fn  # type: ignore[no-any-return]


def _call(fn: Callable[..., Any], payload: Any) -> Any:
    try:
        if isinstance(payload, dict) and all(isinstance(k, str) and k.isidentifier() for k in payload):
            result = fn(**payload)
        else:
            result = fn(payload)
    except Exception as exc:
        info = describe(exc)
        raise TaskFailure(info.name, info.cause) from exc
    try:
        return json.loads(json.dumps(result, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TaskFailure(e.RUNTIME, f"the task's result is not JSON: {exc}") from None


def _json_default(value: Any) -> Any:
    from lockgate._json import _default

    return _default(value)


def _items(action: str, payload: Any) -> Any:
    from lockgate.asl.items import ItemsError, read_items, write_results

    try:
        if action == "items:read":
            return read_items(payload["Resource"], payload.get("Parameters") or {}, payload.get("ReaderConfig") or {})
        return write_results(
            payload["Resource"],
            payload.get("Parameters") or {},
            payload["Results"],
            payload["Run"],
            payload.get("MapRunArn"),
        )
    except ItemsError as exc:
        raise TaskFailure(exc.error, exc.cause) from None


def _http(url: str, payload: Any, token: str) -> Any:
    import httpx

    try:
        response = httpx.post(url, json=payload, headers={"X-Lockgate-Task-Token": token}, timeout=300)
    except httpx.HTTPError as exc:
        raise TaskFailure("lockgate.HTTPError", f"POST {url}: {exc}") from None
    if response.status_code >= 400:
        raise TaskFailure(f"lockgate.HTTP{response.status_code}", f"POST {url}: {response.text[:1000]}")
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class Resources:
    """Runs `Invoke` commands by resource; `mapping` is `[asl.resources]` (ARN -> target)."""

    def __init__(
        self,
        mapping: Mapping[str, Any] | None = None,
        folders: Sequence[str | Path] = (),
        policy: PythonPolicy | None = None,
        *,
        queues: Sequence[str] | None = None,
        where: str = "lockgate.toml",
    ) -> None:
        # entries as configured (a target, or a table with routing), checked against `queues`
        self.entries: dict[str, Any] = dict(mapping or {})
        self.mapping: dict[str, str] = {}
        self.routes: dict[str, Route] = {}
        for arn, value in self.entries.items():
            self.mapping[arn], route = parse_entry(arn, value, where, queues)
            if route != DEFAULT_ROUTE:
                self.routes[arn] = route
        # where python:module:function modules are found first: the definition's folder, the pipelines folder
        self.folders = tuple(dict.fromkeys(str(Path(folder).resolve()) for folder in folders))
        self._policy = policy

    @property
    def policy(self) -> PythonPolicy:
        """The modules `python:` may run: the policy's, and those of the folders this map looks in
        first (the definition's folder, the pipelines folder)."""
        if self._policy is None:
            self._policy = PythonPolicy.from_settings()
        if self.folders and not set(map(Path, self.folders)) <= set(self._policy.folders):
            extra = tuple(Path(folder) for folder in self.folders)
            self._policy = PythonPolicy(self._policy.modules, tuple(sorted({*self._policy.folders, *extra})))
        return self._policy

    @classmethod
    def from_settings(cls, settings: Any = None, folders: Sequence[str | Path] = ()) -> Resources:
        """`[asl.resources]` of the settings; modules found in `folders`, then the pipelines folder."""
        if settings is None:
            from lockgate.config import load

            settings = load()
        from lockgate.triggers.project import default_folder

        table = settings.table("asl").get("resources") or {}
        pipelines = settings.get("service", "pipelines") or default_folder()
        where = str(settings.source) if getattr(settings, "source", None) else "lockgate.toml"
        return cls(
            {str(k): v for k, v in table.items()},
            [*folders, pipelines],
            PythonPolicy.from_settings(settings),
            queues=settings.queues(),
            where=where,
        )

    @classmethod
    def for_attempt(cls, folders: Sequence[str | Path] = ()) -> Resources:
        """What an executor runs an ASL Task's resource with: no map (the driver resolved it), the
        `python:` policy of this process's settings, `folders` searched (and allowed) first.

        Reading the settings costs more than a small task (about 0.2 ms, more with threads
        contending), so the policy is kept while the settings file, the overrides that name
        the policy's keys, and the folders this process allows stay the same."""
        key = _policy_key()
        with _LOCK:
            policy = _POLICIES.get(key)
        if policy is None:
            policy = PythonPolicy.from_settings()
            with _LOCK:
                if len(_POLICIES) > 16:
                    _POLICIES.clear()
                _POLICIES[key] = policy
        return cls({}, [f for f in folders if os.path.isdir(f)], policy)

    def dispatch(self, resource: str, payload: Any) -> Dispatch | None:
        """The call the run's executor makes for this Task resource, when it runs lockgate or
        `python:` code (also through the map or lambda:invoke's FunctionName); None for what
        the driver does itself (HTTP, SNS, nested executions, activities, `.waitForTaskToken`)."""
        if resource.endswith(".waitForTaskToken"):
            return None
        base = resource
        for suffix in _SUFFIXES:
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        route, answer, target = DEFAULT_ROUTE, False, base
        if base.startswith("arn:"):
            key = self._key(resource)
            if base == LAMBDA_INVOKE and resource not in self.mapping:
                name = payload.get("FunctionName") if isinstance(payload, dict) else None
                if not isinstance(name, str):
                    return None
                key = self._key(name)
                if key is None and ":" not in name:
                    key = next((arn_ for arn_ in self.mapping if arn_.rsplit(":", 1)[-1] == name), None)
                answer, payload = True, payload.get("Payload")
            elif base in (SNS_PUBLISH, "arn:aws:states:::states:startExecution") and resource not in self.mapping:
                return None
            if key is None:
                return None
            target, route = self.mapping[key], self.routes.get(key, DEFAULT_ROUTE)
        if target.startswith("python:") or target.startswith("lockgate:task:"):
            return Dispatch(target, payload, answer, route)
        return None

    def _key(self, arn: str) -> str | None:
        """The map entry an ARN (maybe with a suffix) is found under."""
        if arn in self.mapping:
            return arn
        for suffix in _SUFFIXES:
            if arn.endswith(suffix) and arn[: -len(suffix)] in self.mapping:
                return arn[: -len(suffix)]
        return None

    def _python_target(self, resource: str, state: dict[str, Any]) -> str | None:
        """The `python:` target a Task's resource runs (through `[asl.resources]` and Lambda
        FunctionName too), when it is known before running."""
        for suffix in _SUFFIXES:
            if resource.endswith(suffix):
                resource = resource[: -len(suffix)]
        if resource.startswith("arn:"):
            target = self._lookup(resource)
            if target is None and resource == LAMBDA_INVOKE:
                name = (state.get("Parameters") or state.get("Arguments") or {}).get("FunctionName")
                if isinstance(name, str):
                    target = self._lookup(name) or next(
                        (t for arn_, t in self.mapping.items() if arn_.rsplit(":", 1)[-1] == name), None
                    )
            resource = target or ""
        return resource[len("python:") :] if resource.startswith("python:") else None

    def refusals(self, definition: Any) -> list[str]:
        """One message per Task state (nested ones too) whose `python:` resource names a module
        that may not run: `state NAME: python:os:system: module os is not ...`."""
        out = []
        for name, state in _states(definition):
            resource = state.get("Resource")
            if state.get("Type") != "Task" or not isinstance(resource, str):
                continue
            target = self._python_target(resource, state)
            why = self.policy.refusal(target) if target is not None else None
            if why is not None:
                out.append(f"state {name}: {why}")
        return out

    def call(self, resource: str, payload: Any, token: str = "") -> Any:
        """The resource's result; raises TaskFailure with the error Retry and Catch will see."""
        if resource.startswith("arn:"):
            return self._arn(resource, payload, token)
        for suffix in _SUFFIXES:  # lockgate:task:NAME.waitForTaskToken runs NAME
            if resource.endswith(suffix):
                resource = resource[: -len(suffix)]
        return self._target(resource, payload, token)

    def _target(self, target: str, payload: Any, token: str) -> Any:
        kind, _, rest = target.partition(":")
        if kind == "lockgate" and rest in ("items:read", "items:write"):
            return _items(rest, payload)
        if kind == "lockgate" and rest.startswith("task:"):
            name = rest[len("task:") :]
            fn = find_task(name)
            if fn is None:
                raise TaskFailure(
                    e.TASK_FAILED, f"no lockgate task named {name!r} (register it with register_task or @task)"
                )
            return _call(fn, payload)
        if kind == "python":
            why = self.policy.refusal(rest)
            if why is not None:
                raise TaskFailure(e.IMPORT_FAILED, why)  # a refusal, like a missing module, is never retried
            return _call(_import(rest, self.folders), payload)
        if kind in ("http", "https"):
            url = target if rest.startswith("//") else rest
            return _http(url, payload, token)
        raise TaskFailure(
            e.TASK_FAILED, f"resource {target!r} is not lockgate:task:NAME, python:module:function, http:URL or an ARN"
        )

    def _lookup(self, arn: str) -> str | None:
        if arn in self.mapping:
            return self.mapping[arn]
        for suffix in _SUFFIXES:
            if arn.endswith(suffix) and arn[: -len(suffix)] in self.mapping:
                return self.mapping[arn[: -len(suffix)]]
        return None

    def _arn(self, arn: str, payload: Any, token: str) -> Any:
        base = arn
        for suffix in _SUFFIXES:
            if arn.endswith(suffix):
                base = arn[: -len(suffix)]
        if base == LAMBDA_INVOKE and arn not in self.mapping:
            return self._lambda_invoke(arn, payload, token)
        if base == SNS_PUBLISH and arn not in self.mapping:
            from lockgate.notify.sns import PublishError, publish

            try:
                return publish(payload)
            except PublishError as exc:
                raise TaskFailure(exc.error, exc.cause) from None
        if base == "arn:aws:states:::states:startExecution" and arn not in self.mapping:
            from lockgate.asl.nested import start_execution

            return start_execution(arn, payload, self.mapping, token)
        target = self._lookup(arn)
        if target is None:
            raise TaskFailure(
                e.TASK_FAILED, f"resource {arn} is not mapped; add it to [asl.resources] in lockgate.toml"
            )
        return self._target(target, payload, token)

    def _lambda_invoke(self, arn: str, payload: Any, token: str) -> Any:
        name = payload.get("FunctionName") if isinstance(payload, dict) else None
        if not isinstance(name, str):
            raise TaskFailure(e.TASK_FAILED, f"{arn}: Parameters.FunctionName must name the function")
        target = self._lookup(name)
        if target is None and ":" not in name:
            target = next((t for arn_, t in self.mapping.items() if arn_.rsplit(":", 1)[-1] == name), None)
        if target is None:
            raise TaskFailure(
                e.TASK_FAILED,
                f"Lambda function {name} (via {arn}) is not mapped; add it to [asl.resources] in lockgate.toml",
            )
        result = self._target(target, payload.get("Payload"), token)
        return {"Payload": result, "StatusCode": 200, "ExecutedVersion": "$LATEST"}
