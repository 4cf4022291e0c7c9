"""Executors in this machine: inline (debugging), threads (default) and processes."""

from __future__ import annotations

import concurrent.futures as cf
import queue
import time

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

    def shutdown(self) -> None:
        pass


class _PoolExecutor:
    def __init__(self, pool: cf.Executor, capacity: int) -> None:
        self.capacity = capacity
        self._pool = pool
        self._done: queue.SimpleQueue[Outcome] = queue.SimpleQueue()

    def submit(self, job: Job) -> None:
        future = self._pool.submit(execute, job)
        future.add_done_callback(lambda f, job=job: self._done.put(self._outcome(f, job)))

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
    """Up to `max_workers` attempts at once in threads of this process."""

    def __init__(self, max_workers: int = 8) -> None:
        super().__init__(cf.ThreadPoolExecutor(max_workers, thread_name_prefix="lockgate-step"), max_workers)


class ProcessExecutor(_PoolExecutor):
    """Up to `max_workers` attempts at once, each in a child process of its own (started fresh,
    not forked, and reused). When the run ends or is taken from this process (cancelled, timed
    out, adopted), `shutdown` kills the children still running its attempts."""

    def __init__(self, max_workers: int = 4) -> None:
        from lockgate.executors.children import Children

        self.children = Children(max_workers)
        # A thread per slot waits on its child's pipe; the child runs the attempt.
        pool = cf.ThreadPoolExecutor(max_workers, thread_name_prefix="lockgate-process")
        super().__init__(pool, max_workers)

    def submit(self, job: Job) -> None:
        future = self._pool.submit(self.children.run, job)
        future.add_done_callback(lambda f, job=job: self._done.put(self._outcome(f, job)))

    def shutdown(self) -> None:
        self.children.close(kill_running="the run ended while this attempt ran")
        super().shutdown()


def make_executor(kind: str, max_workers: int) -> InlineExecutor | ThreadExecutor | ProcessExecutor:
    if kind == "inline":
        return InlineExecutor()
    if kind == "processes":
        return ProcessExecutor(max_workers)
    return ThreadExecutor(max_workers)
