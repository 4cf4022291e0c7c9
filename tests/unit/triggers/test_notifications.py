import json

import pytest

from lockgate.core.errors import UsageError
from lockgate.triggers.notifications import parse_notification


def s3_record(key: str, etag: str = "abc", name: str = "ObjectCreated:Put") -> dict:
    return {
        "eventName": name,
        "eventTime": "2026-11-24T06:00:00.000Z",
        "s3": {"bucket": {"name": "feedback"}, "object": {"key": key, "size": 12, "eTag": etag}},
    }


def test_s3_records_become_objects_with_decoded_keys() -> None:
    (obj,) = parse_notification({"Records": [s3_record("raw/my+file%281%29.csv")]}, now=0)
    assert (obj.uri, obj.key, obj.size, obj.etag) == (
        "s3://feedback/raw/my file(1).csv",
        "raw/my file(1).csv",
        12,
        "abc",
    )
    assert obj.event()["time"] == "2026-11-24T06:00:00.000000Z"


def test_minio_records_and_sns_envelopes_are_accepted() -> None:
    minio = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": "feedback/raw/a.csv",
        "Records": [s3_record("raw/a.csv", name="s3:ObjectCreated:Put")],
    }
    sns = {"Type": "Notification", "Message": json.dumps({"Records": [s3_record("raw/b.csv")]})}
    assert [o.key for o in parse_notification([minio, sns], now=0)] == ["raw/a.csv", "raw/b.csv"]


def test_eventbridge_object_created_is_accepted_and_other_events_ignored() -> None:
    event = {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": "2026-11-24T06:00:00Z",
        "detail": {"bucket": {"name": "feedback"}, "object": {"key": "raw/c.csv", "size": 5, "etag": "e1"}},
    }
    (obj,) = parse_notification(event, now=0)
    assert (obj.uri, obj.etag, obj.size) == ("s3://feedback/raw/c.csv", "e1", 5)
    assert parse_notification({**event, "detail-type": "Object Deleted"}, now=0) == []
    assert parse_notification({"Records": [s3_record("x", name="ObjectRemoved:Delete")]}, now=0) == []


def test_quoted_etags_match_the_listing_form() -> None:
    (obj,) = parse_notification({"Records": [s3_record("k", etag='"0f0f"')]}, now=0)
    assert obj.etag == "0f0f"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"Records": "no"}, "Records: expected a list"),
        ({"Records": [{"eventName": "ObjectCreated:Put"}]}, r"Records\[0\].s3: missing"),
        ({"Records": [s3_record("k", etag="")]}, r"Records\[0\].s3: neither an eTag nor a versionId"),
        ({"hello": 1}, 'expected "Records"'),
        ([{"Records": []}, 3], r"\[1\]: expected a JSON object"),
    ],
)
def test_bad_notifications_name_the_part_at_fault(body, message) -> None:
    with pytest.raises(UsageError, match=message):
        parse_notification(body, now=0)
