"""Fixtures for trigger tests: a runtime on the test's own SQLite file, a clock tests move by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from lockgate.runtime import Runtime


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, when: dt.datetime) -> None:
        self.now = when.timestamp()


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    rt = Runtime()
    yield rt
    rt.close()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


def statuses(runtime: Any, pipeline: str) -> list[str]:
    return sorted(r.status for r in runtime.store.list_runs(pipeline=pipeline, limit=100_000))


@pytest.fixture
def clock_at() -> type[FakeClock]:
    """FakeClock, the class: `clock = clock_at(epoch)`."""
    return FakeClock
