"""The notification tables: topics, subscriptions, the delivery outbox and alarm states."""

from __future__ import annotations

import sqlalchemy as sa

from lockgate.store.schema import metadata

topics = sa.Table(
    "notify_topics",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

subscriptions = sa.Table(
    "notify_subscriptions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("topic", sa.String(200), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("secret", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_notify_subscriptions_topic", "topic"),
)

# One row per (message, subscription): the outbox. `id` is the delivery id a webhook sees in
# X-Lockgate-Delivery on every attempt. A sender claims due rows by writing its `claim` token
# and a lease; a crashed sender's rows become due again when the lease ends.
deliveries = sa.Table(
    "notify_deliveries",
    metadata,
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
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("delivered_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Column("claim", sa.String(40)),
    sa.Column("lease_until", sa.Float),
    sa.Index("ix_notify_deliveries_due", "status", "next_attempt_at"),
    sa.Index("ix_notify_deliveries_run", "run_id"),
    sa.Index("ix_notify_deliveries_created", "created_at"),
)

alarms = sa.Table(
    "notify_alarms",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evaluated_at", sa.Float, nullable=False),
)
