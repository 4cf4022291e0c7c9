"""Pipelines the rerun tests use: a chain whose middle step fails until a marker file exists."""

from __future__ import annotations

import os
from pathlib import Path

from lockgate import pipeline, task

MARKER = Path(os.environ.get("LOCKGATE_HOME", ".")) / "enrich-ok"


@task
def extract() -> list[int]:
    return [1, 2, 3]


@task
def enrich(rows: list[int]) -> list[int]:
    if not MARKER.exists():
        raise RuntimeError("enrich is not ready")
    return [r * 10 for r in rows]


@task
def load(rows: list[int] | None) -> int:
    return sum(rows or [])  # a step marked succeeded by hand has no result


@task(trigger_rule="all_done")
def report(total: int | None) -> str:
    return f"total {total}"


@pipeline
def chain():
    rows = extract()
    total = load(enrich(rows))
    return report(total)


@task
def square(n: int) -> int:
    print(f"squaring {n}")
    return n * n


@pipeline
def mapped():
    return square.map([1, 2, 3])
