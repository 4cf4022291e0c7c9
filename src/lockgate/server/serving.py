"""What `lockgate serve` settles before it listens: the first admin token of a fresh home, and a
warning when it would serve a network in clear text."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from pathlib import Path
from typing import Any

from lockgate.core.errors import UsageError
from lockgate.server.tokens import TokenStore

log = logging.getLogger("lockgate.server")
ADMIN_FILE = "admin.token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_options(settings: Any) -> dict[str, Any]:
    """uvicorn's TLS options from `[server] tls_certfile` and `tls_keyfile`."""
    cert = str(settings.get("server", "tls_certfile", "") or "")
    key = str(settings.get("server", "tls_keyfile", "") or "")
    return {"ssl_certfile": cert, "ssl_keyfile": key} if cert else {}


def prepare(runtime: Any, host: str) -> None:
    """On loopback with no token in the store, make an admin token named `admin`, print it once and
    write it to `$LOCKGATE_HOME/admin.token` (mode 0600). Off loopback without TLS or
    `[server] behind_proxy = true`, warn that tokens would cross the network in clear text."""
    settings = runtime.settings
    store = TokenStore.of(runtime)
    loopback = is_loopback(host)
    if store.count() == 0:
        if loopback:
            try:
                created = store.create("admin", "admin")
            except UsageError:  # another server on this store made it a moment ago
                return
            path = Path(settings.home) / ADMIN_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(created.secret + "\n")
            os.chmod(path, 0o600)
            print(f"created the admin token (shown once; also in {path}):\n{created.secret}", file=sys.stderr)
        else:
            log.warning(
                "no API token exists: nobody can call this server until `lockgate tokens create NAME --role admin`"
            )
    if not loopback and settings.get("server", "allowed_hosts", None) is None:
        log.warning(
            "serving %s: only requests whose Host is %s, localhost, 127.0.0.1 or [::1] are answered; list the "
            "names clients use in [server] allowed_hosts",
            host,
            host,
        )
    if not loopback and not tls_options(settings) and not settings.get("server", "behind_proxy", False):
        log.warning(
            "serving %s without TLS: tokens and session cookies cross the network in clear text; set "
            "[server] tls_certfile/tls_keyfile, or put a TLS proxy in front and set [server] behind_proxy = true",
            host,
        )
