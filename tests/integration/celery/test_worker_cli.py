"""`lockgate worker`, `workers` and `pools` from the command line, and their errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import free_port
from tests.integration.celery.cluster import Cluster, broker_url


def _lockgate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_an_unreachable_broker_is_one_line_naming_it_with_the_password_masked(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "lockgate.toml").write_text(f'[celery]\nbroker_url = "amqp://guest:s3cret@127.0.0.1:{port}//"\n')
    done = _lockgate(tmp_path, "worker")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"amqp://guest:***@127.0.0.1:{port}//" in done.stderr
    assert "s3cret" not in done.stderr


def test_an_unreachable_database_is_one_line_naming_it_with_the_password_masked(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "lockgate.toml").write_text(
        f'database_url = "postgresql+psycopg://lockgate:s3cret@127.0.0.1:{port}/lockgate"\n'
        '[celery]\nbroker_url = "redis://127.0.0.1:6379/0"\n'
    )
    for args in (["worker"], ["workers"]):
        done = _lockgate(tmp_path, *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and f"lockgate:***@127.0.0.1:{port}/lockgate" in done.stderr
        assert "s3cret" not in done.stderr


@pytest.mark.slow
def test_workers_lists_live_workers_and_forgets_stopped_ones(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, broker_url("redis"), f"sqlite:///{tmp_path / 'lockgate.db'}")
    try:
        proc = cluster.worker(queues="default,spark", concurrency=3)
        [row] = cluster.workers()
        assert row["pid"] == proc.pid and row["queues"] == ["default", "spark"]
        assert row["concurrency"] == 3 and row["slots_in_use"] == 0 and row["heartbeat_at"].endswith("Z")
        table = cluster.lockgate("workers")
        assert "default,spark" in table.stdout and "0/3" in table.stdout
        proc.terminate()  # a warm stop unregisters it
        proc.wait(timeout=20)
        assert cluster.workers() == []
        unknown = cluster.lockgate("worker", "--queues", "gpu")
        assert unknown.returncode == 2 and "unknown queue 'gpu'" in unknown.stderr
        assert json.loads(cluster.lockgate("pools", "set", "spark", "--slots", "2", "--json").stdout) == {
            "name": "spark",
            "slots": 2,
        }
    finally:
        cluster.close()
