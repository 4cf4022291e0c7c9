"""Writing Parquet files and Hive-partitioned datasets atomically, and cleaning up after retries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lockgate.tasks import _fs

MAX_PARTITIONS = 10_000
ROWS_PER_GROUP = 256 * 1024


def write_partitioned(
    stream: Iterator[Any], schema: Any, fs: Any, path: str, keys: list[str], token: str, codec: str | None
) -> tuple[list[str], int]:
    """Write batches as `path/k=v/.../part-<token>-<i>.parquet`; returns (files, rows).

    Files are written under `path/_tmp-<token>/` (a name readers skip) and moved into place
    once all are complete, so no reader sees a partial file.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    root = path.rstrip("/")
    staging = f"{root}/_tmp-{token}"
    if fs.exists(staging):  # left by an earlier attempt that died
        fs.rm(staging, recursive=True)
    if _fs.is_local(fs):
        fs.makedirs(staging, exist_ok=True)
    rows = 0

    def counted() -> Iterator[Any]:
        nonlocal rows
        for batch in stream:
            rows += batch.num_rows
            yield batch

    staged: list[str] = []
    partitioning = ds.partitioning(pa.schema([schema.field(k) for k in keys]), flavor="hive")
    options = ds.ParquetFileFormat().make_write_options(compression=codec)
    try:
        ds.write_dataset(
            pa.RecordBatchReader.from_batches(schema, counted()),
            staging,
            format="parquet",
            partitioning=partitioning,
            basename_template=f"part-{token}-{{i}}.parquet",
            filesystem=_fs.arrow_filesystem(fs),
            file_options=options,
            existing_data_behavior="overwrite_or_ignore",
            use_threads=False,  # keeps the numbering of part files the same on every attempt
            max_partitions=MAX_PARTITIONS,
            max_rows_per_group=ROWS_PER_GROUP,
            min_rows_per_group=min(ROWS_PER_GROUP, 64 * 1024),
            file_visitor=lambda written: staged.append(written.path),
        )
        final = []
        for tmp in sorted(staged):
            target = f"{root}/{tmp[len(staging) :].lstrip('/')}"
            if _fs.is_local(fs):
                fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            _fs.publish(fs, tmp, target)
            final.append(target)
    finally:
        if fs.exists(staging):
            fs.rm(staging, recursive=True)
    return final, rows


def remove_stale(fs: Any, path: str, token: str | None, written: list[str]) -> None:
    """Delete part files of this token that this attempt did not write (an earlier attempt's).

    With `token` None, delete every visible Parquet file in the dataset but those written.
    """
    root = path.rstrip("/")
    if not fs.isdir(root):
        return
    keep = set(written)
    for found in fs.find(root):
        relative = found[len(root) :].strip("/")
        if found in keep or any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        name = relative.rsplit("/", 1)[-1]
        if (token is None and name.endswith(".parquet")) or (token and name.startswith(f"part-{token}-")):
            fs.rm_file(found)


def write_file(stream: Iterator[Any], schema: Any, fs: Any, final: str, token: str, codec: str | None) -> int:
    """Write all batches to one Parquet file, published only once complete."""
    import pyarrow.parquet as pq

    rows = 0
    if _fs.is_local(fs):
        fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        tmp = _fs.temporary_name(final, token)
        try:
            with pq.ParquetWriter(tmp, schema, compression=codec) as writer:
                for batch in stream:
                    writer.write_batch(batch)
                    rows += batch.num_rows
            _fs.publish(fs, tmp, final)
        except BaseException:
            if fs.exists(tmp):
                fs.rm_file(tmp)
            raise
        return rows
    handle = fs.open(final, "wb")
    try:
        with pq.ParquetWriter(handle, schema, compression=codec) as writer:
            for batch in stream:
                writer.write_batch(batch)
                rows += batch.num_rows
    except BaseException:
        if hasattr(handle, "discard"):  # abandon the upload: no partial object may appear
            handle.discard()
        raise
    handle.close()
    return rows
