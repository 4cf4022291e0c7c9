"""JSON as lockgate stores and prints it: dates as ISO 8601, Decimals as numbers."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return value.isoformat(timespec="microseconds") + "Z"
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"a {type(value).__name__} is not JSON-serializable")


def dumps(value: Any) -> str:
    """Compact JSON; raises TypeError naming the type that cannot be encoded."""
    return json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as ISO 8601 UTC with a Z."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
