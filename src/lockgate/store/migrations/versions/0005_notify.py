"""Notification topics, subscriptions, the delivery outbox and alarm states."""

import sqlalchemy as sa
from alembic import op

revision = "notify_0001"
down_revision = "triggers_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_topics",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "notify_subscriptions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("secret", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_notify_subscriptions_topic", "notify_subscriptions", ["topic"])
    op.create_table(
        "notify_deliveries",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("subscription_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("claim", sa.String(40)),
        sa.Column("lease_until", sa.Float),
    )
    op.create_index("ix_notify_deliveries_due", "notify_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_notify_deliveries_run", "notify_deliveries", ["run_id"])
    op.create_index("ix_notify_deliveries_created", "notify_deliveries", ["created_at"])
    op.create_table(
        "notify_alarms",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("evaluated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notify_alarms")
    op.drop_table("notify_deliveries")
    op.drop_table("notify_subscriptions")
    op.drop_table("notify_topics")
