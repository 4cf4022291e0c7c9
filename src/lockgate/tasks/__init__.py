"""The data-lake task library: each name is a `@task`, imported on first use.

`import lockgate.tasks` stays cheap; `from lockgate.tasks import to_parquet` loads that one
task's module (and its heavy libraries) only then.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_LAZY: dict[str, str] = {
    # validate, to_parquet, crawl, query
    "validate": "lockgate.tasks.validate",
    "to_parquet": "lockgate.tasks.parquet",
    "crawl": "lockgate.tasks.crawl",
    "query": "lockgate.tasks.query",
    # end validate, to_parquet, crawl, query
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lockgate.tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


class _Package(types.ModuleType):
    """Keeps `lockgate.tasks.validate` the task even after its module of the same name is imported.

    Importing a submodule sets it as an attribute of its package; for a task that shares its
    module's name this would shadow the task, so the task is stored instead.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == value.__name__ and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
