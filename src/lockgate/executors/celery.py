"""The celery executor: attempts run on `lockgate worker` processes of any machine.

The database is the source of truth and the broker only delivers. `submit` records the attempt
in the store (table `attempts`) and then sends a message carrying the Job; a worker claims the
row with a conditional UPDATE, runs the attempt, writes its outcome to the row, and only then
acknowledges the message (late acknowledgement: a worker that dies leaves its message to be
delivered again). `wait` reads outcomes from the store, never from a result backend, and sweeps
workers whose heartbeat stopped: their running attempts become interrupted, and the run loop
starts them again without spending a retry.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.core.errors import UsageError
from lockgate.executors.base import Job, Outcome
from lockgate.loop import patiently
from lockgate.store.attempts import (
    DONE,
    HOLDING,
    NOTIFY_CHANNEL,
    WAITING,
    AttemptRow,
    ClusterStore,
    WorkerRow,
    notified,
)

log = logging.getLogger(__name__)

TASK_NAME = "lockgate.attempt"
MAX_PRIORITY = 9  # lockgate priorities are clamped to 0..9 on the broker (RabbitMQ x-max-priority 10)
SWEEP_SECONDS = 2.0
LISTEN_POLL_SECONDS = 0.5  # PostgreSQL: a full poll this often besides the NOTIFY wake-ups
FORGET_BATCH = 200  # consumed attempt rows deleted at once, at the latest with the next full poll
AWAY_LOG_SECONDS = 10.0  # while the broker is away, how often a waiting send says so
# `[celery]` keys that are lockgate's, not Celery's: everything else passes through to Celery.
OWN_KEYS = ("broker_url", "queues", "queue_prefix", "poll_seconds", "sweep_seconds", "listen")

_apps: dict[tuple[str, tuple[tuple[str, str], ...]], Any] = {}
_apps_lock = threading.Lock()


def make_app(settings: Any) -> Any:
    """The Celery app of these settings (one per process and broker); `[celery]` keys pass through."""
    table = dict(settings.table("celery"))
    key = (str(table.get("broker_url", "")), tuple(sorted((k, repr(v)) for k, v in table.items())))
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            app = _apps[key] = _new_app(settings, table)
        return app


def _new_app(settings: Any, table: dict[str, Any]) -> Any:
    from celery import Celery
    from kombu import Queue

    broker = str(table.pop("broker_url", ""))
    if not broker:
        raise UsageError("executor celery needs [celery] broker_url")
    for own in OWN_KEYS:
        table.pop(own, None)
    queues = [broker_queue(settings, name) for name in settings.queues()]
    app = Celery("lockgate", broker=broker, set_as_current=False)
    conf: dict[str, Any] = {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # Two messages a slot: when an attempt ends, the next one is already on the worker, instead
        # of a round trip to the broker away (measured: 4 ms less a step at 8 slots). Priorities
        # order the messages the broker holds; 1 makes that order strict for every message.
        "worker_prefetch_multiplier": 2,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "worker_disable_rate_limits": True,  # lockgate has none: no token bucket looked up a message
        "task_default_queue": queues[0],
        "broker_heartbeat": 10,
        # After a reconnect Celery lowers the prefetch count by the tasks still running and raises
        # it again as their acks (failing: the old connection is gone) come back, each time with a
        # basic.qos whose answer the consumer waits for; once a consumer waited there 30 s after a
        # RabbitMQ outage, until the broker dropped it. Without the reduction a worker may hold
        # one message more than its slots just after a reconnect; it waits for a free thread.
        "worker_enable_prefetch_count_reduction": False,
    }
    if is_redis(broker):
        # Kombu's Redis transport emulates priorities with one list per step, 0 the highest.
        conf["broker_transport_options"] = {
            "priority_steps": list(range(MAX_PRIORITY + 1)),
            "sep": ":",
            "queue_order_strategy": "priority",
            "visibility_timeout": 3600,
        }
    else:
        conf["task_queues"] = [
            Queue(name, routing_key=name, queue_arguments={"x-max-priority": MAX_PRIORITY + 1}) for name in queues
        ]
    conf.update(table)
    app.conf.update(conf)
    from lockgate import worker

    app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)(worker.run_attempt)
    return app


def broker_queue(settings: Any, name: str) -> str:
    """A lockgate queue's name on the broker: `[celery] queue_prefix` lets deployments share one."""
    return str(settings.get("celery", "queue_prefix", "") or "") + name


