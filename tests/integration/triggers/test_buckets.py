import socket
import threading
import time

import httpx
import pytest

from lockgate import task
from lockgate.dag.pipeline import Pipeline
from lockgate.triggers import FileArrival, Manifest
from lockgate.triggers.scheduler import Options, Scheduler


@task
def note(event: dict) -> dict:
    return {"key": event["key"], "etag": event["etag"], "files": event.get("files")}


def on_object(event: dict):
    return note(event)


@pytest.fixture
def bucket(s3, unique):
    import boto3

    client = boto3.client("s3")
    name = f"feedback-{unique}"
    client.create_bucket(Bucket=name)
    return client, name


def keys(runtime, name):
    return sorted(r.params["event"]["key"] for r in runtime.store.list_runs(pipeline=name, limit=10_000))


def test_polling_finds_new_objects_once_per_version_across_restarts(runtime, unique, bucket, clock_at) -> None:
    client, name = bucket
    pipeline = Pipeline(
        on_object,
        name=f"s3poll_{unique}",
        triggers=[FileArrival(f"s3://{name}/raw/", pattern="*.csv", poll_interval=10)],
    )
    clock = clock_at(1_795_000_000.0)
    scheduler = Scheduler(runtime, [pipeline], clock=clock)
    assert scheduler.tick().objects == 0
    put = client.put_object(Bucket=name, Key="raw/a.csv", Body=b"a,b\n")
    client.put_object(Bucket=name, Key="raw/b.json", Body=b"{}")
    client.put_object(Bucket=name, Key="other/c.csv", Body=b"x")
    assert scheduler.tick().objects == 0  # the next listing is due in 10 s
    clock.advance(10)
    assert scheduler.tick().objects == 1
    assert scheduler.dispatcher.wait_idle(20)
    (run,) = runtime.store.list_runs(pipeline=pipeline.name)
    assert run.status == "SUCCEEDED"
    assert run.params["event"]["uri"] == f"s3://{name}/raw/a.csv"
    assert run.params["event"]["etag"] == put["ETag"].strip('"')
    assert run.params["event"]["size"] == 4
    scheduler.close()

    client.put_object(Bucket=name, Key="raw/down.csv", Body=b"put while the scheduler was down")
    restarted = Scheduler(runtime, [pipeline], clock=clock)
    assert restarted.tick().objects == 1
    client.put_object(Bucket=name, Key="raw/a.csv", Body=b"a,b\n1,2\n")  # a new version
    clock.advance(10)
    assert restarted.tick().objects == 1
    clock.advance(10)
    assert restarted.tick().objects == 0
    assert keys(runtime, pipeline.name) == ["raw/a.csv", "raw/a.csv", "raw/down.csv"]
    restarted.dispatcher.wait_idle(20)
    restarted.close()


@pytest.fixture
def auth(runtime):
    """The headers of an operator token in the runtime's store."""
    from lockgate.server.tokens import TokenStore

    return {"Authorization": f"Bearer {TokenStore.of(runtime).create('bucket-tests', 'operator').secret}"}


@pytest.fixture
def served(runtime):
    """The HTTP API on loopback, in this process, with a scheduler attached once a test starts one."""
    import uvicorn

    from lockgate.server.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_pushed_notifications_queue_one_run_per_object_version(runtime, unique, bucket, served, clock_at, auth) -> None:
    client, name = bucket
    pipeline = Pipeline(
        on_object, name=f"s3push_{unique}", triggers=[FileArrival(f"s3://{name}/raw/", pattern="*.csv")]
    )
    clock = clock_at(1_795_000_000.0)
    scheduler = Scheduler(runtime, [pipeline], clock=clock)
    scheduler.tick()
    put = client.put_object(Bucket=name, Key="raw/new file.csv", Body=b"1\n")
    record = {
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-24T06:00:00.000Z",
        "s3": {
            "bucket": {"name": name},
            "object": {"key": "raw/new+file.csv", "size": 2, "eTag": put["ETag"].strip('"')},
        },
    }
    first = httpx.post(f"{served}/api/events/s3", json={"Records": [record]}, headers=auth)
    assert first.status_code == 200 and len(first.json()["queued"]) == 1
    again = httpx.post(f"{served}/api/events/s3", json={"Records": [record]}, headers=auth)
    assert again.json() == {"objects": 1, "queued": []}
    bridge = {
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": name}, "object": {"key": "raw/other.csv", "size": 1, "etag": "feed"}},
    }
    assert len(httpx.post(f"{served}/api/events/s3", json=bridge, headers=auth).json()["queued"]) == 1
    ignored = {
        **bridge,
        "detail": {"bucket": {"name": name}, "object": {"key": "elsewhere/x.csv", "size": 1, "etag": "e"}},
    }
    assert httpx.post(f"{served}/api/events/s3", json=ignored, headers=auth).json()["queued"] == []
    bad = httpx.post(f"{served}/api/events/s3", json={"Records": [{"eventName": "ObjectCreated:Put"}]}, headers=auth)
    assert bad.status_code == 400 and "Records[0].s3: missing" in bad.json()["detail"]
    clock.advance(20)
    assert scheduler.tick().objects == 0  # the listing finds the pushed version already queued
    assert keys(runtime, pipeline.name) == ["raw/new file.csv", "raw/other.csv"]
    scheduler.dispatcher.wait_idle(20)
    scheduler.close()


