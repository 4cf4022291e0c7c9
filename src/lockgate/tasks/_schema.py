"""Column schemas as users write them, for every task that takes `schema=`.

Two spellings are accepted: a mapping `{"column": "type"}`, or a Frictionless Table Schema
`{"fields": [{"name": ..., "type": ..., "constraints": {...}}]}` whose constraints become
validation rules. Type names are Table Schema's (string, integer, number, boolean, date,
datetime, time, year), common SQL and Arrow names (bigint, double, timestamp, int32, ...) and
`timestamptz` for a timestamp in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockgate.core.errors import UsageError

# name -> (DuckDB type, Arrow type factory spelled as (function, args))
_TYPES: dict[str, tuple[str, str, tuple[Any, ...]]] = {
    "string": ("VARCHAR", "string", ()),
    "integer": ("BIGINT", "int64", ()),
    "number": ("DOUBLE", "float64", ()),
    "boolean": ("BOOLEAN", "bool_", ()),
    "date": ("DATE", "date32", ()),
    "datetime": ("TIMESTAMP", "timestamp", ("us",)),
    "timestamptz": ("TIMESTAMPTZ", "timestamp", ("us", "UTC")),
    "time": ("TIME", "time64", ("us",)),
    "year": ("INTEGER", "int32", ()),
    "int32": ("INTEGER", "int32", ()),
    "int16": ("SMALLINT", "int16", ()),
    "float32": ("FLOAT", "float32", ()),
}
_ALIASES = {
    "any": "string",  # Table Schema's "any": every value is acceptable as text
    "str": "string",
    "text": "string",
    "varchar": "string",
    "utf8": "string",
    "int": "integer",
    "int64": "integer",
    "bigint": "integer",
    "long": "integer",
    "float": "number",
    "float64": "number",
    "double": "number",
    "decimal": "number",
    "bool": "boolean",
    "timestamp": "datetime",
    "timestamp[us]": "datetime",
    "timestamp[s]": "datetime",
    "timestamp[ms]": "datetime",
    "timestamp[us, tz=utc]": "timestamptz",
    "date32": "date",
    "date32[day]": "date",
    "smallint": "int16",
    "real": "float32",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One declared column: its name and canonical type name."""

    name: str
    type: str

    @property
    def duckdb_type(self) -> str:
        return _TYPES[self.type][0]

    def arrow_type(self) -> Any:
        import pyarrow as pa

        _, factory, args = _TYPES[self.type]
        return getattr(pa, factory)(*args)


def type_name(raw: Any, where: str) -> str:
    """The canonical name of a user's type name; raises UsageError naming `where`."""
    if not isinstance(raw, str):
        raise UsageError(f"{where}: a type is a string such as 'integer', not {raw!r}")
    key = raw.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _TYPES:
        known = ", ".join(sorted(_TYPES))
        raise UsageError(f"{where}: unknown type {raw!r} (known: {known}, and common SQL/Arrow names)")
    return key


def parse(schema: Any, where: str = "schema") -> tuple[list[Column], list[dict[str, Any]]]:
    """Declared columns, and the rules a Table Schema's constraints imply."""
    if schema is None:
        return [], []
    if not isinstance(schema, dict):
        raise UsageError(
            f"{where}: expected a {{'column': 'type'}} mapping or a Table Schema, not {type(schema).__name__}"
        )
    if "fields" not in schema:
        return [Column(str(name), type_name(kind, f"{where}: column {name!r}")) for name, kind in schema.items()], []
    fields = schema["fields"]
    if not isinstance(fields, list):
        raise UsageError(f"{where}: 'fields' must be a list of {{'name': ..., 'type': ...}}")
    columns, rules = [], []
    for index, field in enumerate(fields):
        if not isinstance(field, dict) or "name" not in field:
            raise UsageError(f"{where}: fields[{index}] needs a 'name'")
        name = str(field["name"])
        columns.append(Column(name, type_name(field.get("type", "string"), f"{where}: field {name!r}")))
        rules += _constraint_rules(name, field.get("constraints") or {})
    for key in (
        schema.get("primaryKey", []) if isinstance(schema.get("primaryKey"), list) else [schema.get("primaryKey")]
    ):
        if key:
            rules += [{"column": key, "check": "not_null"}, {"column": key, "check": "unique"}]
    return columns, rules


def _constraint_rules(name: str, constraints: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    if constraints.get("required"):
        rules.append({"column": name, "check": "not_null"})
    if constraints.get("unique"):
        rules.append({"column": name, "check": "unique"})
    if "minimum" in constraints or "maximum" in constraints:
        rule: dict[str, Any] = {"column": name, "check": "between"}
        if "minimum" in constraints:
            rule["min"] = constraints["minimum"]
        if "maximum" in constraints:
            rule["max"] = constraints["maximum"]
        rules.append(rule)
    if "enum" in constraints:
        rules.append({"column": name, "check": "allowed", "values": list(constraints["enum"])})
    if "pattern" in constraints:
        rules.append({"column": name, "check": "regex", "pattern": constraints["pattern"]})
    return rules
