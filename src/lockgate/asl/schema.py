"""Tables for state machine callbacks (`.waitForTaskToken`): issued task tokens and their answers."""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import BigId, metadata

asl_task_tokens = sa.Table(
    "asl_task_tokens",
    metadata,
    sa.Column("token", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("invoke_id", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

asl_callbacks = sa.Table(
    "asl_callbacks",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("token", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("cause", sa.Text),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_asl_callbacks_run", "run_id", "id"),
)
