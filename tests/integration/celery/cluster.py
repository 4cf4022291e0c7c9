"""A cluster on loopback for tests: a lockgate.toml, worker processes stopped by PID, the broker's queues."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.conftest import need, wait_until

HERE = Path(__file__).parent
SRC = HERE.parents[2] / "src"
BROKERS = {
    "amqp": ("amqp://guest:guest@127.0.0.1:5672//", 5672, "RabbitMQ on 127.0.0.1:5672 (rabbitmq-server -detached)"),
    "redis": ("redis://127.0.0.1:6379/0", 6379, "Redis on 127.0.0.1:6379 (redis-server --daemonize yes)"),
}


def broker_url(kind: str) -> str:
    url, port, how = BROKERS[kind]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        need(f"needs {how}")
    return url


class Cluster:
    """Settings shared by this test's schedulers and workers, and the processes it started."""

    def __init__(self, root: Path, broker: str, database_url: str, extra: str = "") -> None:
        self.root = root
        self.broker = broker
        self.database_url = database_url
        self.prefix = f"t{uuid.uuid4().hex[:8]}-"
        self.config = root / "lockgate.toml"
        self.config.write_text(
            f'database_url = "{database_url}"\n'
            '[engine]\nexecutor = "celery"\nmax_workers = 16\nheartbeat_seconds = 0.5\nstale_after_seconds = 3\n'
            f'[celery]\nbroker_url = "{broker}"\nqueue_prefix = "{self.prefix}"\nsweep_seconds = 0.5\n'
            'queues = ["default", "spark"]\n' + extra
        )
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")},
            "LOCKGATE_CONFIG": str(self.config),
            "LOCKGATE_HOME": str(root / ".lockgate"),
            "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE.parents[2])]),
        }
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str, log: str | None = None) -> subprocess.Popen[str]:
        out = open(self.root / (log or f"proc-{len(self.procs)}.log"), "w")  # noqa: SIM115 - the process owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", "lockgate", *args],
            cwd=self.root,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def lockgate(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lockgate", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def workers(self) -> list[dict[str, Any]]:
        done = self.lockgate("workers", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def worker(self, *args: str, concurrency: int = 4, queues: str = "default") -> subprocess.Popen[str]:
        """Start a worker and wait until it is registered and consuming."""
        proc = self.start("worker", "--queues", queues, "--concurrency", str(concurrency), *args)
        wait_until(lambda: proc.pid in self._worker_pids() or proc.poll() is not None, 30, every=0.05)
        assert proc.poll() is None, (self.root / f"proc-{len(self.procs) - 1}.log").read_text()
        return proc

    def _worker_pids(self) -> set[int]:
        import sqlalchemy as sa

        engine = sa.create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return set(conn.execute(sa.text("SELECT pid FROM workers")).scalars())
        except sa.exc.DBAPIError:
            return set()  # not migrated yet
        finally:
            engine.dispose()

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self._drop_queues()

    def _drop_queues(self) -> None:
        from kombu import Connection

        try:
            with Connection(self.broker, connect_timeout=2) as conn:
                channel = conn.channel()
                for name in ("default", "spark"):
                    try:
                        channel.queue_delete(self.prefix + name)
                    except Exception:
                        pass
        except Exception:
            pass


def sqlite_cluster(tmp_path: Path, broker: str) -> Iterator[Cluster]:
    """A cluster on `broker` ("amqp" or "redis") with a SQLite store, closed when done (for fixtures)."""
    made = Cluster(tmp_path, broker_url(broker), f"sqlite:///{tmp_path / 'lockgate.db'}")
    try:
        yield made
    finally:
        made.close()


def ledger(folder: Path) -> list[dict[str, Any]]:
    path = folder / "ledger"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class PrivateRedis:
    """A redis-server of this test's own on a free port, that the test may stop and start again.

    It keeps its data in an append-only file synced on every write, as a broker that must lose
    no message is run: stopping it loses nothing that it acknowledged.
    """

    def __init__(self, folder: Path) -> None:
        import shutil

        from tests.conftest import free_port

        exe = shutil.which("redis-server")
        if exe is None:
            need("needs redis-server on PATH (apt-get install redis-server)")
        self.exe = str(exe)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.exe,
                "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                "--logfile", str(self.folder / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: self._answers() or self.proc.poll() is not None, 20, every=0.05)
        assert self.proc.poll() is None, (self.folder / "redis.log").read_text()

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None


class PrivateRabbit:
    """A RabbitMQ node of this test's own (its own name, ports, data and logs in `folder`), beside
    the machine's shared node, that the test may take away and bring back.

    `stop` and `start` stop and start the broker application inside the running node
    (`rabbitmqctl stop_app` / `start_app`): every client connection is closed and the port
    refuses new ones until it is back, while the node keeps its durable queues and persistent
    messages on disk, as a restarted broker does. Starting a node costs about 4 s here.
    """

    def __init__(self, folder: Path) -> None:
        import shutil

        from tests.conftest import free_port

        server = shutil.which("rabbitmq-server", path=os.pathsep.join(["/usr/lib/rabbitmq/bin", os.environ["PATH"]]))
        if server is None:
            need("needs rabbitmq-server (apt-get install rabbitmq-server)")
        self.server = str(server)
        self.ctl = str(Path(self.server).with_name("rabbitmqctl"))
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.node = f"lockgate{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        (folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (folder / "enabled_plugins").write_text("[].\n")  # no management plugin: a faster start
        (folder / "rabbitmq-env.conf").write_text("")  # not the machine's (its NODENAME is the shared node's)
        self.env = {
            **os.environ,
            "HOME": str(folder),  # the Erlang cookie of this node and of rabbitmqctl
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(folder / "plugins"),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(folder / "node.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def boot(self, timeout: float = 30.0) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        out = open(self.folder / "server.log", "wb")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen(
            [self.server], env=self.env, cwd=self.folder, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_until(lambda: self._answers() or self.proc.poll() is not None, timeout, every=0.05)
        assert self.proc.poll() is None, (self.folder / "server.log").read_text()

    def stop(self) -> None:
        """Take the broker away: connections closed, the port refuses new ones."""
        self._ctl("stop_app")

    def start(self) -> None:
        """Bring it back with the queues and messages it had."""
        self._ctl("start_app")
        wait_until(self._answers, 20, every=0.05)

    def shutdown(self) -> None:
        """Stop the node (and, should rabbitmqctl not manage, the processes this test started)."""
        if self.proc is None:
            return
        try:
            self._ctl("stop", timeout=30)
            self.proc.wait(timeout=30)
        except (AssertionError, subprocess.TimeoutExpired):
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session, started above
                self.proc.wait(timeout=10)
        self.proc = None

    def _ctl(self, command: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [self.ctl, "-n", self.node, command], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"rabbitmqctl {command}: {done.stdout}{done.stderr}"

    def _answers(self) -> bool:
        """Whether the broker answers an AMQP protocol header with its Connection.Start."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"AMQP\x00\x00\x09\x01")
                return conn.recv(1) == b"\x01"  # a method frame
        except OSError:
            return False
