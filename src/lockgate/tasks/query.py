"""The `query` task: SQL with DuckDB over catalog tables and raw lake URIs."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import logging
import math
import re
import uuid
from typing import Any

from lockgate import _json
from lockgate.core.errors import TaskError, UsageError
from lockgate.dag.task import task
from lockgate.tasks import _fs

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("parquet", "csv", "json", "jsonl")
_READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}
_SUFFIXES = {"parquet": (".parquet", ".pq"), "csv": (".csv", ".tsv"), "json": (".json", ".jsonl", ".ndjson")}
# `default` is a reserved word in SQL: `default.t` is rewritten to `"default".t` (outside strings).
_DEFAULT_DB = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|\bdefault(\s*\.)""", re.I)


@task
def query(
    sql: str,
    output: str | None = None,
    format: str | None = None,
    max_rows: int = 10_000,
    connection: str | None = None,
) -> Any:
    """Run SQL over the lake; catalog tables are visible as `database.table` (or `table`).

    Without `output`, returns the rows as a list of dicts (JSON-safe values), refusing more
    than `max_rows`. With `output`, writes them to that URI as Parquet, CSV, JSON or JSON
    lines (by `format`, else the extension) and returns {"uri", "rows"}.
    """
    if not isinstance(sql, str) or not sql.strip():
        raise UsageError("query: sql is empty")
    out_format = _output_format(output, format) if output else None
    import duckdb

    con = connect(sql, connection)
    try:
        text = _DEFAULT_DB.sub(lambda m: m.group(1) or f'"default"{m.group(2)}', sql)
        relation = con.sql(text)  # a relation, run as it is fetched; None for a statement without rows
        if output is None:
            return _rows(relation, max_rows)
        return _write(relation, output, out_format or "parquet", connection)
    except (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException) as exc:
        raise UsageError(f"query: {exc}") from None
    except (duckdb.IOException, duckdb.HTTPException) as exc:  # a file or an object store: may pass
        raise TaskError(f"query: {exc}", error="lockgate.QueryFailed", retryable=True) from None
    except duckdb.Error as exc:  # the data does not fit the SQL (a cast, a division): hard
        raise TaskError(f"query: {exc}", error="lockgate.QueryFailed", retryable=False) from None
    finally:
        con.close()


def _catalog_tables(catalog: Any) -> list[Any]:
    """The catalog's tables; none where there is no lockgate home yet (raw URIs still work, and a
    query creates no empty home where the user merely looked)."""
    from lockgate.config import NoHome, load

    try:
        load().check_home()
    except NoHome:
        return []
    return list(catalog.default().tables())


def connect(sql: str, connection: str | None = None) -> Any:
    """A DuckDB connection with S3 readable and the catalog tables `sql` names as views."""
    import duckdb

    from lockgate.catalog.store import Catalog

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    tables = [t for t in _catalog_tables(Catalog) if _mentions(sql, t.name)]
    if "s3://" in sql or "s3a://" in sql or any(t.location.startswith("s3") for t in tables):
        fs, _ = _fs.filesystem("s3://", connection)
        con.register_filesystem(fs)
    script = []
    for table in tables:
        # Only the names the SQL uses get a view: creating one reads the files' footers.
        qualified = _mentions(sql, f"{table.database}.{table.name}") or _mentions(
            sql, f'"{table.database}".{table.name}'
        )
        bare = table.database == "default" and _mentions_bare(sql, table.name)
        if not (qualified or bare):
            continue
        try:
            body = _view_sql(table, connection)
        except UsageError as exc:  # the name may only be a column here: warn; DuckDB fails if the table is used
            log.warning("%s", exc)
            continue
        if qualified:
            script.append(f"CREATE SCHEMA IF NOT EXISTS {_quote(table.database)}")
            script.append(f"CREATE VIEW {_quote(table.database)}.{_quote(table.name)} AS {body}")
        if bare:
            script.append(f"CREATE VIEW {_quote(table.name)} AS {body}")
    if script:
        con.execute(";\n".join(script))
    return con


