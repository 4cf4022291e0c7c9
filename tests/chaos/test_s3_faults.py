"""The S3 endpoint answering 500s and timing out under `lockgate serve`: a fault-injecting proxy
(tests/chaos/_faults.py FaultProxy) sits between the service and the moto_server process.

A bucket trigger whose listings fail finds the objects put meanwhile once listings work again;
a task that reads the object sees soft errors (500, timeouts), retries under its Retry policy and
succeeds once the endpoint is healthy. Every object makes exactly one run; no read that succeeded
runs again.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from tests.chaos._faults import (
    LEDGER_CODE,
    FaultProxy,
    Serve,
    assert_consistent,
    assert_no_success_ran_again,
    read_ledger,
    show,
    wait_finished,
)
from tests.conftest import make_token, wait_until

PIPELINES = (
    LEDGER_CODE
    + """
import boto3
from botocore.config import Config
from lockgate import Retry, pipeline, task
from lockgate.triggers import FileArrival

BUCKET = os.environ["LOCKGATE_TEST_BUCKET"]
# one try per call, short timeouts: the retrying here is lockgate's, by the step's Retry policy
CLIENT = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1, read_timeout=2)

@task(retry=Retry(interval=0.5, max_attempts=40, backoff_rate=1.0))
def read(event: dict) -> int:
    note("start")
    body = boto3.client("s3", config=CLIENT).get_object(Bucket=BUCKET, Key=event["key"])["Body"].read()
    note("done")
    return len(body.splitlines())

@task
def total(lines: int) -> int:
    return lines

@pipeline(triggers=[FileArrival(f"s3://{BUCKET}/in/", pattern="*.csv", poll_interval=1)])
def arrivals(event: dict):
    return total(read(event))
"""
)


@pytest.mark.slow
def test_a_bucket_trigger_and_an_s3_task_ride_out_500s_and_timeouts(tmp_path: Path, s3: str) -> None:
    import boto3

    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    direct = boto3.client("s3")  # the test's own client talks to moto directly, whatever the proxy does
    direct.create_bucket(Bucket=bucket)
    proxy = FaultProxy(s3)
    proxy.hang_seconds = 2.5  # past the task's read timeout (2 s)
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "flows.py").write_text(PIPELINES)
    ledger_path = tmp_path / "ledger.jsonl"
    env = {"AWS_ENDPOINT_URL": proxy.url, "LOCKGATE_TEST_BUCKET": bucket, "LOCKGATE_TEST_LEDGER": str(ledger_path)}
    service = Serve(tmp_path, env).start()
    api = httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {make_token().secret}"}, timeout=30)

    def faults_seen(run_id: str) -> list[str]:
        history = api.get(f"/api/runs/{run_id}").json()["history"]
        return [e["error"]["name"] for e in history if e["type"] == "StepFailed"]

    def count_runs() -> int:
        return len(api.get("/api/runs").json())

    def put(name: str, lines: int) -> None:
        direct.put_object(Bucket=bucket, Key=f"in/{name}.csv", Body=b"".join(b"x\n" for _ in range(lines)))

    try:
        put("healthy", 1)
        wait_finished(1, timeout=45)

        # the whole endpoint fails: listings fail, nothing is lost, no run is made yet
        proxy.mode = "500"
        put("during-500s", 2)
        wait_until(lambda: proxy.faults["500"] >= 2, timeout=30)
        proxy.mode = "hang"
        put("during-timeouts", 3)
        wait_until(lambda: proxy.faults["hang"] >= 1, timeout=45)
        time.sleep(1)
        assert count_runs() == 1  # nothing listed yet, nothing lost: found below

        # listings work, reads of objects fail: the runs are made, their reads fail softly and retry
        proxy.mode, proxy.target = "500", "objects"
        wait_until(lambda: count_runs() == 3, timeout=30)
        run_ids = [
            r["run_id"] for r in api.get("/api/runs").json()
            if api.get(f"/api/runs/{r['run_id']}").json()["params"]["event"]["key"] != "in/healthy.csv"
        ]  # fmt: skip
        wait_until(lambda: all(len(faults_seen(r)) >= 2 for r in run_ids), timeout=30)
        proxy.mode = "hang"
        wait_until(lambda: all(set(faults_seen(r)) - {"ClientError"} for r in run_ids), timeout=30)
        assert all(api.get(f"/api/runs/{r}").json()["status"] == "RUNNING" for r in run_ids)

        proxy.mode, proxy.target = "pass", "all"  # healthy again
        put("after", 4)
        runs = wait_finished(4, timeout=60)
        assert service.alive()
    finally:
        api.close()
        service.stop()
        proxy.close()

    keys = Counter(show(str(r["run_id"]))["params"]["event"]["key"] for r in runs)
    assert keys == {f"in/{n}.csv": 1 for n in ("healthy", "during-500s", "during-timeouts", "after")}, keys
    ledger = read_ledger(ledger_path)
    for run in runs:
        shown = show(str(run["run_id"]))
        assert_consistent(shown)
        assert shown["status"] == "SUCCEEDED", (shown["error"], shown["cause"])
        lines = {"in/healthy.csv": 1, "in/during-500s.csv": 2, "in/during-timeouts.csv": 3, "in/after.csv": 4}
        assert shown["output"] == lines[shown["params"]["event"]["key"]]
        assert_no_success_ran_again(shown["run_id"], shown["history"], ledger)
        done = [e for e in ledger if e["run"] == shown["run_id"] and e["what"] == "done"]
        assert len(done) == 1, done
    for run_id in run_ids:
        failures = [e for e in show(run_id)["history"] if e["type"] == "StepFailed"]
        assert failures and not any(e["final"] for e in failures)
        names = {e["error"]["name"] for e in failures}
        assert "ClientError" in names and names & {
            "ReadTimeoutError",
            "ConnectionClosedError",
            "EndpointConnectionError",
        }, names
    assert "Traceback" not in service.stderr(), service.stderr()[-3000:]
