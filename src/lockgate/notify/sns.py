"""`arn:aws:states:::sns:publish` from a state machine: a message to a lockgate topic.

The TopicArn's last segment is the topic's name (`arn:aws:sns:eu-west-1:123456789012:ops` is
topic `ops`), so a definition written for AWS publishes unchanged. `Message` is text, or any
JSON value (sent as its JSON text); `Subject` is optional. The answer has the service's shape:
`{"MessageId": ...}` (the first delivery's id). Errors carry the service's names, for Retry
and Catch: SNS.NotFoundException (no such topic), SNS.InvalidParameterException.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

NOT_FOUND = "SNS.NotFoundException"
INVALID = "SNS.InvalidParameterException"


class PublishError(Exception):
    """A publish the service would refuse; `error` is its ASL error name."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


def topic_of(arn: str) -> str:
    """The lockgate topic an SNS topic ARN names: its last `:` segment."""
    return arn.rsplit(":", 1)[-1]


def publish(payload: Any, runtime: Any = None) -> dict[str, Any]:
    """Publish the Task state's Parameters (TopicArn, Message, Subject) to the topic's subscriptions."""
    from lockgate.core.errors import UsageError
    from lockgate.notify.channels import Message
    from lockgate.notify.plugin import notifier_of

    if not isinstance(payload, dict):
        raise PublishError(INVALID, f"sns:publish takes an object of parameters, not {type(payload).__name__}")
    arn = payload.get("TopicArn") or payload.get("TargetArn")
    if not isinstance(arn, str) or not topic_of(arn):
        raise PublishError(INVALID, "sns:publish needs TopicArn (its last segment names the lockgate topic)")
    if "Message" not in payload:
        raise PublishError(INVALID, "sns:publish needs Message")
    topic = topic_of(arn)
    message = payload["Message"]
    text = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    subject = payload.get("Subject")
    if subject is not None and not isinstance(subject, str):
        raise PublishError(INVALID, "sns:publish: Subject must be a string")
    data = {"kind": "published", "topic": topic, "message": message}
    if runtime is None:
        from lockgate.runtime import default_runtime

        runtime = default_runtime()
    try:
        ids = notifier_of(runtime).publish(topic, Message(subject or f"[lockgate] {topic}", text, data))
    except UsageError as exc:
        raise PublishError(NOT_FOUND, f"{arn}: {exc}") from None
    return {"MessageId": ids[0] if ids else str(uuid.uuid4())}
