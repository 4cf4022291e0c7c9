"""http against a real server on loopback: answers, soft and hard failures, named connections."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.conftest import free_port

import lockgate
from lockgate import HTTPStatusError, Retry, TaskError, UsageError, pipeline
from lockgate.tasks import http


class _Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _answer(self, status: int, body: object, content_type: str = "application/json") -> None:
        raw = (json.dumps(body) if content_type == "application/json" else str(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        try:
            self.wfile.write(raw)
        except BrokenPipeError:  # the client gave up (the timeout test)
            pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/flaky":
            if self.hits[path] < 3:
                self._answer(503, {"error": "busy"})
            else:
                self._answer(200, {"hits": self.hits[path]})
        elif path == "/missing":
            self._answer(404, {"error": "no such thing"})
        elif path == "/slow":
            time.sleep(0.6)
            self._answer(200, {})
        elif path == "/plain":
            self._answer(200, "hello", "text/plain")
        else:
            self._answer(
                200, {"path": self.path, "auth": self.headers.get("Authorization"), "team": self.headers.get("X-Team")}
            )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        if self.headers.get("Content-Type") == "application/json":
            self._answer(201, {"got": json.loads(body)})
        else:
            self._answer(201, {"raw": body})


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.hits = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_json_and_text_answers(server: str) -> None:
    got = http("GET", f"{server}/things", params={"page": 2})
    assert got["status"] == 200 and got["json"]["path"] == "/things?page=2"
    assert got["headers"]["content-type"] == "application/json"
    assert http("GET", f"{server}/plain")["text"] == "hello"
    posted = http("post", f"{server}/things", json={"a": [1, 2]}, expect=201)
    assert posted["json"] == {"got": {"a": [1, 2]}}
    assert http("POST", f"{server}/form", data={"k": "v w"}, expect=201)["json"] == {"raw": "k=v+w"}
    assert http("POST", f"{server}/raw", data="line 1\n", expect=[201])["json"] == {"raw": "line 1\n"}


def test_5xx_is_retried_and_4xx_is_not(server: str) -> None:
    quick = Retry(max_attempts=3, interval=0.01)

    @pipeline
    def calls() -> None:
        http.options(name="flaky", retry=quick)("GET", f"{server}/flaky")
        http.options(name="missing", retry=quick)("GET", f"{server}/missing")

    run = lockgate.run(calls)
    assert run.step("flaky").status == "SUCCEEDED" and run.step("flaky").attempts == 3
    assert run.step("missing").status == "FAILED" and run.step("missing").attempts == 1
    assert run.step("missing").error["name"] == "lockgate.HTTP404"
    assert "no such thing" in run.step("missing").error["cause"]


def test_timeouts_and_refused_connections_are_soft(server: str) -> None:
    with pytest.raises(TaskError) as slow:
        http("GET", f"{server}/slow", timeout=0.2)
    assert slow.value.retryable and slow.value.error_name == "lockgate.HTTPTimeout"
    with pytest.raises(TaskError) as refused:
        http("GET", f"http://127.0.0.1:{free_port()}/")
    assert refused.value.retryable and refused.value.error_name == "lockgate.HTTPConnectionError"
    with pytest.raises(HTTPStatusError) as unexpected:
        http("GET", f"{server}/plain", expect=[201])
    assert unexpected.value.status == 200 and not unexpected.value.retryable


def test_a_named_connection_supplies_base_url_headers_and_a_token_never_logged(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lockgate.tasks")
    Path("lockgate.toml").write_text(
        f'[connections.api]\nbase_url = "{server}/v1"\ntoken = "tok-s3cr3t"\nheaders = {{ X-Team = "data" }}\n'
    )

    @pipeline
    def call() -> dict:
        return http("GET", "items", connection="api")

    run = lockgate.run(call)
    assert run.succeeded
    assert run.output["json"] == {"path": "/v1/items", "auth": "Bearer tok-s3cr3t", "team": "data"}
    logs = "".join(p.read_text() for p in Path(".lockgate/logs").rglob("*.log"))
    assert "/v1/items" in logs and "tok-s3cr3t" not in logs


def test_bad_arguments_are_refused(server: str) -> None:
    with pytest.raises(UsageError, match="method 'FETCH'"):
        http("FETCH", server)
    with pytest.raises(UsageError, match="not an http"):
        http("GET", "ftp://example.invalid/x")
    with pytest.raises(UsageError, match="no connection 'nope'"):
        http("GET", "x", connection="nope")
