"""Topics and their subscriptions, from the store (`lockgate topics ...`) and from lockgate.toml.

A subscription is `email:ADDRESS`, `webhook:URL` (signed with its secret) or `slack:URL`
(a Slack incoming webhook). Topics declared in `[notify.topics.NAME]` are read from the
settings each time and never written to the store:

    [notify.topics.ops]
    subscriptions = ["email:ops@example.com", {endpoint = "webhook:https://hooks.example.com/x", secret = "s3cr3t"}]
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from lockgate.config import Settings, mask_url
from lockgate.core.errors import UsageError
from lockgate.notify.schema import subscriptions, topics

CHANNELS = ("email", "webhook", "slack")
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


@dataclass(frozen=True, slots=True)
class Subscription:
    """Where a topic's messages go; `source` is "store" or "config"."""

    id: str
    topic: str
    channel: str
    endpoint: str
    secret: str | None
    source: str

    @property
    def target(self) -> str:
        return f"{self.channel}:{self.endpoint}"

    def to_json(self) -> dict[str, Any]:
        """As `topics list` shows it: never the secret, and a Slack URL's token hidden."""
        return {
            "id": self.id,
            "topic": self.topic,
            "channel": self.channel,
            "target": shown_endpoint(self.channel, self.endpoint),
            "signed": bool(self.secret),
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    source: str
    subscriptions: tuple[Subscription, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "subscriptions": [s.to_json() for s in self.subscriptions]}


def shown_endpoint(channel: str, endpoint: str) -> str:
    """`channel:endpoint` fit to print: URL passwords masked; a Slack webhook's path is its token."""
    if channel == "slack":
        parts = urlsplit(endpoint)
        return f"slack:{parts.scheme}://{parts.netloc}/***"
    return f"{channel}:{mask_url(endpoint)}"


def parse_target(text: str, where: str) -> tuple[str, str]:
    """Split `email:ops@example.com` / `webhook:https://...` / `slack:https://...`; UsageError names `where`."""
    channel, sep, endpoint = text.partition(":")
    if not sep or channel not in CHANNELS:
        raise UsageError(f"{where}: {text!r} must start with one of {', '.join(c + ':' for c in CHANNELS)}")
    endpoint = endpoint.strip()
    if channel == "email":
        if not _EMAIL.match(endpoint):
            raise UsageError(f"{where}: {endpoint!r} is not an email address")
        return channel, endpoint
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"{where}: {mask_url(endpoint)!r} is not an http:// or https:// URL")
    return channel, endpoint


def check_topic_name(name: str) -> str:
    if not _TOPIC_NAME.match(name):
        raise UsageError(
            f"topic name {name!r}: use letters, digits, '_', '.' and '-' (up to 200), starting with a letter or digit"
        )
    return name


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def config_topics(settings: Settings) -> dict[str, Topic]:
    """Topics declared in `[notify.topics.*]`; raises UsageError naming the file and key at fault."""
    where_file = str(settings.source or "settings")
    declared = settings.table("notify").get("topics", {})
    if not isinstance(declared, dict):
        raise UsageError(f"{where_file}: notify.topics must be a table of topics")
    found = {}
    for name, body in declared.items():
        where = f"{where_file}: notify.topics.{name}"
        check_topic_name(name)
        if not isinstance(body, dict):
            raise UsageError(f"{where} must be a table with a `subscriptions` list")
        items = body.get("subscriptions", [])
        if not isinstance(items, list):
            raise UsageError(f"{where}.subscriptions must be a list")
        subs = []
        for index, item in enumerate(items):
            at = f"{where}.subscriptions[{index}]"
            if isinstance(item, str):
                target, secret = item, None
            elif isinstance(item, dict) and isinstance(item.get("endpoint"), str):
                target, secret = item["endpoint"], item.get("secret")
            else:
                raise UsageError(f"{at} must be a string or a table with `endpoint` (and `secret`)")
            channel, endpoint = parse_target(target, at)
            if channel == "webhook" and not secret:
                raise UsageError(f"{at}: a webhook needs a secret to sign with: {{endpoint = ..., secret = ...}}")
            sub_id = "cfg-" + hashlib.sha256(f"{name}\0{channel}:{endpoint}".encode()).hexdigest()[:16]
            subs.append(Subscription(sub_id, name, channel, endpoint, secret, "config"))
        found[name] = Topic(name, "config", tuple(subs))
    return found


