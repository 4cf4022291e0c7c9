"""Pipelines the runtime tests run (importable by worker processes as a file)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import lockgate
from lockgate import DataQualityError, Retry, pipeline, task

log = logging.getLogger("feedback")


@task
def extract(day: str) -> list[dict]:
    print(f"extracting {day}")
    log.info("found %d rows", 3)
    print("a warning on stderr", file=sys.stderr)
    return [{"id": i, "text": "good" if i % 2 else "bad"} for i in range(3)]


@task
def score(row: dict) -> dict:
    return {**row, "score": 1 if row["text"] == "good" else -1}


@task
def load(rows: list[dict]) -> int:
    return len(rows)


@pipeline
def feedback(day: str = "2026-11-24"):
    return load(score.map(extract(day)))


@task(retry=Retry(max_attempts=3, interval=0.05, backoff_rate=1.0))
def flaky(marker: str) -> str:
    path = Path(marker)
    count = int(path.read_text()) if path.exists() else 0
    path.write_text(str(count + 1))
    if count < 2:
        raise ConnectionError(f"attempt {count + 1} could not connect")
    return f"ok after {count + 1}"


@pipeline
def retried(marker: str):
    return flaky(marker)


@task(retry=Retry(max_attempts=3, interval=0.05))
def bad_data() -> None:
    raise DataQualityError("column rating has 2 nulls")


@pipeline
def quality():
    return bad_data()


@task
def big(n: int) -> list[str]:
    return ["x" * 100] * n


@task
def size(rows: list[str]) -> int:
    return len(rows)


@pipeline
def spill(n: int = 5000):
    return size(big(n))


@task
def whoami() -> dict:
    ctx = lockgate.context()
    return {"key": ctx.idempotency_key, "step": ctx.step, "attempt": ctx.attempt, "pid": os.getpid()}


@pipeline
def identity():
    return whoami()


@task(timeout=0.3)
def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


@pipeline
def sleeper(seconds: float = 5.0):
    return sleepy(seconds)


@pipeline(timeout=0.3)
def whole_run_limit(seconds: float = 5.0):
    return sleepy.options(timeout=100)(seconds)


@task
def touch(folder: str, name: str) -> str:
    Path(folder, name).write_text("done")
    return name


@task
def boom_once(folder: str) -> str:
    marker = Path(folder, "boom_once")
    if not marker.exists():
        marker.write_text("1")
        raise ValueError("first run fails")
    return "fixed"


@pipeline
def partly(folder: str):
    first = touch(folder, "first")
    second = boom_once(folder)
    first >> second
    return touch(folder, "last") << second


@task
def numbers(n: int) -> list[int]:
    return list(range(n))


@task
def double(x: int) -> int:
    return 2 * x


@task
def total(xs: list[int]) -> int:
    return sum(xs)


@pipeline
def wide_map(n: int = 1000):
    return total(double.map(numbers(n)))


@task
def polite(marker: str, limit: float = 20.0) -> str:
    """Loops until its run is cancelled (lockgate.attempt.cancelled()), then says so in `marker`."""
    import lockgate.attempt

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if lockgate.attempt.cancelled():
            Path(marker).write_text("stopped")
            return "stopped"
        time.sleep(0.05)
    return "ran out"


@pipeline
def polite_run(marker: str):
    return polite(marker)


@task
def nap(folder: str, seconds: float = 60.0) -> str:
    """Writes its pid to `started`, sleeps, then writes `woke`: cancelled mid-sleep, `woke` never appears."""
    Path(folder, "started").write_text(str(os.getpid()))
    time.sleep(seconds)
    Path(folder, "woke").write_text("woke")
    return "woke"


@pipeline
def napping(folder: str, seconds: float = 60.0):
    return nap(folder, seconds)


@task
def exits(code: int = 3) -> str:
    os._exit(code)


@task
def stays() -> str:
    return "stayed"


@pipeline
def one_exits():
    return [exits(), stays()]
