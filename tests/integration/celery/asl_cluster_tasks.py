"""The code of the state machines the cluster tests run on workers; each call writes a ledger."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import lockgate


def _write(folder: str, **fields: Any) -> None:
    with (Path(folder) / "ledger").open("a") as f:
        f.write(json.dumps(fields) + "\n")


def visit(item: int, folder: str, hang: int = -1, seconds: float = 0.2) -> dict[str, Any]:
    """One Map iteration: hangs the first time it runs `hang` (the test kills its worker)."""
    ctx = lockgate.context()
    path = Path(folder) / "ledger"
    seen = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    first = not any(e["key"] == ctx.idempotency_key for e in seen)
    # a worker runs each attempt in a child process of its own: `worker` is the worker's pid
    common = {"item": item, "key": ctx.idempotency_key, "attempt": ctx.attempt, "pid": os.getpid(),
              "worker": os.getppid()}  # fmt: skip
    _write(folder, phase="start", at=time.time(), **common)
    print(f"visiting {item}")
    if item == hang and first:
        time.sleep(120)
    time.sleep(seconds)
    _write(folder, phase="end", at=time.time(), **common)
    return {"item": item, "double": item * 2}


def nap(folder: str, seconds: float = 60) -> str:
    """A Task state that sleeps long: the test cancels its run meanwhile."""
    ctx = lockgate.context()
    _write(folder, phase="start", at=time.time(), item=0, key=ctx.idempotency_key, attempt=ctx.attempt, pid=os.getpid())
    time.sleep(seconds)
    (Path(folder) / "woke").write_text("woke")
    return "woke"
