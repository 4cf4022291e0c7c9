"""The RunStore on SQLAlchemy Core: a SQLite file (WAL) by default, PostgreSQL at scale."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.core.history import TERMINAL_RUN, Event, event_from
from lockgate.store.base import REOPENABLE, NewRun, RunRecord, RunUpdate
from lockgate.store.schema import events, runs

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
_CHUNK = 500  # values per IN (...) list


def head_revision() -> str:
    """The newest migration, read from the versions folder without importing Alembic."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text()
        rev = re.search(r'^revision\s*=\s*"([^"]+)"', text, re.M)
        down = re.search(r'^down_revision\s*=\s*(?:"([^"]+)"|None)', text, re.M)
        if rev:
            revisions[rev.group(1)] = down.group(1) if down else None
    parents = set(revisions.values())
    heads = [rev for rev in revisions if rev not in parents]
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have one head, found {heads}")
    return heads[0]


def unreachable(exc: BaseException) -> bool:
    """Whether a store error means the database cannot be reached for now (stopped, restarting, a
    network cut: try again later), not that the statement is wrong."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.InvalidatePoolError)):
        return True
    if type(exc).__module__.startswith("psycopg"):  # from a statement sent on psycopg itself
        import psycopg

        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
    return False


def describe_unreachable(exc: BaseException) -> str:
    """One line for the log: the driver's error class and the first line of its message."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0] if lines else ''}"


POOL_SIZE = 20  # connections kept per engine (PostgreSQL, MariaDB); as many more opened when needed


def make_engine(url: str, *, sqlite_synchronous: str = "NORMAL", pool_size: int = POOL_SIZE) -> sa.Engine:
    """An Engine with lockgate's connection settings (WAL and BEGIN IMMEDIATE on SQLite)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, poolclass=sa.pool.QueuePool if ":memory:" not in url else sa.pool.StaticPool)

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi: Any, _record: Any) -> None:
            dbapi.isolation_level = None  # lockgate opens every transaction itself, below
            cursor = dbapi.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            # Take the write lock up front, so two writers never deadlock upgrading a read lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # A pool as large as the threads that use it at once (a worker's slots, a service's runs): a
    # connection beyond `pool_size` is closed when given back, and opening one costs more than
    # the statement it serves (measured: a worker of 8 slots spent 10 ms a claim on the default 5).
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)
    if engine.dialect.driver == "psycopg":
        engine.dialect.do_ping = _ping_idle  # type: ignore[method-assign]
    return engine


def _ping_idle(dbapi_connection: Any) -> bool:
    """Whether a pooled PostgreSQL connection is still good, without a round trip (SQLAlchemy's
    ping sends a query and costs three: as much as the transaction it guards). A connection the
    server closed (a restart, a terminated backend) has something to read while idle: its last
    message, then the end of the stream; a good idle one has nothing."""
    import select

    import psycopg

    pgconn = dbapi_connection.pgconn
    if dbapi_connection.closed or pgconn.status != psycopg.pq.ConnStatus.OK:
        return False
    try:
        readable, _, _ = select.select([pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.OperationalError):
        return False
    return not readable


# Every module that declares tables on store.schema's metadata. A new database gets them all in
# one step (create_all), so a module with tables must be listed here; the schema tests compare
# the result with what the migrations build and fail when one is missing.
SCHEMA_MODULES = (
    "lockgate.store.schema",
    "lockgate.tasks._watermarks",
    "lockgate.catalog.schema",
    "lockgate.triggers.schema",
    "lockgate.notify.schema",
    "lockgate.asl.schema",
)

# Alembic's own bookkeeping table, as Alembic creates it, for stamping a database made by create_all.
_alembic_version = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def migrate(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration; cheap when it is already there.

    A new database (no lockgate tables, no alembic_version) gets every table at once from the
    metadata and is stamped with the head revision, without importing Alembic: running each
    migration in turn cost half a second on a first `lockgate run`. Alembic runs only for a
    database made by an older lockgate, which is behind.
    """
    from lockgate.core.errors import UsageError

    head = head_revision()
    try:
        with engine.connect() as conn:
            try:
                current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            except sa.exc.DBAPIError:
                conn.rollback()
                current = None
    except sa.exc.DatabaseError as exc:
        if engine.dialect.name != "sqlite":
            raise
        raise UsageError(f"{_where(engine)} is not a database lockgate can use: {exc.orig}") from None
    if current == head:
        return
    with engine.begin() as conn:  # on SQLite, BEGIN IMMEDIATE: one process at a time from here
        if conn.dialect.name == "postgresql":
            # Two processes starting on one new database: the second waits, then finds it made.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7340210)"))
        found = _version_or_create(conn, head)
        if found == head:
            return
        if found == _CREATED:
            log.info("database schema created at %s", head)
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    log.info("database schema upgraded from %s to %s", found, head)


