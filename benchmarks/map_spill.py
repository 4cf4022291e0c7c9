"""Per-element cost of a Python `.map` over a list too big for the store (it is spilled to a file).

Each element should cost the same however long the list is: the spilled list is read once per
run, not once per element. Prints microseconds per element for each size, inline executor,
SQLite in a temporary home.

    python benchmarks/map_spill.py [--sizes 1000,10000,40000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from lockgate import pipeline, task


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,40000")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    with tempfile.TemporaryDirectory() as home:
        os.environ["LOCKGATE_HOME"] = home
        os.environ["LOCKGATE_ENGINE__RESULT_MAX_BYTES"] = "1024"  # every list here is spilled
        import lockgate

        for n in sizes:
            started = time.perf_counter()
            run = lockgate.run(wide_map, n=n, executor="inline")
            elapsed = time.perf_counter() - started
            assert run.status == "SUCCEEDED", run
            print(f"{n:>9} elements: {elapsed / n * 1e6:8.0f} us/element ({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
