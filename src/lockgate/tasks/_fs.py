"""One URI layer for every task: plain paths, file:// and s3:// through fsspec.

S3 settings are the standard AWS ones as boto3 reads them (AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_PROFILE), or a
named connection in lockgate.toml, `[connections.NAME]` with `endpoint_url`, `key`, `secret`
and `region`, chosen by a task's `connection=NAME` argument.
"""

from __future__ import annotations

import os
from typing import Any


def s3_options(connection: str | None = None) -> dict[str, Any]:
    """s3fs keyword arguments from the environment, or from a named connection."""
    options: dict[str, Any] = {}
    client: dict[str, Any] = {}
    if connection:
        from lockgate.config import load

        conn = load().table("connections").get(connection)
        if not isinstance(conn, dict):
            from lockgate.core.errors import UsageError

            raise UsageError(f"no connection {connection!r} in lockgate.toml [connections]")
        if conn.get("endpoint_url"):
            client["endpoint_url"] = conn["endpoint_url"]
        if conn.get("region"):
            client["region_name"] = conn["region"]
        if conn.get("key"):
            options["key"] = conn["key"]
        if conn.get("secret"):
            options["secret"] = conn["secret"]
    else:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            client["endpoint_url"] = endpoint
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            client["region_name"] = region
    if client:
        options["client_kwargs"] = client
    return options


def filesystem(uri: str, connection: str | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) for a URI or a plain path."""
    import fsspec

    if uri.startswith("s3://") or uri.startswith("s3a://"):
        fs = fsspec.filesystem("s3", **s3_options(connection))
        return fs, uri.split("://", 1)[1]
    if uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return fsspec.filesystem("file"), unquote(urlparse(uri).path)
    if "://" in uri:
        fs, path = fsspec.core.url_to_fs(uri)
        return fs, path
    return fsspec.filesystem("file"), os.path.abspath(uri)


def join(uri: str, *parts: str) -> str:
    """Append path parts to a URI or path with single slashes."""
    out = uri.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out
