"""The last value an incremental copy has taken, per (source, table or query, column).

Kept in the metadata store, beside the runs, so an incremental copy survives restarts and
machines. A watermark is written only after the copy it records has committed.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.store.schema import metadata

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


def key_of(*parts: str) -> str:
    """A stable key for what is copied and where to (masked URLs, table or query, column)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def encode(value: Any) -> str:
    """A watermark value as stored: JSON with its Python type, so times compare as times."""
    for kind, klass in _TYPES.items():
        if type(value) is klass:
            return _json.dumps({"type": kind, "value": value if kind in ("int", "float", "str") else str(value)})
    if isinstance(value, dt.datetime):
        return _json.dumps({"type": "datetime", "value": value.isoformat()})
    raise TypeError(
        f"a watermark column of {type(value).__name__} values is not supported"
        " (use a number, a string, a date or a time)"
    )


def decode(text: str) -> Any:
    data = _json.loads(text)
    kind, value = data["type"], data["value"]
    if kind in ("int", "float", "str"):
        return value
    if kind == "decimal":
        return decimal.Decimal(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "time":
        return dt.time.fromisoformat(value)
    return dt.datetime.fromisoformat(value)


_TYPES: dict[str, type] = {
    "int": int,
    "float": float,
    "str": str,
    "decimal": decimal.Decimal,
    "date": dt.date,
    "time": dt.time,
}


def read(engine: sa.Engine, key: str) -> Any:
    """The stored value (a number, a string, a date or time), or None before the first copy."""
    with engine.connect() as conn:
        text = conn.execute(sa.select(watermarks.c.value).where(watermarks.c.key == key)).scalar()
    return None if text is None else decode(text)


def write(engine: sa.Engine, key: str, description: str, value: Any, now: float) -> None:
    """Store `value` for `key`, replacing what was there."""
    body = encode(value)
    with engine.begin() as conn:
        updated = conn.execute(
            watermarks.update().where(watermarks.c.key == key).values(value=body, updated_at=now)
        ).rowcount
        if not updated:
            conn.execute(watermarks.insert().values(key=key, description=description, value=body, updated_at=now))
