"""`@pipeline`: a function whose task calls build the graph; calling it runs it durably."""

from __future__ import annotations

import datetime as dt
import enum
import inspect
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from lockgate.core.errors import RunFailed, UsageError
from lockgate.core.model import Workflow
from lockgate.dag.graph import Builder

PIPELINES: dict[str, Pipeline] = {}


class Pipeline:
    """A pipeline definition; `compile(params)` gives the Workflow a run executes."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        timeout: float | None = None,
        triggers: Sequence[Any] = (),
        on_failure: Sequence[str] = (),
        on_success: Sequence[str] = (),
        on_retry: Sequence[str] = (),
        max_active_runs: int | None = None,
        max_active_tasks: int | None = None,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.timeout = timeout
        self.triggers = list(triggers)
        self.on_failure = list(on_failure)
        self.on_success = list(on_success)
        self.on_retry = list(on_retry)
        self.max_active_runs = max_active_runs
        self.version = ""  # the source file's digest, set by the service's loader; runs record it
        if max_active_tasks is not None and max_active_tasks < 1:
            raise UsageError(f"pipeline {self.name}: max_active_tasks {max_active_tasks} must be at least 1")
        self.max_active_tasks = max_active_tasks
        self.signature = inspect.signature(fn)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        PIPELINES[self.name] = self

    @property
    def source(self) -> str:
        """How another process finds this pipeline's code: `file:PATH` or `module:NAME`."""
        module = sys.modules.get(self.fn.__module__)
        path = getattr(module, "__file__", None)
        if path and (self.fn.__module__ == "__main__" or getattr(module, "__lockgate_file__", False)):
            return f"file:{os.path.abspath(path)}"
        return f"module:{self.fn.__module__}"

    def bind(self, params: Mapping[str, Any], *, from_text: bool = False, only_given: bool = False) -> dict[str, Any]:
        """Check and convert parameters against the function's signature.

        With `from_text`, values are strings from a command line, converted by annotation;
        `only_given` checks the given ones alone (no defaults, no missing ones).
        Raises UsageError naming the parameter at fault.
        """
        hints = _hints(self.fn)
        known = self.signature.parameters
        for key in params:
            if key not in known:
                listed = ", ".join(known) or "none"
                raise UsageError(f"pipeline {self.name} has no parameter {key!r} (parameters: {listed})")
        bound: dict[str, Any] = {}
        for name, param in known.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if name in params:
                value = params[name]
                hint = hints.get(name, Any)
                bound[name] = _convert(value, hint, f"pipeline {self.name}: parameter {name!r}", from_text)
            elif only_given:
                continue
            elif param.default is not inspect.Parameter.empty:
                bound[name] = param.default
            else:
                raise UsageError(f"pipeline {self.name}: missing required parameter {name!r}")
        return bound

    def compile(self, params: Mapping[str, Any]) -> Workflow:
        """Run the function in build mode with bound `params` and return its workflow."""
        with Builder(self.name) as builder:
            try:
                output = self.fn(**params)
            except UsageError:
                raise
            except Exception as exc:
                raise UsageError(
                    f"{_where(exc)}building pipeline {self.name} failed: {type(exc).__name__}: {exc}"
                ) from exc
        meta = {
            key: value
            for key, value in (
                ("on_failure", self.on_failure),
                ("on_success", self.on_success),
                ("on_retry", self.on_retry),
                ("max_active_tasks", self.max_active_tasks),
            )
            if value
        }
        if self.version:
            meta["version"] = self.version
        return builder.workflow(output, self.timeout, self.source, meta)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run durably in this process and return the output, or raise RunFailed."""
        from lockgate.runtime import run

        result = run(self, *args, **kwargs)
        if result.status != "SUCCEEDED":
            raise RunFailed(
                f"run {result.run_id} of {self.name} {result.status}: {result.error}: {result.cause}", result
            )
        return result.output

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(
    *,
    name: str | None = None,
    timeout: float | None = None,
    triggers: Sequence[Any] = (),
    on_failure: Sequence[str] = (),
    on_success: Sequence[str] = (),
    on_retry: Sequence[str] = (),
    max_active_runs: int | None = None,
    max_active_tasks: int | None = None,
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | None = None,
    triggers: Sequence[Any] = (),
    on_failure: Sequence[str] = (),
    on_success: Sequence[str] = (),
    on_retry: Sequence[str] = (),
    max_active_runs: int | None = None,
    max_active_tasks: int | None = None,
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make a function a pipeline; `timeout` is the whole run's limit in seconds.

    `max_active_runs`: runs of it at once across every scheduler; `max_active_tasks`: steps of one
    run at once.
    """

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(
            f,
            name=name,
            timeout=timeout,
            triggers=triggers,
            on_failure=on_failure,
            on_success=on_success,
            on_retry=on_retry,
            max_active_runs=max_active_runs,
            max_active_tasks=max_active_tasks,
        )

    return wrap(fn) if fn is not None else wrap