_CREATED = "(created)"


def _version_or_create(conn: sa.Connection, head: str) -> str | None:
    """The database's revision, read inside the migrating transaction (another process may just
    have made it); for a database without any of lockgate's tables, create them, stamp `head`
    and return _CREATED."""
    import importlib

    from lockgate.core.errors import UsageError
    from lockgate.store.schema import metadata

    present = set(sa.inspect(conn).get_table_names())
    if "alembic_version" in present:
        return conn.execute(_alembic_version.select()).scalar()
    for name in SCHEMA_MODULES:
        importlib.import_module(name)
    ours = sorted(present & set(metadata.tables))
    if ours:
        raise UsageError(
            f"{_where(conn.engine)} has lockgate's tables ({', '.join(ours)}) but no alembic_version: "
            "lockgate did not make it, or its version record was dropped"
        )
    metadata.create_all(conn, checkfirst=False)
    _alembic_version.create(conn)
    conn.execute(_alembic_version.insert().values(version_num=head))
    return _CREATED


def _where(engine: sa.Engine) -> str:
    """The database an engine opens, password hidden, for an error message."""
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return url.database
    return url.render_as_string(hide_password=True)


class _Prepared:
    """A statement compiled once for this dialect, executed as driver SQL on the hot path.

    Building and caching a SQLAlchemy statement costs more than the SQLite commit it feeds;
    the run loop appends events for every step, so it skips that work.
    """

    def __init__(self, statement: Any, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.order = list(compiled.positiontup) if compiled.positional else None

    def params(self, values: dict[str, Any]) -> Any:
        return tuple(values[name] for name in self.order) if self.order is not None else values


class SqlStore:
    """RunStore over any SQLAlchemy URL; see RunStore for what each method promises."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL", pool_size: int = POOL_SIZE) -> None:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = make_engine(url, sqlite_synchronous=sqlite_synchronous, pool_size=pool_size)
        migrate(self.engine)
        self._insert_events = events.insert()
        dialect = self.engine.dialect
        self._append_event = _Prepared(
            events.insert().values(
                run_id=sa.bindparam("run_id"),
                type=sa.bindparam("type"),
                at=sa.bindparam("at"),
                body=sa.bindparam("body"),
            ),
            dialect,
        )
        self._fences: dict[tuple[str, ...], _Prepared] = {}

    def close(self) -> None:
        self.engine.dispose()

    @staticmethod
    def _event_rows(run_id: str, batch: Sequence[Event]) -> list[dict[str, Any]]:
        return [{"run_id": run_id, "type": e.type, "at": e.at, "body": _json.dumps(e.body())} for e in batch]

    def create_run(self, run: NewRun, batch: Sequence[Event]) -> bool:
        row = _run_row(run)
        try:
            with self.engine.begin() as conn:
                conn.execute(runs.insert(), row)
                if batch:
                    conn.execute(self._insert_events, self._event_rows(run.run_id, batch))
        except sa.exc.IntegrityError:
            if run.idempotency_key is not None and self.find_by_key(run.idempotency_key) is not None:
                return False
            raise
        return True

    def create_runs(self, new_runs: Sequence[NewRun]) -> list[bool]:
        if not new_runs:
            return []
        keys = [r.idempotency_key for r in new_runs if r.idempotency_key is not None]
        with self.engine.begin() as conn:
            taken: set[str] = set()
            for i in range(0, len(keys), _CHUNK):
                query = sa.select(runs.c.idempotency_key).where(runs.c.idempotency_key.in_(keys[i : i + _CHUNK]))
                taken.update(row[0] for row in conn.execute(query))
            rows = []
            for run in new_runs:
                if run.idempotency_key is not None:
                    if run.idempotency_key in taken:
                        continue
                    taken.add(run.idempotency_key)  # a key twice in one batch: the first wins
                rows.append(_run_row(run))
            if rows:
                # Another scheduler may insert one of these keys between our read and this write
                # (PostgreSQL, READ COMMITTED): such rows are skipped, not an error.
                conn.execute(self._insert_skipping_taken(), rows)
            ids = [row["run_id"] for row in rows]
            inserted: set[str] = set()
            for i in range(0, len(ids), _CHUNK):
                query = sa.select(runs.c.run_id).where(runs.c.run_id.in_(ids[i : i + _CHUNK]))
                inserted.update(row[0] for row in conn.execute(query))
        return [run.run_id in inserted for run in new_runs]

    def _insert_skipping_taken(self) -> Any:
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(runs).on_conflict_do_nothing()
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(runs).on_conflict_do_nothing()
        if dialect in ("mysql", "mariadb"):
            return runs.insert().prefix_with("IGNORE")
        return runs.insert()

    def append(
        self,
        run_id: str,
        batch: Sequence[Event],
        update: RunUpdate | None,
        owner: str,
        now: float,
        also: Callable[[sa.Connection], None] | None = None,
    ) -> bool:
        values: dict[str, Any] = {"heartbeat_at": now}
        if update is not None:
            if update.status is not None:
                values["status"] = update.status
            if update.has_output:
                values["output"] = _json.dumps(update.output)
            if update.error is not None:
                values["error"] = update.error
                values["cause"] = update.cause
            if update.ended_at is not None:
                values["ended_at"] = update.ended_at
        fence = self._fence(tuple(values))
        params = fence.params({"rid": run_id, "own": owner, "running": "RUNNING", **values})
        with self.engine.begin() as conn:
            if conn.exec_driver_sql(fence.sql, params).rowcount != 1:
                conn.rollback()
                return False
            if batch:
                prepared = self._append_event
                rows = [
                    prepared.params({"run_id": run_id, "type": e.type, "at": e.at, "body": _json.dumps(e.body())})
                    for e in batch
                ]
                conn.exec_driver_sql(prepared.sql, rows if len(rows) > 1 else rows[0])
            if also is not None:
                also(conn)
        return True

    def _fence(self, columns: tuple[str, ...]) -> _Prepared:
        """The fenced UPDATE of a run's row setting these columns, compiled once per set of columns
        (a heartbeat sets one; a run's last commit its status, output, error and end too)."""
        found = self._fences.get(columns)
        if found is None:
            statement = (
                sa.update(runs)
                .where(
                    runs.c.run_id == sa.bindparam("rid"),
                    runs.c.owner == sa.bindparam("own"),
                    runs.c.status == sa.bindparam("running"),
                )
                .values({column: sa.bindparam(column) for column in columns})
            )
            found = self._fences[columns] = _Prepared(statement, self.engine.dialect)
        return found

    def history(self, run_id: str) -> list[Event]:
        query = (
            sa.select(events.c.type, events.c.at, events.c.body).where(events.c.run_id == run_id).order_by(events.c.id)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        return [event_from(kind, at, _json.loads(body)) for kind, at, body in rows]

    def get_run(self, run_id: str) -> RunRecord | None:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).first()
            if row is None and run_id and len(run_id) >= 4:
                found = conn.execute(
                    sa.select(runs).where(runs.c.run_id.startswith(run_id, autoescape=True)).limit(2)
                ).all()
                row = found[0] if len(found) == 1 else None
        return _record(row) if row is not None else None

    def find_by_key(self, idempotency_key: str) -> RunRecord | None:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.idempotency_key == idempotency_key)).first()
        return _record(row) if row is not None else None

    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = 100,
        before: str | None = None,
        after: str | None = None,
    ) -> list[RunRecord]:
        """Newest first; `before` (a run id) pages on: the runs created before that one; `after`
        pages back: the runs created just after it. Keyset paging on (created_at, run_id), so a
        page costs the same however deep it is."""
        if after is not None:
            query = sa.select(runs).order_by(runs.c.created_at, runs.c.run_id).limit(limit)
        else:
            query = sa.select(runs).order_by(runs.c.created_at.desc(), runs.c.run_id.desc()).limit(limit)
        if pipeline is not None:
            query = query.where(runs.c.pipeline == pipeline)
        if status is not None:
            query = query.where(runs.c.status == status)
        with self.engine.begin() as conn:
            if before is not None:
                at = conn.execute(sa.select(runs.c.created_at).where(runs.c.run_id == before)).scalar()
                if at is None:
                    return []
                query = query.where(
                    sa.or_(runs.c.created_at < at, sa.and_(runs.c.created_at == at, runs.c.run_id < before))
                )
            if after is not None:
                at = conn.execute(sa.select(runs.c.created_at).where(runs.c.run_id == after)).scalar()
                if at is None:
                    return []
                query = query.where(
                    sa.or_(runs.c.created_at > at, sa.and_(runs.c.created_at == at, runs.c.run_id > after))
                )
                return [_record(row) for row in reversed(conn.execute(query).all())]
            return [_record(row) for row in conn.execute(query)]

    def claim(self, run_id: str, owner: str, is_stale: Callable[[str | None, float | None], bool], now: float) -> bool:
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(runs.c.owner, runs.c.heartbeat_at, runs.c.status)
                .where(runs.c.run_id == run_id)
                .with_for_update()
            ).first()
            if row is None or row.status != "RUNNING" or not is_stale(row.owner, row.heartbeat_at):
                return False
            conn.execute(
                sa.update(runs)
                .where(
                    runs.c.run_id == run_id, runs.c.owner.is_(None) if row.owner is None else runs.c.owner == row.owner
                )
                .values(owner=owner, heartbeat_at=now)
            )
        return True

    def abort(self, run_id: str, event: Event) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(runs)
                .where(runs.c.run_id == run_id, runs.c.status.not_in(sorted(TERMINAL_RUN)))
                .values(status="ABORTED", ended_at=event.at, error="lockgate.Aborted", cause=event.body().get("cause"))
            ).rowcount
            if done != 1:
                return False
            conn.execute(self._insert_events, self._event_rows(run_id, [event]))
        return True

    def claim_queued(
        self, owner: str, now: float, limit: int, pipelines: Sequence[str] | None = None
    ) -> list[RunRecord]:
        query = (
            sa.select(runs.c.run_id)
            .where(runs.c.status == "QUEUED")
            .order_by(runs.c.created_at, runs.c.run_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if pipelines is not None:
            query = query.where(runs.c.pipeline.in_(list(pipelines)))
        with self.engine.begin() as conn:
            ids = [row.run_id for row in conn.execute(query)]
            if not ids:
                return []
            conn.execute(
                sa.update(runs)
                .where(runs.c.run_id.in_(ids), runs.c.status == "QUEUED")
                .values(
                    status="RUNNING",
                    owner=owner,
                    heartbeat_at=now,
                    started_at=sa.func.coalesce(runs.c.started_at, now),  # a reopened run keeps its start
                )
            )
            rows = conn.execute(sa.select(runs).where(runs.c.run_id.in_(ids)).order_by(runs.c.created_at)).all()
        return [_record(row) for row in rows]

    def count_runs(self, status: str) -> int:
        with self.engine.begin() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(runs).where(runs.c.status == status)).scalar() or 0
            )

    def reopen(
        self,
        run_id: str,
        owner: str | None,
        event: Event,
        now: float,
        *,
        finished: Sequence[str] = REOPENABLE,
        status: str = "RUNNING",
    ) -> bool:
        """Set a finished run going again: RUNNING under `owner`, or QUEUED for a service to claim."""
        running = status == "RUNNING"
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(runs)
                .where(runs.c.run_id == run_id, runs.c.status.in_(list(finished)))
                .values(
                    status=status,
                    ended_at=None,
                    error=None,
                    cause=None,
                    output=None,
                    owner=owner if running else None,
                    heartbeat_at=now if running else None,
                )
            ).rowcount
            if done != 1:
                return False
            conn.execute(self._insert_events, self._event_rows(run_id, [event]))
        return True


def _run_row(run: NewRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "pipeline": run.pipeline,
        "kind": run.kind,
        "status": run.status,
        "params": _json.dumps(run.params),
        "created_at": run.created_at,
        "started_at": run.created_at if run.status == "RUNNING" else None,
        "owner": run.owner,
        "heartbeat_at": run.created_at if run.owner else None,
        "idempotency_key": run.idempotency_key,
        "parent_run_id": run.parent_run_id,
        "created_by": run.created_by,
    }


def _record(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row.run_id,
        pipeline=row.pipeline,
        kind=row.kind,
        status=row.status,
        params=_json.loads(row.params),
        output=_json.loads(row.output),
        error=row.error,
        cause=row.cause,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        owner=row.owner,
        heartbeat_at=row.heartbeat_at,
        idempotency_key=row.idempotency_key,
        parent_run_id=row.parent_run_id,
        created_by=row.created_by,
    )


def sqlite_url(home: str | os.PathLike[str]) -> str:
    return f"sqlite:///{Path(home).absolute() / 'lockgate.db'}"