def test_pipelines_api_lists_triggers_queues_runs_and_pauses(runtime, unique, served, auth) -> None:
    pipeline = Pipeline(on_object, name=f"api_{unique}", triggers=[FileArrival("s3://nowhere/in/")])
    scheduler = Scheduler(runtime, [pipeline], options=Options(max_concurrent_runs=1))
    scheduler.start()
    listed = httpx.get(f"{served}/api/pipelines", headers=auth).json()
    assert listed == [
        {
            "name": pipeline.name,
            "kind": "python",
            "triggers": ["files s3://nowhere/in/*"],
            "paused": False,
            "max_active_runs": None,
            "upstream": [],
            "downstream": [],
            "paused_by": None,
            "paused_at": None,
            "actions": [],
        }
    ]
    paused = httpx.post(f"{served}/api/pipelines/{pipeline.name}/pause", headers=auth).json()
    assert paused["name"] == pipeline.name and paused["paused"] is True and paused["by"]
    row = httpx.get(f"{served}/api/pipelines", headers=auth).json()[0]
    assert row["paused"] is True and row["paused_by"] == paused["by"] and row["actions"][0]["action"] == "pause"
    body = {"params": {"event": {"key": "k", "etag": "e"}}, "idempotency_key": "once"}
    made = httpx.post(f"{served}/api/pipelines/{pipeline.name}/trigger", json=body, headers=auth).json()
    assert made["created"] is True and made["status"] == "QUEUED"
    same = httpx.post(f"{served}/api/pipelines/{pipeline.name}/trigger", json=body, headers=auth).json()
    assert (same["run_id"], same["created"]) == (made["run_id"], False)
    assert scheduler.tick().started == 0  # paused: its queued run waits
    httpx.post(f"{served}/api/pipelines/{pipeline.name}/unpause", headers=auth)
    assert scheduler.tick().started == 1
    assert scheduler.dispatcher.wait_idle(20)
    assert runtime.store.get_run(made["run_id"]).status == "SUCCEEDED"
    wrong = httpx.post(f"{served}/api/pipelines/{pipeline.name}/trigger", json={"params": {"nope": 1}}, headers=auth)
    assert wrong.status_code == 400 and "has no parameter 'nope'" in wrong.json()["detail"]
    assert httpx.post(f"{served}/api/pipelines/missing/pause", headers=auth).status_code == 404
    scheduler.close()


def test_a_manifest_run_fails_before_any_step_naming_every_missing_file(runtime, unique, bucket, clock_at) -> None:
    client, name = bucket
    pipeline = Pipeline(
        on_object, name=f"manifest_{unique}", triggers=[Manifest(f"s3://{name}/landing/", poll_interval=1)]
    )
    client.put_object(Bucket=name, Key="landing/part-1.csv", Body=b"1")
    client.put_object(Bucket=name, Key="landing/sub/part-2.csv", Body=b"2")
    client.put_object(Bucket=name, Key="landing/manifest-ok.json", Body=b'{"files": ["part-1.csv", "sub/part-2.csv"]}')
    client.put_object(
        Bucket=name, Key="landing/manifest-bad.json", Body=b'["part-1.csv", "gone-a.csv", "/landing/gone-b.csv"]'
    )
    clock = clock_at(1_795_000_000.0)
    scheduler = Scheduler(runtime, [pipeline], clock=clock)
    assert scheduler.tick().objects == 2  # the manifests only, not the data files
    assert scheduler.dispatcher.wait_idle(20)
    runs = {r.params["event"]["key"]: r for r in runtime.store.list_runs(pipeline=pipeline.name)}
    ok, bad = runs["landing/manifest-ok.json"], runs["landing/manifest-bad.json"]
    assert ok.status == "SUCCEEDED"
    assert ok.output["files"] == [f"s3://{name}/landing/part-1.csv", f"s3://{name}/landing/sub/part-2.csv"]
    assert bad.status == "FAILED" and bad.error == "lockgate.ManifestFilesMissing"
    assert f"s3://{name}/landing/gone-a.csv" in bad.cause and f"s3://{name}/landing/gone-b.csv" in bad.cause
    assert "part-1.csv," not in bad.cause
    _, _, events = runtime.state(bad.run_id)
    assert [e.type for e in events] == ["RunFailed"]  # no step started
    scheduler.close()
