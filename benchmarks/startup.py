"""Wall time of `lockgate run examples/hello.py:hello` (one step, durable) against `python -c pass`.

    python benchmarks/startup.py [--repeat 10]

Both are started as fresh processes in the same run; prints the medians and their ratio.
Goal: lockgate's one-step run <= 0.5 s wall on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def wall(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LOCKGATE_HOME": str(Path(tmp) / ".lockgate")}
        lockgate = [sys.executable, "-m", "lockgate", "run", str(ROOT / "examples/hello.py:hello"), "--json"]
        baseline = [sys.executable, "-c", "pass"]
        wall(lockgate, env, tmp)  # the first run creates the database: not what users wait for each time
        ours = [wall(lockgate, env, tmp) for _ in range(args.repeat)]
        base = [wall(baseline, env, tmp) for _ in range(args.repeat)]
    ours_s, base_s = statistics.median(ours), statistics.median(base)
    print(f"python -c pass:                      median {base_s * 1000:.0f} ms")
    print(f"lockgate run examples/hello.py:hello median {ours_s * 1000:.0f} ms (goal <= 500 ms)")
    print(f"ratio to bare python: {ours_s / base_s:.1f}x; lockgate's own cost {max(ours_s - base_s, 0) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
