"""Redrive: an execution that failed, timed out or was aborted continues from where it stopped.

As the service's RedriveExecution: the state that failed (or was in progress when the execution
timed out or was aborted) runs again with the same input; what succeeded keeps its result and
never runs again. In a Parallel or Map state only the branches and iterations that failed, were
abandoned or never started run again, each from the state it stopped at; a Distributed Map
redrives its unsuccessful child executions. `$$.Execution.RedriveCount` counts redrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.asl.commands import ABORTED, FAILED, RUNNING, TIMED_OUT, StartTimer

if TYPE_CHECKING:
    from lockgate.asl._frames import Frame
    from lockgate.asl.machine import Machine


def redrive(m: Machine, now: float) -> None:
    from lockgate.asl.machine import EXECUTION_TIMEOUT_TIMER

    if m.status not in (FAILED, TIMED_OUT, ABORTED) or m.root is None:
        raise ValueError(f"an execution that is {m.status} cannot be redriven")
    m._now = now
    count = int(m._execution.get("RedriveCount") or 0) + 1
    m._execution["RedriveCount"] = count
    root = m.root
    root.last = m._log.add("ExecutionRedriven", len(m._log), now, {"redriveCount": count})
    m.status, m.output, m.error, m.cause = RUNNING, None, None, None
    timeout = m.definition.get("TimeoutSeconds")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        m._deadline = now + timeout
        m._commands.append(StartTimer(EXECUTION_TIMEOUT_TIMER, m._deadline))
    revive(m, root)


def revive(m: Machine, frame: Frame) -> bool:
    """Set an unsuccessful frame running again at the state it stopped at; False if it had succeeded."""
    from lockgate.asl._fanout import FanOut

    name = frame.failed_state or frame.name
    if name is None:
        return False
    frame.failed_state = None
    frame.alive = True
    frame.name = name
    visit = frame.visit
    fan = visit.activity if visit is not None and visit.name == name else None
    if isinstance(fan, FanOut) and fan.redrive(m):
        frame.waiting = True
        return True
    frame.waiting = False
    m.spawn(frame)
    return True