def is_redis(url: str) -> bool:
    return url.startswith(("redis://", "rediss://", "redis+socket://"))


def broker_priority(broker: str, priority: int) -> int:
    """A lockgate priority (higher first) as the transport's: AMQP counts up, Redis steps down."""
    level = max(0, min(MAX_PRIORITY, int(priority)))
    return MAX_PRIORITY - level if is_redis(broker) else level


def check_broker(app: Any, timeout: float = 3.0) -> None:
    """Raise UsageError naming the broker (password masked) when it cannot be reached."""
    from lockgate.config import mask_url

    url = str(app.conf.broker_url)
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout, interval_start=0, interval_step=0, interval_max=0)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"cannot reach the broker at {mask_url(url)}: {reason}") from None


def send(app: Any, job: Job, prefix: str = "") -> None:
    """Publish one attempt; while the broker is away this waits and retries (steps wait, none is lost)."""
    send_many(app, [job], prefix)


def send_many(app: Any, jobs: list[Job], prefix: str = "") -> None:
    """Publish attempts through one producer (a connection from the pool, acquired once)."""
    if not jobs:
        return
    broker = str(app.conf.broker_url)
    away = _Away(broker, len(jobs))
    retry = {
        "max_retries": None,
        "interval_start": 0.2,
        "interval_step": 0.5,
        "interval_max": 2.0,
        "errback": away.retrying,
    }
    headers_of = _message_headers(app)
    with app.producer_or_acquire() as producer:
        # Each queue is declared once a batch (a message sent to a queue not declared yet would be
        # dropped), not once a message as send_task does by default: that was a third of its cost.
        queues = {name: app.amqp.queues[name] for name in dict.fromkeys(prefix + job.queue for job in jobs)}
        for queue_ in queues.values():
            producer.maybe_declare(queue_, retry=True, **retry)
        for job in jobs:
            queue_ = queues[prefix + job.queue]
            task_id = uuid.uuid4().hex
            producer.publish(
                _BODY % _json.dumps(job.to_json()),
                exchange=queue_.exchange.name,
                routing_key=queue_.routing_key,
                content_type="application/json",
                content_encoding="utf-8",
                headers=headers_of(task_id),
                correlation_id=task_id,
                reply_to="",
                delivery_mode=2,  # persistent, as Celery's default
                priority=broker_priority(broker, job.priority),
                retry=True,
                retry_policy=retry,
                declare=[],
            )
    away.back()


# A message as Celery's protocol 2 has it (what send_task would publish), built here: its headers
# are the same for every attempt but for the task's id, and its body ([args], {}, embed) carries
# the Job as lockgate's own JSON, encoded once. Celery's send_task rebuilt both at each message
# (its origin, reprs, routing, signals, kombu's serializer): 0.3 ms a message in a driving process.
_BODY = '[[%s],{},{"callbacks":null,"errbacks":null,"chain":null,"chord":null}]'
_headers: dict[int, dict[str, Any]] = {}


def _message_headers(app: Any) -> Callable[[str], dict[str, Any]]:
    template = _headers.get(id(app))
    if template is None:
        made = app.amqp.create_task_message(
            "", TASK_NAME, [], {}, argsrepr="", kwargsrepr="", ignore_result=True
        )  # Celery's own headers for this task, once
        template = _headers[id(app)] = dict(made.headers)
    return lambda task_id: {**template, "id": task_id, "root_id": task_id}


class _Away:
    """Says once (then every AWAY_LOG_SECONDS) that the broker is away while sends wait for it."""

    def __init__(self, broker: str, count: int) -> None:
        self.broker = broker
        self.count = count
        self.since = 0.0
        self.said = 0.0

    def retrying(self, exc: BaseException, interval: float) -> None:
        from lockgate.config import mask_url

        now = time.monotonic()
        self.since = self.since or now
        if now - self.said >= AWAY_LOG_SECONDS:
            self.said = now
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning(
                "the broker at %s is unreachable (%s): %d attempt(s) wait to be sent; trying again until it answers",
                mask_url(self.broker),
                reason,
                self.count,
            )

    def back(self) -> None:
        if self.since:
            from lockgate.config import mask_url

            log.warning(
                "the broker at %s is back after %.1f s: attempts sent",
                mask_url(self.broker),
                time.monotonic() - self.since,
            )


