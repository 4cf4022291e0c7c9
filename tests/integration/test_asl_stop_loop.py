"""StopExecution on a state machine that loops without ever waiting: its driver stops too."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from lockgate.asl import durable, limits
from lockgate.runtime import Runtime

LOOP = {
    "StartAt": "Spin",
    "States": {
        "Spin": {"Type": "Pass", "Next": "Check"},
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.never", "IsPresent": True, "Next": "Out"}],
            "Default": "Spin",
        },
        "Out": {"Type": "Succeed"},
    },
}


def test_a_stopped_pass_choice_loop_stops_burning_cpu(home: Path) -> None:
    runtime = Runtime()
    previous = limits.set_limits(limits.Limits(history_events=100_000_000))  # only the stop ends it
    try:
        created = durable.create(runtime, LOOP, {}, state_machine="Spin", name="forever")
        outcome: dict[str, object] = {}
        driver = threading.Thread(target=lambda: outcome.update(durable.execute(runtime, created)), daemon=True)
        driver.start()
        time.sleep(0.3)
        assert driver.is_alive()
        durable.stop(runtime, created.run_id)
        driver.join(timeout=10)
        assert not driver.is_alive(), "the driver kept running after StopExecution"
        assert outcome["status"] == "ABORTED"
        assert runtime.store.get_run(created.run_id).status == "ABORTED"  # type: ignore[union-attr]
    finally:
        limits.set_limits(previous)
