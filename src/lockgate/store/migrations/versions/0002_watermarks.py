"""Watermarks of incremental copies (lockgate.tasks.sql_copy)."""

import sqlalchemy as sa
from alembic import op

revision = "watermarks_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watermarks",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("watermarks")
