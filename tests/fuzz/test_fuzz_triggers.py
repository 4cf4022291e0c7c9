"""Random cron expressions, manifests and S3 event payloads: parsed, or refused with a UsageError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz._bounded import bounded, fuzz, json_values

from lockgate.core.errors import UsageError
from lockgate.triggers.manifests import parse_manifest
from lockgate.triggers.notifications import parse_notification
from lockgate.triggers.schedule import Cron

cron_field = st.one_of(
    st.sampled_from(["*", "*/5", "0", "59", "60", "1-5", "5-1", "L", "5L", "MON", "mon-fri", "1#2", "7#6", "?", "W"]),
    st.text(alphabet="0123456789*/,-#LW?", min_size=1, max_size=6),
)


@fuzz
@given(st.lists(cron_field, min_size=0, max_size=7), st.sampled_from(["UTC", "Europe/Paris", "Nowhere/Land", ""]))
def test_cron_expressions_parse_or_raise_a_usage_error(fields: list[str], zone: str) -> None:
    def make() -> None:
        cron = Cron(" ".join(fields), timezone=zone) if zone else Cron(" ".join(fields))
        slots = cron.slots_after(1_800_000_000.0)
        for _ in range(3):
            next(slots, None)

    try:
        bounded(make)
    except UsageError:
        pass


@fuzz
@given(st.one_of(json_values.map(json.dumps), st.text(max_size=40)))
def test_manifests_parse_or_raise_a_usage_error(text: str) -> None:
    try:
        files = bounded(lambda: parse_manifest(text, "m.json"))
    except UsageError:
        return
    assert all(isinstance(f, str) for f in files)


s3_record = st.fixed_dictionaries(
    {},
    optional={
        "eventName": st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete", "x"]) | json_values,
        "eventTime": st.sampled_from(["2026-01-01T00:00:00.000Z", "yesterday"]) | json_values,
        "s3": st.fixed_dictionaries(
            {},
            optional={
                "bucket": st.fixed_dictionaries({}, optional={"name": st.text(max_size=8) | json_values}) | json_values,
                "object": st.fixed_dictionaries(
                    {},
                    optional={
                        "key": st.text(max_size=12) | json_values,
                        "eTag": json_values,
                        "size": json_values,
                        "versionId": json_values,
                    },
                )
                | json_values,
            },
        )
        | json_values,
    },
)
s3_body = st.one_of(
    json_values,
    st.fixed_dictionaries({"Records": st.lists(s3_record, max_size=3) | json_values}),
    st.lists(st.fixed_dictionaries({"Records": st.lists(s3_record, max_size=2)}), max_size=2),
    st.fixed_dictionaries({"detail-type": st.just("Object Created"), "detail": json_values}),
)


@fuzz
@given(s3_body)
def test_s3_event_payloads_parse_or_raise_a_usage_error(body: Any) -> None:
    try:
        seen = bounded(lambda: parse_notification(body, 1_800_000_000.0))
    except UsageError:
        return
    assert isinstance(seen, list)
