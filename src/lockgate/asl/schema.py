"""Tables of the ASL area: task tokens issued by `.waitForTaskToken` states, their answers, and
the state machines created through the Step Functions-compatible API."""

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

asl_state_machines = sa.Table(
    "asl_state_machines",
    metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("role_arn", sa.Text, nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
