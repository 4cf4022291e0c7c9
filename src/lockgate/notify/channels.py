"""Sending one message to one subscription: email (SMTP), signed webhooks, Slack incoming webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from lockgate.config import Settings


@dataclass(frozen=True, slots=True)
class Message:
    """What a topic publishes: a subject, a plain-text body, and the facts as JSON for machines."""

    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """A channel refused or could not take a message; the outbox retries it."""


def sign(secret: str, body: bytes) -> str:
    """The X-Lockgate-Signature value of a webhook body: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Whether a received X-Lockgate-Signature matches the raw body (constant-time)."""
    return hmac.compare_digest(sign(secret, body), signature)


def sign_timestamped(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Lockgate-Signature-Timestamped value: `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.

    The body-only signature cannot stop a replay (the timestamp beside it is unsigned); this one
    binds the timestamp, so a receiver can refuse deliveries older than its tolerance.
    """
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_timestamped(
    secret: str, timestamp: str, body: bytes, signature: str, now: float, tolerance: float = 300.0
) -> bool:
    """Whether a received X-Lockgate-Signature-Timestamped matches, and its timestamp is within
    `tolerance` seconds of `now` (constant-time comparison)."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign_timestamped(secret, timestamp, body), signature)


def webhook_body(delivery_id: str, topic: str, message: Message) -> bytes:
    """The JSON a webhook receives; the same bytes on every retry of one delivery."""
    document = {
        "delivery_id": delivery_id,
        "topic": topic,
        "subject": message.subject,
        "message": message.text,
        "data": message.data,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class Channels:
    """Sends over each channel; one instance per sending thread (it keeps an HTTP connection pool)."""

    def __init__(self, settings: Settings) -> None:
        self.smtp = settings.table("smtp")
        self.timeout = float(settings.get("notify", "timeout_seconds", 10.0))
        self._http: Any = None

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def send(
        self,
        channel: str,
        endpoint: str,
        secret: str | None,
        delivery_id: str,
        topic: str,
        message: Message,
        now: float,
    ) -> None:
        """Deliver once; raises DeliveryError saying why not."""
        if channel == "email":
            self._email(endpoint, delivery_id, message)
        elif channel == "webhook":
            body = webhook_body(delivery_id, topic, message)
            headers = {
                "Content-Type": "application/json",
                "X-Lockgate-Delivery": delivery_id,
                "X-Lockgate-Timestamp": str(int(now)),
                "X-Lockgate-Topic": topic,
            }
            if secret:
                headers["X-Lockgate-Signature"] = sign(secret, body)
                headers["X-Lockgate-Signature-Timestamped"] = sign_timestamped(
                    secret, headers["X-Lockgate-Timestamp"], body
                )
            self._post(endpoint, body, headers)
        elif channel == "slack":
            text = f"*{message.subject}*\n{message.text}"
            body = json.dumps({"text": text}).encode()
            self._post(endpoint, body, {"Content-Type": "application/json"})
        else:
            raise DeliveryError(f"unknown channel {channel!r}")

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            import httpx
        except ImportError:
            raise DeliveryError("webhook and Slack deliveries need httpx: pip install 'lockgate[http]'") from None

        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, follow_redirects=False)
        try:
            response = self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 300:
            raise DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}")

    def _email(self, address: str, delivery_id: str, message: Message) -> None:
        cfg = self.smtp
        mail = EmailMessage()
        mail["From"] = cfg["sender"]
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{delivery_id}@lockgate>"
        mail.set_content(message.text)
        host, port = str(cfg["host"]), int(cfg["port"])
        try:
            if cfg.get("ssl"):
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(host, port, timeout=self.timeout)
            with client:
                if cfg.get("starttls") and not cfg.get("ssl"):
                    client.starttls(context=ssl.create_default_context())
                if cfg.get("username"):
                    client.login(str(cfg["username"]), str(cfg.get("password", "")))
                client.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from None
