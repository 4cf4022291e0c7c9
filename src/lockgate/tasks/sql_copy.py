"""`sql_copy`: copy a table or query between databases and the lake, in batches, all or nothing.

A source or destination is a SQLAlchemy URL (`postgresql+psycopg://`, `mysql+pymysql://`,
`sqlite:///`), the name of a `[connections.NAME]` with a `url`, or a lake URI (a path,
`file://`, `s3://`) of Parquet data: one file, or a folder of files. Database passwords
never appear in logs, results or errors.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from lockgate.config import mask_url
from lockgate.core.errors import TaskError, UsageError
from lockgate.dag.task import task
from lockgate.tasks import _connections

log = logging.getLogger(__name__)

MODES = ("append", "replace")
_LAKE_SCHEMES = ("file", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory", "hdfs")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.I)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One side of a copy: a database URL or a lake URI, and how to show it."""

    kind: str  # "database" or "lake"
    address: str
    shown: str


def endpoint(text: str, parameter: str) -> Endpoint:
    """Resolve a URL, a connection name or a lake path; raises UsageError naming `parameter`."""
    if not isinstance(text, str) or not text:
        raise UsageError(f"sql_copy: {parameter} must be a URL, a connection name or a path, not {text!r}")
    match = _SCHEME.match(text)
    if match is None:
        named = _connections.lookup(text) if "/" not in text else None
        if named is not None:
            url = _connections.database_url(text)
            resolved = endpoint(url, f"{parameter} (connection {text!r})")
            return Endpoint(resolved.kind, resolved.address, f"{text} ({resolved.shown})")
        return Endpoint("lake", text, text)
    scheme = match.group(1).lower()
    if scheme in _LAKE_SCHEMES:
        return Endpoint("lake", text, text)
    return Endpoint("database", text, mask_url(text))


def _engine(url: str, shown: str) -> Any:
    import sqlalchemy as sa

    try:
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise UsageError(f"sql_copy: {shown} is not a usable database URL: {_scrub(str(exc), url)}") from None


def _scrub(text: str, *urls: str) -> str:
    """`text` without any password from `urls` (drivers sometimes echo their connection strings)."""
    from sqlalchemy.engine import make_url

    text = mask_url(text)
    for url in urls:
        try:
            password = make_url(url).password
        except Exception:  # not a SQLAlchemy URL: nothing of it to hide
            continue
        if password:
            text = text.replace(str(password), "***")
    return text


def _failure(exc: Exception, where: str, *urls: str) -> TaskError:
    """A database error as a TaskError: lost connections are soft, everything else hard."""
    import sqlalchemy as sa

    first = str(exc).split("\n[SQL:", 1)[0].strip()
    soft = isinstance(exc, sa.exc.OperationalError | sa.exc.TimeoutError | sa.exc.InterfaceError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
    )
    return TaskError(f"sql_copy {where}: {_scrub(first, *urls)}", error="lockgate.SqlCopyFailed", retryable=soft)


class _Tracker:
    """Passes batches through, keeping the row count and the largest watermark value seen."""

    def __init__(self, batches: Iterable[Any], watermark: str | None) -> None:
        self.batches = batches
        self.watermark = watermark
        self.high: Any = None

    def __iter__(self) -> Iterator[Any]:
        import pyarrow.compute as pc

        for batch in self.batches:
            if self.watermark is not None and batch.num_rows:
                top = pc.max(batch.column(self.watermark)).as_py()
                if top is not None and (self.high is None or top > self.high):
                    self.high = top
            yield batch


def _part_name() -> str:
    """A destination file name part: the same on every attempt of one step, so retries overwrite."""
    from lockgate.attempt import current

    ctx = current()
    if ctx is not None:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{ctx.run_id}-{ctx.step}")
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.time_ns() % 1_000_000_000:09d}"


