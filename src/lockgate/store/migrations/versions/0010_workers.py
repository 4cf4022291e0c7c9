"""Attempts sent to workers, the live workers, and pools of cluster-wide slots."""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempts",
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
    )
    op.create_index("ix_attempts_state", "attempts", ["state", "pool"])
    op.create_index("ix_attempts_worker", "attempts", ["worker", "state"])
    op.create_table(
        "workers",
        sa.Column("worker", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("queues", sa.Text, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=False),
    )
    op.create_table(
        "pools",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("slots", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pools")
    op.drop_table("workers")
    op.drop_index("ix_attempts_worker", "attempts")
    op.drop_index("ix_attempts_state", "attempts")
    op.drop_table("attempts")
