"""Pipelines for the crash tests: steps leave marks in a folder so a test can count their runs."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from lockgate import Retry, pipeline, task


def _mark(folder: str, name: str) -> int:
    path = Path(folder, name)
    count = int(path.read_text()) if path.exists() else 0
    path.write_text(str(count + 1))
    return count + 1


@task
def first(folder: str) -> str:
    _mark(folder, "first")
    return "one"


@task(retry=Retry(max_attempts=1, interval=0.05))
def hang(folder: str, previous: str) -> str:
    """Runs long on its first execution so the test can kill the process while it is in flight."""
    runs = _mark(folder, "hang")
    if runs == 1:
        Path(folder, "in_flight").write_text(str(os.getpid()))
        time.sleep(60)
    return previous + "+two"


@task
def last(value: str, folder: str) -> str:
    _mark(folder, "last")
    return value + "+three"


@pipeline
def chain(folder: str):
    return last(hang(folder, first(folder)), folder)


@task
def suicide(folder: str) -> str:
    """Kills its own process every time: the engine must give up after 3 interruptions."""
    _mark(folder, "suicide")
    os.kill(os.getpid(), signal.SIGKILL)
    return "never"


@pipeline
def crashloop(folder: str):
    return suicide(folder)
