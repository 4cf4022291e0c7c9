"""Who did it: the actor that started each run, and who paused or unpaused a pipeline."""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("created_by", sa.String(300)))
    op.create_table(
        "pipeline_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("by", sa.String(300), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Index("ix_pipeline_actions_pipeline", "pipeline", "id"),
    )


def downgrade() -> None:
    op.drop_table("pipeline_actions")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("created_by")
