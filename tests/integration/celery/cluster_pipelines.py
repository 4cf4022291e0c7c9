"""Pipelines run by worker processes in the cluster tests; each step appends to a ledger file."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import lockgate
from lockgate import pipeline, task


def _ledger(folder: str, **fields: Any) -> int:
    """Append one line; returns how many lines this step had before. A worker runs each attempt in
    a child process of its own: `worker` is the worker's pid, `pid` the child's."""
    ctx = lockgate.context()
    path = Path(folder) / "ledger"
    before = 0
    if path.exists():
        before = sum(1 for line in path.read_text().splitlines() if json.loads(line)["step"] == ctx.step)
    entry = {"step": ctx.step, "key": ctx.idempotency_key, "attempt": ctx.attempt, **fields}
    entry |= {"pid": os.getpid(), "worker": os.getppid()}
    with path.open("a") as f:
        f.write(json.dumps(entry) + "\n")
    return before


@task
def note(folder: str, name: str, after: Any = None, seconds: float = 0.0) -> str:
    _ledger(folder, name=name, at=time.time())
    print(f"note {name}")
    time.sleep(seconds)
    return name


@task
def hang_first(folder: str, after: Any = None) -> str:
    """Hangs on its first run (the test kills its worker); returns at once on the next."""
    if _ledger(folder, name="hang") == 0:
        time.sleep(120)
    return "hang"


@task(pool="solo", priority=1)
def low(folder: str, name: str, after: Any = None) -> str:
    _ledger(folder, name=name, at=time.time())
    time.sleep(0.2)
    _ledger(folder, name=name + "-end", at=time.time())
    return name


@task(pool="solo", priority=9)
def high(folder: str, name: str, after: Any = None) -> str:
    _ledger(folder, name=name, at=time.time())
    time.sleep(0.2)
    _ledger(folder, name=name + "-end", at=time.time())
    return name


@pipeline
def fan(folder: str, n: int = 4) -> Any:
    return note.map([folder] * n, [f"n{i}" for i in range(n)])


@pipeline
def crashy(folder: str) -> Any:
    a = note(folder, "a")
    b = hang_first(folder, after=a)
    return note(folder, "c", after=b)


@pipeline
def pooled(folder: str) -> Any:
    first = low(folder, "first")
    return [low(folder, "low1"), high(folder, "high"), low(folder, "low2"), first]


@pipeline
def slow_one(folder: str, seconds: float = 2.0) -> Any:
    return note(folder, "slow", seconds=seconds)


@task(pool="naps")
def nap(folder: str, seconds: float = 60.0) -> str:
    """Notes its start, sleeps, then notes that it woke: cancelled mid-sleep, it never wakes."""
    _ledger(folder, name="nap")
    time.sleep(seconds)
    Path(folder, "woke").write_text("woke")
    return "woke"


@pipeline
def napping(folder: str, seconds: float = 60.0) -> Any:
    return nap(folder, seconds)


@task(pool="naps")
def nap_first(folder: str) -> int:
    """Its first attempt sleeps 60 s, then notes that it woke; the next ones wait for a file `go`."""
    attempt = lockgate.context().attempt
    _ledger(folder, name=f"nap{attempt}")
    if attempt == 1:
        time.sleep(60)
        Path(folder, "woke").write_text("woke")
    deadline = time.monotonic() + 60
    while not Path(folder, "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return attempt


@pipeline
def napping_once(folder: str) -> Any:
    return nap_first(folder)


@pipeline
def relay(folder: str, seconds: float = 0.5) -> Any:
    last = None
    for i in range(6):
        last = note(folder, f"r{i}", after=last, seconds=seconds)
    return last


@task(queue="spark")
def gated(folder: str, name: str) -> str:
    """Notes its start, then waits (60 s at most) for a file `go` in `folder`."""
    _ledger(folder, name=name, at=time.time())
    deadline = time.monotonic() + 60
    while not Path(folder, "go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return name


@pipeline
def lanes(folder: str, lanes: int = 4, depth: int = 4, seconds: float = 0.3, gates: int = 0, pooled: int = 0) -> Any:
    """`lanes` chains of `depth` steps side by side (steps start and end all through the run),
    `gates` steps on the spark queue that wait for a file `go`, and `pooled` steps of pool solo."""
    ends = []
    for lane in range(lanes):
        last = None
        for i in range(depth):
            last = note(folder, f"l{lane}-{i}", after=last, seconds=seconds)
        ends.append(last)
    return ends + [gated(folder, f"g{i}") for i in range(gates)] + [low(folder, f"p{i}") for i in range(pooled)]


@task(retry=lockgate.RetryPolicy(interval_seconds=0.1, max_attempts=1))
def die_first(folder: str) -> str:
    """Its process exits on the first attempt (as a crash in C code would); returns on the next."""
    if _ledger(folder, name="die") == 0:
        os._exit(3)
    return "lived"


@pipeline
def dying(folder: str) -> Any:
    return die_first(folder)
