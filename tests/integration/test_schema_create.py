"""A new database gets its schema in one step; it must equal what the migrations build, on both databases.

`migrate` creates a new database's tables from the metadata (store.sql.SCHEMA_MODULES) and stamps
the head revision; the migrations build the same schema step by step for older databases. These
tests compare the two so they never drift: a table, column, type, nullability, index or unique
constraint present in one and not the other fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.conftest import POSTGRES_URL, need

from lockgate.core.errors import UsageError
from lockgate.store.sql import MIGRATIONS, SqlStore, head_revision, make_engine, migrate

# Made in a fresh process, so only what migrate imports itself declares tables.
_CREATE = """
import sys
from lockgate.store.sql import make_engine, migrate
migrate(make_engine(sys.argv[1]))
print("alembic" in sys.modules)
"""


def _create_in_fresh_process(url: str) -> None:
    done = subprocess.run([sys.executable, "-c", _CREATE, url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "a new database was made by importing Alembic"


def _upgrade_with_alembic(url: str, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    engine = make_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def _schema(url: str) -> dict[str, Any]:
    """Tables with their columns (type, nullability), primary key, indexes and unique constraints."""
    engine = sa.create_engine(url)
    out: dict[str, Any] = {}
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        for table in sorted(inspector.get_table_names()):
            out[table] = {
                "columns": sorted(
                    (c["name"], str(c["type"]), bool(c["nullable"]), str(c.get("default")))
                    for c in inspector.get_columns(table)
                ),
                "primary_key": sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"] or "", tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
                ),
                "foreign_keys": sorted(
                    json.dumps([f["constrained_columns"], f["referred_table"], f["referred_columns"]])
                    for f in inspector.get_foreign_keys(table)
                ),
            }
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    engine.dispose()
    return {"tables": out, "version": version}


def _assert_same(created: dict[str, Any], migrated: dict[str, Any]) -> None:
    assert created["version"] == migrated["version"] == [head_revision()]
    assert sorted(created["tables"]) == sorted(migrated["tables"])
    for table, shape in migrated["tables"].items():
        assert created["tables"][table] == shape, table


@pytest.fixture
def postgres_databases() -> Iterator[list[str]]:
    """Two new, empty databases on the local PostgreSQL server, dropped afterwards."""
    try:
        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: no server here
        need(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__}); start it with "
            "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'"
        )
    names = [f"lockgate_schema_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with admin.connect() as conn:
        for name in names:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield [POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}" for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_new_sqlite_database_gets_the_schema_the_migrations_build(tmp_path: Path) -> None:
    created, migrated = f"sqlite:///{tmp_path / 'created.db'}", f"sqlite:///{tmp_path / 'migrated.db'}"
    _create_in_fresh_process(created)
    _upgrade_with_alembic(migrated)
    _assert_same(_schema(created), _schema(migrated))


@pytest.mark.postgres
def test_a_new_postgres_database_gets_the_schema_the_migrations_build(postgres_databases: list[str]) -> None:
    created, migrated = postgres_databases
    _create_in_fresh_process(created)
    _upgrade_with_alembic(migrated)
    _assert_same(_schema(created), _schema(migrated))


def test_a_database_behind_the_head_is_brought_up_by_its_migrations(tmp_path: Path) -> None:
    behind, fresh = f"sqlite:///{tmp_path / 'behind.db'}", f"sqlite:///{tmp_path / 'fresh.db'}"
    _upgrade_with_alembic(behind, "0001")
    SqlStore(behind).close()
    _create_in_fresh_process(fresh)
    _assert_same(_schema(fresh), _schema(behind))


def test_opening_a_made_database_again_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'again.db'}"
    SqlStore(url).close()
    before = _schema(url)
    SqlStore(url).close()
    assert _schema(url) == before


def test_a_file_that_is_not_a_database_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "lockgate.db"
    path.write_text("these are my notes, not a database\n" * 50)
    engine = make_engine(f"sqlite:///{path}")
    with pytest.raises(UsageError, match=rf"{path} is not a database lockgate can use"):
        migrate(engine)
    engine.dispose()


def test_lockgate_tables_without_a_version_record_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE runs (run_id TEXT PRIMARY KEY)")
    with pytest.raises(UsageError, match=r"has lockgate's tables \(runs\) but no alembic_version"):
        migrate(engine)
    engine.dispose()


def test_two_processes_making_one_new_database_at_once_both_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    command = [sys.executable, "-c", _CREATE, url]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    assert _schema(url)["version"] == [head_revision()]
