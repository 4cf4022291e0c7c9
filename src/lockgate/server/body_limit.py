"""Request bodies over `[server] max_body_bytes` (default 1 MiB) get 413 before anything reads them.

A declared Content-Length over the limit is refused at once; a body without one (chunked) is
counted as it arrives and refused as soon as it passes the limit, so a 100 MB parameter never
reaches a route, the JSON parser or the store.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def max_body_bytes(settings: Any) -> int:
    raw = settings.table("server").get("max_body_bytes", DEFAULT_MAX_BODY_BYTES) if settings is not None else None
    try:
        value = int(raw) if raw is not None else DEFAULT_MAX_BODY_BYTES
    except (TypeError, ValueError):
        from lockgate.core.errors import UsageError

        raise UsageError(f"[server] max_body_bytes must be a number of bytes, not {raw!r}") from None
    return value if value > 0 else DEFAULT_MAX_BODY_BYTES


class BodyLimit:
    """ASGI middleware: 413 for a request body larger than `max_bytes`."""

    def __init__(self, app: Any, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(send, 400, "the Content-Length header is not a number")
                    return
                if declared > self.max_bytes:
                    await self._refuse(send, 413, self._message())
                    return
        seen = 0
        started = refused = False

        async def counted() -> Any:
            # Past the limit: answer 413 now and tell the app the client went away, so no route
            # reads (or parses) the rest; whatever the app answers afterwards is dropped.
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not started:
                    refused = True
                    await self._refuse(send, 413, self._message())
                    return {"type": "http.disconnect"}
            return message

        async def sending(message: Any) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted, sending)

    def _message(self) -> str:
        return f"the request body is larger than {self.max_bytes} bytes ([server] max_body_bytes)"

    async def _refuse(self, send: Any, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