def worker_is_dead(row: WorkerRow, now: float, stale_after: float, by_age: bool = True) -> bool:
    """Its heartbeat is older than `stale_after` (unless not `by_age`), or (same host) its process
    is gone: no waiting for the heartbeat to age when the kernel can tell at once."""
    if by_age and row.heartbeat < now - stale_after:
        return True
    if row.host == socket.gethostname():
        try:
            os.kill(row.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    return False


class _Watcher:
    """One thread per process and database reads the ended attempts of every run driven here in
    one query per poll (rather than one per run), and sweeps dead workers every `sweep_every`.

    A heartbeat's age counts only once this thread has reached the database for `stale_after`
    seconds on end (since it started watching, or since an outage ended): every heartbeat ages
    while the database is away, and a live worker beats again within its `heartbeat_seconds`
    of its return; a sweep meanwhile would take it for dead and have its attempts run twice.
    A worker of this host whose process is gone is dead at once, whatever the database did."""

    def __init__(
        self, cluster: ClusterStore, poll: float, sweep_every: float, stale_after: float, listen: bool = True
    ) -> None:
        self.cluster = cluster
        self.listen = listen and cluster.engine.dialect.name == "postgresql"
        self.poll = poll
        self.sweep_every = sweep_every
        self.stale_after = stale_after
        self._inbox: dict[str, queue.SimpleQueue[AttemptRow]] = {}
        self._delivered: set[tuple[str, str, int]] = set()
        self._forget: dict[str, list[tuple[str, int]]] = {}
        self._lock = threading.Lock()
        self._runs = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, run_id: str) -> queue.SimpleQueue[AttemptRow]:
        with self._lock:
            inbox = self._inbox.setdefault(run_id, queue.SimpleQueue())
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="lockgate-attempts", daemon=True)
                self._thread.start()
        self._runs.set()
        return inbox

    def unregister(self, run_id: str) -> None:
        with self._lock:
            self._inbox.pop(run_id, None)
            self._forget.pop(run_id, None)
            self._delivered = {k for k in self._delivered if k[0] != run_id}

    def forget(self, run_id: str, keys: list[tuple[str, int]]) -> None:
        """Delete these ended attempts (their outcomes are in the history now) before the next poll,
        off the run loop's thread."""
        with self._lock:
            self._forget.setdefault(run_id, []).extend(keys)

    def _forget_count(self) -> int:
        with self._lock:
            return sum(len(keys) for keys in self._forget.values())

    def _forget_now(self) -> None:
        batch = self._take_forget()
        if batch:
            self.cluster.forget_many(batch)
            self._forgotten(batch)

    def _take_forget(self) -> dict[str, list[tuple[str, int]]]:
        with self._lock:
            batch, self._forget = self._forget, {}
        return batch

    def _forgotten(self, batch: dict[str, list[tuple[str, int]]]) -> None:
        with self._lock:
            for run_id, keys in batch.items():
                for step, attempt in keys:
                    self._delivered.discard((run_id, step, attempt))

    def _unforget(self, batch: dict[str, list[tuple[str, int]]]) -> None:
        with self._lock:
            for run_id, keys in batch.items():
                if run_id in self._inbox:
                    self._forget.setdefault(run_id, []).extend(keys)

    def _sweep(self, ages_from: float) -> None:
        by_age = time.monotonic() >= ages_from
        self.cluster.sweep(lambda w: worker_is_dead(w, time.time(), self.stale_after, by_age))

    def _loop(self) -> None:
        last_sweep = last_full = 0.0
        ages_from: float | None = None  # when heartbeats' ages count again (None: from the next read)
        listener = _Listener(self.cluster.engine) if self.listen else None
        while True:
            with self._lock:
                ids = list(self._inbox)
                if not ids:
                    self._runs.clear()
            if not ids:
                try:
                    self._forget_now()
                except Exception as exc:
                    log.warning("forgetting ended attempts failed: %s", exc)
                self._runs.wait(1.0)
                ages_from = None  # the database was not watched meanwhile
                continue
            forget: dict[str, list[tuple[str, int]]] = {}
            try:
                carried: list[AttemptRow] = []
                full = True
                if listener is not None:
                    # Woken by the workers' NOTIFY, which carries the outcome when it fits; a full
                    # poll now and then is the fallback.
                    woke = listener.wait(max(0.0, LISTEN_POLL_SECONDS - (time.monotonic() - last_full)))
                    if woke is None or time.monotonic() - last_full >= LISTEN_POLL_SECONDS:
                        last_full = time.monotonic()
                    else:
                        full = False
                        carried = [row for row in woke.values() if row is not None]
                        to_read = {run_id for (run_id, _, _), row in woke.items() if row is None}
                        ids = [run_id for run_id in ids if run_id in to_read]
                # Consumed rows are deleted in a read's transaction (one commit for both), at the
                # latest with the next full poll: not one transaction per outcome.
                if full or ids or self._forget_count() >= FORGET_BATCH:
                    forget = self._take_forget()
                rows = carried + (self.cluster.ended_many(ids, forget) if ids or forget else [])
                self._forgotten(forget)
                forget = {}
                if ages_from is None:
                    ages_from = time.monotonic() + self.stale_after
                with self._lock:
                    for row in rows:
                        key = (row.run_id, row.step, row.attempt)
                        inbox = self._inbox.get(row.run_id)
                        if inbox is not None and key not in self._delivered:
                            self._delivered.add(key)
                            inbox.put(row)
                now = time.monotonic()
                if now - last_sweep >= self.sweep_every:
                    last_sweep = now
                    self._sweep(ages_from)
            except Exception as exc:  # the database is away for a moment: the runs wait
                log.warning("reading attempt outcomes failed: %s", exc)
                ages_from = None
                self._unforget(forget)
                time.sleep(1.0)
            if listener is None or not listener.listening:
                time.sleep(self.poll)


