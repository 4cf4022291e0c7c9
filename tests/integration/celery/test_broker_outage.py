"""A broker that goes away mid-run: steps wait, and carry on when it is back; none is lost or run twice."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from tests.conftest import wait_until
from tests.integration.celery.cluster import HERE, Cluster, PrivateRabbit, PrivateRedis, ledger

from lockgate.config import mask_url


class Broker(Protocol):
    url: str

    def stop(self) -> None: ...

    def start(self) -> None: ...


@pytest.fixture(params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test's own: the machine's shared ones must not go away under other tests."""
    if request.param == "redis":
        redis = PrivateRedis(tmp_path / "redis")
        redis.start()
        try:
            yield redis
        finally:
            redis.stop()
    else:
        rabbit = PrivateRabbit(tmp_path / "rabbitmq")
        rabbit.boot()
        try:
            yield rabbit
        finally:
            rabbit.shutdown()


@pytest.mark.slow
def test_a_run_waits_while_the_broker_is_down_and_succeeds_when_it_is_back(tmp_path: Path, broker: Broker) -> None:
    cluster = Cluster(tmp_path, broker.url, f"sqlite:///{tmp_path / 'lockgate.db'}")
    try:
        folder = tmp_path / "pipelines"
        folder.mkdir()
        shutil.copy(HERE / "cluster_pipelines.py", folder)
        marks = tmp_path / "marks"
        marks.mkdir()
        worker = cluster.worker("--pipelines", str(folder), concurrency=2)
        source = folder / "cluster_pipelines.py"
        # Each step lasts long enough for the outage to begin before the run ends: rabbitmqctl
        # took up to 3 s to start with the machine loaded, a redis-server stops at once.
        seconds = 2.0 if isinstance(broker, PrivateRabbit) else 0.5
        run = cluster.start(
            "run", f"{source}:relay", "--param", f"folder={marks}", "--param", f"seconds={seconds}", "--json",
            log="run.log",
        )  # fmt: skip
        wait_until(lambda: any(e["name"] == "r1" for e in ledger(marks)), 60, every=0.05)
        broker.stop()
        time.sleep(4.0)
        during = [e["name"] for e in ledger(marks)]
        broker.start()
        assert run.wait(timeout=120) == 0, (tmp_path / "run.log").read_text()
        result = json.loads((tmp_path / "run.log").read_text().strip().splitlines()[-1])
        assert result["status"] == "SUCCEEDED" and result["output"] == "r5"
        names = [e["name"] for e in ledger(marks)]
        assert names == [f"r{i}" for i in range(6)]  # each step once, in order: none lost, none twice
        assert len(during) < 6  # the outage did hold the run up
        assert {e["worker"] for e in ledger(marks)} == {worker.pid}  # the one worker consumed again
        said = (tmp_path / "run.log").read_text()  # the driving process said why its steps waited
        assert (
            f"the broker at {mask_url(broker.url)} is unreachable" in said
            and f"the broker at {mask_url(broker.url)} is back" in said
        )
        shown = json.loads(cluster.lockgate("show", result["run_id"], "--json").stdout)
        assert all(s["attempts"] == 1 for s in shown["steps"]), shown["steps"]
    finally:
        cluster.close()
