"""Triggers: schedules' last slots, seen objects, scan cursors, paused pipelines, dataset events."""

import sqlalchemy as sa
from alembic import op

revision = "triggers_0001"
down_revision = "catalog_0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trigger_schedules",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("trigger", sa.String(300), primary_key=True),
        sa.Column("registered_at", sa.Float, nullable=False),
        sa.Column("last_slot", sa.Float),
    )
    op.create_table(
        "trigger_objects",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("uri", sa.String(1024), nullable=False),
        sa.Column("etag", sa.String(200), nullable=False),
        sa.Column("size", sa.BigInteger),
        sa.Column("seen_at", sa.Float, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.UniqueConstraint("pipeline", "uri", "etag", name="uq_trigger_objects_version"),
    )
    op.create_table(
        "trigger_cursors",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_table(
        "paused_pipelines",
        sa.Column("pipeline", sa.String(200), primary_key=True),
        sa.Column("paused_at", sa.Float, nullable=False),
    )
    op.create_table(
        "dataset_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(1024), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("pipeline", sa.String(200)),
        sa.Column("step", sa.String(200)),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_dataset_events_at", "dataset_events", ["at"])


def downgrade() -> None:
    op.drop_table("dataset_events")
    op.drop_table("paused_pipelines")
    op.drop_table("trigger_cursors")
    op.drop_table("trigger_objects")
    op.drop_table("trigger_schedules")
