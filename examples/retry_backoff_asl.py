"""The retry state machine (examples/retry_backoff.asl.json) on a simulated clock: prints its
history and the waits between attempts, 10 s, 15 s and 22.5 s, in well under a second.

    python examples/retry_backoff_asl.py

The Task state's first three invocations throw a transient error and the fourth returns, as
the mock configuration examples/retry_backoff.mock.json (test case FlakyThenOk) says. Its
Retry has IntervalSeconds 10 and BackoffRate 1.5, so the retries wait 10 s, 15 s, then 22.5 s.

The same run in real time (about 48 s), stored like any run, then its history:

    lockgate asl run --definition examples/retry_backoff.asl.json \\
        --mock-config examples/retry_backoff.mock.json --test-case FlakyThenOk
    lockgate show RUN_ID --json          # "history": TaskFailed events 10, 15, 22.5 s apart

Without the mock configuration the Task really calls http://127.0.0.1:8000/feedback (start
something there, e.g. `python -m http.server 8000`, during the retries to see it recover):

    lockgate asl run --definition examples/retry_backoff.asl.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFINITION = HERE / "retry_backoff.asl.json"
MOCK = HERE / "retry_backoff.mock.json"


class SimulatedClock:
    """A clock that jumps forward instead of sleeping, so a 47.5 s backoff takes no time."""

    def __init__(self, start: float = 1_795_600_000.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def run() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the machine with its mocked responses on the simulated clock; (result, history)."""
    from lockgate.asl import definition
    from lockgate.asl.driver import Invoker, drive, result_of
    from lockgate.asl.entropy import SeededEntropy
    from lockgate.asl.machine import Machine
    from lockgate.asl.mock import MockConfig
    from lockgate.asl.resources import Resources

    clock = SimulatedClock()
    machine = Machine(definition.load(DEFINITION), {}, entropy=SeededEntropy())
    mock = MockConfig.load(MOCK, "retry_backoff.asl", "FlakyThenOk")
    drive(machine, Invoker(Resources(), mock), clock=clock.time, sleep=clock.sleep)
    return result_of(machine), machine.history


def main() -> int:
    import datetime as dt

    result, history = run()
    failed_at = None
    for event in history:
        at = float(event["timestamp"])  # seconds since the epoch on the simulated clock
        shown = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        details = event.get("taskFailedEventDetails") or {}
        error = f"  {details.get('error')}: {details.get('cause')}" if details else ""
        print(f"{event['id']:>3}  {shown}  {event['type']}{error}")
        if event["type"] == "TaskFailed":
            failed_at = at
        elif event["type"] == "TaskScheduled" and failed_at is not None:
            print(f"                   (retry after waiting {at - failed_at:g} s)")
            failed_at = None
    print(json.dumps(result))
    return 0 if result["status"] == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