class _Listener:
    """A PostgreSQL connection of its own that LISTENs on NOTIFY_CHANNEL for ended attempts."""

    def __init__(self, engine: Any) -> None:
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.conn: Any = None

    @property
    def listening(self) -> bool:
        return self.conn is not None and not self.conn.closed

    def wait(self, timeout: float) -> dict[tuple[str, str, int], AttemptRow | None] | None:
        """What was notified within `timeout`: each ended attempt that a notification carried,
        and (keyed by run id, "" and 0, with None) each run to read; None when not listening yet
        (or any more): the caller polls every run then."""
        try:
            if not self.listening:
                import psycopg

                self.conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
                self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                return None  # what ended before the LISTEN is found by the poll
            payloads = [n.payload for n in self.conn.notifies(timeout=timeout, stop_after=1)]
            if payloads:
                payloads += [n.payload for n in self.conn.notifies(timeout=0)]
            woke: dict[tuple[str, str, int], AttemptRow | None] = {}
            for payload in payloads:
                run_id, row = notified(payload)
                woke[(run_id, row.step, row.attempt) if row is not None else (run_id, "", 0)] = row
            return woke
        except Exception as exc:  # the database is away: poll until listening works again
            log.warning(
                "listening for ended attempts failed (%s); polling", str(exc).splitlines()[0] if str(exc) else exc
            )
            if self.conn is not None:
                try:
                    self.conn.close()
                except Exception:
                    pass
            self.conn = None
            time.sleep(0.5)
            return None


_watchers: dict[int, _Watcher] = {}


def _watcher(runtime: Any, poll: float, sweep_every: float, listen: bool = True) -> _Watcher:
    engine = runtime.store.engine
    with _apps_lock:
        found = _watchers.get(id(engine))
        if found is None:
            found = _watchers[id(engine)] = _Watcher(
                ClusterStore(engine), poll, sweep_every, runtime.stale_after, listen
            )
        return found


