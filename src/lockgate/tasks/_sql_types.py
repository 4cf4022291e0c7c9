"""Column types between SQL databases and Arrow, both ways, and rows into Arrow batches."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa


def arrow_type(sql_type: sa.types.TypeEngine[Any]) -> pa.DataType | None:
    """The Arrow type a SQL column's values take; None when only the values can tell."""
    t = sql_type
    if isinstance(t, sa.Boolean):
        return pa.bool_()
    if isinstance(t, sa.SmallInteger):
        return pa.int16()
    if isinstance(t, sa.Integer):  # SQLite's INTEGER holds 64 bits, so every other integer is int64
        return pa.int64()
    if isinstance(t, sa.Float | sa.Double):
        return pa.float64()
    if isinstance(t, sa.Numeric):
        precision, scale = t.precision, t.scale
        if precision is not None and precision <= 38:
            return pa.decimal128(precision, scale or 0)
        # Unbounded NUMERIC: wide enough for money and counts; a value that does not fit
        # fails the conversion loudly rather than being rounded.
        return pa.decimal128(38, 10)
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if t.timezone else None)
    if isinstance(t, sa.Date):
        return pa.date32()
    if isinstance(t, sa.Time):
        return pa.time64("us")
    if isinstance(t, sa.Interval):
        return pa.duration("us")
    if isinstance(t, sa.LargeBinary | sa.types._Binary):
        return pa.binary()
    if isinstance(t, sa.JSON | sa.Uuid | sa.String | sa.Enum):
        return pa.string()
    return None


def sql_type(arrow: pa.DataType) -> sa.types.TypeEngine[Any]:
    """The SQL column type that holds an Arrow type's values without loss."""
    t = arrow
    if pa.types.is_dictionary(t):
        return sql_type(t.value_type)
    if pa.types.is_boolean(t):
        return sa.Boolean()
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return sa.SmallInteger()
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return sa.Integer()
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return sa.BigInteger()
    if pa.types.is_uint64(t):
        return sa.Numeric(20, 0)
    if pa.types.is_floating(t):
        return sa.Double()
    if pa.types.is_decimal(t):
        return sa.Numeric(t.precision, t.scale)
    if pa.types.is_timestamp(t):
        return sa.DateTime(timezone=t.tz is not None)
    if pa.types.is_date(t):
        return sa.Date()
    if pa.types.is_time(t):
        return sa.Time()
    if pa.types.is_duration(t):
        return sa.Interval()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return sa.LargeBinary()
    if pa.types.is_nested(t):
        return sa.JSON()
    return sa.Text()  # strings, and columns with no values at all


def arrow_schema(columns: Sequence[sa.Column[Any]]) -> list[tuple[str, pa.DataType | None]]:
    return [(col.name, arrow_type(col.type)) for col in columns]


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _converter(kind: pa.DataType | None) -> Callable[[Any], Any] | None:
    if kind is None:
        return None
    if pa.types.is_string(kind):
        return _text
    if pa.types.is_floating(kind):
        return lambda v: None if v is None else float(v)
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        return lambda v: v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) and v.tzinfo is None else v
    return None


def record_batch(rows: Sequence[Sequence[Any]], names: list[str], types: list[pa.DataType | None]) -> pa.RecordBatch:
    """Rows (as the database driver gave them) as one Arrow batch; None types are inferred."""
    arrays = []
    for index, (name, kind) in enumerate(zip(names, types, strict=True)):
        convert = _converter(kind)
        values = [row[index] for row in rows]
        if convert is not None:
            values = [convert(v) for v in values]
        try:
            arrays.append(pa.array(values, type=kind))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise ValueError(f"column {name!r}: {exc}") from None
    return pa.RecordBatch.from_arrays(arrays, names=names)


def python_rows(batch: pa.RecordBatch, mysql: bool) -> list[dict[str, Any]]:
    """An Arrow batch as insert parameters; MySQL gets naive UTC times (it has no time zones)."""
    rows = batch.to_pylist()
    if mysql:
        for row in rows:
            for key, value in row.items():
                if isinstance(value, dt.datetime) and value.tzinfo is not None:
                    row[key] = value.astimezone(dt.UTC).replace(tzinfo=None)
    return rows
