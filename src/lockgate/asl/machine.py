"""A deterministic, resumable interpreter of one state machine execution.

The machine never does I/O, reads a clock, sleeps or starts a thread: `advance(now)` runs every
state that can run and returns commands (`Invoke` a task, `StartTimer`); the driver carries them
out and reports back with `complete`, `fail`, `heartbeat` or `fire`, then calls `advance` again.
Given the same definition, input, entropy draws and the same reports at the same times, it
makes the same decisions, ids and history: a durable driver replays a run from its reports.

Parallel branches and Map iterations are child frames, run one after another within one
`advance` until each waits on a command; nothing here depends on the driver's threads.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from collections import ChainMap, deque
from collections.abc import Callable
from typing import Any

from lockgate.asl import arns, limits
from lockgate.asl import errors as e
from lockgate.asl._dataflow import JSONPATH, StateData, check_size
from lockgate.asl._events import EventLog, Raw
from lockgate.asl._frames import Frame, Visit
from lockgate.asl._recovery import Failure, catcher_for, policy, retrier_for
from lockgate.asl.activities import awaits_token
from lockgate.asl.commands import ABORTED, FAILED, RUNNING, SUCCEEDED, TIMED_OUT, Command, StartTimer
from lockgate.asl.entropy import Entropy
from lockgate.core.errors import INTERRUPTED

log = logging.getLogger(__name__)

EXECUTION_TIMEOUT_TIMER = "$execution/timeout"
# An advance stops after this many state entries and asks to be called again at once, so a
# loop that never waits still lets its driver commit, time it out or stop it.
TRANSITIONS_PER_ADVANCE = 10_000


def iso(ts: float) -> str:
    """Epoch seconds as the service writes times in the context object (milliseconds, Z)."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Machine:
    """One execution of a state machine definition (see the module docstring for the protocol)."""

    def __init__(self, definition: dict[str, Any], input: Any, context_base: dict[str, Any] | None = None,
                 *, entropy: Entropy) -> None:  # fmt: skip
        self.definition = definition
        self.input = input
        self.entropy = entropy
        base = context_base or {}
        self._execution = dict(base.get("Execution") or {})
        self._machine_ctx = dict(base.get("StateMachine") or {})
        self._execution.setdefault("Id", arns.execution("machine", "execution"))
        self._execution.setdefault("Name", self._execution["Id"].rsplit(":", 1)[-1])
        self._execution.setdefault("RoleArn", arns.role())
        self._execution.setdefault("RedriveCount", 0)
        self._execution["Input"] = input
        self._machine_ctx.setdefault("Id", arns.state_machine("machine"))
        self._machine_ctx.setdefault("Name", self._machine_ctx["Id"].rsplit(":", 1)[-1])
        self.ql: str = definition.get("QueryLanguage", JSONPATH)
        self.status = RUNNING
        self.output: Any = None
        self.error: str | None = None
        self.cause: str | None = None
        self.transitions = 0
        self.root: Frame | None = None
        self.map_runs: dict[str, dict[str, Any]] = {}  # Distributed Map runs by ARN (ListMapRuns, DescribeMapRun)
        self.map_run_fans: dict[str, Any] = {}  # the FanOut of each Map Run, for UpdateMapRun
        self._log = EventLog()
        self._started = False
        self._now = 0.0
        self._inbox: deque[tuple[str, str, Any, Any]] = deque()
        self._pending: dict[str, tuple[str, Frame, Visit | None]] = {}
        self._deadlines: dict[str, tuple[float | None, float | None, float | None]] = {}
        self._runnable: deque[Frame] = deque()
        # Retriers that fired since the last `take_retries()`: (state, attempt that failed, error,
        # cause, retrier index, retry number, wait seconds), for on_retry notifications.
        self.retried: list[tuple[str, int, str, str, int, int, float]] = []
        self._commands: list[Command] = []
        self._deadline: float | None = None
        self._iso_at = -1.0
        self._iso = ""
        self._history_limit = limits.current().history_events - 1  # the last event may only close it

    # -- the driver's side -----------------------------------------------------------------

    @property
    def history(self) -> list[dict[str, Any]]:
        return self._log.render()

    def take_retries(self) -> list[tuple[str, int, str, str, int, int, float]]:
        """The Retriers that fired since the last call (see `retried`)."""
        taken, self.retried = self.retried, []
        return taken

    def complete(self, id: str, result: Any) -> None:
        self._inbox.append(("complete", id, result, None))

    def fail(self, id: str, error: str, cause: str = "") -> None:
        self._inbox.append(("fail", id, error, cause))

    def heartbeat(self, id: str) -> None:
        self._inbox.append(("heartbeat", id, None, None))

    def fire(self, id: str) -> None:
        self._inbox.append(("fire", id, None, None))

    def activity_started(self, id: str, worker: str) -> None:
        """A worker took the activity task of invocation `id` (GetActivityTask): ActivityStarted."""
        self._inbox.append(("activity_started", id, worker, None))

    def update_map_run(self, arn: str, settings: dict[str, Any]) -> None:
        """Change a running Map Run's `maxConcurrency`, `toleratedFailureCount` or
        `toleratedFailurePercentage` (UpdateMapRun); more children start at once when allowed."""
        self._inbox.append(("update_map_run", arn, settings, None))

    def abort(self, now: float, error: str = "", cause: str = "") -> None:
        """Stop the execution (StopExecution); pending commands are forgotten."""
        if self.status == RUNNING:
            self._log.add("ExecutionAborted", len(self._log), now, {"error": error, "cause": cause})
            self._end(ABORTED, None, error or None, cause or None)

    def redrive(self, now: float) -> None:
        """Continue an unsuccessful execution from its failed state (RedriveExecution); ValueError if it succeeded."""
        from lockgate.asl._redrive import redrive

        redrive(self, now)

    def pending(self) -> list[str]:
        """Ids of the invocations and timers the machine waits on, in the order it issued them."""
        return list(self._pending)

    def advance(self, now: float) -> list[Command]:
        """Apply the reports received since the last call, run what can run, return new commands."""
        self._now = now
        if not self._started:
            self._start(now)
        while self._inbox and self.status == RUNNING:
            self._receive(*self._inbox.popleft())
            self._drain()
        if self.status == RUNNING:
            self._check_deadlines(now)
        self._drain()
        if self.status != RUNNING:
            self._inbox.clear()
        commands, self._commands = self._commands, []
        return commands

    def next_deadline(self) -> float | None:
        """The earliest time at which `advance` must be called even with nothing to report."""
        if self._runnable and self.status == RUNNING:
            return self._now
        times = [t for entry in self._deadlines.values() for t in (entry[0], entry[2]) if t is not None]
        if self._deadline is not None and self.status == RUNNING:
            times.append(self._deadline)
        return min(times) if times else None

    # -- events and commands (used by the state modules) -------------------------------------

    def event(self, frame: Frame, kind: str, details: dict[str, Any] | None = None) -> int:
        frame.last = self._log.add(kind, frame.last, self._now, details)
        return frame.last

    def issue(self, command: Command, frame: Frame, visit: Visit | None, kind: str,
              timeout_at: float | None = None, heartbeat: float | None = None) -> None:  # fmt: skip
        self._pending[command.id] = (kind, frame, visit)
        if timeout_at is not None or heartbeat is not None:
            beat_due = self._now + heartbeat if heartbeat is not None else None
            self._deadlines[command.id] = (timeout_at, heartbeat, beat_due)
        self._commands.append(command)
        frame.waiting = True

    def token(self, invoke_id: str) -> str:
        digest = hashlib.sha256(f"{self._execution['Id']}\n{invoke_id}".encode()).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def wake(self, frame: Frame) -> None:
        frame.waiting = False
        self._runnable.append(frame)

    def context(self, visit: Visit, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The context object `$$` for a state entry (plus `extra` top-level fields such as Map)."""
        if visit.entered != self._iso_at:
            self._iso_at, self._iso = visit.entered, iso(visit.entered)
        ctx: dict[str, Any] = {
            "Execution": self._execution,
            "StateMachine": self._machine_ctx,
            "State": {"Name": visit.name, "EnteredTime": self._iso, "RetryCount": visit.retries},
        }
        if visit.kind == "Task" and awaits_token(visit.state.get("Resource")):
            # as in the service, only a task that waits for its token has one (a callback or an activity)
            ctx["Task"] = {"Token": self.token(visit.attempt_id())}
        if extra:
            ctx.update(extra)
        return ctx

    # -- running frames ---------------------------------------------------------------------

    def _start(self, now: float) -> None:
        self._started = True
        self._execution.setdefault("StartTime", iso(now))
        self._log.add("ExecutionStarted", 0, now, {"input": Raw(self.input), "roleArn": self._execution["RoleArn"]})
        timeout = self.definition.get("TimeoutSeconds")
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
            self._deadline = now + timeout
            self._commands.append(StartTimer(EXECUTION_TIMEOUT_TIMER, self._deadline))
        root = Frame("", self.definition.get("States") or {}, self.definition.get("StartAt", ""), self.input,
                     ChainMap({}), None, 0, 1)  # fmt: skip
        self.root = root
        try:
            check_size(self.input, "the execution input")
        except e.StatesError as exc:
            self.end_frame_failed(root, Failure(exc.error, exc.cause))
            return
        self._runnable.append(root)

    def spawn(self, frame: Frame) -> None:
        self._runnable.append(frame)

    def _drain(self) -> None:
        from lockgate.asl._states import run_state

        runnable = self._runnable
        budget = self.transitions + TRANSITIONS_PER_ADVANCE
        events, history_limit = self._log.events, self._history_limit
        while runnable and self.status == RUNNING:
            frame = runnable.popleft()
            while frame.alive and not frame.waiting and frame.name is not None and self.status == RUNNING:
                if self.transitions >= budget:  # let the driver breathe (stop, commit); next_deadline() is now
                    runnable.appendleft(frame)
                    return
                if len(events) >= history_limit:
                    self._history_exhausted()
                    return
                try:
                    run_state(self, frame)
                except Exception as exc:  # a definition no validator saw: fail the execution, never the caller
                    log.warning(
                        "state %r failed unexpectedly: %r", frame.name, exc, exc_info=log.isEnabledFor(logging.DEBUG)
                    )
                    self.end_frame_failed(
                        frame, Failure(e.RUNTIME, f"state {frame.name!r}: {type(exc).__name__}: {exc}")
                    )

    def enter(self, frame: Frame) -> Visit:
        """Begin a state: count the visit, log `<Type>StateEntered`, prepare its data."""
        name = frame.name
        assert name is not None
        try:
            state = frame.states[name]
        except KeyError:
            raise e.StatesError(e.RUNTIME, f"no state named {name!r}") from None
        number = frame.visits.get(name, 0) + 1
        frame.visits[name] = number
        self.transitions += 1
        kind = state.get("Type")
        ql = state.get("QueryLanguage", self.ql)
        now = self._now
        visit = Visit(name, state, f"{frame.prefix}{name}#{number}", None, now)  # type: ignore[arg-type]
        visit.data = StateData(state, ql, frame.input, frame.variables, self.entropy, lambda: self.context(visit))
        self.event(frame, f"{kind}StateEntered", {"name": name, "input": Raw(frame.input)})
        frame.visit = visit
        return visit

    def leave(
        self, frame: Frame, visit: Visit, output: Any, assigned: dict[str, Any], next_name: str | None = None
    ) -> None:
        """End a state: log `<Type>StateExited`, set variables, go to `next_name` (else Next) or end the frame."""
        details: dict[str, Any] = {"name": visit.name, "output": Raw(output)}
        if assigned:
            details["assignedVariables"] = assigned
            frame.variables.maps[0].update(assigned)
        self.event(frame, f"{visit.kind}StateExited", details)
        if next_name is None:
            next_name = None if visit.state.get("End") is True else visit.state.get("Next")
        if next_name is None:
            self.end_frame(frame, output)
        else:
            frame.name = next_name
            frame.input = output

    def end_frame(self, frame: Frame, output: Any) -> None:
        frame.name = None
        if frame.parent is not None:
            frame.parent.child_succeeded(self, frame, output)
            return
        try:
            check_size(output, "the execution output")
        except e.StatesError as exc:
            self.end_frame_failed(frame, Failure(exc.error, exc.cause))
            return
        self._log.add("ExecutionSucceeded", frame.last, self._now, {"output": Raw(output)})
        self._end(SUCCEEDED, output, None, None)

    def end_frame_failed(self, frame: Frame, failure: Failure) -> None:
        frame.failed_state, frame.name = frame.name, None
        if frame.parent is not None:
            frame.parent.child_failed(self, frame, failure)
            return
        self._log.add("ExecutionFailed", frame.last, self._now, {"error": failure.error, "cause": failure.cause})
        self._end(FAILED, None, failure.error, failure.cause)

    def _history_exhausted(self) -> None:
        """Fail the execution: its history reached the limit ([limits] history_events)."""
        cause = limits.history_cause()
        self._log.add(
            "ExecutionFailed", len(self._log), self._now, {"error": limits.HISTORY_LIMIT_ERROR, "cause": cause}
        )
        self._end(FAILED, None, limits.HISTORY_LIMIT_ERROR, cause)

    def kill(self, frame: Frame) -> None:
        """Abandon a frame (a sibling failed): its pending commands are forgotten."""
        frame.alive = False

    def _end(self, status: str, output: Any, error: str | None, cause: str | None) -> None:
        self.status, self.output, self.error, self.cause = status, output, error, cause
        self._pending.clear()
        self._deadlines.clear()
        self._runnable.clear()

    # -- reports and deadlines -----------------------------------------------------------------

    def _receive(self, kind: str, id: str, a: Any, b: Any) -> None:
        from lockgate.asl import _states

        if id == EXECUTION_TIMEOUT_TIMER:
            if kind == "fire":
                self._time_out()
            return
        if kind == "activity_started":
            waiting = self._pending.get(id)
            if waiting is not None and waiting[1].alive:
                self.event(waiting[1], "ActivityStarted", {"workerName": str(a or "")})
            return
        if kind == "update_map_run":
            from lockgate.asl._distributed import update_map_run

            update_map_run(self, id, a)
            return
        if kind == "heartbeat":
            entry = self._deadlines.get(id)
            if entry is not None and entry[1] is not None:
                self._deadlines[id] = (entry[0], entry[1], self._now + entry[1])
            return
        waiting = self._pending.pop(id, None)
        self._deadlines.pop(id, None)
        if waiting is None:
            return  # a late report for an attempt that timed out or was abandoned
        what, frame, visit = waiting
        if not frame.alive:
            return
        try:
            _states.on_report(self, what, kind, frame, visit, a, b)
        except Exception as exc:  # as in _drain: a broken definition fails the execution
            log.warning("state %r failed unexpectedly: %r", frame.name, exc, exc_info=log.isEnabledFor(logging.DEBUG))
            self.end_frame_failed(frame, Failure(e.RUNTIME, f"state {frame.name!r}: {type(exc).__name__}: {exc}"))

    def _check_deadlines(self, now: float) -> None:
        from lockgate.asl import _states

        if self._deadline is not None and now >= self._deadline:
            self._time_out()
            return
        expired = []
        for id, (timeout_at, _beat, beat_due) in self._deadlines.items():
            if timeout_at is not None and now >= timeout_at:
                expired.append((id, e.TIMEOUT, "Task timed out"))
            elif beat_due is not None and now >= beat_due:
                expired.append((id, e.HEARTBEAT_TIMEOUT, "Task missed its heartbeat"))
        for id, error, cause in expired:
            self._deadlines.pop(id, None)
            waiting = self._pending.pop(id, None)
            if waiting is not None and waiting[1].alive and self.status == RUNNING:
                _states.on_report(self, waiting[0], "timeout", waiting[1], waiting[2], error, cause)

    def _time_out(self) -> None:
        if self.status != RUNNING:
            return
        cause = f"the execution ran past its TimeoutSeconds ({self.definition.get('TimeoutSeconds')})"
        self._log.add("ExecutionTimedOut", len(self._log), self._now, {"error": e.TIMEOUT, "cause": cause})
        self._end(TIMED_OUT, None, e.TIMEOUT, cause)

    # -- failures -----------------------------------------------------------------------------

    def state_failed(self, frame: Frame, visit: Visit, failure: Failure, retry: Callable[[], None] | None) -> None:
        """A state failed: retry it (after a backoff timer), catch it, or fail its frame."""
        # Three interruptions (the worker died under each) are final, as for a Python step: no
        # Retrier retries them; a Catch still catches them.
        if retry is not None and visit.counts and failure.error != INTERRUPTED:
            index = retrier_for(visit.state, failure)
            if index is not None:
                try:
                    rule = policy(visit.state["Retry"][index])
                except e.StatesError as exc:
                    self.end_frame_failed(frame, Failure(exc.error, exc.cause))
                    return
                visit.counts[index] += 1
                draw = self.entropy.random() if rule.jitter == "FULL" else 0.0
                wait = rule.delay(visit.counts[index], draw)
                if wait is not None:
                    self.retried.append(
                        (visit.name, visit.retries + 1, failure.error, failure.cause, index, visit.counts[index], wait)
                    )
                    visit.retries += 1
                    visit.data.refresh_context()
                    visit.activity = retry
                    timer = f"{visit.attempt_id()}/backoff"
                    self.issue(StartTimer(timer, self._now + wait), frame, visit, "backoff")
                    return
        catcher = catcher_for(visit.state, failure)
        if catcher is None:
            self.end_frame_failed(frame, failure)
            return
        data = visit.data
        error_output = failure.output()
        try:
            assigned = data.assignments(catcher.get("Assign"), error_output, errorOutput=error_output)
            output = data.output(error_output, rule=catcher, errorOutput=error_output)
        except e.StatesError as exc:
            self.end_frame_failed(frame, Failure(exc.error, exc.cause))
            return
        self.leave(frame, visit, output, assigned, catcher.get("Next"))
