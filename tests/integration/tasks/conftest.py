"""Fixtures for the task library's integration tests: the local MariaDB server."""

from __future__ import annotations

import os

import pytest
from tests.conftest import need

MARIADB_URL = os.environ.get("LOCKGATE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    """A reachable MariaDB (the local server, database `test`)."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(MARIADB_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect means: no server here
        need(
            f"MariaDB is not reachable at {MARIADB_URL} ({type(exc).__name__}); start it with "
            "'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd'"
        )
    return MARIADB_URL
