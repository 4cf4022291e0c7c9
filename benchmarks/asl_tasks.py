"""What a state machine's Task state costs on the run's executor, against a floor in the same run.

    python benchmarks/asl_tasks.py [--tasks 300] [--executor threads]

A durable execution (SQLite) runs a chain of Task states, each calling a registered no-op
lockgate task; every Task goes to the executor as a Job (attempt context, log capture, the
python: policy) and its Outcome comes back into the interpreter, one commit per Task. The floor
calls the same function directly and commits one SQLite row per call (WAL, synchronous=NORMAL,
as lockgate's store). Prints ms per Task state and the overhead over the floor.
Goal on a 2-core machine: overhead <= 1 ms per Task state.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any


def noop(**kwargs: Any) -> dict[str, Any]:
    return kwargs


def floor_ms(tasks: int, folder: Path) -> float:
    db = sqlite3.connect(folder / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS answers (id INTEGER PRIMARY KEY, result TEXT)")
    started = time.perf_counter()
    value: dict[str, Any] = {"x": 1}
    for _ in range(tasks):
        value = noop(**value)
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO answers (result) VALUES (?)", (repr(value),))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed * 1000 / tasks


def chain(tasks: int) -> dict[str, Any]:
    states: dict[str, Any] = {
        f"S{i}": {"Type": "Task", "Resource": "lockgate:task:bench.noop", "Next": f"S{i + 1}"} for i in range(tasks)
    }
    states[f"S{tasks}"] = {"Type": "Succeed"}
    return {"StartAt": "S0", "States": states}


def lockgate_ms(runtime: Any, tasks: int) -> float:
    from lockgate.asl import durable

    started = time.perf_counter()
    _, result = durable.start(runtime, chain(tasks), {"x": 1}, state_machine="bench")
    elapsed = time.perf_counter() - started
    if result["status"] != "SUCCEEDED":
        raise SystemExit(f"benchmark run failed: {result}")
    return elapsed * 1000 / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    # a registered task exists in this process only: the local in-process executors
    parser.add_argument("--executor", default="threads", choices=["inline", "threads"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        os.environ["LOCKGATE_HOME"] = str(folder / "home")
        os.environ["LOCKGATE_ENGINE__EXECUTOR"] = args.executor
        from lockgate.asl.resources import register_task
        from lockgate.runtime import Runtime

        register_task("bench.noop", noop)
        runtime = Runtime()
        floor = min(floor_ms(args.tasks, folder) for _ in range(3))
        lockgate_ms(runtime, 10)  # warm up imports, the schema and the executor
        value = min(lockgate_ms(runtime, args.tasks) for _ in range(3))
        print(f"floor (call + one SQLite commit per task): {floor:.3f} ms/task")
        print(
            f"chain of {args.tasks} Task states ({args.executor}): {value:.3f} ms/task, "
            f"overhead {max(value - floor, 0.0):.3f} ms/task, ratio to floor {value / floor:.1f}x "
            "(goal: overhead <= 1 ms)"
        )
        runtime.close()


if __name__ == "__main__":
    main()
