"""`lockgate worker`: runs attempts sent by schedulers of any machine (executor "celery").

A worker claims each attempt in the store before running it (a conditional UPDATE
`dispatched -> running`), so a message delivered twice runs once; writes the outcome to the
store; and only then returns, which acknowledges the message (`task_acks_late`). A worker that
dies mid-step leaves its message unacknowledged: the broker delivers it again (RabbitMQ at once,
Redis after its visibility timeout), and whoever sees the dead worker first (the new worker
receiving the message, or any run loop's sweep of stale heartbeats) marks the attempt
interrupted, so the run loop starts it again without spending a retry.

Pipelines come from the worker's own copy of the folder; an attempt whose pipeline file hashes
differently here than when its run started fails with a hard error naming the file and both hashes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from lockgate.core.errors import ErrorInfo, UsageError
from lockgate.executors.base import Job, Outcome
from lockgate.executors.sources import file_hash, source_file

log = logging.getLogger(__name__)

SOURCE_MISMATCH = "lockgate.SourceMismatch"
CANCEL_POLL_SECONDS = 0.5  # how often a worker running attempts asks whether their runs ended
_current: Worker | None = None


class Worker:
    """This process as a worker: its id, its store, its pipelines folder and its heartbeat."""

    def __init__(self, settings: Any, queues: list[str], concurrency: int, folder: Path | None) -> None:
        from lockgate.logstore import LogStore
        from lockgate.store.attempts import ClusterStore
        from lockgate.store.sql import POOL_SIZE, SqlStore

        self.settings = settings
        self.queues = queues
        self.concurrency = concurrency
        self.folder = folder.resolve() if folder is not None else None
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.fence = Fenced(settings.database_url, self.id)  # sent to the child with each attempt
        self.home = settings.home.absolute()
        self.logs = LogStore(settings)
        self.heartbeat_seconds = min(float(settings.get("engine", "heartbeat_seconds")), 5.0)
        self.stale_after = float(settings.get("engine", "stale_after_seconds"))
        # Each slot claims and finishes on a connection of its own; the watch and the heartbeat too.
        self.store = SqlStore(settings.database_url, pool_size=max(POOL_SIZE, concurrency + 4))
        self.cluster = ClusterStore(self.store.engine)
        self._loaded: dict[str, str] = {}  # pipeline file -> its hash when this process imported it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        from lockgate.executors.children import Children

        self.children = Children(concurrency)  # each attempt runs in one of these: a cancel kills it

    # -- life ------------------------------------------------------------------------------

    def register(self) -> None:
        from lockgate.store.attempts import WorkerRow

        now = time.time()
        self.cluster.register(
            WorkerRow(self.id, socket.gethostname(), os.getpid(), self.queues, self.concurrency, now, now)
        )

    def beat_forever(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                if not self.cluster.beat(self.id, time.time()):
                    log.warning("worker %s was taken for dead; registering again", self.id)
                    self.register()
            except Exception as exc:  # the database is away: beat again when it is back
                log.warning("worker heartbeat failed: %s", exc)

    def watch_cancels(self) -> None:
        """Kill the child running an attempt whose run has ended (cancelled, timed out, failed),
        or that its run gave up (its step was cleared or marked meanwhile: its row is gone),
        within CANCEL_POLL_SECONDS; the store is asked only while attempts run here."""
        while not self._stop.wait(CANCEL_POLL_SECONDS):
            running = self.children.running()
            if not running:
                continue
            try:
                ended = self.cluster.ended_runs([job.run_id for job in running])
                gone = self.cluster.missing([job for job in running if job.run_id not in ended])
            except Exception as exc:  # the database is away: look again when it is back
                log.warning("looking for cancelled runs failed: %s", exc)
                continue
            for run_id, status in ended.items():
                log.warning("run %s is %s: stopping its attempts running here", run_id, status)
                self.children.kill(lambda job, run_id=run_id: job.run_id == run_id, f"its run was {status}")
            for given_up in gone:
                key = (given_up.run_id, given_up.step, given_up.attempt)
                log.warning("attempt %s/%s#%d was given up by its run: stopping it", *key)
                self.children.kill(
                    lambda job, key=key: (job.run_id, job.step, job.attempt) == key,
                    f"step {given_up.step} was cleared or marked while this attempt ran",
                )

    def stop(self) -> None:
        self._stop.set()
        self.children.close(kill_running="the worker stopped")
        try:
            self.cluster.unregister(self.id)
        except Exception as exc:
            log.warning("could not remove worker %s from the store: %s", self.id, exc)

    # -- one attempt -----------------------------------------------------------------------

    def run(self, job: Job) -> None:
        """Claim, run and finish one attempt. The child that runs it claims it and writes its
        outcome itself (see `Fenced`): this process only carries the messages. What a child could
        not finish (it died, or was killed) is finished here."""
        local = self._local_source(job)
        if isinstance(local, Outcome):  # the pipeline file differs here: fail the attempt unrun
            if self._claim(job):
                self._finish(job, local)
            else:
                self._duplicate(job)
            return
        result = self.children.run(self._here(job, local), self.fence)
        if result == UNCLAIMED:
            self._duplicate(job)
            return
        if result in (WRITTEN, GIVEN_UP):
            if result == GIVEN_UP:
                _given_up(job)
            return
        # The child did not finish it (it died or was killed, before or after its claim): make the
        # attempt this worker's if it is still only dispatched, then end it here.
        self._claim(job)
        if self.children.was_killed(job):  # its child was killed here
            if self._stop.is_set():  # this worker is going away: the attempt runs again elsewhere
                self.cluster.interrupt(job, self.id)
            else:
                self._close(job)  # its run has ended: nobody reads this outcome
            return
        self._finish(job, result)

    def _duplicate(self, job: Job) -> None:
        """A claim failed: a duplicate delivery, or an attempt that ended or was given up, or one
        whose worker died while running it (marked interrupted here, so that it runs again)."""
        from lockgate.executors.celery import worker_is_dead
        from lockgate.store.attempts import RUNNING

        row = self.cluster.get(job.run_id, job.step, job.attempt)
        if row is not None and row.state == RUNNING and row.worker and row.worker != self.id:
            owner = self.cluster.worker(row.worker)
            dead = owner is None or worker_is_dead(owner, time.time(), self.stale_after)
            if dead and self.cluster.interrupt(job, row.worker):
                log.warning("attempt %s/%s#%d: its worker %s died", job.run_id, job.step, job.attempt, row.worker)

    def _claim(self, job: Job) -> bool:
        return _claim(self.cluster, job, self.id)

    def _here(self, job: Job, local: str) -> Job:
        """The job as this worker runs it: its own copy of the pipeline, its own log paths."""
        log_path = self.logs.local_path(job.run_id, job.step, job.attempt)
        log_url = self.logs.location(job.run_id, job.step, job.attempt) if self.logs.remote else ""
        here = dataclasses.replace(
            job,
            source=local,
            log_path=str(log_path),
            home=str(self.home),
            log_url=log_url,
            log_upload_seconds=self.logs.upload_seconds,
        )
        if job.resource and self.folder is not None:  # an ASL Task: python: modules from this worker's copy
            here = dataclasses.replace(here, folders=(str(self.folder),))
        return here

    def _local_source(self, job: Job) -> str | Outcome:
        """The worker's own copy of the job's pipeline file, checked against the run's hash."""
        original = source_file(job.source)
        if original is None or not job.source.startswith("file:"):
            return job.source  # a module: imported from this worker's sys.path
        path = original
        if self.folder is not None:
            path = self.folder / original.name
            if not path.is_file():  # in a subfolder of this copy (the folder is walked only then)
                path = next((c for c in sorted(self.folder.rglob(original.name)) if c.is_file()), path)
        if not path.is_file():
            return self._mismatch(job, f"{path}: no such file on this worker (the run's pipeline is {original})")
        if job.source_hash:
            here = file_hash(path)
            with self._lock:
                loaded = self._loaded.setdefault(str(path), here)
            for mine in dict.fromkeys((here, loaded)):
                if mine != job.source_hash:
                    return self._mismatch(
                        job,
                        f"{path}: sha256 {mine} on this worker, {job.source_hash} when run {job.run_id} started; "
                        "deploy the same pipelines folder to every machine (and restart workers after a change)",
                    )
        return f"file:{path}"

    @staticmethod
    def _mismatch(job: Job, cause: str) -> Outcome:
        log.error("attempt %s/%s#%d: %s", job.run_id, job.step, job.attempt, cause)
        return Outcome(job.step, job.attempt, error=ErrorInfo(name=SOURCE_MISMATCH, cause=cause, retryable=False))

    def _close(self, job: Job) -> None:
        delay = 0.2
        while True:
            try:
                self.cluster.close(job)
                log.warning(
                    "attempt %s/%s#%d stopped: its run has ended or gave it up", job.run_id, job.step, job.attempt
                )
                return
            except Exception as exc:
                log.warning("closing the attempt %s/%s failed (%s); trying again", job.run_id, job.step, exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _finish(self, job: Job, outcome: Outcome) -> None:
        if not _finish(self.cluster, job, self.id, outcome):
            _given_up(job)


UNCLAIMED = "unclaimed"  # a child's answer: the attempt was not (or no longer) dispatched


# A child's answers when the attempt ran: its outcome landed in its row, or it was given up while
# it ran (the outcome itself stays in the child: nobody here reads it).
WRITTEN, GIVEN_UP = "written", "given up"


@dataclasses.dataclass(frozen=True, slots=True)
class Fenced:
    """Sent to a worker's child with each attempt: the child claims the attempt, runs it and writes
    its outcome itself, on a database connection of its own. The worker's process, whose one
    interpreter lock also carries every message of the broker, then only passes the attempt on
    and waits; a claim and a finish there cost the whole worker their latency (measured: 2.8 ms
    each with 8 slots busy, against 1.2 ms alone)."""

    database_url: str
    worker: str

    def prepare(self) -> None:
        try:
            _child_store(self.database_url).connect()
        except Exception as exc:  # the first attempt connects (and waits out the database) instead
            log.warning("a worker's child could not reach the database yet: %s", exc)

    def __call__(self, job: Job) -> str:
        from lockgate.executors.base import execute

        cluster = _child_store(self.database_url)
        if not _claim(cluster, job, self.worker):
            return UNCLAIMED
        try:
            outcome = execute(job)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt raised by a step
            from lockgate.core.errors import describe

            outcome = Outcome(job.step, job.attempt, error=describe(exc))
        return WRITTEN if _finish(cluster, job, self.worker, outcome) else GIVEN_UP


_child_stores: dict[str, Any] = {}


def _child_store(url: str) -> Any:
    """The ClusterStore of a worker's child: one connection, opened once."""
    found = _child_stores.get(url)
    if found is None:
        from lockgate.store.attempts import ClusterStore
        from lockgate.store.sql import make_engine

        found = _child_stores[url] = ClusterStore(make_engine(url, pool_size=1), direct=True)
    return found


def _claim(cluster: Any, job: Job, worker: str) -> bool:
    """Claim the attempt; while the database is unreachable, wait for it (the message stays
    unacknowledged meanwhile: were the claim given up, its attempt would never run)."""
    from lockgate.store.sql import unreachable

    delay = 0.2
    while True:
        try:
            return bool(cluster.claim(job, worker, time.time()))
        except Exception as exc:
            if not unreachable(exc):
                raise
            log.warning("claiming %s/%s#%d failed (%s); trying again", job.run_id, job.step, job.attempt, exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _finish(cluster: Any, job: Job, worker: str, outcome: Outcome) -> bool:
    """Write the outcome before the message is acknowledged; wait for a database that is away.
    False: the attempt was given up (or finished) meanwhile."""
    delay = 0.2
    while True:
        try:
            return bool(cluster.finish(job, worker, outcome.to_json(), time.time()))
        except Exception as exc:
            log.warning("writing the outcome of %s/%s failed (%s); trying again", job.run_id, job.step, exc)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _given_up(job: Job) -> None:
    log.warning(
        "attempt %s/%s#%d was given up while it ran here; its outcome is dropped", job.run_id, job.step, job.attempt
    )


def run_attempt(job: dict[str, Any]) -> None:
    """The Celery task: one attempt, run by the worker of this process."""
    if _current is None:
        raise RuntimeError("lockgate.attempt runs only in `lockgate worker`")
    _current.run(Job.from_json(job))


def check_database(settings: Any) -> None:
    """Raise UsageError naming the database (password masked) when it cannot be reached."""
    import sqlalchemy as sa

    from lockgate.config import mask_url
    from lockgate.store.sql import make_engine

    url = settings.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise UsageError(f"cannot reach the database at {mask_url(url)}: {reason}") from None
    finally:
        engine.dispose()


def _wait_for_broker(app: Any) -> None:
    from lockgate.config import mask_url
    from lockgate.executors.celery import check_broker

    url = mask_url(str(app.conf.broker_url))
    log.warning("the worker lost the broker at %s; consuming again when it answers", url)
    said = time.monotonic()
    while True:  # a SIGTERM meanwhile ends the process (Celery's handler raises in this thread)
        try:
            check_broker(app, timeout=2.0)
        except UsageError as exc:
            if time.monotonic() - said >= 10.0:
                said = time.monotonic()
                log.warning("%s; still waiting", exc)
            time.sleep(1.0)
            continue
        log.warning("the broker at %s answers again; consuming", url)
        return


def serve(settings: Any, queues: list[str], concurrency: int, folder: Path | None) -> None:
    """Run this process as a worker until SIGTERM/SIGINT (a warm stop: running attempts finish)."""
    global _current
    from lockgate.executors.celery import broker_queue, check_broker, make_app

    if settings.get("celery", "broker_url", "") == "":
        raise UsageError("lockgate worker needs [celery] broker_url in lockgate.toml")
    known = settings.queues()
    unknown = [q for q in queues if q not in known]
    if unknown:
        raise UsageError(f"--queues: unknown queue {unknown[0]!r} (queues: {', '.join(known)})")
    check_database(settings)
    app = make_app(settings)
    check_broker(app)
    worker = Worker(settings, queues, concurrency, folder)
    _current = worker
    # the first attempts start at once, not after a process start and a connection each
    worker.children.warm(runner=worker.fence)
    worker.register()
    beat = threading.Thread(target=worker.beat_forever, name="lockgate-worker-heartbeat", daemon=True)
    beat.start()
    threading.Thread(target=worker.watch_cancels, name="lockgate-worker-cancels", daemon=True).start()
    log.info("worker %s serving queues %s with %d slots", worker.id, ",".join(queues), concurrency)
    try:
        while True:
            celery_worker = app.Worker(
                pool="threads",
                concurrency=concurrency,
                queues=[broker_queue(settings, q) for q in queues],
                hostname=f"lockgate-{worker.id.replace(':', '-')}@{socket.gethostname()}",
                without_gossip=True,
                without_mingle=True,
                without_heartbeat=True,
                loglevel="WARNING",
                quiet=True,
                optimization="fair",
            )
            celery_worker.start()
            if celery_worker.exitcode != 1:  # stopped by a signal (warm or cold shutdown)
                break
            # Celery gave up on an error of its own (some transports fail so when the broker
            # goes away with messages in flight): the attempts it ran have written their outcomes
            # to the store; consume again once the broker answers.
            _wait_for_broker(app)
    finally:
        worker.stop()
        _current = None