_PACKAGE = Path(__file__).resolve().parents[1]


def _is_lockgate_file(filename: str) -> bool:
    """Whether a frame's file belongs to the installed lockgate package itself.

    Decided by the package's real folder, not by "lockgate" in the path: a user's project or a
    clone of this repository is naturally in a folder named lockgate, and its frames are the
    ones worth naming.
    """
    try:
        return Path(filename).resolve().is_relative_to(_PACKAGE)
    except (OSError, ValueError):
        return False


def _where(exc: BaseException) -> str:
    """`file.py:line: ` of the innermost frame of user code in a traceback."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_lockgate_file(f.filename)]
    if not frames:
        return ""
    frame = frames[-1]
    filename = frame.filename
    try:
        relative = os.path.relpath(filename)
        filename = relative if not relative.startswith("..") else filename
    except ValueError:
        pass
    return f"{filename}:{frame.lineno}: "


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to no conversion
        return {}


_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def _convert(value: Any, hint: Any, where: str, from_text: bool) -> Any:
    origin = typing.get_origin(hint)
    if hint is Any or hint is inspect.Parameter.empty:
        return _parse_json_text(value) if from_text else value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if type(None) in options and (value is None or (from_text and value in ("", "null", "None"))):
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, where, from_text)
            except UsageError as exc:
                errors.append(str(exc))
        raise UsageError(errors[0] if errors else f"{where}: {value!r} does not fit {hint}")
    if origin is typing.Literal:
        return _choose(value, typing.get_args(hint), list(typing.get_args(hint)), where, from_text)
    base = origin or hint
    if isinstance(base, type) and issubclass(base, enum.Enum):
        if isinstance(value, base):
            return value
        members = list(base)
        return _choose(value, [m.value for m in members], members, where, from_text, [m.name for m in members])
    expected = getattr(base, "__name__", str(base))
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if from_text and str(value).lower() in _TRUE | _FALSE:
                return str(value).lower() in _TRUE
        elif base is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if from_text:
                return int(value)
        elif base is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if from_text:
                return float(value)
        elif base is str:
            if isinstance(value, str):
                return value
        elif base is dt.datetime:
            if isinstance(value, dt.datetime):
                return value
            if isinstance(value, str):
                return dt.datetime.fromisoformat(value)
        elif base is dt.date:
            if isinstance(value, dt.date):
                return value
            if isinstance(value, str):
                return dt.date.fromisoformat(value)
        elif base in (list, tuple, dict):
            if from_text and isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise UsageError(
                        f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); a {expected} "
                        "is written as JSON"
                    ) from None
            if isinstance(value, base) or (base is tuple and isinstance(value, list)):
                return value
        else:
            return value
    except UsageError:
        raise
    except (ValueError, TypeError, json.JSONDecodeError):
        pass
    raise UsageError(f"{where}: {value!r} is not a valid {expected}")


def _choose(
    value: Any, allowed: Sequence[Any], results: list[Any], where: str, from_text: bool, names: Sequence[str] = ()
) -> Any:
    """The result for the allowed value `value` equals (a Literal's or an Enum's), or is written
    as from a command line (`3` for 3, an Enum member's name); else UsageError listing them."""
    for option, result in zip(allowed, results, strict=True):
        if value == option and type(value) is type(option):
            return result
    if isinstance(value, str):
        for option, result in zip(allowed, results, strict=True):
            if from_text and value == str(option):
                return result
        for name, result in zip(names, results, strict=False):
            if value == name:
                return result
    listed = ", ".join(repr(option) for option in allowed)
    raise UsageError(f"{where}: {value!r} is not one of {listed}")


def _parse_json_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value
    except RecursionError:
        raise UsageError(f"a parameter value nests too deeply to be read as JSON ({len(value)} characters)") from None
