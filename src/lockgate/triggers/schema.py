"""The triggers' tables: what each trigger has already started, cursors, pauses, dataset events."""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import BigId, metadata

# One row per (pipeline, time-based trigger): when it was first seen and its last slot queued.
trigger_schedules = sa.Table(
    "trigger_schedules",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("trigger", sa.String(300), primary_key=True),
    sa.Column("registered_at", sa.Float, nullable=False),
    sa.Column("last_slot", sa.Float),
)

# One row per object version that started a run (dedup key: pipeline, uri, etag).
trigger_objects = sa.Table(
    "trigger_objects",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("uri", sa.String(1024), nullable=False),
    sa.Column("etag", sa.String(200), nullable=False),
    sa.Column("size", sa.BigInteger),
    sa.Column("seen_at", sa.Float, nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.UniqueConstraint("pipeline", "uri", "etag", name="uq_trigger_objects_version"),
)

# Named positions of the scheduler's scans (over finished runs, over dataset events).
trigger_cursors = sa.Table(
    "trigger_cursors",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
)

paused_pipelines = sa.Table(
    "paused_pipelines",
    metadata,
    sa.Column("pipeline", sa.String(200), primary_key=True),
    sa.Column("paused_at", sa.Float, nullable=False),
)

# Who paused or unpaused a pipeline, and when (`action`: "pause" or "unpause"), oldest first.
pipeline_actions = sa.Table(
    "pipeline_actions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("by", sa.String(300), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_pipeline_actions_pipeline", "pipeline", "id"),
)

# Datasets that steps reported writing (lockgate.triggers.datasets.report_written).
dataset_events = sa.Table(
    "dataset_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uri", sa.String(1024), nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("pipeline", sa.String(200)),
    sa.Column("step", sa.String(200)),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_dataset_events_at", "at"),
)
