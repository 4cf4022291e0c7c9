"""The delivery outbox: one row per (message, subscription), claimed, sent and retried with backoff.

Delivery statuses: PENDING (not tried yet), RETRYING (failed, waiting for `next_attempt_at`),
DELIVERED, FAILED (attempts spent). Waits between attempts follow a RetryPolicy built from
`[notify]` (retry_interval_seconds, retry_backoff_rate, retry_max_delay_seconds, max_attempts).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.config import Settings
from lockgate.core.errors import ALL
from lockgate.core.retry import RetryPolicy
from lockgate.notify.channels import Message
from lockgate.notify.schema import deliveries
from lockgate.notify.topics import Subscription, shown_endpoint

DELIVERY_STATUSES = ("PENDING", "RETRYING", "DELIVERED", "FAILED")
LEASE_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the outbox."""

    id: str
    topic: str
    subscription_id: str
    channel: str
    endpoint: str
    message: Message
    run_id: str | None
    status: str
    attempts: int
    created_at: float
    next_attempt_at: float
    delivered_at: float | None
    last_error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "delivery_id": self.id,
            "topic": self.topic,
            "channel": self.channel,
            "target": shown_endpoint(self.channel, self.endpoint),
            "subject": self.message.subject,
            "run_id": self.run_id,
            "status": self.status,
            "attempts": self.attempts,
            "created_at": _json.iso(self.created_at),
            "next_attempt_at": _json.iso(self.next_attempt_at) if self.status in ("PENDING", "RETRYING") else None,
            "delivered_at": _json.iso(self.delivered_at),
            "last_error": self.last_error,
        }


# (delivery, error or None when delivered, whether the error is final: no retry can help)
Outcome = tuple[Delivery, str | None, bool]


def retry_policy(settings: Settings) -> RetryPolicy:
    cfg = settings.table("notify")
    return RetryPolicy(
        errors=(ALL,),
        interval_seconds=float(cfg["retry_interval_seconds"]),
        max_attempts=max(0, int(cfg["max_attempts"]) - 1),
        backoff_rate=float(cfg["retry_backoff_rate"]),
        max_delay_seconds=float(cfg["retry_max_delay_seconds"]),
    )


class Outbox:
    """The outbox table of one store."""

    def __init__(self, engine: sa.Engine, policy: RetryPolicy) -> None:
        self.engine = engine
        self.policy = policy

    def add(self, items: Iterable[tuple[Subscription, Message, str | None]], now: float) -> list[str]:
        """Queue deliveries (subscription, message, run id) in one transaction; returns their ids."""
        rows: list[dict[str, Any]] = [
            {
                "id": uuid.uuid4().hex,
                "topic": sub.topic,
                "subscription_id": sub.id,
                "channel": sub.channel,
                "endpoint": sub.endpoint,
                "subject": message.subject,
                "message": message.text,
                "data": _json.dumps(message.data),
                "run_id": run_id,
                "status": "PENDING",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
                # held by the process that queued it, which sends it at once; others (lockgate
                # serve) take it only if that process has not tried it within the lease
                "lease_until": now + LEASE_SECONDS,
            }
            for sub, message, run_id in items
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(deliveries.insert(), rows)
        return [str(row["id"]) for row in rows]

    def held(self, ids: Sequence[str]) -> list[Delivery]:
        """The deliveries among `ids` still waiting for their first attempt (those this process queued), in order."""
        if not ids:
            return []
        query = sa.select(deliveries).where(deliveries.c.id.in_(list(ids)), deliveries.c.status == "PENDING")
        with self.engine.begin() as conn:
            found = {row.id: _delivery(row) for row in conn.execute(query)}
        return [found[i] for i in ids if i in found]  # in the order given: the order they were queued

    def claim_due(self, now: float, limit: int) -> list[Delivery]:
        """Take up to `limit` due deliveries that no process holds (the retries `lockgate serve` sends)."""
        due = sa.and_(
            deliveries.c.status.in_(["PENDING", "RETRYING"]),
            deliveries.c.next_attempt_at <= now,
            sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
        )
        token = uuid.uuid4().hex
        with self.engine.begin() as conn:
            query = sa.select(deliveries.c.id).where(due).order_by(deliveries.c.next_attempt_at).limit(limit)
            ids = [row.id for row in conn.execute(query.with_for_update(skip_locked=True))]
            if not ids:
                return []
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.id.in_(ids), due)
                .values(claim=token, lease_until=now + LEASE_SECONDS)
            )
            rows = conn.execute(sa.select(deliveries).where(deliveries.c.claim == token)).all()
        return [_delivery(row) for row in rows]

    def record(self, attempts: Sequence[Outcome], now: float) -> list[tuple[Delivery, str]]:
        """Write the outcomes of claimed attempts in one transaction; returns (delivery, its new status)."""
        done: list[tuple[Delivery, str]] = []
        delivered: dict[int, list[str]] = {}  # attempts count -> ids: one UPDATE per group
        failed: list[dict[str, Any]] = []
        for delivery, error, final in attempts:
            count = delivery.attempts + 1
            if error is None:
                delivered.setdefault(count, []).append(delivery.id)
                done.append((delivery, "DELIVERED"))
                continue
            wait = None if final else self.policy.delay(count, 0.0)
            status = "FAILED" if wait is None else "RETRYING"
            failed.append(
                {
                    "b_id": delivery.id,
                    "status": status,
                    "attempts": count,
                    "last_error": error[:2000],
                    "next_attempt_at": delivery.next_attempt_at if wait is None else now + wait,
                    "claim": None,
                    "lease_until": None,
                }
            )
            done.append((delivery, status))
        with self.engine.begin() as conn:
            for count, ids in delivered.items():
                conn.execute(
                    sa.update(deliveries)
                    .where(deliveries.c.id.in_(ids))
                    .values(
                        status="DELIVERED",
                        attempts=count,
                        delivered_at=now,
                        last_error=None,
                        claim=None,
                        lease_until=None,
                    )
                )
            if failed:
                conn.execute(sa.update(deliveries).where(deliveries.c.id == sa.bindparam("b_id")), failed)
        return done

    def release(self, claimed: Sequence[Delivery]) -> None:
        """Give back claimed deliveries that were not attempted (a sender stopping at its deadline)."""
        if claimed:
            with self.engine.begin() as conn:
                ids = [d.id for d in claimed]
                conn.execute(sa.update(deliveries).where(deliveries.c.id.in_(ids)).values(claim=None, lease_until=None))

    def list(
        self, *, limit: int = 100, status: str | None = None, run_id: str | None = None, topic: str | None = None
    ) -> list[Delivery]:
        query = sa.select(deliveries).order_by(deliveries.c.created_at.desc(), deliveries.c.id).limit(limit)
        if status is not None:
            query = query.where(deliveries.c.status == status)
        if run_id is not None:
            query = query.where(deliveries.c.run_id == run_id)
        if topic is not None:
            query = query.where(deliveries.c.topic == topic)
        with self.engine.begin() as conn:
            return [_delivery(row) for row in conn.execute(query)]


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        topic=row.topic,
        subscription_id=row.subscription_id,
        channel=row.channel,
        endpoint=row.endpoint,
        message=Message(row.subject, row.message, _json.loads(row.data)),
        run_id=row.run_id,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        last_error=row.last_error,
    )
