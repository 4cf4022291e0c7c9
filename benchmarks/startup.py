"""Start-up of `lockgate run examples/hello.py:hello` (one step, durable), first and warm, against `python -c pass`.

    python benchmarks/startup.py [--repeat 10]

Three kinds of fresh process, interleaved in the same run so a busy machine slows them alike:
`python -c pass`; the first run in a new home (which creates the database); and a warm run in
a home that already has one. Prints the medians and the ratios.
Goals: warm one-step run <= 0.5 s wall on a 2-core machine; first / warm <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def measure(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall seconds of one fresh process, and its CPU seconds (user + system): steadier on a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    lockgate = [sys.executable, "-m", "lockgate", "run", str(ROOT / "examples/hello.py:hello"), "--json"]
    baseline = [sys.executable, "-c", "pass"]
    times: dict[str, list[tuple[float, float]]] = {"base": [], "first": [], "warm": []}
    with tempfile.TemporaryDirectory() as tmp:
        # Byte-code caching as in a normal install (some shells set PYTHONDONTWRITEBYTECODE, which
        # recompiles every module of lockgate at each start).
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_") and k != "PYTHONDONTWRITEBYTECODE"}
        warm_env = {**env, "LOCKGATE_HOME": str(Path(tmp) / "warm" / ".lockgate")}
        measure(lockgate, warm_env, tmp)  # makes the warm home's database
        for i in range(args.repeat):
            fresh_env = {**env, "LOCKGATE_HOME": str(Path(tmp) / f"fresh{i}" / ".lockgate")}
            times["base"].append(measure(baseline, env, tmp))
            times["first"].append(measure(lockgate, fresh_env, tmp))
            times["warm"].append(measure(lockgate, warm_env, tmp))
    wall = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    labels = {
        "base": "python -c pass:                            ",
        "first": "lockgate run hello.py:hello, new home:     ",
        "warm": "lockgate run hello.py:hello, existing home:",
    }
    for key, label in labels.items():
        goal = " (goal <= 500 ms)" if key == "warm" else ""
        print(f"{label} median {wall[key] * 1000:4.0f} ms wall, {cpu[key] * 1000:4.0f} ms CPU{goal}")
    print(
        f"first / warm: {wall['first'] / wall['warm']:.2f}x wall, {cpu['first'] / cpu['warm']:.2f}x CPU (goal <= 1.3x)"
    )
    own = max(wall["warm"] - wall["base"], 0) * 1000
    print(f"warm / bare python: {wall['warm'] / wall['base']:.1f}x; lockgate's own cost {own:.0f} ms")


if __name__ == "__main__":
    main()
