"""How fast the ASL interpreter moves between states, in memory and durably on SQLite.

A state machine loops Pass -> Choice 50,000 times (100,000 transitions). The floor is a plain
Python loop doing the same dictionary work (build the counter object, compare it); the ratio
says how much the interpreter, its history and its store cost on top of that.

    python benchmarks/asl_transitions.py [--transitions N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any


def definition(loops: int) -> dict[str, Any]:
    return {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericGreaterThanEquals": loops, "Next": "Done"}],
                "Default": "Step",
            },
            "Step": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
            "Done": {"Type": "Succeed"},
        },
    }


def floor(loops: int) -> tuple[int, float]:
    """The same work as a plain loop: one dict per Pass, one comparison per Choice."""
    started = time.perf_counter()
    value: dict[str, Any] = {"i": 0}
    transitions = 0
    while True:
        transitions += 1  # Choice
        if value["i"] >= loops:
            break
        transitions += 1  # Pass
        value = {"i": value["i"] + 1}
    transitions += 1  # Succeed
    return transitions, time.perf_counter() - started


def in_memory(loops: int) -> tuple[int, float]:
    from lockgate.asl.entropy import SeededEntropy
    from lockgate.asl.machine import Machine

    started = time.perf_counter()
    machine = Machine(definition(loops), {"i": 0}, None, entropy=SeededEntropy(0))
    while machine.status == "RUNNING":  # an advance yields every 10,000 transitions
        machine.advance(time.time())
    elapsed = time.perf_counter() - started
    assert machine.status == "SUCCEEDED" and machine.output == {"i": loops}, machine.error
    return machine.transitions, elapsed


def durable(loops: int) -> tuple[int, float]:
    from lockgate.asl import durable as durable_runs
    from lockgate.runtime import Runtime

    with tempfile.TemporaryDirectory() as home:
        os.environ["LOCKGATE_HOME"] = home
        os.environ["LOCKGATE_LIMITS__HISTORY_EVENTS"] = str(loops * 8)  # this loop is long on purpose
        runtime = Runtime()
        runtime.store.list_runs(limit=1)  # create the schema outside the timing
        started = time.perf_counter()
        run_id, result = durable_runs.start(runtime, definition(loops), {"i": 0}, state_machine="Loop")
        elapsed = time.perf_counter() - started
        assert result["status"] == "SUCCEEDED", result
        record = runtime.store.get_run(run_id)
        assert record is not None and record.status == "SUCCEEDED"
        return loops * 2 + 2, elapsed  # Choice loops+1 times, Pass loops times, Succeed once


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=100_000)
    loops = parser.parse_args().transitions // 2
    from lockgate.asl import limits

    limits.set_limits(limits.Limits(history_events=loops * 8))  # the loop is longer than the default history
    base_count, base_time = floor(loops)
    base_rate = base_count / base_time
    print(f"floor (plain dict loop): {base_count:>8} transitions in {base_time:7.3f} s = {base_rate:12,.0f}/s")
    for label, run in (("in memory", in_memory), ("durable (SQLite)", durable)):
        count, elapsed = run(loops)
        rate = count / elapsed
        print(
            f"{label:<23}: {count:>8} transitions in {elapsed:7.3f} s = {rate:12,.0f}/s"
            f"  (floor/this = {base_rate / rate:,.1f}x)"
        )


if __name__ == "__main__":
    main()
