"""REST endpoints for topics, subscriptions, publishing, the delivery log and alarms."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TopicBody(BaseModel):
    name: str


class SubscriptionBody(BaseModel):
    target: str = Field(description="email:ADDRESS, webhook:URL or slack:URL")
    secret: str | None = Field(None, description="A webhook's signing secret; generated when left out")


class PublishBody(BaseModel):
    subject: str
    message: str


def router(runtime: Any) -> Any:
    from fastapi import APIRouter, HTTPException, Query

    from lockgate.core.errors import UsageError
    from lockgate.notify.channels import Message
    from lockgate.notify.outbox import DELIVERY_STATUSES
    from lockgate.notify.plugin import notifier_of

    api = APIRouter(prefix="/api", tags=["notifications"])

    def notifier() -> Any:
        try:
            return notifier_of(runtime)
        except UsageError as exc:
            raise HTTPException(501, str(exc)) from None

    def bad(exc: UsageError) -> HTTPException:
        text = str(exc)
        return HTTPException(404 if text.startswith("no topic") else 400, text)

    @api.get("/topics")
    def list_topics() -> list[dict[str, Any]]:
        return [t.to_json() for t in notifier().topics.all()]

    @api.post("/topics", status_code=201)
    def create_topic(body: TopicBody) -> dict[str, Any]:
        try:
            created = notifier().topics.create(body.name, runtime.clock())
        except UsageError as exc:
            raise bad(exc) from None
        return {"name": body.name, "created": created}

    @api.delete("/topics/{name}")
    def delete_topic(name: str) -> dict[str, Any]:
        try:
            notifier().topics.delete(name)
        except UsageError as exc:
            raise bad(exc) from None
        return {"name": name, "deleted": True}

    @api.post("/topics/{name}/subscriptions", status_code=201)
    def subscribe(name: str, body: SubscriptionBody) -> dict[str, Any]:
        """Subscribe; a generated webhook secret is in this answer only."""
        try:
            sub = notifier().topics.subscribe(name, body.target, body.secret, runtime.clock())
        except UsageError as exc:
            raise bad(exc) from None
        answer: dict[str, Any] = sub.to_json()
        if sub.channel == "webhook" and body.secret is None:
            answer["secret"] = sub.secret
        return answer

    @api.delete("/topics/{name}/subscriptions/{subscription}")
    def unsubscribe(name: str, subscription: str) -> dict[str, Any]:
        try:
            sub = notifier().topics.unsubscribe(name, subscription)
        except UsageError as exc:
            raise HTTPException(404, str(exc)) from None
        return {**sub.to_json(), "deleted": True}

    @api.post("/topics/{name}/publish", status_code=202)
    def publish(name: str, body: PublishBody) -> dict[str, Any]:
        """Queue the message for every subscription; the server's sender delivers it."""
        try:
            ids = notifier().publish(name, Message(body.subject, body.message, {"kind": "published", "topic": name}))
        except UsageError as exc:
            raise bad(exc) from None
        return {"topic": name, "delivery_ids": ids}

    @api.get("/notifications")
    def list_notifications(
        limit: int = Query(100, ge=1, le=10000),
        status: str | None = None,
        run_id: str | None = None,
        topic: str | None = None,
    ) -> list[dict[str, Any]]:
        if status is not None and status not in DELIVERY_STATUSES:
            raise HTTPException(400, f"status {status!r} is not one of {', '.join(DELIVERY_STATUSES)}")
        return [d.to_json() for d in notifier().outbox.list(limit=limit, status=status, run_id=run_id, topic=topic)]

    @api.get("/alarms")
    def list_alarms() -> list[dict[str, Any]]:
        from lockgate import _json
        from lockgate.notify.alarms import rules_from_settings
        from lockgate.notify.monitor import states

        known = states(runtime.store.engine)
        out = []
        for rule in rules_from_settings(runtime.settings):
            state = known.get(rule.name)
            out.append(
                {
                    **rule.to_json(),
                    "state": state.state if state else "INSUFFICIENT_DATA",
                    "since": _json.iso(state.since) if state else None,
                    "reason": state.reason if state else "not evaluated yet",
                }
            )
        return out

    @api.post("/alarms/evaluate")
    def evaluate() -> list[dict[str, Any]]:
        from lockgate import _json
        from lockgate.notify.monitor import evaluate_alarms

        return [
            {**rule.to_json(), "state": s.state, "since": _json.iso(s.since), "reason": s.reason, "fired": fired}
            for rule, s, fired in evaluate_alarms(runtime)
        ]

    return api
