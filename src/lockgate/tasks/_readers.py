"""Streaming record-batch readers for CSV, JSON lines, JSON documents and Parquet files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lockgate.core.errors import DataQualityError

BLOCK_BYTES = 1 << 20  # CSV/JSON parse block: the unit of streaming; memory grows with it (readahead)
INFER_BYTES = 16 << 20  # types are inferred from this much of the first file


def open_input(fs: Any, path: str) -> Any:
    """A binary input stream: pyarrow's native one for local files (no Python in the read path)."""
    from lockgate.tasks import _fs

    if _fs.is_local(fs):
        import pyarrow as pa

        return pa.input_stream(path)
    return fs.open(path, "rb")


def infer_schema(fs: Any, path: str, fmt: str) -> Any:
    """The Arrow schema of a file's first 16 MB; columns with no values yet become strings."""
    import pyarrow as pa

    with open_input(fs, path) as stream:
        if fmt in ("csv", "jsonl"):
            schema = _sample_schema(stream, fmt)
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            schema = pq.ParquetFile(stream).schema_arrow
        else:
            schema = pa.Table.from_pylist(_json_records(stream.read(), path)[:1000]).schema
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema])


def _sample_schema(stream: Any, fmt: str) -> Any:
    """Types from the first INFER_BYTES, parsed in one piece (a streaming reader would read ahead)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson

    sample = bytes(stream.read(INFER_BYTES))
    if len(sample) == INFER_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]  # whole lines only
    block = len(sample) + 1
    try:
        if fmt == "csv":
            return pcsv.read_csv(pa.BufferReader(sample), read_options=pcsv.ReadOptions(block_size=block)).schema
        return pjson.read_json(pa.BufferReader(sample), read_options=pjson.ReadOptions(block_size=block)).schema
    except pa.ArrowInvalid:
        # the cut fell inside a quoted line break: fall back to the first streaming block
        stream.seek(0)
        if fmt == "csv":
            return pcsv.open_csv(stream, read_options=pcsv.ReadOptions(block_size=BLOCK_BYTES)).schema
        return pjson.open_json(stream, read_options=pjson.ReadOptions(block_size=BLOCK_BYTES)).schema


def batches(fs: Any, path: str, fmt: str, schema: Any, where: str) -> Iterator[Any]:
    """Record batches of one file, at `schema` (missing columns null; unknown ones refused)."""
    import pyarrow as pa

    try:
        with open_input(fs, path) as stream:
            for batch in _raw(stream, fmt, schema, path):
                yield _align(batch, schema, where)
    except pa.ArrowInvalid as exc:
        raise DataQualityError(f"{where}: {exc}") from None


def _raw(stream: Any, fmt: str, schema: Any, path: str) -> Iterator[Any]:
    import pyarrow as pa

    if fmt == "csv":
        import pyarrow.csv as pcsv

        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(block_size=BLOCK_BYTES),
            convert_options=pcsv.ConvertOptions(column_types=schema),
        )
        yield from reader
    elif fmt == "jsonl":
        import pyarrow.json as pjson

        reader = pjson.open_json(
            stream,
            read_options=pjson.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pjson.ParseOptions(explicit_schema=_json_readable(schema), unexpected_field_behavior="error"),
        )
        yield from reader
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(stream).iter_batches(batch_size=128 * 1024)
    else:  # one JSON document: a list of records (read whole: JSON arrays cannot be streamed here)
        records = _json_records(stream.read(), path)
        extra = sorted({key for record in records for key in record} - set(schema.names))
        if extra:
            raise pa.ArrowInvalid(f"field(s) {', '.join(extra)} are not in the schema ({', '.join(schema.names)})")
        for start in range(0, len(records), 64 * 1024):
            yield pa.RecordBatch.from_pylist(records[start : start + 64 * 1024], schema=schema)


def _json_readable(schema: Any) -> Any:
    """The schema the JSON reader can parse to: dates and times as strings (cast afterwards)."""
    import pyarrow as pa

    def readable(kind: Any) -> Any:
        return pa.string() if pa.types.is_date(kind) or pa.types.is_time(kind) or pa.types.is_decimal(kind) else kind

    return pa.schema([f.with_type(readable(f.type)) for f in schema])


def _json_records(data: bytes, path: str) -> list[dict[str, Any]]:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise DataQualityError(f"{path}: not valid JSON: {exc}") from None
    records = document if isinstance(document, list) else [document]
    if not all(isinstance(r, dict) for r in records):
        raise DataQualityError(f"{path}: a JSON file must hold an object or a list of objects")
    return records


def _align(batch: Any, schema: Any, where: str) -> Any:
    """The batch with `schema`'s columns in order; absent ones are null."""
    import pyarrow as pa

    if batch.schema.equals(schema):
        return batch
    names = set(batch.schema.names)
    extra = [n for n in batch.schema.names if schema.get_field_index(n) < 0]
    if extra:
        raise DataQualityError(
            f"{where}: column(s) {', '.join(extra)} are not in the schema ({', '.join(schema.names)})"
        )
    arrays = []
    for field in schema:
        if field.name in names:
            column = batch.column(field.name)
            arrays.append(column if column.type == field.type else column.cast(field.type))
        else:
            arrays.append(pa.nulls(batch.num_rows, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
