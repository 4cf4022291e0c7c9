"""The data-lake task library."""

from __future__ import annotations

import sys
import types
from typing import Any

# Tasks are imported on first use, so `import lockgate.tasks` stays cheap: name -> module.
# A task may share its module's name (lockgate.tasks.notify:notify); the task wins.
_LAZY: dict[str, str] = {}

# -- notifications -------------------------------------------------------------------------
_LAZY["notify"] = "lockgate.tasks.notify"
# ------------------------------------------------------------------------------------------


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lockgate.tasks' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing lockgate.tasks.notify would bind the submodule over the task of the same name.
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
