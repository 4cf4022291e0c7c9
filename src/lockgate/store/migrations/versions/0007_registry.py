"""The registry (what a service serves, the files it could not load), and indexes for the runs list."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "asl_0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "served",
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
    op.create_table(
        "served_errors",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("file", sa.Text, nullable=False),
        sa.Column("line", sa.Integer),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    # the runs list filtered by pipeline and status (newest first, paged), and state machines by kind
    op.create_index("ix_runs_pipeline_status_created", "runs", ["pipeline", "status", "created_at"])
    op.create_index("ix_runs_status_created", "runs", ["status", "created_at"])
    op.create_index("ix_runs_kind_pipeline", "runs", ["kind", "pipeline"])


def downgrade() -> None:
    op.drop_index("ix_runs_kind_pipeline", "runs")
    op.drop_index("ix_runs_status_created", "runs")
    op.drop_index("ix_runs_pipeline_status_created", "runs")
    op.drop_table("served_errors")
    op.drop_table("served")
