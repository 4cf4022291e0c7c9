"""The data-lake task library: `from lockgate.tasks import validate, to_parquet, sql_copy, notify, ...`.

Each task lives in its own module, imported on first use so `import lockgate.tasks` stays cheap.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

# task name -> the module that defines it
_EXPORTS: dict[str, str] = {
    # files, Parquet, the catalog and SQL over the lake
    "validate": "lockgate.tasks.validate",
    "to_parquet": "lockgate.tasks.parquet",
    "crawl": "lockgate.tasks.crawl",
    "query": "lockgate.tasks.query",
    # databases, Spark, commands and HTTP
    "sql_copy": "lockgate.tasks.sql_copy",
    "spark_submit": "lockgate.tasks.spark",
    "spark_submit_start": "lockgate.tasks.spark",
    "spark_status": "lockgate.tasks.spark",
    "shell": "lockgate.tasks.shell",
    "http": "lockgate.tasks.http",
    # notifications
    "notify": "lockgate.tasks.notify",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lockgate.tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


class _Package(types.ModuleType):
    """Keeps `lockgate.tasks.shell` the task even after its module `lockgate.tasks.shell` is imported.

    Importing a submodule sets it as an attribute of its package; where a task shares its
    module's name, the task wins, so `from lockgate.tasks import shell` never yields a module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