def _mentions_bare(sql: str, name: str) -> bool:
    """Whether `name` appears not qualified by a schema (`x.name`)."""
    return re.search(rf"(?<![\w$.]){re.escape(name)}(?![\w$])", sql, re.I) is not None


def _mentions(sql: str, name: str) -> bool:
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", sql, re.I) is not None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_sql(table: Any, connection: str | None) -> str:
    """A SELECT over the table's current files (hidden and temporary files excluded)."""
    try:
        fs, files = _fs.expand(table.location, connection, _SUFFIXES[table.format])
    except UsageError:
        raise UsageError(f"query: table {table.qualified} has no {table.format} files at {table.location}") from None
    listed = ", ".join(_literal(_fs.uri_of(fs, f)) for f in files)
    hive = ", hive_partitioning = true" if table.partition_keys else ""
    return f"SELECT * FROM {_READERS[table.format]}([{listed}]{hive}, union_by_name = true)"


def _rows(relation: Any, max_rows: int) -> list[dict[str, Any]]:
    if relation is None:
        return []
    names = list(relation.columns)
    rows = relation.limit(max_rows + 1).fetchall()
    if len(rows) > max_rows:
        raise UsageError(
            f"query: the result has more than {max_rows} rows; pass output= (a URI) to write it to a file, "
            "or raise max_rows"
        )
    return [{name: plain(value) for name, value in zip(names, row, strict=True)} for row in rows]


def plain(value: Any) -> Any:
    """A JSON-safe value: HUGEINT and Decimal as numbers, dates ISO 8601, NaN as null."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return str(value)


def _output_format(output: str, fmt: str | None) -> str:
    if fmt is not None:
        value = fmt.lower().strip(".")
        value = "jsonl" if value == "ndjson" else value
        if value not in OUTPUT_FORMATS:
            raise UsageError(f"query: format {fmt!r} is not one of {', '.join(OUTPUT_FORMATS)}")
        return value
    for suffix, value in (
        (".parquet", "parquet"),
        (".csv", "csv"),
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".json", "json"),
    ):
        if output.lower().endswith(suffix):
            return value
    raise UsageError(
        f"query: cannot tell the format of {output!r} from its extension; pass format= ({', '.join(OUTPUT_FORMATS)})"
    )


def _write(relation: Any, output: str, fmt: str, connection: str | None) -> dict[str, Any]:
    """Stream the result to `output`, published atomically."""
    import hashlib

    from lockgate import attempt

    if relation is None:
        raise UsageError("query: the statement returns no rows to write to output=")
    reader = relation.to_arrow_reader(128 * 1024)
    fs, path = _fs.filesystem(output, connection)
    rows = 0
    if fmt == "parquet":
        from lockgate.tasks._writer import write_file

        ctx = attempt.current()
        token = hashlib.sha256(f"{ctx.run_id}:{ctx.step}".encode()).hexdigest()[:16] if ctx else uuid.uuid4().hex[:16]
        rows = write_file(iter(reader), reader.schema, fs, path, token, "zstd")
    else:
        with _fs.atomic_output(fs, path) as handle:
            if fmt == "csv":
                import pyarrow.csv as pcsv

                with pcsv.CSVWriter(handle, reader.schema) as writer:
                    for batch in reader:
                        writer.write_batch(batch)
                        rows += batch.num_rows
            else:
                rows = _write_json(reader, handle, fmt)
    log.info("query: %d rows written to %s", rows, output)
    return {"uri": output, "rows": rows}


def _write_json(reader: Any, handle: Any, fmt: str) -> int:
    rows = 0
    first = True
    if fmt == "json":
        handle.write(b"[")
    for batch in reader:
        for record in batch.to_pylist():
            text = _json.dumps({k: plain(v) for k, v in record.items()})
            if fmt == "json":
                handle.write((("\n" if first else ",\n") + text).encode())
            else:
                handle.write(text.encode() + b"\n")
            first = False
            rows += 1
    if fmt == "json":
        handle.write(b"\n]\n")
    return rows
