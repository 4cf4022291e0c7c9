"""Parquet in the lake for sql_copy: read a file or a folder in batches, write one file atomically."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from lockgate.core.errors import TaskError, UsageError
from lockgate.tasks._fs import filesystem

log = logging.getLogger(__name__)


def is_file_uri(uri: str) -> bool:
    """A destination ending in `.parquet` is one file; anything else is a folder of files."""
    return uri.rstrip("/").lower().endswith((".parquet", ".parq", ".pq")) and not uri.endswith("/")


def read_batches(uri: str, *, watermark: str | None, after: Any, batch_size: int) -> Iterator[pa.RecordBatch]:
    """The rows of a Parquet file or folder (Hive partitions included), `batch_size` at a time."""
    import pyarrow.dataset as ds

    fs, path = filesystem(uri)
    if not fs.exists(path):
        raise TaskError(f"{uri}: no such file or folder", retryable=False)
    try:
        dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
    except (pa.ArrowInvalid, OSError) as exc:
        raise TaskError(f"{uri}: not readable as Parquet: {exc}", retryable=False) from None
    if not dataset.files:
        raise TaskError(f"{uri}: no Parquet files in this folder", retryable=False)
    condition = None
    if watermark is not None:
        if watermark not in dataset.schema.names:
            raise TaskError(
                f"{uri}: watermark column {watermark!r} is not in the data"
                f" (columns: {', '.join(dataset.schema.names)})",
                retryable=False,
            )
        if after is not None:
            condition = ds.field(watermark) > after
    yield pa.RecordBatch.from_pylist([], schema=dataset.schema)  # the schema, even with no rows
    yield from dataset.to_batches(batch_size=batch_size, filter=condition)


def write(uri: str, batches: Iterable[pa.RecordBatch], *, mode: str, part: str) -> tuple[int, str]:
    """Write the batches as one Parquet file; returns (rows, the file's URI).

    A `.parquet` URI is that file (`append` refuses to overwrite it); a folder gets a new file
    `part-<part>.parquet` (`append`) or loses its other Parquet files once the new one is in
    place (`replace`). The file is written under a hidden temporary name, then renamed, so
    readers never see part of it; a retry with the same `part` rewrites the same file.
    """
    import pyarrow.parquet as pq

    fs, path = filesystem(uri)
    single = is_file_uri(uri)
    if single:
        final = path
        if mode == "append" and fs.exists(final):
            raise UsageError(f"{uri} exists; sql_copy appends to a folder, or replaces a file with mode='replace'")
        folder = final.rsplit("/", 1)[0]
    else:
        folder = path.rstrip("/")
        final = f"{folder}/part-{part}.parquet"
    fs.makedirs(folder, exist_ok=True)
    temp = f"{folder}/.lockgate-{uuid.uuid4().hex}.parquet.tmp"
    rows = 0
    writer = None
    iterator = iter(batches)
    try:
        with fs.open(temp, "wb") as handle:
            try:
                for batch in iterator:
                    if writer is None:
                        writer = pq.ParquetWriter(handle, batch.schema, compression="zstd")
                    if batch.num_rows:
                        writer.write_batch(batch)
                        rows += batch.num_rows
            finally:
                if writer is not None:
                    writer.close()  # also on failure: the temporary file is removed below
        if writer is None:
            raise TaskError(f"{uri}: the source gave no schema to write", retryable=False)
        if rows == 0 and not single:
            fs.rm(temp)
            return 0, uri
        fs.mv(temp, final)
    except BaseException:
        if fs.exists(temp):
            fs.rm(temp)
        raise
    if mode == "replace" and not single:
        for other in fs.ls(folder, detail=False):
            name = other.rsplit("/", 1)[-1]
            if other.rstrip("/") != final and name.endswith(".parquet") and not name.startswith((".", "_")):
                fs.rm(other, recursive=True)
    log.info("wrote %d rows to %s", rows, final)
    return rows, _uri_of(uri, path, final)


def _uri_of(uri: str, path: str, final: str) -> str:
    """`final` (a path in the filesystem) in the same form as the URI the caller gave."""
    if final == path:
        return uri
    return uri.rstrip("/") + final[len(path.rstrip("/")) :]
