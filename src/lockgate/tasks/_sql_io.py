"""Reading a database table or query in Arrow batches, and loading Arrow batches in one transaction."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from lockgate.core.errors import TaskError
from lockgate.tasks import _sql_types

log = logging.getLogger(__name__)


def split_name(name: str) -> tuple[str | None, str]:
    """`schema.table` -> (schema, table); `table` -> (None, table)."""
    schema, dot, table = name.rpartition(".")
    return (schema or None) if dot else None, table


def read_batches(
    engine: sa.Engine,
    *,
    table: str | None,
    query: str | None,
    watermark: str | None,
    after: Any,
    batch_size: int,
) -> Iterator[pa.RecordBatch]:
    """The rows of `table` or `query` (with `watermark` > `after` when `after` is not None).

    Rows stream from a server-side cursor, `batch_size` at a time, so memory stays bounded.
    """
    with engine.connect() as conn:
        if table is not None:
            schema, name = split_name(table)
            try:
                source = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn)
            except sa.exc.NoSuchTableError:
                raise TaskError(f"table {table!r} does not exist in the source database", retryable=False) from None
            stmt: Any = sa.select(source)
            if watermark is not None:
                if watermark not in source.c:
                    raise TaskError(
                        f"watermark column {watermark!r} is not a column of {table!r}"
                        f" (columns: {', '.join(source.c.keys())})",
                        retryable=False,
                    )
                if after is not None:
                    stmt = stmt.where(source.c[watermark] > after)
            types: list[pa.DataType | None] | None = [kind for _, kind in _sql_types.arrow_schema(list(source.c))]
        else:
            assert query is not None
            stmt = sa.text(query)
            if watermark is not None and after is not None:
                column = engine.dialect.identifier_preparer.quote(watermark)
                inner = query.strip().rstrip(";")
                stmt = sa.text(f"SELECT * FROM ({inner}) lockgate_source WHERE {column} > :lockgate_after")
                stmt = stmt.bindparams(lockgate_after=after)
            types = None
        result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(stmt)
        names = list(result.keys())
        if types is None:
            types = [None] * len(names)
        inferred: pa.Schema | None = None
        for rows in result.partitions(batch_size):
            batch = _sql_types.record_batch(rows, names, types)
            if inferred is None:
                inferred = batch.schema
                # Later batches of a query keep the first batch's types (a Parquet file has one schema).
                types = [None if pa.types.is_null(f.type) else f.type for f in inferred]
            elif batch.schema != inferred:
                changed = [f.name for f, g in zip(batch.schema, inferred, strict=True) if f.type != g.type]
                raise ValueError(
                    f"column {', '.join(map(repr, changed))} of the query was NULL in all of the first"
                    f" {batch_size} rows and holds values later; copy the table (table=...) or raise batch_size"
                )
            yield batch
        if inferred is None:  # no rows: still say which columns there are
            empty = pa.schema([(n, t or pa.null()) for n, t in zip(names, types, strict=True)])
            yield pa.RecordBatch.from_pylist([], schema=empty)


def load(
    engine: sa.Engine,
    table: str,
    batches: Iterable[pa.RecordBatch],
    *,
    mode: str,
    create: bool = True,
) -> int:
    """Write every batch into `table`, in one transaction; returns the row count.

    The table is created from the first batch's Arrow schema when missing. `replace`
    deletes the table's rows first, in the same transaction: a failure leaves the table as it was.
    """
    schema, name = split_name(table)
    mysql = engine.dialect.name in ("mysql", "mariadb")
    rows = 0
    iterator = iter(batches)
    first = next(iterator, None)
    with engine.begin() as conn:
        if sa.inspect(conn).has_table(name, schema=schema):
            target = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn)
        elif first is None or not create:
            raise TaskError(f"table {table!r} does not exist in the destination database", retryable=False)
        else:
            target = sa.Table(
                name,
                sa.MetaData(),
                *(sa.Column(f.name, _sql_types.sql_type(f.type), nullable=True) for f in first.schema),
                schema=schema,
            )
            target.create(conn)
            log.info("created table %s with %d columns", table, len(target.c))
        if first is not None:
            unknown = [n for n in first.schema.names if n not in target.c]
            if unknown:
                raise TaskError(
                    f"table {table!r} has no column {', '.join(map(repr, unknown))}"
                    f" (its columns: {', '.join(target.c.keys())})",
                    retryable=False,
                )
        if mode == "replace":
            conn.execute(target.delete())
        insert = target.insert()
        for batch in itertools.chain([first], iterator) if first is not None else ():
            if batch.num_rows:
                conn.execute(insert, _sql_types.python_rows(batch, mysql))
                rows += batch.num_rows
    return rows
