"""Pooled PostgreSQL connections: checked without a round trip, replaced when the server closed them."""

from __future__ import annotations

import time

import sqlalchemy as sa

from lockgate.store.sql import make_engine


def test_a_connection_the_server_closed_is_replaced_at_checkout(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with engine.connect() as conn:  # a good idle connection is kept
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() == first
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        time.sleep(0.3)
        with engine.connect() as conn:  # no error: the closed one is found and replaced
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != first
    finally:
        engine.dispose()
        admin.dispose()


def test_checking_an_idle_connection_sends_nothing(postgres_url: str, monkeypatch) -> None:
    import psycopg

    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        sent: list[str] = []
        execute = psycopg.Cursor.execute
        monkeypatch.setattr(
            psycopg.Cursor,
            "execute",
            lambda self, query, *a, **k: sent.append(str(query)) or execute(self, query, *a, **k),
        )
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 2"))
        assert sent == ["SELECT 2"]  # SQLAlchemy's own ping would have sent a query first
    finally:
        engine.dispose()
