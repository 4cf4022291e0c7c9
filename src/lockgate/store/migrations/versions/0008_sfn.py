"""Step Functions API: tags, activities and their waiting tasks, state machine versions and aliases."""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "asl_tags",
        sa.Column("resource_arn", sa.String(400), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.create_table(
        "asl_activities",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "asl_activity_tasks",
        sa.Column("token", sa.String(200), primary_key=True),
        sa.Column("activity", sa.String(80), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("input", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("taken_at", sa.Float),
        sa.Column("worker", sa.String(80)),
    )
    op.create_index("ix_asl_activity_tasks_waiting", "asl_activity_tasks", ["activity", "taken_at", "created_at"])
    op.create_table(
        "asl_versions",
        sa.Column("machine", sa.String(80), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("role_arn", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "asl_aliases",
        sa.Column("machine", sa.String(80), primary_key=True),
        sa.Column("alias", sa.String(80), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("routing", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("asl_aliases")
    op.drop_table("asl_versions")
    op.drop_index("ix_asl_activity_tasks_waiting", table_name="asl_activity_tasks")
    op.drop_table("asl_activity_tasks")
    op.drop_table("asl_activities")
    op.drop_table("asl_tags")