def _watermark_store() -> Any:
    from lockgate.runtime import default_runtime

    engine = getattr(default_runtime().store, "engine", None)
    if engine is None:
        raise UsageError("sql_copy: watermark needs a SQL metadata store (LOCKGATE_DATABASE_URL)")
    return engine


@task
def sql_copy(
    source: str,
    dest: str,
    *,
    table: str | None = None,
    query: str | None = None,
    mode: str = "append",
    watermark: str | None = None,
    batch_size: int = 50_000,
    dest_table: str | None = None,
) -> dict[str, Any]:
    """Copy rows from `source` to `dest`; returns {"rows", "dest", "watermark"}.

    From a database, `table` or `query` says what to read; into a database, `dest_table`
    (default: `table`) says where to write, created from the data's schema when missing.
    `mode` is "append" or "replace". With `watermark`, only rows whose column is above the
    last copied value are read, and the new value is kept only once the copy has committed.
    """
    if mode not in MODES:
        raise UsageError(f"sql_copy: mode {mode!r} is not one of {', '.join(MODES)}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"sql_copy: batch_size must be a positive integer, not {batch_size!r}")
    src = endpoint(source, "source")
    dst = endpoint(dest, "dest")
    if src.kind == "database":
        if (table is None) == (query is None):
            raise UsageError("sql_copy: a database source needs exactly one of table= or query=")
    elif query is not None:
        raise UsageError("sql_copy: query= reads a database; the source is a lake URI (use lockgate.tasks.query)")
    target = dest_table or table
    if dst.kind == "database" and not target:
        raise UsageError("sql_copy: a database destination needs table= (or dest_table=)")

    from lockgate.tasks import _watermarks

    store = _watermark_store() if watermark else None
    key = _watermarks.key_of(src.shown, table or query or "", watermark or "", dst.shown, target or "")
    description = f"{src.shown} {table or query} -> {dst.shown} {target or ''} by {watermark}"
    after = _watermarks.read(store, key) if store is not None else None
    log.info("copying %s to %s%s", src.shown, dst.shown, f" where {watermark} > {after!r}" if after is not None else "")

    import sqlalchemy as sa

    urls = [e.address for e in (src, dst) if e.kind == "database"]
    engines = []
    batches: Any = None
    try:
        if src.kind == "database":
            from lockgate.tasks import _sql_io

            src_engine = _engine(src.address, src.shown)
            engines.append(src_engine)
            batches = _sql_io.read_batches(
                src_engine, table=table, query=query, watermark=watermark, after=after, batch_size=batch_size
            )
        else:
            from lockgate.tasks import _lake_io

            batches = _lake_io.read_batches(src.address, watermark=watermark, after=after, batch_size=batch_size)
        tracker = _Tracker(batches, watermark)
        if dst.kind == "database":
            from lockgate.tasks import _sql_io

            dst_engine = _engine(dst.address, dst.shown)
            engines.append(dst_engine)
            assert target is not None
            rows = _sql_io.load(dst_engine, target, tracker, mode=mode)
            where = dst.shown
        else:
            from lockgate.tasks import _lake_io

            rows, written = _lake_io.write(dst.address, tracker, mode=mode, part=_part_name())
            where = written
    except sa.exc.SQLAlchemyError as exc:
        raise _failure(exc, f"{src.shown} -> {dst.shown}", *urls) from None
    except ValueError as exc:
        if isinstance(exc, UsageError):
            raise
        raise TaskError(f"sql_copy {src.shown} -> {dst.shown}: {_scrub(str(exc), *urls)}", retryable=False) from None
    finally:
        if batches is not None and hasattr(batches, "close"):
            batches.close()  # a source left unread releases its cursor and connection now
        for engine in engines:
            engine.dispose()

    high = tracker.high if tracker.high is not None else after
    if store is not None and tracker.high is not None:
        _watermarks.write(store, key, description, tracker.high, time.time())
    log.info("copied %d rows to %s", rows, where)
    from lockgate import _json

    return {"rows": rows, "dest": where, "watermark": _json.loads(_json.dumps(high))}
