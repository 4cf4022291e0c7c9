"""Helpers of the fault suites: the CLI and `lockgate serve` as processes, the side-effect ledger
the tasks write, and finished runs read back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import free_port, wait_for_port, wait_until

# The tasks of a fault suite's pipelines call `note(what)`: one fsynced line per start and end of
# an attempt, so a test sees which steps really ran, and how often, whatever the store says.
LEDGER_CODE = """
import json, os
from pathlib import Path
import lockgate

LEDGER = Path(os.environ["LOCKGATE_TEST_LEDGER"])

def note(what):
    ctx = lockgate.context()
    line = json.dumps({"run": ctx.run_id, "step": ctx.step, "attempt": ctx.attempt, "what": what})
    with open(LEDGER, "a") as handle:
        handle.write(line + "\\n")
        handle.flush()
        os.fsync(handle.fileno())
"""


def lockgate(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


class Serve:
    """One `lockgate serve --pipelines pipelines` process of a test; stderr goes to a file."""

    def __init__(self, root: Path, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.root = root
        self.env = {**os.environ, **(env or {})}
        self.port = port or free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stderr_path(self) -> Path:
        return self.root / f"serve-{self.port}.{self.starts}.err"

    def start(self, wait: bool = True) -> Serve:
        self.starts += 1
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lockgate", "serve", "--pipelines", "pipelines", "--port", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
                env=self.env,
                cwd=self.root,
            )
        if wait and not wait_for_port(self.port, timeout=45):
            self.kill()
            raise AssertionError(f"serve never listened: {self.stderr()[-3000:]}")
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def all_runs(env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    done = lockgate("runs", "--json", "--limit", "10000", env=env)
    if done.returncode == 2:  # no store yet
        return []
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def show(run_id: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = lockgate("show", run_id, "--json", env=env)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def wait_finished(count: int, env: dict[str, str] | None = None, timeout: float = 90) -> list[dict[str, Any]]:
    """Wait until at least `count` runs exist and none is QUEUED or RUNNING; the runs."""

    def finished() -> list[dict[str, Any]]:
        runs = all_runs(env)
        done = [r for r in runs if r["status"] not in ("QUEUED", "RUNNING")]
        return runs if len(runs) >= count and len(done) == len(runs) else []

    return wait_until(finished, timeout=timeout, every=0.5)  # type: ignore[no-any-return]


def read_ledger(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_no_success_ran_again(run_id: str, history: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> None:
    """No step whose success the history holds started again in a later attempt (the ledger says
    what ran), and no attempt was started twice."""
    started = Counter((e["step"], e["attempt"]) for e in history if e["type"] == "StepStarted")
    assert all(n == 1 for n in started.values()), f"duplicate StepStarted in {run_id}: {started}"
    succeeded = {(e["step"], e["attempt"]) for e in history if e["type"] == "StepSucceeded"}
    assert len({s for s, _ in succeeded}) == len(succeeded), f"a step succeeded twice in {run_id}"
    for step, attempt in succeeded:
        again = [e for e in ledger if e["run"] == run_id and e["step"] == step and e["attempt"] > attempt]
        assert not again, f"{run_id} {step} succeeded in attempt {attempt} and ran again: {again}"


FINAL_EVENTS = {"RunSucceeded": "SUCCEEDED", "RunFailed": "FAILED", "RunTimedOut": "TIMED_OUT", "RunAborted": "ABORTED"}
ENDS = ("StepSucceeded", "StepFailed", "StepInterrupted")


def assert_consistent(shown: dict[str, Any]) -> None:
    """A finished Python run's row and history agree: a final status that its last event gives,
    and every attempt started ended exactly once."""
    run_id, history = shown["run_id"], shown["history"]
    assert shown["status"] in FINAL_EVENTS.values(), f"{run_id} is {shown['status']}"
    assert history and history[0]["type"] == "RunStarted", f"{run_id}: {history[:1]}"
    finals = [e for e in history if e["type"] in FINAL_EVENTS]
    assert finals and FINAL_EVENTS[finals[-1]["type"]] == shown["status"], f"{run_id}: {shown['status']} {finals}"
    started = Counter((e["step"], e["attempt"]) for e in history if e["type"] == "StepStarted")
    ended = Counter((e["step"], e["attempt"]) for e in history if e["type"] in ENDS)
    assert started == ended, f"{run_id}: attempts started {dict(started)}, ended {dict(ended)}"


NOTIFY_TESTS = Path(__file__).resolve().parent.parent / "integration" / "notify"


class SmtpProcess:
    """A real SMTP server (aiosmtpd, with the notify suite's folder handler) on a fixed port that a
    test stops and starts again; each message it accepts is one .eml file in `folder`."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port, self.folder = port, folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SmtpProcess:
        try:
            import aiosmtpd  # noqa: F401
        except ImportError:
            from tests.conftest import need

            need("aiosmtpd is not installed; pip install aiosmtpd")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(NOTIFY_TESTS), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}", "-c", "smtp_folder.Folder",
             str(self.folder)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert wait_for_port(self.port, timeout=20), "aiosmtpd did not start"
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def messages(self) -> list[str]:
        return [p.read_text(errors="replace") for p in sorted(self.folder.glob("*.eml"))]


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb + pg_ctl from the installed binaries) on a free
    port, run as an unprivileged user (initdb refuses root), so a test may stop and start it; the
    shared server on 5432 is never touched."""

    def __init__(self) -> None:
        import glob
        import pwd
        import shutil
        import tempfile

        from tests.conftest import need

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            need("no PostgreSQL binaries under /usr/lib/postgresql/*/bin; apt-get install postgresql")
        self.bin = Path(found[-1]).parent
        self.user = "postgres"
        try:
            pwd.getpwnam(self.user)
        except KeyError:
            need("no `postgres` user to run a private PostgreSQL server as")
        self.runuser = shutil.which("runuser") if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="lockgate-pg-"))
        os.chmod(self.root, 0o755)
        self.data = self.root / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, self.user)
        initdb = self._as_user([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])
        done = subprocess.run(initdb, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            need(f"initdb failed: {done.stderr[-500:]}")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_user(self, command: list[str]) -> list[str]:
        if self.runuser is not None:
            return [self.runuser, "-u", self.user, "--", *command]
        return command  # not root: run as ourselves

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w"]
        return subprocess.run(
            self._as_user([*command, "-o", options, *args]), capture_output=True, text=True, timeout=120
        )

    def start(self) -> None:
        done = self.pg_ctl("start")
        assert done.returncode == 0, done.stderr + (self.root / "server.log").read_text()[-2000:]

    def stop(self, mode: str = "fast") -> None:
        done = self.pg_ctl("stop", "-m", mode)
        assert done.returncode == 0, done.stderr

    def remove(self) -> None:
        import shutil

        self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class FaultProxy:
    """An HTTP proxy in front of an S3 endpoint (the moto_server process) that passes requests on,
    or answers them with faults: `mode` "pass", "500" (an S3 InternalError) or "hang" (holds the
    request `hang_seconds`, then drops the connection without an answer: a client timeout).
    `target` "all", or "objects": only requests naming an object (GET/HEAD bucket/key), so a
    bucket listing passes while reads fail."""

    def __init__(self, upstream: str) -> None:
        import http.server
        import threading
        import urllib.parse

        self.upstream = urllib.parse.urlsplit(upstream)
        self.mode, self.target, self.hang_seconds = "pass", "all", 3.0
        self.faults = Counter[str]()
        self.passed = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                import http.client
                import time

                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._fault(self.command, self.path)
                if fault == "hang":
                    proxy.faults["hang"] += 1
                    time.sleep(proxy.hang_seconds)
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault == "500":
                    proxy.faults["500"] += 1
                    text = (
                        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                        b"<Message>We encountered an internal error. Please try again.</Message></Error>"
                    )
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(text)
                    return
                upstream = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status, answer.reason)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                    proxy.passed += 1
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any  # noqa: N815 - the names http.server calls

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fault-proxy", daemon=True)
        self.thread.start()

    def _fault(self, method: str, path: str) -> str | None:
        if self.mode == "pass":
            return None
        if self.target == "objects":
            names_object = "/" in path.split("?", 1)[0].lstrip("/")
            if not (names_object and method in ("GET", "HEAD")):
                return None
        return self.mode

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(name="private_postgres")
def private_postgres_fixture() -> Iterator[PrivatePostgres]:
    """A PrivatePostgres started for the test and removed after it (a test module imports this
    function to have the fixture)."""
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()
