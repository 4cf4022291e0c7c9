"""Fixtures of the state machine tests: a fake clock and a runtime that reads it."""

from __future__ import annotations

import pytest
from tests.conftest import FakeTime

from lockgate.runtime import Runtime


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


@pytest.fixture
def runtime(fake: FakeTime) -> Runtime:
    runtime = Runtime()
    runtime.clock = fake.clock
    return runtime
