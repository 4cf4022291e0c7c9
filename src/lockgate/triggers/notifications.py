"""Pushed object notifications: S3 and MinIO event records, EventBridge "Object Created" events.

Accepted bodies: `{"Records": [...]}` (S3, MinIO), an SNS envelope around one, an EventBridge
event, or a JSON list of any of these. Only object-created events count; others are ignored.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import unquote_plus

from lockgate.core.errors import UsageError
from lockgate.triggers.buckets import clean_etag
from lockgate.triggers.files import ObjectSeen


def _epoch(text: Any, now: float) -> float:
    if not isinstance(text, str) or not text:
        return now
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return now


def _object(bucket: Any, key: Any, size: Any, etag: Any, version: Any, at: float, where: str) -> ObjectSeen:
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise UsageError(f"{where}: the bucket name and object key are required")
    tag = clean_etag(etag) or str(version or "")
    if not tag:
        raise UsageError(f"{where}: neither an eTag nor a versionId: the object's version cannot be told")
    try:
        length = int(size or 0)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: size {size!r} is not a number") from None
    return ObjectSeen(f"s3://{bucket}/{key}", key, length, tag, at)


def parse_notification(body: Any, now: float) -> list[ObjectSeen]:
    """The objects created that a notification body tells of; raises UsageError naming the bad part."""
    if isinstance(body, list):
        out = []
        for i, item in enumerate(body):
            try:
                out += parse_notification(item, now)
            except UsageError as exc:
                raise UsageError(f"[{i}]: {exc}") from None
        return out
    if not isinstance(body, dict):
        raise UsageError("expected a JSON object: S3 event records or an EventBridge event")
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        try:
            return parse_notification(json.loads(body["Message"]), now)
        except json.JSONDecodeError:
            raise UsageError("Message: the SNS envelope's message is not JSON") from None
    if "Records" in body:
        return _records(body["Records"], now)
    if "detail-type" in body:
        if body["detail-type"] != "Object Created":
            return []
        detail = body.get("detail")
        if not isinstance(detail, dict):
            raise UsageError("detail: an EventBridge event needs a detail object")
        bucket = _part(detail, "bucket", "detail").get("name")
        obj = _part(detail, "object", "detail")
        at = _epoch(body.get("time"), now)
        return [_object(bucket, obj.get("key"), obj.get("size"), obj.get("etag"), obj.get("version-id"), at, "detail")]
    if body.get("Event") == "s3:TestEvent":
        return []
    raise UsageError('expected "Records" (S3, MinIO) or an EventBridge "Object Created" event')


def _part(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """`parent[key]` when it is an object (or absent: empty); UsageError naming it otherwise."""
    value = parent.get(key) or {}
    if not isinstance(value, dict):
        raise UsageError(f"{where}.{key}: expected an object, not {type(value).__name__}")
    return value


def _records(records: Any, now: float) -> list[ObjectSeen]:
    if not isinstance(records, list):
        raise UsageError("Records: expected a list")
    out = []
    for i, record in enumerate(records):
        where = f"Records[{i}]"
        if not isinstance(record, dict):
            raise UsageError(f"{where}: expected an object")
        if "ObjectCreated" not in str(record.get("eventName", "ObjectCreated")):
            continue
        s3 = record.get("s3")
        if not isinstance(s3, dict):
            raise UsageError(f"{where}.s3: missing")
        bucket = _part(s3, "bucket", f"{where}.s3").get("name")
        obj = _part(s3, "object", f"{where}.s3")
        key = obj.get("key")
        # S3 and MinIO send keys URL-encoded, spaces as '+'.
        key = unquote_plus(key) if isinstance(key, str) else key
        at = _epoch(record.get("eventTime"), now)
        out.append(_object(bucket, key, obj.get("size"), obj.get("eTag"), obj.get("versionId"), at, f"{where}.s3"))
    return out
