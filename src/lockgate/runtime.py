"""Running pipelines durably: the loop that carries out the engine's decisions.

The engine (lockgate.core.engine) decides; this module persists each batch of events in one
transaction, then hands the attempts it started to an executor, and feeds outcomes and the
clock back in. A batch is committed before any of its attempts starts, so a crash can lose
an attempt's outcome but never its start: `resume` then records it as interrupted.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lockgate import _json, reruns
from lockgate.config import Settings
from lockgate.config import load as load_settings
from lockgate.core import engine
from lockgate.core import history as h
from lockgate.core.errors import UsageError, describe
from lockgate.core.model import Workflow
from lockgate.executors.base import Executor, Job, Outcome
from lockgate.loop import CANCEL_CHECK_SECONDS, UNREACHABLE, Lease, is_stale, look, notify, run_executor
from lockgate.store.base import NewRun, RunRecord, RunRequest, RunStore, RunUpdate
from lockgate.views import Run, new_run_id, step_views

log = logging.getLogger(__name__)

SPILLED = "__lockgate_result__"
Observer = Callable[[engine.RunState, list[h.Event]], None]

# "module:function" of each plugin; a plugin is called with every new Runtime and may add
# observers (called after each committed batch) and closers (called by Runtime.close()).
PLUGINS: list[str] = ["lockgate.notify.plugin:install"]


class Runtime:
    """A home folder, a store and an executor kind: everything needed to run pipelines."""

    def __init__(self, settings: Settings | None = None, store: RunStore | None = None) -> None:
        self.settings = settings or load_settings()
        self.home = self.settings.home.absolute()
        if store is None:
            from lockgate.store.sql import SqlStore

            store = SqlStore(
                self.settings.database_url, sqlite_synchronous=self.settings.get("engine", "sqlite_synchronous")
            )
        self.store: RunStore = store
        self.observers: list[Observer] = []
        engine_cfg = self.settings.table("engine")
        self.executor_kind: str = engine_cfg["executor"]
        self.max_workers = int(engine_cfg["max_workers"])
        self.result_max_bytes = int(engine_cfg["result_max_bytes"])
        from lockgate.asl import limits

        limits.configure(self.settings)
        self._spilled = _SpillCache(int(engine_cfg["spill_cache_bytes"]))
        self.heartbeat_seconds = float(engine_cfg["heartbeat_seconds"])
        self.stale_after = float(engine_cfg["stale_after_seconds"])
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.clock: Callable[[], float] = time.time
        self.draw: Callable[[], float] = random.random
        self.closers: list[Callable[[], None]] = []
        from lockgate.logstore import LogStore

        self.logs = LogStore(self.settings)
        for target in PLUGINS:
            import importlib

            module, _, name = target.partition(":")
            getattr(importlib.import_module(module), name)(self)

    def close(self) -> None:
        """Let plugins finish (deliver pending notifications, flush metrics); then release the store."""
        closers, self.closers = self.closers, []
        for closer in closers:
            try:
                closer()
            except Exception:
                log.exception("closing %r failed", closer)

    # -- the run queue ----------------------------------------------------------------------

    def enqueue(
        self,
        pipeline: str,
        params: dict[str, Any],
        *,
        kind: str = "python",
        idempotency_key: str | None = None,
        parent_run_id: str | None = None,
        created_by: str | None = None,
    ) -> str | None:
        """Queue a run to be started by whoever claims it; None if the idempotency key has a run.
        `created_by`: who asked (default: whoever acts now, h.current_actor)."""
        request = RunRequest(pipeline, params, idempotency_key, kind, parent_run_id, created_by)
        return self.enqueue_many([request])[0]

    def enqueue_many(self, requests: Sequence[RunRequest]) -> list[str | None]:
        """Queue many runs in one transaction; per request its new run id, or None when its
        idempotency key already had a run (also when an earlier request of the batch took it)."""
        if not requests:
            return []
        now = self.clock()
        actor = h.current_actor()
        records = [
            NewRun(
                new_run_id(now),
                r.pipeline,
                r.kind,
                r.params,
                now + i * 1e-6,  # claimed in the order requested
                status="QUEUED",
                idempotency_key=r.idempotency_key,
                parent_run_id=r.parent_run_id,
                created_by=r.created_by or actor,
            )
            for i, r in enumerate(requests)
        ]
        created = self.store.create_runs(records)
        return [record.run_id if made else None for record, made in zip(records, created, strict=True)]

    def claim_queued(self, limit: int, pipelines: list[str] | None = None) -> list[RunRecord]:
        """Take queued runs to start in this process (they become RUNNING, owned here)."""
        return self.store.claim_queued(self.owner, self.clock(), limit, pipelines)

    def execute_claimed(
        self,
        record: RunRecord,
        workflow: Workflow,
        *,
        executor: str | None = None,
        observer: Observer | None = None,
        show: bool = True,
    ) -> Run | None:
        """Start a claimed run with its compiled workflow and drive it to its end here; returns
        the run as it ended (None with `show` false: a service that starts runs has no use for
        it, and reading it back costs a replay of its history)."""
        kind = executor or self.executor_kind
        state, batch, _ = self._first_batch(record.run_id, workflow, record.params, self._capacity(kind, workflow))
        if not show:
            self._drive_quietly(state, batch, kind, observer, first_commit=True)
            return None
        return self._drive(state, batch, kind, observer, first_commit=True)

    def _first_batch(
        self, run_id: str, workflow: Workflow, params: dict[str, Any], capacity: int
    ) -> tuple[engine.RunState, list[h.Event], float]:
        """A new run's state and first events (RunStarted and the steps it starts), and when."""
        now = self.clock()
        if workflow.source and "source_sha256" not in workflow.meta:
            from lockgate.executors.sources import source_hash

            digest = source_hash(workflow.source)  # workers check their copy against it
            if digest:
                workflow = dataclasses.replace(workflow, meta={**workflow.meta, "source_sha256": digest})
        first = engine.start(run_id, workflow, params, now)
        state = engine.replay([first], self._load)
        return state, [first, *engine.decide(state, engine.Tick(), now, self.draw, capacity)], now

    def fail_claimed(self, record: RunRecord, error: str, cause: str) -> None:
        """End a claimed run that could not start (its pipeline cannot be loaded or compiled)."""
        now = self.clock()
        update = RunUpdate(status="FAILED", error=error, cause=cause, ended_at=now)
        self.store.append(record.run_id, [h.RunFailed(at=now, error=error, cause=cause)], update, self.owner, now)

    # -- starting and continuing runs ----------------------------------------------------

    def start(
        self,
        workflow: Workflow,
        params: dict[str, Any],
        *,
        kind: str = "python",
        idempotency_key: str | None = None,
        run_id: str | None = None,
        capacity: int | None = None,
        created_by: str | None = None,
    ) -> tuple[engine.RunState, list[h.Event]] | None:
        """Create a run and its first batch of events; None if the idempotency key is taken."""
        run_id = run_id or new_run_id(self.clock())
        state, batch, now = self._first_batch(run_id, workflow, params, capacity or self.max_workers)
        record = NewRun(
            run_id,
            workflow.name,
            kind,
            params,
            now,
            owner=self.owner,
            idempotency_key=idempotency_key,
            created_by=created_by or h.current_actor(),
        )
        if not self.store.create_run(record, batch):
            return None
        if state.status != "RUNNING":  # a run with nothing to do ends in its first batch
            self._finish(state, batch[-1], now)
        return state, batch

    def execute(
        self,
        workflow: Workflow,
        params: dict[str, Any],
        *,
        executor: str | None = None,
        observer: Observer | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Start a run and drive it to its end in this process."""
        kind = executor or self.executor_kind
        started = self.start(workflow, params, idempotency_key=idempotency_key, capacity=self._capacity(kind, workflow))
        if started is None:
            assert idempotency_key is not None
            record = self.store.find_by_key(idempotency_key)
            assert record is not None
            return self.view(record.run_id)
        state, batch = started
        return self._drive(state, batch, kind, observer)

    def resume(
        self,
        run_id: str,
        *,
        executor: str | None = None,
        observer: Observer | None = None,
        shared: bool | None = None,
    ) -> Run:
        """Continue a run whose process died; a finished run is just shown.

        `shared`: whether the process that died was driving other runs too (a service); its
        death then does not count toward the interruptions that fail a step, since the step need
        not have caused it. None: found out from the store (before this run is claimed).
        """
        record = self._record(run_id)
        if record.status == "RUNNING" and self.requeue_unstarted(record):
            return self.view(record.run_id)
        if record.kind == "asl":
            from lockgate.asl import durable

            durable.resume(self, record.run_id, executor=executor)
            return self.view(record.run_id)
        if record.status != "RUNNING":
            return self.view(record.run_id)
        if shared is None:
            shared = self._drove_others(record)
        if not self.store.claim(record.run_id, self.owner, self._is_stale, self.clock()):
            raise UsageError(f"run {record.run_id} is being run by {record.owner}; it has not stopped")
        events = self.store.history(record.run_id)
        state = engine.replay(events, self._load)
        now = self.clock()
        kind = executor or self.executor_kind
        # Steps on workers outlive the process that drove the run: follow them, do not interrupt.
        remote = kind == "celery"
        resumed = engine.Resume(self.owner, interrupt=not remote, counted=not shared)
        asked = reruns.pending(state, events, now)  # clears and marks its dead owner had not applied
        batch = [*asked, *engine.decide(state, resumed, now, self.draw, self._capacity(kind, state.workflow))]
        return self._drive(state, batch, kind, observer, first_commit=True, reattach=remote)

    def _drove_others(self, record: RunRecord) -> bool:
        """Whether the owner of `record` still owns other unfinished runs (it was a service)."""
        if record.owner is None:
            return False
        others = self.store.list_runs(status="RUNNING", limit=100_000)
        return any(r.owner == record.owner and r.run_id != record.run_id for r in others)

    def requeue_unstarted(self, record: RunRecord) -> bool:
        """A run claimed from the queue by a process that died before its first commit has no
        history to resume from: put it back in the queue, to be started afresh."""
        if self.store.history(record.run_id) or not self._is_stale(record.owner, record.heartbeat_at):
            return False
        engine = getattr(self.store, "engine", None)
        if engine is None:
            return False
        from lockgate.store.attempts import requeue_unstarted

        if requeue_unstarted(engine, record.run_id, record.owner):
            log.warning("run %s was claimed but never started; it is queued again", record.run_id)
        return True

    def retry(self, run_id: str, *, executor: str | None = None, observer: Observer | None = None) -> Run:
        """Run a failed run again from its failed steps, reusing what succeeded."""
        record = self._record(run_id)
        if record.kind != "python":
            from lockgate.asl.redrive import redrive

            redrive(self, record.run_id, executor=executor)
            return self.view(record.run_id)
        if record.status not in ("FAILED", "TIMED_OUT", "ABORTED"):
            raise UsageError(
                f"run {record.run_id} is {record.status}; only a failed, timed-out or aborted run can be retried"
            )
        now = self.clock()
        if not self.store.reopen(record.run_id, self.owner, h.RunRedriven(at=now), now):
            raise UsageError(f"run {record.run_id} changed while it was being retried; try again")
        state = engine.replay(self.store.history(record.run_id), self._load)
        kind = executor or self.executor_kind
        batch = engine.decide(state, engine.Tick(), now, self.draw, self._capacity(kind, state.workflow))
        return self._drive(state, batch, kind, observer, first_commit=True)

    def carry_on(self, run_id: str, *, executor: str | None = None, observer: Observer | None = None) -> Run:
        """Drive a run this process owns from its history (one reopened by clear or mark, then
        claimed here); its steps go on from where the history leaves them."""
        state = engine.replay(self.store.history(run_id), self._load)
        kind = executor or self.executor_kind
        batch = engine.decide(state, engine.Tick(), self.clock(), self.draw, self._capacity(kind))
        return self._drive(state, batch, kind, observer, first_commit=True)

    def cancel(self, run_id: str, cause: str = "cancelled by user") -> Run:
        record = self._record(run_id)
        if not self.store.abort(record.run_id, h.RunAborted(at=self.clock(), cause=cause)):
            raise UsageError(f"run {record.run_id} has already finished ({record.status})")
        return self.view(record.run_id)

    # -- reading --------------------------------------------------------------------------

    def _record(self, run_id: str) -> RunRecord:
        record = self.store.get_run(run_id)
        if record is None:
            raise UsageError(f"no run {run_id!r}")
        return record

    def state(self, run_id: str) -> tuple[RunRecord, engine.RunState, list[h.Event]]:
        record = self._record(run_id)
        events = self.store.history(record.run_id)
        if record.kind == "python" and events and isinstance(events[0], h.RunStarted):
            return record, engine.replay(events, self._load), events
        # queued, ended before it could start, or a state machine (whose states `lockgate show`
        # reads from its own history): no pipeline steps to show
        state = engine.RunState(
            record.run_id, record.pipeline, Workflow(record.pipeline, {}), record.params, record.created_at
        )
        state.status = record.status
        return record, state, events

    def view(self, run_id: str) -> Run:
        record, state, _ = self.state(run_id)
        return self._run_of(record, state)

    def _run_of(self, record: RunRecord, state: engine.RunState) -> Run:
        output = self._load_deep(record.output if record.output is not None else state.output)
        return Run(
            run_id=record.run_id,
            pipeline=record.pipeline,
            status=record.status,
            output=output,
            error=record.error,
            cause=record.cause,
            started_at=record.started_at,
            ended_at=record.ended_at,
            steps=step_views(state),
            params=record.params,
            version=state.workflow.meta.get("version") or None,
            created_by=record.created_by,
        )

    def log_dir(self, run_id: str) -> Path:
        return self.log_path(run_id, "-", 1).parent.parent

    def log_path(self, run_id: str, step: str, attempt: int) -> Path:
        """The file this machine writes an attempt's log to (see lockgate.logstore)."""
        return self.logs.local_path(run_id, step, attempt)

    # -- the loop -------------------------------------------------------------------------

    def _drive(
        self,
        state: engine.RunState,
        batch: list[h.Event],
        executor_kind: str,
        observer: Observer | None,
        first_commit: bool = False,
        reattach: bool = False,
    ) -> Run:
        self._drive_quietly(state, batch, executor_kind, observer, first_commit, reattach)
        return self.view(state.run_id)

    def _drive_quietly(
        self,
        state: engine.RunState,
        batch: list[h.Event],
        executor_kind: str,
        observer: Observer | None,
        first_commit: bool = False,
        reattach: bool = False,
    ) -> None:
        """Drive a run to its end (or until it is taken from this process), showing nothing."""
        observers = [*self.observers, *([observer] if observer else [])]
        capacity = self._capacity(executor_kind, state.workflow)
        executor = run_executor(self, executor_kind, state.run_id, capacity)
        lease = Lease(self.store, state.run_id, self.owner, self.clock, self.heartbeat_seconds)
        try:
            self._loop(lease, state, batch, executor, observers, first_commit, reattach)
        finally:
            executor.shutdown()

    def _loop(
        self,
        lease: Lease,
        state: engine.RunState,
        batch: list[h.Event],
        executor: Executor,
        observers: list[Observer],
        first_commit: bool,
        reattach: bool = False,
    ) -> None:
        """Decide (core.engine), commit (one fenced transaction per batch), then dispatch."""
        jobs: dict[tuple[str, int], Job | Outcome] = {}
        if first_commit:
            jobs = self._started_jobs(state, batch)
            if not self._commit(lease, state, batch, executor.capacity, executor, jobs):
                return
        notify(observers, state, batch)
        if reattach:  # attempts a previous owner started, still on workers
            started = {e.step for e in batch if isinstance(e, h.StepStarted)}
            for name in sorted(state.running - started):
                job = self._job(state, name, state.steps[name].attempt)
                if isinstance(job, Job):
                    executor.reattach(job)  # type: ignore[attr-defined]
        carried = self._submit(state, batch, executor, jobs)
        last_look = self.clock()
        while state.status == "RUNNING":
            now = self.clock()
            wake = state.next_wakeup()
            timeout = lease.wait_for((wake - now) if wake else None)
            timeout = min(max(0.0, timeout), max(0.0, CANCEL_CHECK_SECONDS - (now - last_look)))
            outcomes = carried + executor.wait(0 if carried else timeout)
            now = self.clock()
            if not outcomes and now - last_look >= CANCEL_CHECK_SECONDS:
                last_look = now
                if self._taken(lease, state):  # cancelled (or adopted) while its steps run
                    return
            batch = []
            for outcome in outcomes:
                batch += engine.decide(state, self._signal(state, outcome), now, self.draw, executor.capacity)
            if not outcomes or (wake is not None and wake <= now):
                batch += engine.decide(state, engine.Tick(), now, self.draw, executor.capacity)
            if not batch and not lease.beat_due(now):
                continue
            running = {name: state.steps[name].attempt for name in state.running}
            jobs = self._started_jobs(state, batch)
            if not self._commit(lease, state, batch, executor.capacity, executor, jobs):
                return
            self._stop_superseded(state, running, executor)
            notify(observers, state, batch)
            carried = self._submit(state, batch, executor, jobs)

    def _capacity(self, executor_kind: str, workflow: Workflow | None = None) -> int:
        """How many attempts of one run may run at once with this kind of executor: the
        pipeline's `max_active_tasks` when it sets one (executor celery), else `max_workers`."""
        if executor_kind == "inline":
            return 1
        limit = workflow.meta.get("max_active_tasks") if workflow is not None else None
        if executor_kind == "celery" and limit:
            return int(limit)
        return min(int(limit), self.max_workers) if limit else self.max_workers

    def _commit(
        self,
        lease: Lease,
        state: engine.RunState,
        batch: list[h.Event],
        capacity: int | None = None,
        executor: Executor | None = None,
        jobs: dict[tuple[str, int], Job | Outcome] | None = None,
    ) -> bool:
        """Persist a batch in one transaction; False when the run was taken from this process.

        An executor that keeps attempts in the store (celery) writes them in the same transaction
        (`stage`): an attempt is recorded exactly when the StepStarted that starts it is.
        A commit refused because a clear or a mark was asked of this run meanwhile applies the
        requests in the same transaction, adding their events to `batch` (lockgate.reruns); the
        executor then records its attempts itself, when they are submitted."""
        update = None
        if batch and state.status != "RUNNING":
            update = _final_update(state, batch[-1])
        stage = getattr(executor, "stage", None)
        also = None
        if stage is not None:
            also = stage([job for job in (jobs or {}).values() if isinstance(job, Job)], update is not None)
        if lease.commit(batch, update, also):
            if also is not None:
                executor.staged()  # type: ignore[union-attr]
            return True
        record = lease.stopped
        if record is not None and record.status == "RUNNING" and record.owner == self.owner + reruns.REQUESTED:
            if reruns.take_requests(self, state, batch, capacity or self._capacity(self.executor_kind, state.workflow)):
                lease.last = self.clock()
                return True
            record = self.store.get_run(state.run_id)
            lease.say_stopped(record)
        self._stopped(state, record)
        return False

    @staticmethod
    def _stop_superseded(state: engine.RunState, running: dict[str, int], executor: Executor) -> None:
        """Stop the attempts that were running before a commit and that a clear or a mark it
        applied left behind (their step has a new attempt, or an outcome set by hand)."""
        for name, attempt in running.items():
            step = state.steps.get(name)
            if step is None or step.attempt != attempt or step.status != "RUNNING":
                executor.cancel(name, attempt)

    def _taken(self, lease: Lease, state: engine.RunState) -> bool:
        """Whether the run was taken from this process (cancelled, or adopted elsewhere); if so,
        stop driving it: the caller returns, and the executor's shutdown stops its attempts. A
        clear or mark waiting for this owner (its name with the requests suffix) is not a taking:
        the next commit applies it."""
        record = look(self.store, state.run_id)
        if record is UNREACHABLE:  # the next commit waits the outage out
            return False
        mine = (self.owner, self.owner + reruns.REQUESTED)
        if record is not None and record.status == "RUNNING" and record.owner in mine:
            return False
        lease.say_stopped(record)
        self._stopped(state, record)
        return True

    def _stopped(self, state: engine.RunState, record: RunRecord | None) -> None:
        if record is not None and record.status == "ABORTED":
            engine.apply(state, h.RunAborted(at=self.clock(), cause=record.cause or "aborted"))

    def _finish(self, state: engine.RunState, last: h.Event, now: float) -> None:
        self.store.append(state.run_id, [], _final_update(state, last), self.owner, now)

    def _started_jobs(self, state: engine.RunState, batch: list[h.Event]) -> dict[tuple[str, int], Job | Outcome]:
        """The Jobs of the attempts a batch starts (their failed Outcome when one's input cannot
        be read back), built before the batch is committed."""
        return {
            (event.step, event.attempt): self._job(state, event.step, event.attempt)
            for event in batch
            if isinstance(event, h.StepStarted) and event.step in state.steps
        }

    def _submit(
        self,
        state: engine.RunState,
        batch: list[h.Event],
        executor: Executor,
        jobs: dict[tuple[str, int], Job | Outcome] | None = None,
    ) -> list[Outcome]:
        """Hand the batch's started attempts to the executor; returns those that failed to start."""
        failed = []
        for event in batch:
            if isinstance(event, h.StepStarted):
                step = state.steps.get(event.step)
                if step is None or step.status != "RUNNING" or step.attempt != event.attempt:
                    continue  # superseded in the same commit (a clear or a mark applied after it)
                job = (jobs or {}).get((event.step, event.attempt)) or self._job(state, event.step, event.attempt)
                if isinstance(job, Outcome):
                    failed.append(job)
                else:
                    executor.submit(job)
        return failed

    def _job(self, state: engine.RunState, name: str, attempt: int) -> Job | Outcome:
        """The Job of one attempt, or its failed Outcome when its input cannot be read back."""
        step = state.steps[name]
        try:
            args, kwargs = state.step_input(name)
        except (OSError, ValueError) as exc:  # a spilled result that cannot be read back
            return Outcome(name, attempt, error=describe(exc))
        spec = step.spec
        return Job(
            run_id=state.run_id,
            pipeline=state.pipeline,
            step=name,
            attempt=attempt,
            task=spec.task,
            source=state.workflow.source,
            args=args,
            kwargs=kwargs,
            log_path=str(self.log_path(state.run_id, name, attempt)),
            home=str(self.home),
            interruptions=step.interruptions,
            source_hash=str(state.workflow.meta.get("source_sha256", "")),
            queue=spec.queue,
            pool=spec.pool,
            priority=spec.priority,
            log_url=self.logs.location(state.run_id, name, attempt) if self.logs.remote else "",
            log_upload_seconds=self.logs.upload_seconds,
        )

    def _signal(self, state: engine.RunState, outcome: Outcome) -> engine.Signal:
        if outcome.interrupted:
            return engine.AttemptInterrupted(outcome.step, outcome.attempt)
        if outcome.error is not None:
            return engine.AttemptFailed(outcome.step, outcome.attempt, outcome.error)
        text = outcome.result_json or "null"
        if len(text) > self.result_max_bytes:
            try:
                result: Any = {SPILLED: self._spill(state.run_id, outcome, text)}
            except OSError as exc:  # a full or broken results folder fails the attempt, under its Retry
                return engine.AttemptFailed(outcome.step, outcome.attempt, self._unstored(state, outcome, text, exc))
        else:
            result = _json.loads(text)
        return engine.AttemptSucceeded(outcome.step, outcome.attempt, result)

    def _spill(self, run_id: str, outcome: Outcome, text: str) -> str:
        folder = self.home / "results" / run_id
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{outcome.step}.{outcome.attempt}.json"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)  # no half-written result left behind
            raise
        return path.as_uri()

    def _unstored(self, state: engine.RunState, outcome: Outcome, text: str, exc: OSError) -> Any:
        """The failure of an attempt whose result could not be written to the results folder."""
        from lockgate.core.errors import TaskError

        folder = self.home / "results" / state.run_id
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        error = TaskError(
            f"the result of {outcome.step} (attempt {outcome.attempt}, {len(text)} bytes) could not be written "
            f"to {folder}: {exc.strerror or exc}",
            error="lockgate.ResultsFolderFull" if full else "lockgate.ResultNotStored",
            retryable=True,
        )
        log.error("run %s: %s", state.run_id, error, extra={"run_id": state.run_id})
        return describe(error)

    def _load(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1 and SPILLED in value:
            return self._spilled.get(value[SPILLED])
        return value

    def _load_deep(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and SPILLED in value:
                return self._load(value)
            return {k: self._load_deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._load_deep(v) for v in value]
        return value

    def is_orphaned(self, record: RunRecord) -> bool:
        """Whether a RUNNING run's owner is gone (its process died, or its heartbeat is too old),
        so another process may take it over and resume it."""
        return self._is_stale(record.owner, record.heartbeat_at)

    def _is_stale(self, owner: str | None, heartbeat_at: float | None) -> bool:
        return is_stale(owner, heartbeat_at, self.clock(), self.stale_after, self.owner)


class _SpillCache:
    """Spilled results read back, kept while they fit in a byte budget (least recently used go).

    A spilled file never changes (its name carries the step and the attempt), so one read per
    run serves every mapped element: each element costs the same however long the list is,
    instead of every element reading and parsing the whole list again.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._values: OrderedDict[str, tuple[int, Any]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, uri: str) -> Any:
        with self._lock:
            hit = self._values.get(uri)
            if hit is not None:
                self._values.move_to_end(uri)
                return hit[1]
        from urllib.parse import unquote, urlparse

        text = Path(unquote(urlparse(uri).path)).read_text()
        value = _json.loads(text)
        if len(text) <= self.max_bytes:
            with self._lock:
                if uri not in self._values:
                    self._values[uri] = (len(text), value)
                    self._size += len(text)
                while self._size > self.max_bytes:
                    _, (size, _) = self._values.popitem(last=False)
                    self._size -= size
        return value


def _final_update(state: engine.RunState, last: h.Event) -> RunUpdate:
    return RunUpdate(
        status=state.status,
        output=state.output,
        has_output=state.status == "SUCCEEDED",
        error=state.error,
        cause=state.cause,
        ended_at=state.ended_at or last.at,
    )


# -- the module-level API ---------------------------------------------------------------

_runtimes: dict[tuple[str, str], Runtime] = {}
_runtimes_lock = threading.Lock()


def close_default() -> None:
    """Close every runtime this process made (the CLI calls it before exiting)."""
    with _runtimes_lock:
        runtimes = list(_runtimes.values())
    for runtime in runtimes:
        runtime.close()


def default_runtime() -> Runtime:
    """The runtime for the current settings, made once per (home, database)."""
    settings = load_settings()
    key = (str(settings.home.absolute()), settings.database_url)
    with _runtimes_lock:
        runtime = _runtimes.get(key)
        if runtime is None:
            runtime = _runtimes[key] = Runtime(settings)
        return runtime


def run(pipeline: Any, *args: Any, executor: str | None = None, **params: Any) -> Run:
    """Run a pipeline durably in this process and return its Run (never raises for a failed run)."""
    from lockgate.dag.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline):
        raise UsageError(f"lockgate.run takes a @pipeline, not {pipeline!r}")
    if args:
        names = [
            n
            for n, p in pipeline.signature.parameters.items()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(args) > len(names):
            raise UsageError(f"pipeline {pipeline.name} takes {len(names)} positional parameters, not {len(args)}")
        for name, value in zip(names, args, strict=False):
            if name in params:
                raise UsageError(f"pipeline {pipeline.name}: parameter {name!r} given twice")
            params[name] = value
    bound = pipeline.bind(params)
    workflow = pipeline.compile(bound)
    return default_runtime().execute(workflow, _json.loads(_json.dumps(bound)), executor=executor)
