"""Pipelines the live clear/mark tests use: a step that waits for a gate file the test opens."""

from __future__ import annotations

import os
import time
from pathlib import Path

import lockgate.attempt
from lockgate import pipeline, task

GATE = Path(os.environ.get("LOCKGATE_HOME", ".")) / "gate"


@task
def extract() -> list[int]:
    return [1, 2, 3]


@task
def wait_gate(rows: list[int]) -> int:
    deadline = time.monotonic() + 60
    while not GATE.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return sum(rows)


@task
def load(total: int | None) -> str:
    return f"loaded {total}"


@pipeline
def gated():
    return load(wait_gate(extract()))


@task
def wait_politely(rows: list[int]) -> int:
    """Waits for the gate, or until lockgate.attempt.cancelled(): it then notes so and returns."""
    deadline = time.monotonic() + 60
    while not GATE.exists() and time.monotonic() < deadline:
        if lockgate.attempt.cancelled():
            (GATE.parent / "noticed").write_text(lockgate.context().step)
            return -1
        time.sleep(0.02)
    return sum(rows)


@pipeline
def polite():
    return load(wait_politely(extract()))