class Topics:
    """Topics and subscriptions kept in the store, merged with those of the settings."""

    def __init__(self, engine: sa.Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def create(self, name: str, now: float) -> bool:
        """Create a topic; False if it already exists."""
        check_topic_name(name)
        with self.engine.begin() as conn:
            if conn.execute(sa.select(topics.c.name).where(topics.c.name == name)).first() is not None:
                return False
            conn.execute(topics.insert(), {"name": name, "created_at": now})
        return True

    def delete(self, name: str) -> None:
        if name in config_topics(self.settings) and not self._stored(name):
            raise UsageError(f"topic {name!r} is declared in {self.settings.source}; remove it there")
        with self.engine.begin() as conn:
            if conn.execute(topics.delete().where(topics.c.name == name)).rowcount != 1:
                raise UsageError(f"no topic {name!r}")
            conn.execute(subscriptions.delete().where(subscriptions.c.topic == name))

    def _stored(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(sa.select(topics.c.name).where(topics.c.name == name)).first() is not None

    def exists(self, name: str) -> bool:
        return name in config_topics(self.settings) or self._stored(name)

    def all(self) -> list[Topic]:
        declared = config_topics(self.settings)
        with self.engine.begin() as conn:
            names = [row.name for row in conn.execute(sa.select(topics.c.name).order_by(topics.c.name))]
            rows = conn.execute(sa.select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)).all()
        stored: dict[str, list[Subscription]] = {name: [] for name in names}
        for row in rows:
            stored.setdefault(row.topic, []).append(_subscription(row))
        out = []
        for name in sorted(set(stored) | set(declared)):
            subs = tuple(stored.get(name, [])) + (declared[name].subscriptions if name in declared else ())
            source = "config" if name in declared and name not in stored else "store"
            out.append(Topic(name, source, subs))
        return out

    def subscriptions_of(self, names: list[str]) -> dict[str, list[Subscription]]:
        """The subscriptions of each named topic that exists (unknown topics are left out)."""
        declared = config_topics(self.settings)
        with self.engine.begin() as conn:
            known = {r.name for r in conn.execute(sa.select(topics.c.name).where(topics.c.name.in_(names)))}
            rows = conn.execute(sa.select(subscriptions).where(subscriptions.c.topic.in_(names))).all()
        found: dict[str, list[Subscription]] = {name: [] for name in names if name in known or name in declared}
        for row in rows:
            found.setdefault(row.topic, []).append(_subscription(row))
        for name in names:
            if name in declared:
                found[name].extend(declared[name].subscriptions)
        return found

    def subscription(self, sub_id: str) -> Subscription | None:
        if sub_id.startswith("cfg-"):
            for topic in config_topics(self.settings).values():
                for sub in topic.subscriptions:
                    if sub.id == sub_id:
                        return sub
            return None
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(subscriptions).where(subscriptions.c.id == sub_id)).first()
        return _subscription(row) if row is not None else None

    def subscribe(self, topic: str, target: str, secret: str | None, now: float) -> Subscription:
        """Add a subscription; a webhook without `secret` gets a new one (returned once, here)."""
        channel, endpoint = parse_target(target, "subscription")
        if not self._stored(topic):
            if topic in config_topics(self.settings):
                raise UsageError(f"topic {topic!r} is declared in {self.settings.source}; add subscriptions there")
            raise UsageError(f"no topic {topic!r}; create it with `lockgate topics create {topic}`")
        if secret is not None and channel != "webhook":
            raise UsageError(f"--secret applies to webhook subscriptions, not {channel}")
        if channel == "webhook" and not secret:
            secret = new_secret()
        sub = Subscription(uuid.uuid4().hex[:20], topic, channel, endpoint, secret, "store")
        with self.engine.begin() as conn:
            same = sa.and_(
                subscriptions.c.topic == topic, subscriptions.c.channel == channel, subscriptions.c.endpoint == endpoint
            )
            if conn.execute(sa.select(subscriptions.c.id).where(same)).first() is not None:
                raise UsageError(f"topic {topic!r} already has the subscription {shown_endpoint(channel, endpoint)}")
            conn.execute(
                subscriptions.insert(),
                {
                    "id": sub.id,
                    "topic": topic,
                    "channel": channel,
                    "endpoint": endpoint,
                    "secret": secret,
                    "created_at": now,
                },
            )
        return sub

    def unsubscribe(self, topic: str, target: str) -> Subscription:
        """Remove a subscription named by its id or by `channel:endpoint`."""
        with self.engine.begin() as conn:
            query = sa.select(subscriptions).where(subscriptions.c.topic == topic)
            if ":" in target:
                channel, endpoint = parse_target(target, "subscription")
                query = query.where(subscriptions.c.channel == channel, subscriptions.c.endpoint == endpoint)
            else:
                query = query.where(subscriptions.c.id == target)
            row = conn.execute(query).first()
            if row is None:
                raise UsageError(f"topic {topic!r} has no subscription {target!r} in the store")
            conn.execute(subscriptions.delete().where(subscriptions.c.id == row.id))
        return _subscription(row)


def _subscription(row: Any) -> Subscription:
    return Subscription(row.id, row.topic, row.channel, row.endpoint, row.secret, "store")
