"""The metadata store's tables (SQLAlchemy Core); migrations/ creates and changes them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# A 64-bit key on PostgreSQL; SQLite only autoincrements a column declared INTEGER.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("error", sa.String(200)),
    sa.Column("cause", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("ended_at", sa.Float),
    sa.Column("owner", sa.String(200)),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("idempotency_key", sa.String(500), unique=True),
    sa.Column("parent_run_id", sa.String(64)),
    sa.Index("ix_runs_pipeline_created", "pipeline", "created_at"),
    sa.Index("ix_runs_status", "status"),
    sa.Index("ix_runs_created", "created_at"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Index("ix_events_run", "run_id", "id"),
)

# API tokens of `lockgate serve` (lockgate.server.tokens): only a salted hash of each secret is kept;
# `token_id` is the token's non-secret prefix, so checking a token is one indexed lookup and one hash.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("token_id", sa.String(32), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
    sa.Column("revoked_at", sa.Float),
    sa.Column("aws_access_key_id", sa.String(32), unique=True),
)
