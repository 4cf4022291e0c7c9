"""Per-step orchestration overhead of the durable engine, against a floor measured in the same run.

    python benchmarks/engine_overhead.py [--steps 1000] [--big 10000]

Runs a chain of no-op tasks and a fan-out of no-op tasks (`.map`), durable on SQLite, and a
floor: a plain loop calling the same function and committing one SQLite row per step (WAL,
synchronous=NORMAL, as lockgate's store). Prints overhead per step in ms and the ratio to the
floor. Then one run of `--big` steps in a child process, reporting its peak RSS, and the
cost per step at two sizes (linear cost means the per-step figures stay close).
Goal on a 2-core machine: chain overhead <= 1 ms per step; 10,000 steps under 300 MB RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def noop(i: int = 0) -> int:
    return i


def floor_ms(steps: int, folder: Path) -> float:
    """A plain loop: call the function, commit one row per step."""
    path = folder / "floor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE steps (id INTEGER PRIMARY KEY, name TEXT, result TEXT)")
    start = time.perf_counter()
    for i in range(steps):
        value = noop(i)
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO steps (name, result) VALUES (?, ?)", (f"step{i}", json.dumps(value)))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed * 1000 / steps


def build(steps: int):  # type: ignore[no-untyped-def]
    from lockgate import pipeline, task

    @task
    def step(i: int = 0) -> int:
        return i

    @pipeline(name=f"chain{steps}")
    def chain() -> object:
        value = step(0)
        for _ in range(steps - 1):
            value = step(value)
        return value

    @task
    def numbers(n: int) -> list[int]:
        return list(range(n))

    @pipeline(name=f"fanout{steps}")
    def fanout() -> object:
        return step.map(numbers(steps))

    return chain, fanout


def lockgate_ms(pipeline_obj: object, steps: int, executor: str) -> tuple[float, str]:
    import lockgate

    start = time.perf_counter()
    run = lockgate.run(pipeline_obj, executor=executor)
    elapsed = time.perf_counter() - start
    if run.status != "SUCCEEDED":
        raise SystemExit(f"benchmark run failed: {run.error}: {run.cause}")
    return elapsed * 1000 / steps, run.run_id


def child(steps: int, executor: str) -> None:
    """Run one chain of `steps` and print its per-step time and peak RSS (MB)."""
    chain, _ = build(steps)
    per_step, _ = lockgate_ms(chain, steps, executor)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"per_step_ms": per_step, "rss_mb": rss_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--big", type=int, default=10000)
    parser.add_argument("--executor", default="inline", choices=["inline", "threads", "processes"])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.executor)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["LOCKGATE_HOME"] = str(folder / "home")
        floor = min(floor_ms(args.steps, folder) for _ in range(3))
        chain, fanout = build(args.steps)
        lockgate_ms(chain, 50, args.executor)  # warm up imports and the schema
        chain_ms = min(lockgate_ms(chain, args.steps, args.executor)[0] for _ in range(3))
        fan_ms = min(lockgate_ms(fanout, args.steps + 1, args.executor)[0] for _ in range(3))
        print(f"floor (call + one SQLite commit per step): {floor:.3f} ms/step")
        for label, value in (("chain", chain_ms), ("fan-out", fan_ms)):
            overhead = max(value - floor, 0.0)
            print(
                f"{label:8} {args.steps} steps ({args.executor}): {value:.3f} ms/step, "
                f"overhead {overhead:.3f} ms/step, ratio to floor {value / floor:.1f}x  (goal: overhead <= 1 ms)"
            )
        env = {**os.environ, "LOCKGATE_HOME": str(folder / "big")}
        sizes = {}
        for n in (args.big // 4, args.big):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n), "--executor", args.executor],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            sizes[n] = json.loads(out.strip().splitlines()[-1])
        small, big = sizes[args.big // 4], sizes[args.big]
        print(
            f"chain {args.big} steps: {big['per_step_ms']:.3f} ms/step, "
            f"peak RSS {big['rss_mb']:.0f} MB (goal < 300 MB); "
            f"{args.big // 4} steps: {small['per_step_ms']:.3f} ms/step; "
            f"cost growth {big['per_step_ms'] / small['per_step_ms']:.2f}x per step for 4x the steps (linear = 1.0)"
        )


if __name__ == "__main__":
    main()