class CeleryExecutor:
    """Runs one run's attempts on the worker cluster; outcomes come back through the store."""

    def __init__(self, runtime: Any, run_id: str, capacity: int) -> None:
        self.capacity = capacity
        self.run_id = run_id
        self.runtime = runtime
        self.app = make_app(runtime.settings)
        self.cluster = ClusterStore(runtime.store.engine)
        table = runtime.settings.table("celery")
        self.sweep_every = float(table.get("sweep_seconds", SWEEP_SECONDS))
        self.prefix = str(table.get("queue_prefix", "") or "")
        listen = str(table.get("listen", True)).lower() not in ("false", "0", "no", "off")
        self.watcher = _watcher(runtime, float(table.get("poll_seconds", 0.005)), self.sweep_every, listen)
        self._inbox = self.watcher.register(run_id)
        self._pending: set[tuple[str, int]] = set()
        self._unsent: list[Job] = []
        self._waiting = 0  # attempts of this run waiting for a pool slot
        self._consumed: list[tuple[str, int]] = []  # returned by wait; forgotten once committed
        self._last_release = 0.0
        self._to_drop: list[tuple[str, int]] = []  # attempts given up whose rows are not deleted yet
        self._staging: tuple[list[Job], bool] = ([], False)
        self._recorded: set[tuple[str, int]] = set()  # attempts whose rows the run's commit wrote
        self._forgotten = False  # the run's last commit deleted its consumed rows
        self._release_failing = False  # the database did not answer the last release

    def stage(self, jobs: list[Job], final: bool) -> Callable[[sa.Connection], None] | None:
        """What the run loop's next commit writes besides the history: the rows of the attempts
        it starts (one transaction less per batch than recording them on their own), and with
        the run's last commit the deletion of its consumed rows. `staged` says it landed."""
        self._staging = (jobs, final)
        if not jobs and not final:
            return None
        now = self.runtime.clock()

        def write(conn: sa.Connection) -> None:
            if jobs:
                self.cluster.put_on(conn, jobs, now)
            if final:
                self.cluster.forget_run_on(conn, self.run_id)

        return write

    def staged(self) -> None:
        """The commit carrying the last `stage` landed: its attempts are recorded."""
        jobs, final = self._staging
        self._recorded.update((job.step, job.attempt) for job in jobs)
        self._forgotten = self._forgotten or final
        self._staging = ([], False)

    def submit(self, job: Job) -> None:
        """Buffer the attempt; the next `wait` records (unless the run's commit did) and sends a batch's attempts."""
        self._pending.add((job.step, job.attempt))
        self._unsent.append(job)

    def _flush(self) -> None:
        jobs, self._unsent = self._unsent, []
        if not jobs:
            return
        recorded = {(job.step, job.attempt) for job in jobs} & self._recorded
        self._recorded -= recorded
        unrecorded = [job for job in jobs if (job.step, job.attempt) not in recorded]
        now = self.runtime.clock()
        to_send = patiently(lambda: self.cluster.put(unrecorded, now), self.run_id, "recording its attempts")
        to_send += [job for job in jobs if (job.step, job.attempt) in recorded and not job.pool]
        pooled = sum(1 for job in jobs if job.pool)
        if pooled:
            self._waiting += pooled
            self._try_release()
        send_many(self.app, to_send, self.prefix)

    def reattach(self, job: Job) -> None:
        """Follow an attempt a previous driver of this run started: its worker may still run it."""
        row = patiently(lambda: self.cluster.get(job.run_id, job.step, job.attempt), self.run_id, "following it")
        if row is None:  # its driver died between committing the start and recording the attempt
            self.submit(job)
            self._flush()
            return
        self._pending.add((job.step, job.attempt))
        if row.state == "dispatched":
            send(self.app, job, self.prefix)  # its message may never have left; a duplicate is a no-op
        elif row.state == "waiting":
            self._waiting += 1

    def _release(self) -> None:
        self._last_release = time.monotonic()
        released = self.cluster.release_waiting(self.runtime.clock())
        self._waiting -= sum(1 for ready in released if ready.run_id == self.run_id)
        send_many(self.app, released, self.prefix)

    def _try_release(self, recount: bool = False) -> None:
        """`_release` (after counting this run's waiting attempts again when `recount`), unless the
        database does not answer: a wait after the next `sweep_every` tries again, and the
        attempts wait in their rows meanwhile."""
        from lockgate.store.sql import describe_unreachable, unreachable

        try:
            if recount:
                self._waiting = self.cluster.waiting_count(self.run_id)
            self._release()
        except Exception as exc:
            if not unreachable(exc):
                raise
            self._last_release = time.monotonic()
            if not self._release_failing:
                log.warning(
                    "run %s: handing pool slots on failed (%s); trying again", self.run_id, describe_unreachable(exc)
                )
            self._release_failing = True
            return
        self._release_failing = False

    def wait(self, timeout: float | None) -> list[Outcome]:
        self._drop()
        self._flush()
        # What the previous wait returned is committed in the history by now.
        if self._consumed:
            self.watcher.forget(self.run_id, self._consumed)
            self._consumed = []
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            now = time.monotonic()
            block = self.sweep_every if deadline is None else max(0.0, min(self.sweep_every, deadline - now))
            try:
                rows = [self._inbox.get(timeout=block)] if block > 0 else [self._inbox.get_nowait()]
            except queue.Empty:
                rows = []
            while True:
                try:
                    rows.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            outcomes = self._collect(rows)
            if outcomes:
                return outcomes
            now = time.monotonic()
            if self._waiting > 0 and now - self._last_release >= self.sweep_every:
                self._try_release(recount=True)  # a slot freed by another run's attempt
            if deadline is not None and now >= deadline:
                return []

    def _collect(self, rows: list[AttemptRow]) -> list[Outcome]:
        out = []
        for row in rows:
            key = (row.step, row.attempt)
            if key not in self._pending:
                continue
            self._pending.discard(key)
            self._consumed.append(key)
            if row.state == DONE and row.outcome is not None:
                out.append(Outcome.from_json(row.outcome))
            else:
                out.append(Outcome(row.step, row.attempt, interrupted=True))
        if out and self._waiting > 0:
            self._try_release()  # slots of this run's pools came free
        return out

    def cancel(self, step: str, attempt: int) -> None:
        """Give up an attempt: its row is deleted, so the worker running it kills its child (it
        watches for that every 0.5 s), a message not taken yet runs nothing, and its pool slot
        goes to the next waiting attempt."""
        key = (step, attempt)
        unsent = [job for job in self._unsent if (job.step, job.attempt) == key]
        self._unsent = [job for job in self._unsent if (job.step, job.attempt) != key]
        if key not in self._pending:
            return
        self._pending.discard(key)
        if unsent and key not in self._recorded:  # not recorded nor sent yet
            return
        self._recorded.discard(key)
        self._to_drop.append(key)
        self._drop()

    def _drop(self) -> None:
        """Delete the rows of given-up attempts; while the database is away, at the next `wait`."""
        freed = False
        while self._to_drop:
            step, attempt = self._to_drop[0]
            try:
                row = self.cluster.drop(self.run_id, step, attempt)
            except Exception as exc:
                log.warning("giving up attempt %s/%s#%d failed (%s); trying again", self.run_id, step, attempt, exc)
                return
            self._to_drop.pop(0)
            if row is not None and row.state == WAITING:
                self._waiting -= 1
            elif row is not None and row.state in HOLDING:
                freed = True
        if freed:  # a slot of its pool came free (else the next wait's release hands it on)
            try:
                self._release()
            except Exception as exc:
                log.warning("handing on a freed pool slot failed (%s); the next release does", exc)

    def shutdown(self) -> None:
        self.watcher.unregister(self.run_id)
        self._unsent = []  # the run ended (or was taken) before they were sent: nothing to run
        # A run that ended leaves no rows but those still running; a run taken from this process
        # (cancelled elsewhere, adopted) keeps them all, for its next driver.
        if self._forgotten:
            return
        from lockgate.store.sql import describe_unreachable, unreachable

        try:
            record = self.runtime.store.get_run(self.run_id)
            if record is not None and record.status != "RUNNING":
                self.cluster.forget_run(self.run_id)
        except Exception as exc:  # the sweep deletes what is left of an ended run
            if not unreachable(exc):
                raise
            log.warning("run %s: its attempts' rows are left to the sweep (%s)", self.run_id, describe_unreachable(exc))
