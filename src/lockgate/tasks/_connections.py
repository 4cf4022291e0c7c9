"""Connections by name: `[connections.NAME]` tables in lockgate.toml, read when a task runs.

A database connection has `url` (a SQLAlchemy URL); an HTTP connection has `base_url`,
`headers` (a table) and `token` (sent as `Authorization: Bearer ...`). Each key can also
come from the environment: `LOCKGATE_CONNECTIONS__NAME` is not a table, so per-key
overrides use `LOCKGATE_CONNECTION_<NAME>_<KEY>` (`LOCKGATE_CONNECTION_WAREHOUSE_URL`), which
keeps secrets out of the file. Values are never logged; URLs are shown masked.
"""

from __future__ import annotations

import os
import re
from typing import Any

from lockgate.core.errors import UsageError

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def connection(name: str) -> dict[str, Any]:
    """The settings of connection `name`; raises UsageError when it is not defined."""
    if not _NAME.match(name):
        raise UsageError(f"connection name {name!r} is not a valid name (letters, digits, _ and -)")
    values = lookup(name)
    if values is None:
        from lockgate.config import load

        where = load().source or "lockgate.toml (not found)"
        raise UsageError(f"no connection {name!r}: add [connections.{name}] to {where}")
    return values


def lookup(name: str) -> dict[str, Any] | None:
    """The settings of connection `name`, or None when no such connection is defined."""
    from lockgate.config import load

    if not _NAME.match(name):
        return None
    found = load().table("connections").get(name)
    values: dict[str, Any] = dict(found) if isinstance(found, dict) else {}
    prefix = f"LOCKGATE_CONNECTION_{name.upper().replace('-', '_')}_"
    for key, value in os.environ.items():
        if key.startswith(prefix):
            values[key.removeprefix(prefix).lower()] = value
    return values or None


def database_url(name: str) -> str:
    """The SQLAlchemy URL of a named database connection."""
    url = connection(name).get("url")
    if not isinstance(url, str) or not url:
        raise UsageError(f'connection {name!r} has no url (set url = "dialect+driver://..." in [connections.{name}])')
    return url
