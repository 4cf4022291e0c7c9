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
    # who started the run: a token's name, `cli:<user>`, or its trigger (`schedule`, `file:...`, ...)
    sa.Column("created_by", sa.String(300)),
    sa.Index("ix_runs_pipeline_created", "pipeline", "created_at"),
    sa.Index("ix_runs_status", "status"),
    sa.Index("ix_runs_created", "created_at"),
    # the runs list filtered by pipeline and status, newest first; state machines by kind (0009)
    sa.Index("ix_runs_pipeline_status_created", "pipeline", "status", "created_at"),
    sa.Index("ix_runs_status_created", "status", "created_at"),
    sa.Index("ix_runs_kind_pipeline", "kind", "pipeline"),
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

# What a running service serves (lockgate.triggers.served): one row per pipeline or state machine,
# rewritten at start and at every reload, so a CLI anywhere with the same store knows it.
served = sa.Table(
    "served",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("source_file", sa.Text, nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("triggers", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("next_run", sa.Float),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column("home", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Files of a served folder that failed to load, with where and why.
served_errors = sa.Table(
    "served_errors",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("folder", sa.Text, nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("line", sa.Integer),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("service", sa.String(200), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# --- Step Functions API: tags, activities and their tasks, state machine versions and aliases ---

asl_tags = sa.Table(
    "asl_tags",
    metadata,
    sa.Column("resource_arn", sa.String(400), primary_key=True),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

asl_activities = sa.Table(
    "asl_activities",
    metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

# One row per Task state waiting on an activity: a worker's GetActivityTask takes it (taken_at set).
asl_activity_tasks = sa.Table(
    "asl_activity_tasks",
    metadata,
    sa.Column("token", sa.String(200), primary_key=True),
    sa.Column("activity", sa.String(80), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("input", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("taken_at", sa.Float),
    sa.Column("worker", sa.String(80)),
    sa.Index("ix_asl_activity_tasks_waiting", "activity", "taken_at", "created_at"),
)

asl_versions = sa.Table(
    "asl_versions",
    metadata,
    sa.Column("machine", sa.String(80), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("role_arn", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

asl_aliases = sa.Table(
    "asl_aliases",
    metadata,
    sa.Column("machine", sa.String(80), primary_key=True),
    sa.Column("alias", sa.String(80), primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("routing", sa.Text, nullable=False),  # JSON: [{"stateMachineVersionArn", "weight"}]
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Attempts handed to workers of another process (the celery executor). The row, not the broker,
# says what happened: a worker claims `dispatched` -> `running` with a conditional UPDATE, writes
# `done` with the outcome before it acknowledges the message; the sweep marks the attempts of a
# dead worker `interrupted`. `waiting`: for a slot of its pool, not yet sent.
attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("step", sa.String(400), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("queue", sa.String(200), nullable=False),
    sa.Column("pool", sa.String(200)),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("worker", sa.String(200)),
    sa.Column("job", sa.Text),
    sa.Column("outcome", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("heartbeat", sa.Float),
    sa.Index("ix_attempts_state", "state", "pool"),
    sa.Index("ix_attempts_worker", "worker", "state"),
)

# Live worker processes (`lockgate worker`), each refreshing its heartbeat.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("worker", sa.String(200), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("queues", sa.Text, nullable=False),
    sa.Column("concurrency", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat", sa.Float, nullable=False),
)

# Cluster-wide slots: a pool's attempts in `dispatched` or `running` hold its slots.
pools = sa.Table(
    "pools",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("slots", sa.Integer, nullable=False),
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
