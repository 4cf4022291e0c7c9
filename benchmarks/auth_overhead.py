"""Time the HTTP API adds per request for its token checks (lockgate.server.auth).

    python benchmarks/auth_overhead.py [--requests 3000]

One app with the auth middleware and the same app without it, in one run, on one store (SQLite
in a temporary home); each answers `GET /api/pipelines` with a Bearer token, called straight
through ASGI (no sockets, so only the app's own work is timed). Prints the median time per
request of both, the difference, and the time of one token check alone.
Goal: under 0.2 ms added per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def scope(token: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": "/api/pipelines", "raw_path": b"/api/pipelines", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8710"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8710),
    }  # fmt: skip


async def one(app: Any, request: dict[str, Any]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(request), receive, send)
    return status


async def timed(app: Any, request: dict[str, Any], count: int) -> list[float]:
    assert await one(app, request) == 200
    out = []
    for _ in range(count):
        start = time.perf_counter()
        await one(app, request)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LOCKGATE_HOME"] = str(Path(tmp) / ".lockgate")
        os.chdir(tmp)
        from lockgate.runtime import default_runtime
        from lockgate.server.app import create_app
        from lockgate.server.tokens import TokenStore

        runtime = default_runtime()
        store = TokenStore.of(runtime)
        token = store.create("bench", "viewer").secret
        guarded = create_app(runtime)
        bare = create_app(runtime)
        bare.user_middleware = []  # the same routes, no auth middleware
        request = scope(token)
        with_auth: list[float] = []
        without: list[float] = []
        for _ in range(3):  # interleaved rounds, so both see the same machine load
            with_auth += asyncio.run(timed(guarded, request, args.requests // 3))
            without += asyncio.run(timed(bare, request, args.requests // 3))
        checks = []
        for _ in range(args.requests):
            start = time.perf_counter()
            store.check(token)
            checks.append(time.perf_counter() - start)
        runtime.close()
    a, b = statistics.median(with_auth) * 1000, statistics.median(without) * 1000
    print(f"GET /api/pipelines with auth:    {a:.3f} ms (median of {len(with_auth)})")
    print(f"GET /api/pipelines without auth: {b:.3f} ms")
    print(f"added per request: {a - b:.3f} ms (goal < 0.2 ms); ratio {a / b:.2f}")
    print(f"one token check (cached row + SHA-256): {statistics.median(checks) * 1e6:.1f} us")


if __name__ == "__main__":
    main()
