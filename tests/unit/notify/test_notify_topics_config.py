"""Subscriptions as written by users: targets, lockgate.toml topics, signatures, masking."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.config import load
from lockgate.core.errors import UsageError
from lockgate.notify.channels import Message, sign, verify, webhook_body
from lockgate.notify.messages import report_location
from lockgate.notify.topics import config_topics, parse_target, shown_endpoint


def test_targets_are_checked_per_channel() -> None:
    assert parse_target("email:ops@example.com", "x") == ("email", "ops@example.com")
    assert parse_target("webhook:https://h.example.com/a?b=1", "x") == ("webhook", "https://h.example.com/a?b=1")
    assert parse_target("slack:https://hooks.slack.example/services/T/B/X", "x")[0] == "slack"
    with pytest.raises(UsageError, match="sub: 'sms:123' must start with one of email:, webhook:, slack:"):
        parse_target("sms:123", "sub")
    with pytest.raises(UsageError, match="'ops' is not an email address"):
        parse_target("email:ops", "sub")
    with pytest.raises(UsageError, match="is not an http:// or https:// URL"):
        parse_target("webhook:ftp://x/y", "sub")


def test_printed_targets_hide_secrets() -> None:
    assert shown_endpoint("webhook", "https://u:pw@h.example.com/x") == "webhook:https://u:***@h.example.com/x"
    assert (
        shown_endpoint("slack", "https://hooks.slack.example/services/T0/B0/SECRET")
        == "slack:https://hooks.slack.example/***"
    )


def test_topics_declared_in_lockgate_toml(tmp_path: Path) -> None:
    (tmp_path / "lockgate.toml").write_text(
        """
[notify.topics.ops]
subscriptions = ["email:ops@example.com", {endpoint = "webhook:http://127.0.0.1:9/h", secret = "s"}]
"""
    )
    (ops,) = config_topics(load(environ={}, cwd=tmp_path)).values()
    assert [s.target for s in ops.subscriptions] == ["email:ops@example.com", "webhook:http://127.0.0.1:9/h"]
    assert ops.subscriptions[1].secret == "s"
    assert all(s.source == "config" and s.id.startswith("cfg-") for s in ops.subscriptions)
    again = config_topics(load(environ={}, cwd=tmp_path))["ops"]
    assert [s.id for s in again.subscriptions] == [s.id for s in ops.subscriptions]


def test_a_declared_webhook_needs_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "lockgate.toml"
    path.write_text('[notify.topics.ops]\nsubscriptions = ["webhook:http://127.0.0.1:9/h"]\n')
    with pytest.raises(UsageError, match=r"notify.topics.ops.subscriptions\[0\]: a webhook needs a secret") as info:
        config_topics(load(environ={}, cwd=tmp_path))
    assert str(path) in str(info.value)


def test_signatures_are_hmac_sha256_of_the_raw_body() -> None:
    import hashlib
    import hmac

    body = webhook_body("d1", "ops", Message("s", "m", {"run_id": "r"}))
    assert body == webhook_body("d1", "ops", Message("s", "m", {"run_id": "r"}))
    expected = "sha256=" + hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert sign("key", body) == expected
    assert verify("key", body, expected)
    assert not verify("key", body + b" ", expected)


def test_report_locations_are_found_in_causes() -> None:
    assert report_location("3 rows failed; report: s3://lake/reports/x.json") == "s3://lake/reports/x.json"
    assert report_location("see /var/lockgate/reports/run1/orders.html.") == "/var/lockgate/reports/run1/orders.html"
    assert report_location("column id has 3 nulls") is None
