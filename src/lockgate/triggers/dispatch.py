"""Starting queued runs: claim them within the concurrency limits and run each in a worker thread.

Claims go through the store (SKIP LOCKED on PostgreSQL), so several schedulers share one queue.
A state machine's run (kind "asl") starts as a durable execution with the trigger's event as input.
A run is checked before it starts: its pipeline must bind its params and compile, and a
manifest's files must all exist; otherwise it fails at once with the reason, and no step runs.
"""

from __future__ import annotations

import heapq
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.core.errors import LockgateError
from lockgate.store.schema import events, runs
from lockgate.triggers.manifests import Manifest, check_event

log = logging.getLogger(__name__)

INVALID_PARAMS = "lockgate.InvalidParams"
COMPILE_FAILED = "lockgate.CompileFailed"


class Dispatcher:
    """Runs claimed runs on up to `max_runs` daemon threads; calls `on_done` after each run ends."""

    def __init__(
        self,
        runtime: Any,
        pipelines: Mapping[str, Any],
        max_runs: int,
        on_done: Callable[[], None],
        park_after: float | None = None,
    ) -> None:
        """`park_after`: a state machine execution that only waits for a timer further away than
        this many seconds gives its thread back and is continued here when the timer is due."""
        if max_runs < 1:
            raise ValueError("max_runs must be at least 1")
        self.park_after = park_after
        self._parked: list[tuple[float, str]] = []  # (due, run id), a heap
        self._parked_beat = 0.0
        self.runtime = runtime
        self.pipelines = pipelines
        self.max_runs = max_runs
        self._on_done = on_done
        self._jobs: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._in_flight: set[str] = set()
        self._shared: dict[str, bool] = {}  # run id -> its dead owner drove other runs too
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.finished = 0

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def dispatch(self, paused: set[str]) -> int:
        """Claim as many queued runs as the limits allow and start them; returns how many.

        Parked executions whose timer is due are continued first (they are not counted).
        """
        self._unpark()
        free = self.max_runs - self.in_flight
        if free <= 0:
            return 0
        engine = self.runtime.store.engine
        with engine.begin() as conn:
            waiting = {
                row.pipeline
                for row in conn.execute(sa.select(runs.c.pipeline).where(runs.c.status == "QUEUED").distinct())
            }
        names = [n for n in waiting if n in self.pipelines and n not in paused]
        if not names:
            return 0
        limited = {n: self.pipelines[n].max_active_runs for n in names if self.pipelines[n].max_active_runs}
        claimed: list[Any] = []
        for name, cap in sorted(limited.items()):
            if free - len(claimed) > 0:
                claimed += self._claim_capped(name, cap, free - len(claimed))
        rest = sorted(n for n in names if n not in limited)
        if rest and free - len(claimed) > 0:
            claimed += self.runtime.claim_queued(free - len(claimed), rest)
        reopened = _with_history(self.runtime, [r.run_id for r in claimed if r.kind == "python"])
        for record in claimed:
            self._submit("reopened" if record.run_id in reopened else "start", record)
        return len(claimed)

    def _claim_capped(self, pipeline: str, cap: int, limit: int) -> list[Any]:
        """Claim within `max_active_runs`, counted and claimed in one transaction (exact across schedulers)."""
        from lockgate.store.attempts import claim_capped

        runtime = self.runtime
        ids = claim_capped(runtime.store.engine, runtime.owner, runtime.clock(), pipeline, cap, limit)
        return [record for record in (runtime.store.get_run(run_id) for run_id in ids) if record is not None]

    def resume_orphans(self) -> int:
        """Adopt runs left RUNNING by a process that died: another scheduler, or a `lockgate run`.

        Python runs resume from their history (which holds the workflow); a state machine's run
        needs its definition, so only this scheduler's state machines are adopted.
        """
        count = 0
        running = self.runtime.store.list_runs(status="RUNNING", limit=100_000)
        # Taken before any is claimed: a dead process that drove several runs (a service) is not
        # counted against the steps it was running (Runtime.resume's `shared`).
        owners = Counter(record.owner for record in running)
        for record in running:
            with self._lock:
                if record.run_id in self._in_flight:
                    continue
            known = record.pipeline in self.pipelines or record.kind == "python"
            if known and self.runtime.is_orphaned(record):
                with self._lock:
                    self._shared[record.run_id] = owners[record.owner] > 1
                self._submit("resume", record)
                count += 1
        return count

    # -- parked state machine executions -------------------------------------------------------

    def _park(self, run_id: str) -> Callable[[float], bool] | None:
        if self.park_after is None:
            return None
        park_after = self.park_after

        def park(due: float) -> bool:
            if due - self.runtime.clock() <= park_after:
                return False
            with self._lock:
                heapq.heappush(self._parked, (due, run_id))
            log.info("run %s waits for a timer; parked until %s", run_id, _json.iso(due), extra={"run_id": run_id})
            self._on_done()  # the scheduler's next wait accounts for this timer
            return True

        return park

    def next_parked(self) -> float | None:
        """When the earliest parked execution is due, if any."""
        with self._lock:
            return self._parked[0][0] if self._parked else None

    def _unpark(self) -> None:
        """Continue the parked executions that are due; keep the others' heartbeats fresh."""
        now = self.runtime.clock()
        due: list[str] = []
        with self._lock:
            while self._parked and self._parked[0][0] <= now:
                due.append(heapq.heappop(self._parked)[1])
            waiting = [run_id for _, run_id in self._parked]
        for run_id in due:
            record = self.runtime.store.get_run(run_id)
            if record is not None and record.status == "RUNNING" and record.owner == self.runtime.owner:
                self._submit("continue", record)
        if waiting and now - self._parked_beat >= self.runtime.heartbeat_seconds:
            self._parked_beat = now
            gone = {r for r in waiting if not self.runtime.store.append(r, [], None, self.runtime.owner, now)}
            if gone:  # stopped, or taken over by another scheduler
                with self._lock:
                    self._parked = [entry for entry in self._parked if entry[1] not in gone]
                    heapq.heapify(self._parked)

    def _submit(self, kind: str, record: Any) -> None:
        with self._lock:
            self._in_flight.add(record.run_id)
            if len(self._threads) < self.max_runs and len(self._threads) < len(self._in_flight):
                thread = threading.Thread(target=self._work, name=f"lockgate-run-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._jobs.put((kind, record))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            kind, record = job
            try:
                pipeline = self.pipelines.get(record.pipeline)
                if kind == "resume" and self.runtime.requeue_unstarted(record):
                    pass  # claimed by a process that died before the run's first commit: queued again
                elif kind in ("resume", "continue") and record.kind == "asl" and getattr(pipeline, "kind", "") == "asl":
                    assert pipeline is not None
                    # with its project's resource map; "continue" takes back a run this process parked
                    pipeline.resume(self.runtime, record.run_id, self._park(record.run_id), own=kind == "continue")
                elif kind == "resume":
                    with self._lock:
                        shared = self._shared.pop(record.run_id, None)
                    self.runtime.resume(record.run_id, shared=shared)
                elif kind == "reopened":  # by a clear or a mark: it goes on as it was compiled
                    self.runtime.carry_on(record.run_id)
                else:
                    self._start(record)
            except LockgateError as exc:
                log.warning("run %s could not go on here: %s", record.run_id, exc, extra={"run_id": record.run_id})
            except Exception:
                log.exception(
                    "run %s broke its worker; it is resumed at the next start",
                    record.run_id,
                    extra={"run_id": record.run_id},
                )
            finally:
                with self._lock:
                    self._in_flight.discard(record.run_id)
                    self.finished += 1
                    self._idle.notify_all()
                self._on_done()

    def _start(self, record: Any) -> None:
        pipeline = self.pipelines[record.pipeline]
        if any(isinstance(t, Manifest) for t in pipeline.triggers):
            problem = check_event(record.params.get("event"))
            if problem is not None:
                log.warning("run %s of %s fails before it starts: %s", record.run_id, record.pipeline, problem[1])
                self.runtime.fail_claimed(record, *problem)
                return
        if getattr(pipeline, "kind", "python") == "asl":
            pipeline.start_claimed(self.runtime, record, self._park(record.run_id))  # a durable execution
            return
        try:
            bound = pipeline.bind(record.params)
        except LockgateError as exc:
            self.runtime.fail_claimed(record, INVALID_PARAMS, str(exc))
            return
        try:
            workflow = pipeline.compile(bound)
        except Exception as exc:
            self.runtime.fail_claimed(record, COMPILE_FAILED, f"pipeline {pipeline.name}: {type(exc).__name__}: {exc}")
            return
        self.runtime.execute_claimed(record, workflow, show=False)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is in flight; False if some still are after `timeout` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._in_flight, timeout)

    def stop(self) -> None:
        """Let the worker threads end after their current run (they are daemons: exit does not wait)."""
        for _ in self._threads:
            self._jobs.put(None)


def _with_history(runtime: Any, run_ids: list[str]) -> set[str]:
    """Which of these queued runs have a history (reopened by a clear or a mark), in one query."""
    if not run_ids:
        return set()
    found: set[str] = set()
    with runtime.store.engine.begin() as conn:
        for i in range(0, len(run_ids), 500):
            query = sa.select(events.c.run_id).where(events.c.run_id.in_(run_ids[i : i + 500])).distinct()
            found |= set(conn.execute(query).scalars())
    return found
