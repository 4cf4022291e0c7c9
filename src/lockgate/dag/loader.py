"""Finding user code: `path/to/file.py:name` or `package.module:name`, and tasks by key."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from lockgate.core.errors import UsageError
from lockgate.dag.task import REGISTRY, Task

# Files imported so far, published only once their code has run to the end.
_FILE_MODULES: dict[str, ModuleType] = {}
# One lock per file: a thread that finds a file being imported waits for that import to end,
# instead of finding the module in sys.modules half-initialised (and its later tasks missing).
_FILE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def load_file(path: str | os.PathLike[str]) -> ModuleType:
    """Import a Python file as a module named after it, its folder first on sys.path.

    Safe to call from many threads at once: each file is executed once, and no caller gets the
    module before its code has finished running.
    """
    file = Path(path).resolve()
    module = _FILE_MODULES.get(str(file))
    if module is not None:
        return module
    with _LOCKS_LOCK:
        lock = _FILE_LOCKS.setdefault(str(file), threading.Lock())
    with lock:
        module = _FILE_MODULES.get(str(file))
        if module is None:
            module = _import_file(path, file)
            _FILE_MODULES[str(file)] = module
        return module


def _import_file(path: str | os.PathLike[str], file: Path) -> ModuleType:
    if not file.is_file():
        raise UsageError(f"{path}: no such file")
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = file.stem
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) and Path(existing.__file__).resolve() == file:  # type: ignore[arg-type]
        module = existing
    else:
        spec = importlib.util.spec_from_file_location(name, file)
        if spec is None or spec.loader is None:
            raise UsageError(f"{path}: cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        module.__lockgate_file__ = True  # type: ignore[attr-defined]
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            sys.modules.pop(name, None)
            problem = UsageError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}")
            problem.location = (str(file), exc.lineno)  # type: ignore[attr-defined]
            raise problem from None
        except UsageError:  # lockgate's own refusal (a bad decorator argument) names its place already
            sys.modules.pop(name, None)
            raise
        except Exception as exc:
            sys.modules.pop(name, None)
            line = _line_in(exc, file)
            where = f"line {line}: " if line else ""
            problem = UsageError(f"{path}: importing it failed: {where}{type(exc).__name__}: {exc}")
            problem.location = (str(file), line)  # type: ignore[attr-defined]
            raise problem from exc
    return module


def _line_in(exc: BaseException, file: Path) -> int | None:
    """The last line of `file` the traceback passes through, if any."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).resolve() == file:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def forget_file(path: str | os.PathLike[str]) -> None:
    """Drop a file's module from the caches, so the next `load_file` imports it again (a reload)."""
    file = Path(path).resolve()
    module = _FILE_MODULES.pop(str(file), None)
    name = file.stem
    existing = sys.modules.get(name)
    if existing is not None and (existing is module or getattr(existing, "__file__", None) == str(file)):
        del sys.modules[name]


def load_module(name: str) -> ModuleType:
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"cannot import module {name!r}: {exc}") from None


def load_source(source: str) -> ModuleType:
    """Import what a Workflow's `source` names (`file:PATH` or `module:NAME`)."""
    kind, _, where = source.partition(":")
    if kind == "file":
        return load_file(where)
    if kind == "module":
        return load_module(where)
    raise UsageError(f"unknown pipeline source {source!r}")


def load_target(target: str) -> Any:
    """The object `target` names: `path/to/file.py:name` or `package.module:name`."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise UsageError(f"{target!r}: expected path/to/file.py:name or package.module:name")
    module = load_file(where) if where.endswith(".py") or os.sep in where else load_module(where)
    obj: Any = module
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UsageError(f"{where} has no {name!r}{_offer(obj, part)}") from None
    return obj


def find_task(key: str, source: str) -> Task[Any, Any]:
    """The task a step runs, importing the pipeline's code if this process has not yet."""
    task = REGISTRY.get(key)
    if task is not None:
        return task
    module_name, _, qualname = key.partition(":")
    home = load_source(source) if source else None
    task = REGISTRY.get(key)
    if task is not None:
        return task
    if module_name == "__main__" and home is not None:
        module: ModuleType = home
    else:
        module = importlib.import_module(module_name)
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, Task):
        raise UsageError(f"task {key} is not defined in {source or module_name} any more")
    return obj


def _offer(obj: Any, missing: str) -> str:
    """What the module (or object) does have, and the close match: `; did you mean 'x'? ...`."""
    import difflib

    from lockgate.dag.pipeline import Pipeline

    names = [n for n in vars(obj) if not n.startswith("_")] if hasattr(obj, "__dict__") else []
    if not isinstance(obj, ModuleType):
        close = difflib.get_close_matches(missing, names, n=1)
        return f"; did you mean {close[0]!r}?" if close else ""
    # A target names a pipeline: list those; a file without any lists what it defines.
    pipelines = [n for n in names if isinstance(getattr(obj, n), Pipeline)]
    kind = "pipelines" if pipelines else "definitions"
    names = pipelines or [n for n in names if getattr(getattr(obj, n), "__module__", None) == obj.__name__]
    close = difflib.get_close_matches(missing, names, n=1)
    text = f"; did you mean {close[0]!r}?" if close else ""
    if not names:
        return f"{text} (it defines no pipeline)"
    shown = ", ".join(sorted(names)[:20]) + (", ..." if len(names) > 20 else "")
    return f"{text} (its {kind}: {shown})"
