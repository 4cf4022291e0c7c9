"""Attempt logs in an object store ([logs] url = s3://...): readable while the step runs and after."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import wait_until
from tests.integration.celery.cluster import HERE, Cluster, broker_url


@pytest.mark.slow
def test_a_workers_step_log_is_read_from_s3_while_it_runs_and_after(tmp_path: Path, s3: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3).create_bucket(Bucket="ops")
    cluster = Cluster(
        tmp_path,
        broker_url("redis"),
        f"sqlite:///{tmp_path / 'lockgate.db'}",
        extra='[logs]\nurl = "s3://ops/lockgate-logs/"\nupload_seconds = 0.3\n',
    )
    try:
        folder = tmp_path / "pipelines"
        folder.mkdir()
        shutil.copy(HERE / "cluster_pipelines.py", folder)
        marks = tmp_path / "marks"
        marks.mkdir()
        cluster.worker("--pipelines", str(folder))
        run = cluster.start(
            "run", f"{folder / 'cluster_pipelines.py'}:slow_one", "--param", f"folder={marks}", "--param", "seconds=3"
        )

        def running_log() -> str:
            runs = json.loads(cluster.lockgate("runs", "--json").stdout)
            if not runs or runs[0]["status"] != "RUNNING":
                return ""
            [entry] = json.loads(cluster.lockgate("logs", runs[0]["run_id"], "--json").stdout)
            return entry["text"] if entry["path"].startswith("s3://ops/lockgate-logs/") else ""

        assert wait_until(running_log, 20, every=0.2) == "note slow\n"  # uploaded while the step sleeps
        assert run.wait(timeout=30) == 0
        run_id = json.loads(cluster.lockgate("runs", "--json").stdout)[0]["run_id"]
        key = f"lockgate-logs/{run_id}/note/attempt-1.log"
        body = boto3.client("s3", endpoint_url=s3).get_object(Bucket="ops", Key=key)
        assert body["Body"].read() == b"note slow\n"
        shutil.rmtree(tmp_path / ".lockgate" / "logs")  # the worker's local copy: what is shown now is the bucket's
        [entry] = json.loads(cluster.lockgate("logs", run_id, "--json").stdout)
        assert entry["text"] == "note slow\n"
    finally:
        cluster.close()
