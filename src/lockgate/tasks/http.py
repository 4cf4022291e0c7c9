"""`http`: one HTTP request; server errors, refused connections and timeouts are retried, 4xx are not."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lockgate.config import mask_url
from lockgate.core.errors import HTTPStatusError, TaskError, UsageError
from lockgate.core.retry import Retry
from lockgate.dag.task import task
from lockgate.tasks import _connections

log = logging.getLogger(__name__)

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_BODY_LIMIT = 1_000_000  # a result is stored in the run's history: keep it small


def _shown(url: str) -> str:
    """The URL fit for a log: no password, no query string (tokens often travel there)."""
    parts = urlsplit(mask_url(url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _resolve(url: str, connection: str | None, headers: Mapping[str, str] | None) -> tuple[str, dict[str, str]]:
    merged: dict[str, str] = {}
    if connection is not None:
        conn = _connections.connection(connection)
        base = conn.get("base_url")
        if base and "://" not in url:
            url = str(base).rstrip("/") + "/" + url.lstrip("/")
        extra = conn.get("headers") or {}
        if not isinstance(extra, dict):
            raise UsageError(f"connection {connection!r}: headers must be a table of names to values")
        merged.update({str(k): str(v) for k, v in extra.items()})
        if conn.get("token"):
            merged["Authorization"] = f"Bearer {conn['token']}"
    merged.update(headers or {})
    if not url.startswith(("http://", "https://")):
        where = f" (connection {connection!r} has no base_url)" if connection and "://" not in url else ""
        raise UsageError(f"http: url {_shown(url)!r} is not an http:// or https:// URL{where}")
    return url, merged


@task(retry=Retry())
def http(
    method: str,
    url: str,
    *,
    json: Any = None,
    data: str | bytes | Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    timeout: float = 30,
    expect: int | Sequence[int] | None = None,
    connection: str | None = None,
) -> dict[str, Any]:
    """Send one request; returns {"status", "headers", "json"} for JSON answers, else {"status", "headers", "text"}.

    `connection` names `[connections.NAME]` (base_url, headers, token); a relative `url` is
    joined to its base_url. A status outside `expect` (default: any 2xx or 3xx) raises
    HTTPStatusError: soft for 5xx, 408 and 429, hard for the rest. Refused connections and
    timeouts are soft. By default a soft failure is retried 3 times (the task's Retry).
    """
    import httpx

    verb = str(method).upper()
    if verb not in METHODS:
        raise UsageError(f"http: method {method!r} is not one of {', '.join(METHODS)}")
    if json is not None and data is not None:
        raise UsageError("http: give json= or data=, not both")
    if timeout is not None and timeout <= 0:
        raise UsageError(f"http: timeout must be above 0, not {timeout!r}")
    expected = None if expect is None else ({expect} if isinstance(expect, int) else set(expect))
    full, merged = _resolve(url, connection, headers)
    shown = _shown(full)
    log.info("%s %s", verb, shown)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            if isinstance(data, str | bytes):  # a raw body; a mapping is sent as a form
                response = client.request(verb, full, content=data, headers=merged, params=params)
            else:
                response = client.request(verb, full, json=json, data=data, headers=merged, params=params)
    except httpx.TimeoutException as exc:
        raise TaskError(
            f"http: {verb} {shown} timed out after {timeout} s ({type(exc).__name__})",
            error="lockgate.HTTPTimeout",
            retryable=True,
        ) from None
    except httpx.TransportError as exc:
        raise TaskError(
            f"http: {verb} {shown} failed: {mask_url(str(exc)) or type(exc).__name__}",
            error="lockgate.HTTPConnectionError",
            retryable=True,
        ) from None
    status = response.status_code
    log.info("%s %s -> %d", verb, shown, status)
    ok = status in expected if expected is not None else 200 <= status < 400
    if not ok:
        snippet = response.text[:500]
        raise HTTPStatusError(
            f"http: {verb} {shown} answered {status} {response.reason_phrase}: {snippet}", status=status
        )
    if len(response.content) > _BODY_LIMIT:
        raise TaskError(
            f"http: {verb} {shown} answered {len(response.content)} bytes, more than a step result may hold"
            f" ({_BODY_LIMIT}); download large bodies to a file in your own task",
            error="lockgate.HTTPBodyTooLarge",
            retryable=False,
        )
    out: dict[str, Any] = {"status": status, "headers": dict(response.headers)}
    if "json" in response.headers.get("content-type", "") and response.content:
        try:
            out["json"] = response.json()
            return out
        except ValueError:
            pass
    out["text"] = response.text
    return out
