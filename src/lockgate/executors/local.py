"""Executors in this machine: inline (debugging), threads (default) and processes."""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
import time

from lockgate import attempt as _context
from lockgate.core.errors import describe
from lockgate.executors.base import Job, Outcome, execute


class InlineExecutor:
    """Runs each job as it is submitted, in the caller's thread. Step timeouts cannot interrupt it."""

    capacity = 1

    def __init__(self) -> None:
        self._done: list[Outcome] = []

    def submit(self, job: Job) -> None:
        self._done.append(execute(job))

    def wait(self, timeout: float | None) -> list[Outcome]:
        done, self._done = self._done, []
        if not done and timeout:  # nothing runs elsewhere: only the clock can bring news
            time.sleep(timeout)
        return done

    def cancel(self, step: str, attempt: int) -> None:
        pass  # an attempt ends before `submit` returns: none is running when this is called

    def shutdown(self) -> None:
        pass


class _PoolExecutor:
    def __init__(self, pool: cf.Executor, capacity: int) -> None:
        self.capacity = capacity
        self._pool = pool
        self._done: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._running: dict[tuple[str, int], Job] = {}  # submitted attempts not ended yet
        self._lock = threading.Lock()

    def submit(self, job: Job) -> None:
        self._track(job)
        future = self._pool.submit(execute, job)
        future.add_done_callback(lambda f, job=job: self._ended(f, job))

    def _track(self, job: Job) -> None:
        with self._lock:
            self._running[(job.step, job.attempt)] = job

    def _ended(self, future: cf.Future[Outcome], job: Job) -> None:
        with self._lock:
            self._running.pop((job.step, job.attempt), None)
        _context.forget_superseded(job.run_id, job.step, job.attempt)
        self._done.put(self._outcome(future, job))

    def _job(self, step: str, attempt: int) -> Job | None:
        with self._lock:
            return self._running.get((step, attempt))

    @staticmethod
    def _outcome(future: cf.Future[Outcome], job: Job) -> Outcome:
        try:
            return future.result()
        except BaseException as exc:  # the worker itself died (a process killed, a pickling error)
            return Outcome(job.step, job.attempt, error=describe(exc))

    def wait(self, timeout: float | None) -> list[Outcome]:
        try:
            first = self._done.get(timeout=timeout) if timeout is None or timeout > 0 else self._done.get_nowait()
        except queue.Empty:
            return []
        done = [first]
        while True:
            try:
                done.append(self._done.get_nowait())
            except queue.Empty:
                return done

    def shutdown(self) -> None:
        # Attempts abandoned by a timeout may still run; do not wait for them.
        self._pool.shutdown(wait=False, cancel_futures=True)


class ThreadExecutor(_PoolExecutor):
    """Up to `max_workers` attempts at once in threads of this process. A thread cannot be
    stopped from outside: `cancel` makes `lockgate.attempt.cancelled()` True in the attempt's
    thread, and a step that asks returns early; one that does not runs to its end."""

    def __init__(self, max_workers: int = 8) -> None:
        super().__init__(cf.ThreadPoolExecutor(max_workers, thread_name_prefix="lockgate-step"), max_workers)

    def cancel(self, step: str, attempt: int) -> None:
        job = self._job(step, attempt)
        if job is not None:
            _context.supersede(job.run_id, step, attempt)
            if self._job(step, attempt) is None:  # it ended meanwhile: nothing to tell
                _context.forget_superseded(job.run_id, step, attempt)


class ProcessExecutor(_PoolExecutor):
    """Up to `max_workers` attempts at once, each in a child process (started fresh, not forked,
    and reused, from the one pool of this process that every run's processes executor shares).
    When the run ends or is taken from this process (cancelled, timed out, adopted), `shutdown`
    kills the children still running its attempts; the others run on."""

    def __init__(self, max_workers: int = 4) -> None:
        from lockgate.executors.children import shared

        self.children = shared()
        self.children.reserve(max_workers)
        self._runs: set[str] = set()  # the runs whose attempts came here
        self._reserved = True
        # A thread per slot waits on its child's pipe; the child runs the attempt.
        pool = cf.ThreadPoolExecutor(max_workers, thread_name_prefix="lockgate-process")
        super().__init__(pool, max_workers)

    def submit(self, job: Job) -> None:
        self._track(job)
        self._runs.add(job.run_id)
        future = self._pool.submit(self.children.run, job)
        future.add_done_callback(lambda f, job=job: self._ended(f, job))

    def _ended(self, future: cf.Future[Outcome], job: Job) -> None:
        self.children.was_killed(job)  # the shared pool forgets the attempt (its outcome says why it ended)
        super()._ended(future, job)

    def cancel(self, step: str, attempt: int) -> None:
        """Kill the child running this attempt (SIGKILL); a fresh child takes its place later."""
        job = self._job(step, attempt)
        if job is None:
            return
        self.children.cancel(job, f"step {step} was cleared or marked while this attempt ran")

    def shutdown(self) -> None:
        for run_id in self._runs:
            self.children.kill_run(run_id, "the run ended while this attempt ran")
        super().shutdown()
        if self._reserved:
            self._reserved = False
            self.children.release(self.capacity)


def make_executor(kind: str, max_workers: int) -> InlineExecutor | ThreadExecutor | ProcessExecutor:
    if kind == "inline":
        return InlineExecutor()
    if kind == "processes":
        return ProcessExecutor(max_workers)
    return ThreadExecutor(max_workers)
