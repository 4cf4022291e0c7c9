"""Steering a pipeline while it is built: `short_circuit(value)` and task groups `with group("x"):`.

`short_circuit` adds a step that passes its value on; when the value is false, every step made
after it in the pipeline is SKIPPED (whatever their trigger rules) and the run still succeeds.
A group prefixes the names of the steps made inside it (`extract.pull_orders`) and draws them
as one box in the UI's graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lockgate.core.errors import UsageError
from lockgate.dag.graph import current_builder
from lockgate.dag.task import Task


def _gate(value: Any) -> bool:
    """The short-circuit step: whether what follows runs."""
    return bool(value)


GATE = Task(_gate, name="short_circuit", control="short_circuit")


def short_circuit(value: Any) -> Any:
    """Inside a pipeline: skip everything made after this call when `value` (usually a step's
    result) turns out false. Outside a pipeline: `bool(value)`."""
    builder = current_builder()
    if builder is None:
        return bool(value)
    ref = GATE(value)
    builder.gates.append(ref.name)
    return ref


@contextmanager
def group(name: str) -> Iterator[None]:
    """Steps made inside are named `name.step` (groups nest: `outer.inner.step`)."""
    if not isinstance(name, str) or not name or "." in name or "[" in name:
        raise UsageError(f"group name {name!r}: expected a non-empty name without '.' or '['")
    builder = current_builder()
    if builder is None:
        raise UsageError(f"group({name!r}) is used inside a @pipeline function, while it builds")
    builder.groups.append(name)
    try:
        yield
    finally:
        builder.groups.pop()
