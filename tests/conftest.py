"""Shared fixtures: a fresh lockgate home per test, and the real services tests talk to.

A test that needs a service skips when it is not running, saying how to start it; under CI
(CI=true) it fails instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

_limit = sys.getrecursionlimit()
try:  # jsonata raises the recursion limit when imported; import it before any Hypothesis test
    import jsonata  # noqa: F401  # runs, and keep the limit (lockgate.asl.jsonata does the same)
except ImportError:
    pass
sys.setrecursionlimit(_limit)

try:  # a shared 2-core machine makes wall-clock deadlines flaky; properties are about values
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("lockgate", deadline=None)
    _hypothesis_settings.load_profile("lockgate")
except ImportError:
    pass

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_URL = os.environ.get("LOCKGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def need(reason: str) -> None:
    """Skip (or, under CI, fail) a test whose service is missing."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def process_gone(pid: int) -> bool:
    """Whether no process has this pid any more (a zombie not yet reaped still counts as there)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    """Poll `predicate` until it returns something true, and return that; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {getattr(predicate, '__name__', predicate)}")


class FakeTime:
    """A clock for a Runtime or a driver: sleeping moves it on at once, and is recorded."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own folder with its own LOCKGATE_HOME and no stray settings."""
    for name in list(os.environ):
        if name.startswith("LOCKGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    home = tmp_path / ".lockgate"
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    return home


@contextmanager
def new_postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database on the local PostgreSQL server, dropped afterwards
    (skipped on a machine without the server, a failure under CI=true)."""
    import uuid

    try:
        import sqlalchemy as sa

        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: no server here
        need(
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(exc).__name__}); start it with "
            "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'"
        )
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, made for this test session and dropped after.

    A database of its own keeps the schema at this checkout's migrations, whatever another
    checkout left in the shared `test` database.
    """
    with new_postgres_database("lockgate_test") as url:
        yield url


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible server process (moto) on loopback; yields its endpoint URL."""
    exe = Path(sys.executable).with_name("moto_server")
    if not exe.exists():
        need("moto_server is not installed; pip install 'moto[server]'")
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        if not wait_for_port(port):
            need("moto_server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The S3 server's endpoint, with the AWS settings pointing at it for this test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    return s3_server


def make_token(name: str = "test-admin", role: str = "admin", aws_key: bool = False) -> Any:
    """A new API token in the current test home's store (lockgate.server.tokens.Created)."""
    from lockgate.runtime import default_runtime
    from lockgate.server.tokens import TokenStore

    return TokenStore.of(default_runtime()).create(name, role, aws_key=aws_key)


@pytest.fixture
def admin_token(home: Path) -> str:
    """An admin token in this test's home: servers started on the home accept it (and, as a token
    exists, `lockgate serve` makes no admin token of its own)."""
    return str(make_token().secret)


@pytest.fixture
def admin_headers(admin_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token}"}
