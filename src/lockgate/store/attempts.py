"""Attempts handed to workers, the workers themselves, and pools: the store's side of a cluster.

The database is the source of truth and the broker only delivers. Every change of an attempt is
a conditional UPDATE on its row, so a message delivered twice, a worker that comes back after it
was given up for dead, or two schedulers sending one waiting attempt each change it at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.core.history import TERMINAL_RUN
from lockgate.executors.base import Job
from lockgate.store.schema import attempts, events, pools, runs, workers

# States of an attempt row. `dispatched` and `running` hold a slot of the attempt's pool.
WAITING, DISPATCHED, RUNNING, DONE, INTERRUPTED = "waiting", "dispatched", "running", "done", "interrupted"
HOLDING = (DISPATCHED, RUNNING)
_ENDED = tuple(sorted(TERMINAL_RUN))
NOTIFY_CHANNEL = "lockgate_attempts"  # PostgreSQL: an attempt of the run named in the payload ended
_NOTIFY = sa.text("SELECT pg_notify(:channel, :run)")
DEFAULT_POOL_SLOTS = 1  # a pool nobody sized with `lockgate pools set` runs one attempt at a time


@dataclass(frozen=True, slots=True)
class AttemptRow:
    run_id: str
    step: str
    attempt: int
    state: str
    worker: str | None
    outcome: dict[str, Any] | None
    job: Job | None = None


@dataclass(frozen=True, slots=True)
class WorkerRow:
    worker: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: float
    heartbeat: float
    slots_in_use: int = 0


class ClusterStore:
    """The attempts, workers and pools tables of one database."""

    def __init__(self, engine: sa.Engine, direct: bool = False) -> None:
        self.engine = engine
        # `direct`: one thread's store (a worker's child), whose claim and finish go over one
        # psycopg connection of its own with one cursor, not through the pool.
        self._direct = direct
        self._conn: Any = None
        self._cursor: Any = None
        self._postgres = engine.dialect.name == "postgresql"
        # A worker's claim and finish are one statement each: run on their own (autocommit) they
        # take one round trip instead of three (BEGIN, the statement, COMMIT). SQLite keeps its
        # BEGIN IMMEDIATE transactions.
        sqlite = engine.dialect.name == "sqlite"
        self._single = engine if sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        self._insert: Any = None
        # On psycopg the claim and finish skip SQLAlchemy's execution path (a third of their
        # cost): their SQL, compiled once a process, is sent on a pooled connection in autocommit.
        self._raw = _compiled(engine.dialect) if self._postgres and engine.dialect.driver == "psycopg" else {}

    # -- attempts: the run loop's side ---------------------------------------------------------

    def put(self, jobs: Sequence[Job], now: float) -> list[Job]:
        """Record attempts to run; returns those to send now (no pool). Pooled ones wait for a slot.

        An attempt recorded before (a driver that took the run over) is left as it is.
        """
        if not jobs:
            return []
        with self.engine.begin() as conn:
            if self._postgres:
                # No wait for the flush: a row lost in a database crash is found missing by the
                # run's next driver (it records and sends the attempt again); its message, if it
                # left, finds no row and is dropped.
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            self.put_on(conn, jobs, now)
        return [j for j in jobs if not j.pool]

    def put_on(self, conn: sa.Connection, jobs: Sequence[Job], now: float) -> None:
        """`put` in a transaction of the caller's (the run's history commit)."""
        rows = [
            {
                "run_id": j.run_id,
                "step": j.step,
                "attempt": j.attempt,
                "queue": j.queue,
                "pool": j.pool,
                "priority": j.priority,
                "state": WAITING if j.pool else DISPATCHED,
                "worker": None,
                "job": _json.dumps(j.to_json()),
                "outcome": None,
                "created_at": now + i * 1e-6,
                "heartbeat": None,
            }
            for i, j in enumerate(jobs)
        ]
        if self._insert is None:
            self._insert = self._insert_new()
        conn.execute(self._insert, rows)

    def _insert_new(self) -> Any:
        name = self.engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(attempts).on_conflict_do_nothing()
        if name == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(attempts).on_conflict_do_nothing()
        return attempts.insert().prefix_with("IGNORE")

    def get(self, run_id: str, step: str, attempt: int) -> AttemptRow | None:
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(attempts).where(
                    attempts.c.run_id == run_id, attempts.c.step == step, attempts.c.attempt == attempt
                )
            ).first()
        return _attempt(row) if row is not None else None

    def ended(self, run_id: str) -> list[AttemptRow]:
        """The run's attempts that are done or interrupted and not yet forgotten."""
        c = attempts.c
        query = sa.select(c.run_id, c.step, c.attempt, c.state, c.worker, c.outcome).where(
            c.run_id == run_id, c.state.in_((DONE, INTERRUPTED))
        )
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        return [
            AttemptRow(r.run_id, r.step, r.attempt, r.state, r.worker, _json.loads(r.outcome) if r.outcome else None)
            for r in rows
        ]

    def ended_many(
        self, run_ids: Sequence[str], forget: dict[str, list[tuple[str, int]]] | None = None
    ) -> list[AttemptRow]:
        """The ended attempts of many runs, in one query per 500 runs; first, in the same
        transaction, the consumed attempts in `forget` are deleted (see `forget_many`)."""
        out: list[AttemptRow] = []
        with self.engine.begin() as conn:
            if forget:
                self._delete_ended(conn, forget)
            for i in range(0, len(run_ids), 500):
                out += [
                    AttemptRow(
                        r.run_id, r.step, r.attempt, r.state, r.worker, _json.loads(r.outcome) if r.outcome else None
                    )
                    for r in conn.execute(_ENDED_OF_RUNS, {"b_runs": list(run_ids[i : i + 500])})
                ]
        return out

    def forget(self, run_id: str, keys: Sequence[tuple[str, int]]) -> None:
        """Delete ended attempts whose outcome is in the run's history now (a late duplicate
        message finds no row and does nothing)."""
        if not keys:
            return
        with self.engine.begin() as conn:
            for i in range(0, len(keys), 200):
                chunk = keys[i : i + 200]
                conn.execute(
                    sa.delete(attempts).where(
                        attempts.c.run_id == run_id,
                        attempts.c.state.in_((DONE, INTERRUPTED)),
                        sa.tuple_(attempts.c.step, attempts.c.attempt).in_(chunk),
                    )
                )

    def forget_many(self, keys: dict[str, list[tuple[str, int]]]) -> None:
        """`forget` for many runs in one transaction."""
        with self.engine.begin() as conn:
            self._delete_ended(conn, keys)

    @staticmethod
    def _delete_ended(conn: sa.Connection, keys: dict[str, list[tuple[str, int]]]) -> None:
        for run_id, pairs in keys.items():
            for i in range(0, len(pairs), 200):
                conn.execute(
                    sa.delete(attempts).where(
                        attempts.c.run_id == run_id,
                        attempts.c.state.in_((DONE, INTERRUPTED)),
                        sa.tuple_(attempts.c.step, attempts.c.attempt).in_(pairs[i : i + 200]),
                    )
                )

    def forget_run(self, run_id: str) -> None:
        """Drop what is left of a finished run's attempts, but those still running (they hold
        their pool's slot until they end)."""
        with self.engine.begin() as conn:
            self.forget_run_on(conn, run_id)

    @staticmethod
    def forget_run_on(conn: sa.Connection, run_id: str) -> None:
        """`forget_run` in a transaction of the caller's (the run's last commit)."""
        conn.execute(_FORGET_RUN, {"b_run": run_id})

    def release_waiting(self, now: float, limit: int = 100) -> list[Job]:
        """Give free pool slots to waiting attempts, highest priority first; returns those to send.

        One transaction per pool with its row locked (PostgreSQL) or the write lock (SQLite), so
        two schedulers releasing at once never exceed a pool's slots.
        """
        with self.engine.begin() as conn:
            names = [
                row[0]
                for row in conn.execute(sa.select(attempts.c.pool).where(attempts.c.state == WAITING).distinct())
                if row[0] is not None
            ]
        sent: list[Job] = []
        for name in names:
            try:
                self._release_pool(name, limit, sent)
            except sa.exc.DBAPIError:
                if not sent:
                    raise
                break  # the attempts released so far must be sent; the next release does the rest
        return sent

    def _release_pool(self, name: str, limit: int, sent: list[Job]) -> None:
        """One pool's part of `release_waiting`, in a transaction of its own; adds to `sent`
        what it released once that is committed."""
        released: list[Job] = []
        with self.engine.begin() as conn:
            if self._postgres:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"lockgate-pool:{name}"})
            slots = conn.execute(sa.select(pools.c.slots).where(pools.c.name == name)).scalar()
            slots = DEFAULT_POOL_SLOTS if slots is None else int(slots)
            held = conn.execute(
                sa.select(sa.func.count())
                .select_from(attempts)
                .where(attempts.c.pool == name, attempts.c.state.in_(HOLDING))
            ).scalar()
            free = min(slots - int(held or 0), limit - len(sent))
            if free <= 0:
                return
            rows = conn.execute(
                sa.select(attempts.c.run_id, attempts.c.step, attempts.c.attempt, attempts.c.job)
                .where(attempts.c.pool == name, attempts.c.state == WAITING)
                .order_by(attempts.c.priority.desc(), attempts.c.created_at)
                .limit(free)
            ).all()
            for row in rows:
                done = conn.execute(
                    sa.update(attempts)
                    .where(
                        attempts.c.run_id == row.run_id,
                        attempts.c.step == row.step,
                        attempts.c.attempt == row.attempt,
                        attempts.c.state == WAITING,
                    )
                    .values(state=DISPATCHED)
                ).rowcount
                if done == 1:
                    released.append(Job.from_json(_json.loads(row.job)))
        sent.extend(released)

    def waiting_count(self, run_id: str) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(attempts)
                    .where(attempts.c.run_id == run_id, attempts.c.state == WAITING)
                ).scalar()
                or 0
            )

    # -- attempts: the worker's side -----------------------------------------------------------

    def claim(self, job: Job, worker: str, now: float) -> bool:
        """Take a dispatched attempt to run it here; False when it is not (any more) dispatched,
        or when its run has ended (cancelled while the message waited)."""
        params = {**_key_params(job), "b_worker": worker, "b_now": now}
        if "claim" in self._raw:
            return self._run_raw("claim", params)[0] == 1
        with self._single.begin() as conn:
            return conn.execute(_CLAIM, params).rowcount == 1

    def _run_raw(self, name: str, params: dict[str, Any]) -> tuple[int, list[Any]]:
        """One statement of `_raw` in autocommit on a pooled connection: its row count and rows."""
        sql, defaults = self._raw[name]
        if self._direct:
            return self._run_direct(sql, {**defaults, **params})
        pooled = self.engine.raw_connection()
        try:
            dbapi = pooled.driver_connection
            dbapi.autocommit = True
            try:
                cursor = dbapi.execute(sql, {**defaults, **params})
                return cursor.rowcount, cursor.fetchall() if cursor.description else []
            finally:
                if not dbapi.closed:
                    dbapi.autocommit = False
        except BaseException:
            pooled.invalidate()
            raise
        finally:
            pooled.close()

    def connect(self) -> None:
        """Open a `direct` store's connection now, not on its first claim."""
        if self._direct and self._raw:
            self._run_direct("SELECT 1", {})

    def _run_direct(self, sql: str, params: dict[str, Any]) -> tuple[int, list[Any]]:
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
                self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
                self._conn.prepare_threshold = 0  # two statements, run for the life of the process
                self._cursor = self._conn.cursor()
            cursor = self._cursor.execute(sql, params)
            return cursor.rowcount, cursor.fetchall() if cursor.description else []
        except BaseException:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            raise

    def ended_runs(self, run_ids: Sequence[str]) -> dict[str, str]:
        """Which of these runs have ended, and how (a worker stops their attempts still running)."""
        if not run_ids:
            return {}
        with self.engine.begin() as conn:
            rows = conn.execute(_ENDED_RUNS, {"b_runs": sorted(set(run_ids))}).all()
        return {row.run_id: row.status for row in rows}

    def drop(self, run_id: str, step: str, attempt: int) -> AttemptRow | None:
        """Delete an attempt its run left behind (its step was cleared or marked while it ran),
        whatever its state; returns the row as it was (None: there was none). A worker running it
        sees the row gone (`missing`) and kills its child; a message still on its way finds
        nothing to claim; its pool slot is free at once."""
        key = (attempts.c.run_id == run_id, attempts.c.step == step, attempts.c.attempt == attempt)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(attempts).where(*key).with_for_update()).first()
            if row is None:
                return None
            conn.execute(sa.delete(attempts).where(*key))
        return _attempt(row)

    def missing(self, jobs: Sequence[Job]) -> list[Job]:
        """Which of these attempts (running on a worker) have no row any more: their run gave
        them up (`drop`), so nobody waits for their outcome."""
        if not jobs:
            return []
        # Only the rows of these steps: a large run has many more, read every half second.
        params = {"b_runs": sorted({job.run_id for job in jobs}), "b_steps": sorted({job.step for job in jobs})}
        with self.engine.begin() as conn:
            found = {(r.run_id, r.step, r.attempt) for r in conn.execute(_ROWS_OF_STEPS, params)}
        return [job for job in jobs if (job.run_id, job.step, job.attempt) not in found]

    def close(self, job: Job) -> None:
        """Delete an attempt of a run that has ended: nobody will read its outcome, and its pool
        slot comes free."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(attempts).where(*_key(job)))

    def finish(self, job: Job, worker: str, outcome: dict[str, Any], now: float) -> bool:
        """Write a running attempt's outcome; False when it was given up (interrupted) meanwhile.
        On PostgreSQL the same statement notifies NOTIFY_CHANNEL with the run's id: its driver
        wakes when the outcome is committed, instead of at its next poll."""
        params = {**_key_params(job), "b_worker": worker, "b_outcome": _json.dumps(outcome), "b_now": now}
        if "finish" in self._raw:
            return bool(self._run_raw("finish", params)[1])
        with self._single.begin() as conn:
            if self._postgres:
                return conn.execute(_FINISH_NOTIFY, params).first() is not None
            return conn.execute(_FINISH, params).rowcount == 1

    def interrupt(self, job: Job, worker: str) -> bool:
        """Mark an attempt of a dead worker interrupted (once, whoever notices first)."""
        with self.engine.begin() as conn:
            done = (
                conn.execute(
                    sa.update(attempts)
                    .where(*_key(job), attempts.c.state == RUNNING, attempts.c.worker == worker)
                    .values(state=INTERRUPTED)
                ).rowcount
                == 1
            )
            if done and self._postgres:
                conn.execute(_NOTIFY, {"channel": NOTIFY_CHANNEL, "run": job.run_id})
            return done

    # -- workers ------------------------------------------------------------------------------

    def register(self, row: WorkerRow) -> None:
        values = {
            "worker": row.worker,
            "host": row.host,
            "pid": row.pid,
            "queues": ",".join(row.queues),
            "concurrency": row.concurrency,
            "started_at": row.started_at,
            "heartbeat": row.heartbeat,
        }
        with self.engine.begin() as conn:
            conn.execute(sa.delete(workers).where(workers.c.worker == row.worker))
            conn.execute(workers.insert(), values)

    def beat(self, worker: str, now: float) -> bool:
        """Refresh a worker's heartbeat and its running attempts'; False if it was swept as dead."""
        with self.engine.begin() as conn:
            alive = conn.execute(sa.update(workers).where(workers.c.worker == worker).values(heartbeat=now)).rowcount
            conn.execute(
                sa.update(attempts)
                .where(attempts.c.worker == worker, attempts.c.state == RUNNING)
                .values(heartbeat=now)
            )
        return alive == 1

    def unregister(self, worker: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(workers).where(workers.c.worker == worker))

    def worker(self, worker: str) -> WorkerRow | None:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(workers).where(workers.c.worker == worker)).first()
        return _worker(row) if row is not None else None

    def list_workers(self) -> list[WorkerRow]:
        with self.engine.begin() as conn:
            used = dict(
                conn.execute(
                    sa.select(attempts.c.worker, sa.func.count())
                    .where(attempts.c.state == RUNNING)
                    .group_by(attempts.c.worker)
                ).all()
            )
            rows = conn.execute(sa.select(workers).order_by(workers.c.host, workers.c.worker)).all()
        return [_worker(row, int(used.get(row.worker, 0))) for row in rows]

    def sweep(self, is_dead: Callable[[WorkerRow], bool]) -> int:
        """Forget dead workers and mark their running attempts interrupted; returns how many attempts.

        An attempt running under a worker with no row (swept before, or never registered) counts
        as its worker's too, once that worker is not known alive.
        """
        dead = [w.worker for w in self.list_workers() if is_dead(w)]
        interrupted = 0
        with self.engine.begin() as conn:
            for name in dead:
                interrupted += conn.execute(
                    sa.update(attempts)
                    .where(attempts.c.worker == name, attempts.c.state == RUNNING)
                    .values(state=INTERRUPTED)
                ).rowcount
                conn.execute(sa.delete(workers).where(workers.c.worker == name))
            live = sa.select(workers.c.worker)
            interrupted += conn.execute(
                sa.update(attempts)
                .where(attempts.c.state == RUNNING, attempts.c.worker.not_in(live))
                .values(state=INTERRUPTED)
            ).rowcount
            # What is left of runs that ended (their driver died, or a step ended after its run):
            # no driver will read these rows, and a waiting or dispatched one would hold a slot.
            ended = sa.exists(
                sa.select(runs.c.run_id).where(runs.c.run_id == attempts.c.run_id, runs.c.status.in_(_ENDED))
            )
            conn.execute(sa.delete(attempts).where(attempts.c.state != RUNNING, ended))
        return interrupted

    # -- pools --------------------------------------------------------------------------------

    def set_pool(self, name: str, slots: int) -> None:
        with self.engine.begin() as conn:
            if conn.execute(sa.update(pools).where(pools.c.name == name).values(slots=slots)).rowcount == 0:
                conn.execute(pools.insert(), {"name": name, "slots": slots})

    def list_pools(self) -> list[dict[str, Any]]:
        """Every pool that was sized or is named by an attempt: slots, in use, waiting."""
        with self.engine.begin() as conn:
            sized = dict(conn.execute(sa.select(pools.c.name, pools.c.slots)).all())
            counts = conn.execute(
                sa.select(attempts.c.pool, attempts.c.state, sa.func.count())
                .where(attempts.c.pool.is_not(None), attempts.c.state.in_((*HOLDING, WAITING)))
                .group_by(attempts.c.pool, attempts.c.state)
            ).all()
        out: dict[str, dict[str, Any]] = {
            name: {"name": name, "slots": int(slots), "in_use": 0, "waiting": 0} for name, slots in sized.items()
        }
        for pool, state, count in counts:
            entry = out.setdefault(pool, {"name": pool, "slots": DEFAULT_POOL_SLOTS, "in_use": 0, "waiting": 0})
            entry["waiting" if state == WAITING else "in_use"] += int(count)
        return [out[name] for name in sorted(out)]


def _key(job: Job) -> tuple[Any, ...]:
    return (attempts.c.run_id == job.run_id, attempts.c.step == job.step, attempts.c.attempt == job.attempt)


# The two statements of every attempt on a worker, built once (building a statement costs more
# Python than running it): the key and the values are bound parameters.
_KEY = (
    attempts.c.run_id == sa.bindparam("b_run"),
    attempts.c.step == sa.bindparam("b_step"),
    attempts.c.attempt == sa.bindparam("b_attempt"),
)
_RUN_ENDED = sa.exists(
    sa.select(runs.c.run_id).where(
        runs.c.run_id == sa.bindparam("b_run"),
        # the statuses as literals, not an expanding parameter: the statement compiles once, whole
        runs.c.status.in_([sa.literal_column(f"'{status}'") for status in _ENDED]),
    )
)
_CLAIM = (
    sa.update(attempts)
    .where(*_KEY, attempts.c.state == DISPATCHED, ~_RUN_ENDED)
    .values(state=RUNNING, worker=sa.bindparam("b_worker"), heartbeat=sa.bindparam("b_now"))
)
_FINISH = (
    sa.update(attempts)
    .where(*_KEY, attempts.c.state == RUNNING, attempts.c.worker == sa.bindparam("b_worker"))
    .values(state=DONE, outcome=sa.bindparam("b_outcome"), heartbeat=sa.bindparam("b_now"))
)

_ENDED_OF_RUNS = sa.select(
    attempts.c.run_id, attempts.c.step, attempts.c.attempt, attempts.c.state, attempts.c.worker, attempts.c.outcome
).where(attempts.c.run_id.in_(sa.bindparam("b_runs", expanding=True)), attempts.c.state.in_((DONE, INTERRUPTED)))
_ENDED_RUNS = sa.select(runs.c.run_id, runs.c.status).where(
    runs.c.run_id.in_(sa.bindparam("b_runs", expanding=True)), runs.c.status.in_(_ENDED)
)
_ROWS_OF_STEPS = sa.select(attempts.c.run_id, attempts.c.step, attempts.c.attempt).where(
    attempts.c.run_id.in_(sa.bindparam("b_runs", expanding=True)),
    attempts.c.step.in_(sa.bindparam("b_steps", expanding=True)),
)
_FORGET_RUN = sa.delete(attempts).where(attempts.c.run_id == sa.bindparam("b_run"), attempts.c.state != RUNNING)
_FINISHED = _FINISH.returning(attempts.c.run_id).cte("finished")
# The notification carries the outcome itself when it fits (NOTIFY payloads stop at 8,000 bytes):
# "run_id\nattempt\noutcome\nstep", the outcome empty when too large; see `notified`.
NOTIFY_OUTCOME_BYTES = 7000
_OUTCOME = sa.cast(sa.bindparam("b_outcome"), sa.String)
_FINISH_NOTIFY = sa.select(
    sa.func.pg_notify(
        NOTIFY_CHANNEL,
        _FINISHED.c.run_id
        + "\n"
        + sa.cast(sa.bindparam("b_attempt"), sa.String)
        + "\n"
        + sa.case((sa.func.octet_length(_OUTCOME) <= NOTIFY_OUTCOME_BYTES, _OUTCOME), else_="")
        + "\n"
        + sa.cast(sa.bindparam("b_step"), sa.String),
    )
).select_from(_FINISHED)


_raw_sql: dict[str, tuple[str, dict[str, Any]]] = {}


def _compiled(dialect: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """The claim's and the finish's SQL for psycopg, with their fixed parameters (once a process:
    a ClusterStore is made per run, and most never claim)."""
    if not _raw_sql:
        for name, stmt in (("claim", _CLAIM), ("finish", _FINISH_NOTIFY)):
            compiled = stmt.compile(dialect=dialect)
            _raw_sql[name] = (str(compiled), dict(compiled.params))
    return _raw_sql


def notified(payload: str) -> tuple[str, AttemptRow | None]:
    """The run a notification names, and the ended attempt it carries (None: only a wake-up, for an
    outcome too large to carry or an interruption; the reader reads the row)."""
    parts = payload.split("\n", 3)
    if len(parts) < 4 or not parts[2]:
        return parts[0], None
    run_id, attempt, outcome, step = parts
    return run_id, AttemptRow(run_id, step, int(attempt), DONE, None, _json.loads(outcome))


def _key_params(job: Job) -> dict[str, Any]:
    return {"b_run": job.run_id, "b_step": job.step, "b_attempt": job.attempt}


def _attempt(row: Any) -> AttemptRow:
    return AttemptRow(
        row.run_id,
        row.step,
        row.attempt,
        row.state,
        row.worker,
        _json.loads(row.outcome) if row.outcome else None,
        Job.from_json(_json.loads(row.job)) if row.job else None,
    )


def _worker(row: Any, used: int = 0) -> WorkerRow:
    return WorkerRow(
        row.worker,
        row.host,
        row.pid,
        [q for q in row.queues.split(",") if q],
        row.concurrency,
        row.started_at,
        row.heartbeat,
        used,
    )


def requeue_unstarted(engine: sa.Engine, run_id: str, owner: str | None) -> bool:
    """Put a RUNNING run with no history (its claimer died first) back in the queue, once."""
    owned = runs.c.owner.is_(None) if owner is None else runs.c.owner == owner
    no_events = ~sa.exists(sa.select(events.c.id).where(events.c.run_id == run_id))
    with engine.begin() as conn:
        return (
            conn.execute(
                sa.update(runs)
                .where(runs.c.run_id == run_id, runs.c.status == "RUNNING", owned, no_events)
                .values(status="QUEUED", owner=None, heartbeat_at=None, started_at=None)
            ).rowcount
            == 1
        )


def claim_queued_run(engine: sa.Engine, run_id: str, owner: str, now: float) -> bool:
    """Take one QUEUED run to start it under `owner` (False when another process claimed it first)."""
    with engine.begin() as conn:
        return (
            conn.execute(
                sa.update(runs)
                .where(runs.c.run_id == run_id, runs.c.status == "QUEUED")
                .values(
                    status="RUNNING", owner=owner, heartbeat_at=now, started_at=sa.func.coalesce(runs.c.started_at, now)
                )
            ).rowcount
            == 1
        )


def claim_capped(engine: sa.Engine, owner: str, now: float, pipeline: str, cap: int, limit: int) -> list[str]:
    """Claim queued runs of `pipeline` so that at most `cap` of its runs are RUNNING, exactly, with
    several schedulers claiming at once: the count and the claim are one transaction, serialised
    per pipeline (an advisory lock on PostgreSQL, the write lock of BEGIN IMMEDIATE on SQLite)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"lockgate-runs:{pipeline}"})
        active = conn.execute(
            sa.select(sa.func.count()).select_from(runs).where(runs.c.pipeline == pipeline, runs.c.status == "RUNNING")
        ).scalar()
        room = min(cap - int(active or 0), limit)
        if room <= 0:
            return []
        ids = [
            row[0]
            for row in conn.execute(
                sa.select(runs.c.run_id)
                .where(runs.c.pipeline == pipeline, runs.c.status == "QUEUED")
                .order_by(runs.c.created_at, runs.c.run_id)
                .limit(room)
                .with_for_update(skip_locked=True)
            )
        ]
        if ids:
            conn.execute(
                sa.update(runs)
                .where(runs.c.run_id.in_(ids), runs.c.status == "QUEUED")
                .values(status="RUNNING", owner=owner, heartbeat_at=now, started_at=now)
            )
    return ids
