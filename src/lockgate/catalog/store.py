"""The Catalog: lake tables, their partitions and schema versions, kept in the metadata store."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.catalog.schema import catalog_partitions, catalog_schema_versions, catalog_tables
from lockgate.core.errors import UsageError

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "default"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition folder: its key values (as written in the path) and what it holds."""

    values: dict[str, str]
    location: str
    file_count: int
    row_count: int | None = None
    updated_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "values": self.values,
            "location": self.location,
            "file_count": self.file_count,
            "row_count": self.row_count,
            "updated_at": _json.iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """The columns of a table from one crawl on, until the next change."""

    version: int
    columns: list[dict[str, Any]]
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "columns": self.columns, "created_at": _json.iso(self.created_at)}


@dataclass(frozen=True, slots=True)
class Table:
    """A catalog table: where its files are, in what format, and its current columns."""

    database: str
    name: str
    location: str
    format: str
    partition_keys: list[str]
    schema_version: int
    columns: list[dict[str, Any]]
    created_at: float
    updated_at: float
    partitions: list[Partition] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "name": self.name,
            "location": self.location,
            "format": self.format,
            "partition_keys": self.partition_keys,
            "schema_version": self.schema_version,
            "columns": self.columns,
            "partitions": [p.to_json() for p in self.partitions],
            "created_at": _json.iso(self.created_at),
            "updated_at": _json.iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Registered:
    """What one registration changed."""

    schema_version: int
    schema_changed: bool
    partitions_added: int
    partitions_removed: int


def check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise UsageError(f"{what} {value!r} must be letters, digits and underscores, not starting with a digit")
    return value.lower()


def parse_ref(ref: str) -> tuple[str, str]:
    """`db.table` or `table` (in the default database) as (database, table)."""
    database, _, name = ref.rpartition(".")
    return check_name(database or DEFAULT_DATABASE, "database"), check_name(name, "table")


class Catalog:
    """Reads and writes the catalog tables through a SQLAlchemy Engine."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    @classmethod
    def default(cls) -> Catalog:
        """The catalog in the current settings' metadata store."""
        from lockgate.runtime import default_runtime

        return cls(default_runtime().store.engine)  # type: ignore[attr-defined]

    def register(
        self,
        database: str,
        name: str,
        *,
        location: str,
        format: str,
        partition_keys: list[str],
        columns: list[dict[str, Any]],
        partitions: list[Partition],
    ) -> Registered:
        """Create or update a table in one transaction: a new schema version only on change."""
        try:
            return self._register(database, name, location, format, partition_keys, columns, partitions)
        except sa.exc.IntegrityError:  # another crawler registered it first: apply ours on top
            return self._register(database, name, location, format, partition_keys, columns, partitions)

    def _register(
        self,
        database: str,
        name: str,
        location: str,
        format: str,
        partition_keys: list[str],
        columns: list[dict[str, Any]],
        partitions: list[Partition],
    ) -> Registered:
        now = self.clock()
        t, v, p = catalog_tables, catalog_schema_versions, catalog_partitions
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.database == database, t.c.name == name).with_for_update()).first()
            version = row.schema_version if row else 0
            current = None
            if row:
                text = conn.execute(
                    sa.select(v.c.columns).where(
                        v.c.database == database, v.c.table_name == name, v.c.version == version
                    )
                ).scalar()
                current = _json.loads(text)
            changed = current != columns
            if changed:
                version += 1
                conn.execute(
                    v.insert(),
                    {
                        "database": database,
                        "table_name": name,
                        "version": version,
                        "columns": _json.dumps(columns),
                        "created_at": now,
                    },
                )
            values = {
                "location": location,
                "format": format,
                "partition_keys": _json.dumps(partition_keys),
                "schema_version": version,
                "updated_at": now,
            }
            if row:
                conn.execute(sa.update(t).where(t.c.database == database, t.c.name == name).values(values))
            else:
                conn.execute(t.insert(), {"database": database, "name": name, "created_at": now, **values})
            known = {
                r.location: r.id
                for r in conn.execute(
                    sa.select(p.c.id, p.c.location).where(p.c.database == database, p.c.table_name == name)
                )
            }
            seen = {part.location for part in partitions}
            added = [part for part in partitions if part.location not in known]
            gone = [pid for loc, pid in known.items() if loc not in seen]
            for part in partitions:
                fields = {
                    "values": _json.dumps(part.values),
                    "row_count": part.row_count,
                    "file_count": part.file_count,
                    "updated_at": now,
                }
                if part.location in known:
                    conn.execute(sa.update(p).where(p.c.id == known[part.location]).values(fields))
                else:
                    conn.execute(
                        p.insert(), {"database": database, "table_name": name, "location": part.location, **fields}
                    )
            if gone:
                conn.execute(sa.delete(p).where(p.c.id.in_(gone)))
        log.info("catalog: %s.%s schema v%d, %d partition(s) added", database, name, version, len(added))
        return Registered(version, changed, len(added), len(gone))

    def tables(self) -> list[Table]:
        """Every table with its current columns (partitions not loaded), by database and name."""
        t = catalog_tables
        with self.engine.connect() as conn:
            rows = conn.execute(_with_columns().order_by(t.c.database, t.c.name)).all()
            return [self._table(conn, row, with_partitions=False) for row in rows]

    def table(self, ref: str, *, with_partitions: bool = True) -> Table:
        """A table by `db.table` or `table`; raises UsageError if the catalog has none."""
        database, name = parse_ref(ref)
        found = self._find(database, name, with_partitions)
        if found is None:
            raise UsageError(f"no table {database}.{name} in the catalog (crawl its location first)")
        return found

    def find(self, database: str, name: str) -> Table | None:
        return self._find(database, name, with_partitions=False)

    def _find(self, database: str, name: str, with_partitions: bool) -> Table | None:
        t = catalog_tables
        with self.engine.connect() as conn:
            row = conn.execute(_with_columns().where(t.c.database == database, t.c.name == name)).first()
            return self._table(conn, row, with_partitions=with_partitions) if row else None

    def history(self, ref: str) -> list[SchemaVersion]:
        """Every schema version of a table, oldest first."""
        table = self.table(ref, with_partitions=False)
        v = catalog_schema_versions
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(v).where(v.c.database == table.database, v.c.table_name == table.name).order_by(v.c.version)
            ).all()
        return [SchemaVersion(r.version, _json.loads(r.columns), r.created_at) for r in rows]

    def _table(self, conn: sa.Connection, row: Any, *, with_partitions: bool) -> Table:
        p = catalog_partitions
        partitions = []
        if with_partitions:
            for r in conn.execute(
                sa.select(p).where(p.c.database == row.database, p.c.table_name == row.name).order_by(p.c.location)
            ):
                values = _json.loads(r._mapping["values"])
                partitions.append(Partition(values, r.location, r.file_count, r.row_count, r.updated_at))
        return Table(
            database=row.database,
            name=row.name,
            location=row.location,
            format=row.format,
            partition_keys=_json.loads(row.partition_keys),
            schema_version=row.schema_version,
            columns=_json.loads(row.columns) if row.columns else [],
            created_at=row.created_at,
            updated_at=row.updated_at,
            partitions=partitions,
        )


def _with_columns() -> sa.Select[Any]:
    """Tables joined with their current schema version's columns."""
    t, v = catalog_tables, catalog_schema_versions
    joined = t.outerjoin(
        v, sa.and_(v.c.database == t.c.database, v.c.table_name == t.c.name, v.c.version == t.c.schema_version)
    )
    return sa.select(t, v.c.columns).select_from(joined)
