"""Child processes that run attempts one at a time each, and that can be killed one by one.

`concurrent.futures.ProcessPoolExecutor` cannot stop one task: its workers are anonymous. Here
every child has its own pipe and the pool knows which attempt each one runs, so cancelling a run
kills exactly the children running its attempts (SIGKILL: a step sleeping or stuck in C code
stops too). A killed child is replaced by a fresh one on the next attempt. Children are spawned
(not forked: the parent has threads and open connections) and reused from attempt to attempt,
so an attempt costs a message each way on its pipe, not a process start.

A child watches its parent: when the parent dies (even by SIGKILL) the child exits within
ORPHAN_POLL_SECONDS, so no step outlives the process that was told to run it.

The processes executor of every run a process drives (Python pipelines and state machines alike,
Distributed Map children included) takes its children from one pool of that process (`shared`):
a service driving many runs keeps one set of warm children instead of starting a set per run.
Each run still runs at most its capacity of attempts at once (its executor has that many slot
threads), and its end kills only the children running its own attempts.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from lockgate.core.errors import ErrorInfo, describe
from lockgate.executors.base import Job, Outcome, execute

log = logging.getLogger(__name__)

ORPHAN_POLL_SECONDS = 0.5
IDLE_SECONDS = 60.0  # a shared pool stops children idle this long beyond what its runs reserve
ABORTED = "lockgate.Aborted"
PROCESS_DIED = "lockgate.ProcessDied"


class _Child:
    def __init__(self, context: Any) -> None:
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=_serve, args=(theirs, os.getpid()), daemon=True, name="lockgate-step")
        self.process.start()
        theirs.close()
        self.job: Job | None = None
        self.killed_for = ""  # why the pool killed it ("": it died by itself)
        self.idle_since = time.monotonic()

    def kill(self, reason: str) -> None:
        self.killed_for = self.killed_for or reason
        try:
            self.process.kill()
        except (OSError, ValueError):  # already gone or already closed
            pass

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        self.process.join(timeout=5)


class Children:
    """A pool of up to `size` warm child processes (more while killed ones are reaped)."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._reserved = 0  # the capacities of the runs using this pool now (see `reserve`)
        self._floor = self.size  # `size` never drops below the largest capacity reserved so far
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Child] = []
        self._busy: list[_Child] = []
        self._lock = threading.Lock()
        self._closed = False
        self._killed: set[tuple[str, str, int]] = set()  # attempts whose child this pool killed
        self._refused: dict[tuple[str, str, int], str] = {}  # cancelled before a child took them: why

    def warm(self, count: int | None = None, runner: Any = None) -> None:
        """Start children now (a worker does before it takes messages), not on the first attempts;
        with `runner` (see `run`), each calls its `prepare()` before it answers."""
        want = self.size if count is None else min(count, self.size)
        fresh = []
        with self._lock:
            missing = want - len(self._idle) - len(self._busy)
        for _ in range(max(0, missing)):
            fresh.append(_Child(self._context))
        for child in fresh:  # wait until each child has imported lockgate and answers
            child.conn.send(None if runner is None else (None, runner))
            child.conn.recv()
        with self._lock:
            self._idle.extend(fresh)

    def run(self, job: Job, runner: Any = None) -> Any:
        """Run one attempt in a child and wait for its outcome (in the calling thread). With
        `runner` (a picklable callable) the child returns `runner(job)` instead of `execute(job)`;
        when the child dies or is killed, or the job cannot be sent, the result is an Outcome."""
        child = self._take(job)
        if child is None:  # cancelled before it started
            with self._lock:
                reason = self._refused.pop((job.run_id, job.step, job.attempt), "")
                self._killed.add((job.run_id, job.step, job.attempt))
            return Outcome(job.step, job.attempt, error=ErrorInfo(ABORTED, reason, retryable=False))
        try:
            child.conn.send(job if runner is None else (job, runner))
            outcome = child.conn.recv()
        except (EOFError, OSError) as exc:
            child.kill("")
            child.process.join(timeout=5)
            with self._lock:
                self._busy.remove(child)
            child.close()
            if child.killed_for:
                with self._lock:
                    self._killed.add((job.run_id, job.step, job.attempt))
                return Outcome(job.step, job.attempt, error=ErrorInfo(ABORTED, child.killed_for, retryable=False))
            code = child.process.exitcode
            cause = f"the process running step {job.step} (attempt {job.attempt}) died: exit code {code} ({exc})"
            return Outcome(job.step, job.attempt, error=ErrorInfo(PROCESS_DIED, cause, retryable=True))
        except BaseException as exc:  # an attempt that cannot be pickled: the child is fine
            self._give_back(child)
            return Outcome(job.step, job.attempt, error=describe(exc))
        self._give_back(child)
        return outcome

    def _take(self, job: Job) -> _Child | None:
        """A child to run `job`, now busy with it; None when `job` was cancelled before it started."""
        key = (job.run_id, job.step, job.attempt)
        with self._lock:
            if key in self._refused:
                return None
            child = self._idle.pop() if self._idle else None
        if child is None:
            child = _Child(self._context)
        with self._lock:
            if key not in self._refused:
                child.job = job
                self._busy.append(child)
                return child
            if not self._closed and len(self._idle) + len(self._busy) < self.size:
                self._idle.append(child)
                return None
        self._stop(child)
        return None

    def _give_back(self, child: _Child) -> None:
        child.job = None
        child.idle_since = time.monotonic()
        with self._lock:
            self._busy.remove(child)
            if not self._closed and len(self._idle) + len(self._busy) < self.size:
                self._idle.append(child)
                return
        self._stop(child)

    def was_killed(self, job: Job) -> bool:
        """Whether `run(job)` returned because this pool killed its child (asked once per attempt)."""
        key = (job.run_id, job.step, job.attempt)
        with self._lock:
            found = key in self._killed
            self._killed.discard(key)
        return found

    def running(self) -> list[Job]:
        with self._lock:
            return [c.job for c in self._busy if c.job is not None]

    def kill(self, which: Callable[[Job], bool], reason: str) -> int:
        """Kill the children running attempts for which `which` is true; returns how many.
        Their `run` calls return an Outcome whose error is lockgate.Aborted with `reason`."""
        with self._lock:
            victims = [c for c in self._busy if c.job is not None and which(c.job)]
        for child in victims:
            child.kill(reason)
        return len(victims)

    def cancel(self, job: Job, reason: str) -> None:
        """Kill the child running `job`; when no child has taken it yet, it never starts. Its
        `run` returns an Outcome whose error is lockgate.Aborted with `reason`."""
        key = (job.run_id, job.step, job.attempt)
        with self._lock:
            victims = [c for c in self._busy if c.job is not None and (c.job.run_id, c.job.step, c.job.attempt) == key]
            if not victims:
                self._refused[key] = reason
        for child in victims:
            child.kill(reason)

    def reserve(self, capacity: int) -> None:
        """A run with up to `capacity` attempts at once uses this pool: keep that many more warm."""
        with self._lock:
            self._reserved += capacity
            self._floor = max(self._floor, capacity)
            self.size = max(self.size, self._reserved)
        self._trim()

    def release(self, capacity: int) -> None:
        """A run that reserved `capacity` ended. Its children stay warm for the next runs; those
        idle for IDLE_SECONDS beyond what the runs still here (or one run) need are stopped."""
        with self._lock:
            self._reserved = max(0, self._reserved - capacity)
        self._trim()

    def _trim(self) -> None:
        now = time.monotonic()
        with self._lock:
            need = max(self._floor, self._reserved)
            extra = len(self._idle) + len(self._busy) - need
            stale = [c for c in self._idle if now - c.idle_since >= IDLE_SECONDS][: max(0, extra)]
            self._idle = [c for c in self._idle if c not in stale]
            self.size = max(need, len(self._idle) + len(self._busy))
        for child in stale:
            self._stop(child)

    def kill_run(self, run_id: str, reason: str) -> int:
        """Kill the children running attempts of this run (it ended or was taken from this
        process), and forget its attempts cancelled before they started; returns how many died."""
        with self._lock:
            self._refused = {key: why for key, why in self._refused.items() if key[0] != run_id}
        return self.kill(lambda job: job.run_id == run_id, reason)

    def close(self, kill_running: str = "") -> None:
        """Stop the idle children; with `kill_running` (a reason) kill the busy ones too."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
        if kill_running:
            for child in busy:
                child.kill(kill_running)
        for child in idle:
            self._stop(child)

    @staticmethod
    def _stop(child: _Child) -> None:
        try:
            child.conn.send(False)  # stop
        except OSError:
            pass
        child.close()
        if child.process.is_alive():
            child.kill("")
            child.process.join(timeout=5)


_shared: tuple[int, Children] | None = None  # (the pid that made it, the pool)
_shared_lock = threading.Lock()


def shared() -> Children:
    """The pool of this process for the processes executor of every run it drives (a process
    made by fork gets a pool of its own: the children are its parent's)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), Children(1))
        return _shared[1]


def _serve(conn: Connection, parent: int) -> None:
    """A child's life: attempts in, outcomes out, until told to stop or its parent is gone."""
    threading.Thread(target=_watch_parent, args=(parent,), name="lockgate-orphan-watch", daemon=True).start()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:  # a ping
            conn.send(None)
            continue
        if job is False:
            return
        runner = None
        if isinstance(job, tuple):
            job, runner = job
            if job is None:  # warming: the runner gets ready (imports, connections)
                runner.prepare()
                conn.send(None)
                continue
        try:
            outcome: Any = execute(job) if runner is None else runner(job)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt raised by a step
            outcome = Outcome(job.step, job.attempt, error=describe(exc))
        try:
            conn.send(outcome)
        except (EOFError, OSError):
            return


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(ORPHAN_POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(70)
