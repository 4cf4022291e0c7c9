"""Real services for notification tests: an SMTP server process and an HTTP receiver on loopback.

Test modules import the fixtures: `from notify_services import receiver, smtp_server`.
"""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import free_port, need, wait_for_port

HERE = Path(__file__).parent


@dataclass
class Mailbox:
    """The folder an aiosmtpd process writes received messages to."""

    port: int
    folder: Path

    def messages(self) -> list[EmailMessage]:
        found = []
        for path in sorted(self.folder.glob("*.eml"), key=lambda p: p.stat().st_mtime):
            found.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
        return found  # type: ignore[return-value]

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages()
            if len(found) >= count:
                return found
            time.sleep(0.05)
        return self.messages()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[Mailbox]:
    """A real SMTP server process (aiosmtpd) on loopback writing messages to a folder."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        need("aiosmtpd is not installed; pip install aiosmtpd")
    port = free_port()
    folder = tmp_path / "mail"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "smtp_folder.Folder", str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if not wait_for_port(port):
            proc.terminate()
            need(f"aiosmtpd did not start: {proc.communicate(timeout=10)[1].decode()[-500:]}")
        yield Mailbox(port, folder)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


@dataclass
class Receiver:
    """An HTTP server on loopback recording each POST; answers with `statuses` in turn, then 200."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        with self.lock:
            return list(self.requests)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    rec = Receiver(f"http://127.0.0.1:{port}/hook")

    class Handle(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rec.lock:
                status = rec.statuses.pop(0) if rec.statuses else 200
                rec.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "status": status,
                    }
                )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def body_json(request: dict[str, Any]) -> Any:
    return json.loads(request["body"])


@pytest.fixture
def api_server() -> Iterator[str]:
    """The lockgate app of the default runtime, served by uvicorn on loopback; yields its base URL."""
    import uvicorn

    from lockgate.runtime import default_runtime
    from lockgate.server.app import create_app

    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(default_runtime()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    if not wait_for_port(port):
        pytest.fail("uvicorn did not start")
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
