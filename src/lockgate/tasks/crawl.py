"""The `crawl` task: scan a lake zone and register it as a catalog table."""

from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Any
from urllib.parse import unquote

from lockgate.core.errors import DataQualityError, UsageError
from lockgate.dag.task import task
from lockgate.tasks import _fs, _sniff

log = logging.getLogger(__name__)

_FORMAT_SUFFIXES = {
    "parquet": (".parquet", ".pq"),
    "csv": (".csv", ".tsv"),
    "json": (".json", ".jsonl", ".ndjson"),
}


@task
def crawl(
    uri: str,
    table: str | None = None,
    database: str = "default",
    format: str | None = None,
    connection: str | None = None,
) -> dict[str, Any]:
    """Infer a zone's schema and Hive partitions, and register or update it in the catalog.

    `table` defaults to the folder's name. A new schema version is recorded only when the
    columns changed; partitions are added, updated and (when gone) removed. Returns
    {"database", "table", "partitions_added", "partitions_removed", "schema_version",
    "schema_changed", "columns", "location", "format"}.
    """
    from lockgate.catalog.store import Catalog, Partition, check_name

    fmt = _sniff.normalize(format, "crawl")
    if fmt == "jsonl":
        fmt = "json"
    fs, root = _fs.filesystem(uri, connection)
    root = root.rstrip("/") or "/"
    if not fs.exists(root):
        raise UsageError(f"crawl: {uri}: no such folder or file")
    database = check_name(database, "crawl: database")
    name = check_name(table or _table_name(root), "crawl: table")
    fmt, files = _files(fs, root, fmt, uri, connection)
    single = not fs.isdir(root)
    base = root.rsplit("/", 1)[0] if single else root
    dataset, schema, partition_schema = _scan(fs, base, files, fmt)
    columns = [_column(f, partition=False) for f in schema]
    columns += [_column(f, partition=True) for f in partition_schema]
    keys = list(partition_schema.names)
    groups: dict[str, dict[str, Any]] = {}
    for fragment in dataset.get_fragments():
        folder = fragment.path.rsplit("/", 1)[0]
        relative = folder[len(base) :].strip("/")
        values = dict(_pair(part) for part in relative.split("/") if "=" in part)
        group = groups.setdefault(folder, {"values": values, "files": 0, "rows": 0 if fmt == "parquet" else None})
        group["files"] += 1
        if fmt == "parquet":
            group["rows"] += fragment.metadata.num_rows
    partitions = [
        Partition(g["values"], _fs.uri_of(fs, folder), g["files"], g["rows"])
        for folder, g in sorted(groups.items())
        if keys and g["values"]
    ]
    location = _fs.uri_of(fs, root)
    result = Catalog.default().register(
        database, name, location=location, format=fmt, partition_keys=keys, columns=columns, partitions=partitions
    )
    return {
        "database": database,
        "table": name,
        "location": location,
        "format": fmt,
        "partitions_added": result.partitions_added,
        "partitions_removed": result.partitions_removed,
        "schema_version": result.schema_version,
        "schema_changed": result.schema_changed,
        "columns": columns,
    }


def _table_name(root: str) -> str:
    base = os.path.basename(root.rstrip("/")).split(".")[0]
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in base).strip("_").lower()
    if not cleaned or cleaned[0].isdigit():
        raise UsageError(f"crawl: cannot derive a table name from {root!r}; pass table=")
    return cleaned


def _files(fs: Any, root: str, fmt: str | None, uri: str, connection: str | None) -> tuple[str, list[str]]:
    """The zone's format and its data files of that format."""
    every = [s for group in _FORMAT_SUFFIXES.values() for s in group]
    _, files = _fs.expand(uri, connection, tuple(every))
    if fmt is None:
        by_suffix = Counter(f for f in (_sniff.by_name(p) for p in files) if f)
        if not by_suffix:
            raise UsageError(f"crawl: {uri}: cannot tell the format of its files; pass format=")
        fmt = by_suffix.most_common(1)[0][0]
        fmt = "json" if fmt == "jsonl" else fmt
    chosen = [p for p in files if p.lower().endswith(_FORMAT_SUFFIXES[fmt])]
    if not chosen:
        raise UsageError(f"crawl: {uri}: no {fmt} files found")
    return fmt, chosen


def _scan(fs: Any, base: str, files: list[str], fmt: str) -> tuple[Any, Any, Any]:
    """The dataset, its unified file schema, and its partition columns' schema."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    file_format: Any = {"parquet": "parquet", "csv": "csv", "json": ds.JsonFileFormat()}[fmt]
    try:
        dataset = ds.dataset(
            files, filesystem=_fs.arrow_filesystem(fs), format=file_format, partitioning="hive", partition_base_dir=base
        )
        physical = [fragment.physical_schema for fragment in dataset.get_fragments()]
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataQualityError(f"crawl: {_fs.uri_of(fs, base)}: cannot read its {fmt} files: {exc}") from None
    try:
        schema = pa.unify_schemas(physical, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataQualityError(f"crawl: {_fs.uri_of(fs, base)}: files disagree on their columns: {exc}") from None
    keys: dict[str, None] = {}
    for path in files:
        for part in path[len(base) :].strip("/").split("/")[:-1]:
            if "=" in part:
                keys.setdefault(_pair(part)[0])
    partition_schema = pa.schema([dataset.schema.field(k) for k in keys if dataset.schema.get_field_index(k) >= 0])
    schema = pa.schema([f for f in schema if partition_schema.get_field_index(f.name) < 0])
    return dataset, schema, partition_schema


def _column(field: Any, *, partition: bool) -> dict[str, Any]:
    return {"name": field.name, "type": str(field.type), "nullable": field.nullable, "partition": partition}


def _pair(part: str) -> tuple[str, str]:
    key, _, value = part.partition("=")
    return unquote(key), unquote(value)
