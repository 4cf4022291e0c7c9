"""ASL: task tokens and callback answers of `.waitForTaskToken` states; state machines of the API."""

import sqlalchemy as sa
from alembic import op

revision = "asl_0001"
down_revision = "notify_0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "asl_task_tokens",
        sa.Column("token", sa.String(200), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("invoke_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "asl_callbacks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("token", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("output", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("cause", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_asl_callbacks_run", "asl_callbacks", ["run_id", "id"])
    op.create_table(
        "asl_state_machines",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("role_arn", sa.Text, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("asl_state_machines")
    op.drop_table("asl_callbacks")
    op.drop_table("asl_task_tokens")
