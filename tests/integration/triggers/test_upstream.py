import time

from lockgate import task
from lockgate.dag.pipeline import Pipeline
from lockgate.triggers import DatasetUpdated, Manifest, PipelineSucceeded
from lockgate.triggers.datasets import report_written


@task
def produce(n: int) -> dict:
    report_written("s3://feedback/processed/part-0.parquet")
    report_written("s3://feedback/elsewhere/x")
    return {"rows": n}


@task
def consume(event: dict) -> dict:
    return event


def upstream(n: int = 3):
    return produce(n)


def downstream(event: dict):
    return consume(event)


def settle(scheduler, runtime, names, count, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scheduler.tick()
        scheduler.dispatcher.wait_idle(5)
        done = [r for n in names for r in runtime.store.list_runs(pipeline=n) if r.status == "SUCCEEDED"]
        if len(done) >= count:
            return
    raise AssertionError(f"fewer than {count} runs of {names} succeeded in {timeout} s")


def test_a_run_follows_an_upstream_success_and_a_reported_dataset(runtime, unique) -> None:
    from lockgate.triggers.scheduler import Scheduler

    up = Pipeline(upstream, name=f"up_{unique}")
    after = Pipeline(downstream, name=f"after_{unique}", triggers=[PipelineSucceeded(up.name)])
    on_data = Pipeline(downstream, name=f"data_{unique}", triggers=[DatasetUpdated("s3://feedback/processed/")])
    scheduler = Scheduler(runtime, [up, after, on_data])
    scheduler.tick()
    first = runtime.enqueue(up.name, {"n": 7})
    settle(scheduler, runtime, [up.name, after.name, on_data.name], 3)
    (follow,) = runtime.store.list_runs(pipeline=after.name)
    assert follow.output["run_id"] == first and follow.output["output"] == {"rows": 7}
    assert follow.output["pipeline"] == up.name
    (data,) = runtime.store.list_runs(pipeline=on_data.name)
    assert data.output["uri"] == "s3://feedback/processed/part-0.parquet"
    assert (data.output["run_id"], data.output["step"]) == (first, "produce")
    scheduler.close()
    restarted = Scheduler(runtime, [up, after, on_data])
    restarted.tick()
    restarted.dispatcher.wait_idle(5)
    assert len(runtime.store.list_runs(pipeline=after.name)) == 1  # no duplicate after a restart
    assert len(runtime.store.list_runs(pipeline=on_data.name)) == 1
    restarted.close()


def test_a_local_csv_manifest_lists_its_files_and_a_missing_one_fails_the_run(runtime, unique, tmp_path) -> None:
    from lockgate.triggers.scheduler import Scheduler

    landing = tmp_path / "landing"
    (landing / "data").mkdir(parents=True)
    (landing / "data" / "a.csv").write_text("1")
    batch = Pipeline(downstream, name=f"batch_{unique}", triggers=[Manifest(str(landing), pattern="manifest*.csv")])
    scheduler = Scheduler(runtime, [batch])
    scheduler.tick()
    (landing / "manifest-1.csv").write_text("data/a.csv\n")
    (landing / "manifest-2.csv").write_text("data/a.csv\ndata/missing.csv\n")
    deadline = time.monotonic() + 20
    while len(runtime.store.list_runs(pipeline=batch.name)) < 2 and time.monotonic() < deadline:
        scheduler.tick()
        scheduler._wake.wait(0.05)
    scheduler.dispatcher.wait_idle(20)
    runs = {r.params["event"]["key"]: r for r in runtime.store.list_runs(pipeline=batch.name)}
    assert runs["manifest-1.csv"].status == "SUCCEEDED"
    assert runs["manifest-1.csv"].output["files"] == [(landing / "data" / "a.csv").as_uri()]
    failed = runs["manifest-2.csv"]
    assert failed.status == "FAILED" and failed.error == "lockgate.ManifestFilesMissing"
    assert failed.cause.endswith((landing / "data" / "missing.csv").as_uri())
    scheduler.close()
