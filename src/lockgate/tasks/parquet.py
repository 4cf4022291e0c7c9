"""The `to_parquet` task: CSV, JSON and JSON lines into Parquet, streamed, atomic, idempotent.

Output names come from a token: the run id and step inside a pipeline (so every attempt of
a step writes the same names, replacing what an earlier attempt left), otherwise a digest of
the inputs and options. Files are written under a hidden temporary name and renamed into
place; on S3 each object appears whole when its upload completes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from lockgate import _json
from lockgate.core.errors import UsageError
from lockgate.dag.task import task
from lockgate.tasks import _fs, _readers, _schema, _sniff
from lockgate.tasks._writer import write_file

log = logging.getLogger(__name__)

COMPRESSIONS = ("zstd", "snappy", "gzip", "brotli", "lz4", "none")
_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet")


@task
def to_parquet(
    source: str | Sequence[str],
    dest: str,
    partition_by: str | Sequence[str] | None = None,
    compression: str = "zstd",
    schema: dict[str, Any] | None = None,
    format: str | None = None,
    mode: str = "append",
    connection: str | None = None,
) -> dict[str, Any]:
    """Convert one file, a list of files (a manifest), a folder or a glob into Parquet.

    `dest` ending in `.parquet` (without `partition_by`) is one file; otherwise a dataset
    folder, Hive-partitioned by `partition_by`. `format` (csv, json, jsonl, parquet) applies to
    every source; by default each file's extension, else its content, decides. A dataset is
    added to (`mode="append"`) or, with `mode="overwrite"`, left holding only this output:
    other Parquet files in it are deleted once the new ones are in place. Returns
    {"uri", "rows", "files", "bytes"}.
    """
    if compression not in COMPRESSIONS:
        raise UsageError(f"to_parquet: compression {compression!r} is not one of {', '.join(COMPRESSIONS)}")
    if mode not in ("append", "overwrite"):
        raise UsageError(f"to_parquet: mode {mode!r} is not 'append' or 'overwrite'")
    keys = [partition_by] if isinstance(partition_by, str) else list(partition_by or [])
    fmt = _sniff.normalize(format, "to_parquet")
    inputs = _inputs(source, fmt, connection)
    columns, _ = _schema.parse(schema, "to_parquet: schema")
    target = _target_schema(inputs, columns)
    missing = [k for k in keys if target.get_field_index(k) < 0]
    if missing:
        raise UsageError(
            f"to_parquet: partition_by column(s) {', '.join(missing)} not in the data ({', '.join(target.names)})"
        )
    token = _token(inputs, dest, keys, compression, target)
    dest_fs, dest_path = _fs.filesystem(dest, connection)
    stream = _stream(inputs, target)
    codec = None if compression == "none" else compression
    if keys:
        from lockgate.tasks._writer import write_partitioned

        written, rows = write_partitioned(stream, target, dest_fs, dest_path, keys, token, codec)
    else:
        single = dest_path.endswith(".parquet")
        final = dest_path if single else f"{dest_path.rstrip('/')}/part-{token}-0.parquet"
        rows = write_file(stream, target, dest_fs, final, token, codec)
        written = [final]
    if keys or not dest_path.endswith(".parquet"):
        from lockgate.tasks._writer import remove_stale

        remove_stale(dest_fs, dest_path, None if mode == "overwrite" else token, written)
    size = sum(int(dest_fs.size(p)) for p in written)
    files = [_fs.uri_of(dest_fs, p) for p in written]
    log.info(
        "to_parquet: %d rows from %d file(s) into %s (%d files, %d bytes)", rows, len(inputs), dest, len(files), size
    )
    return {"uri": dest, "rows": rows, "files": files, "bytes": size}


def _inputs(source: str | Sequence[str], fmt: str | None, connection: str | None) -> list[tuple[Any, str, str]]:
    """(filesystem, path, format) of every input file, in order."""
    uris = [source] if isinstance(source, str) else list(source)
    if not uris:
        raise UsageError("to_parquet: source is an empty list")
    out = []
    for uri in uris:
        if not isinstance(uri, str):
            raise UsageError(f"to_parquet: a source is a URI string, not {uri!r}")
        fs, paths = _fs.expand(uri, connection, () if fmt else _SUFFIXES)
        for path in paths:
            kind = fmt or _sniff.by_name(path) or _sniff.sniff(_sniff.read_head(fs, path))
            if kind == "json":  # "json" may be one document or JSON lines: the content tells
                sniffed = _sniff.sniff(_sniff.read_head(fs, path))
                kind = sniffed if sniffed in ("json", "jsonl", "empty") else kind
            if kind == "empty":
                raise UsageError(f"to_parquet: {_fs.uri_of(fs, path)} is empty")
            out.append((fs, path, kind))
    return out


def _target_schema(inputs: list[tuple[Any, str, str]], columns: list[_schema.Column]) -> Any:
    import pyarrow as pa

    fs, path, kind = inputs[0]
    inferred = _readers.infer_schema(fs, path, kind)
    declared = {c.name: c.arrow_type() for c in columns}
    fields = [pa.field(f.name, declared.pop(f.name, f.type)) for f in inferred]
    fields += [pa.field(name, kind) for name, kind in declared.items()]
    return pa.schema(fields)


def _token(inputs: list[tuple[Any, str, str]], dest: str, keys: list[str], compression: str, schema: Any) -> str:
    from lockgate import attempt

    ctx = attempt.current()
    if ctx is not None:
        # every attempt of this step gets the same names; another call in the same step
        # (other inputs or destination) gets its own, so it never replaces this one's files
        uris = [_fs.uri_of(fs, path) for fs, path, _ in inputs]
        basis = _json.dumps([ctx.run_id, ctx.step, uris, dest, keys])
    else:
        described = []
        for fs, path, kind in inputs:
            info = fs.info(path)
            described.append([_fs.uri_of(fs, path), kind, info.get("size"), info.get("mtime") or info.get("ETag")])
        basis = _json.dumps([described, dest, keys, compression, str(schema)])
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def _stream(inputs: list[tuple[Any, str, str]], schema: Any) -> Iterator[Any]:
    for fs, path, kind in inputs:
        yield from _readers.batches(fs, path, kind, schema, _fs.uri_of(fs, path))
