"""Notifications, alarms and lineage: topics and subscriptions, the delivery outbox, alarm rules."""
