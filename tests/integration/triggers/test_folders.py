import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate import task
from lockgate.dag.pipeline import Pipeline
from lockgate.store.schema import runs
from lockgate.triggers import FileArrival
from lockgate.triggers.scheduler import Options, Scheduler
from lockgate.triggers.schema import trigger_objects


@task
def size_of(event: dict) -> int:
    return event["size"]


def on_file(event: dict):
    return size_of(event)


def keys(runtime, name):
    return sorted(r.params["event"]["key"] for r in runtime.store.list_runs(pipeline=name, limit=100_000))


def tick_until(scheduler, predicate, timeout=20.0):
    """Tick, waiting for the watcher's events (never a fixed sleep), until `predicate()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scheduler.tick()
        if predicate():
            return True
        scheduler._wake.wait(0.05)
        scheduler._wake.clear()
    return predicate()


def write(path: Path, text: str = "a,b\n1,2\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def test_inotify_queues_a_run_when_a_file_is_closed_not_while_it_is_written(runtime, unique, tmp_path) -> None:
    landing = tmp_path / "landing"
    (landing / "sub").mkdir(parents=True)
    pipeline = Pipeline(
        on_file, name=f"in_{unique}", triggers=[FileArrival(str(landing), pattern="*.csv", settle_seconds=1)]
    )
    scheduler = Scheduler(runtime, [pipeline], options=Options(rescan_seconds=3600))
    scheduler.tick()
    assert scheduler.options.inotify and all(r.watched for r in scheduler._local.values())
    handle = open(landing / "slow.csv", "w")  # noqa: SIM115 - held open on purpose
    handle.write("half")
    handle.flush()
    write(landing / "ignored.txt")
    write(landing / "sub" / "deep.csv")
    assert tick_until(scheduler, lambda: keys(runtime, pipeline.name) == ["sub/deep.csv"])
    assert keys(runtime, pipeline.name) == ["sub/deep.csv"]  # slow.csv is still open
    handle.write(" and the rest\n")
    handle.close()
    assert tick_until(scheduler, lambda: keys(runtime, pipeline.name) == ["slow.csv", "sub/deep.csv"])
    write(tmp_path / "staging.csv")
    os.rename(tmp_path / "staging.csv", landing / "moved.csv")  # moved into place: complete
    assert tick_until(scheduler, lambda: "moved.csv" in keys(runtime, pipeline.name))
    write(landing / "new" / "inner.csv")  # in a folder created just now: found by a settling scan
    assert tick_until(scheduler, lambda: "new/inner.csv" in keys(runtime, pipeline.name))
    assert scheduler.dispatcher.wait_idle(20)
    done = runtime.store.list_runs(pipeline=pipeline.name)
    assert {r.status for r in done} == {"SUCCEEDED"}
    slow = next(r for r in done if r.params["event"]["key"] == "slow.csv")
    assert slow.output == len("half and the rest\n")
    assert slow.params["event"]["uri"] == (landing / "slow.csv").as_uri()
    scheduler.close()


def test_polling_fallback_waits_until_size_and_mtime_settle(runtime, unique, tmp_path, clock_at) -> None:
    landing = tmp_path / "landing"
    write(landing / "a.csv")
    clock = clock_at(time.time())
    pipeline = Pipeline(
        on_file, name=f"poll_{unique}", triggers=[FileArrival(str(landing), settle_seconds=5, poll_interval=10)]
    )
    scheduler = Scheduler(runtime, [pipeline], clock=clock, options=Options(inotify=False))
    assert scheduler.tick().objects == 0  # just written: not settled yet
    clock.advance(9.5)
    assert scheduler.tick().objects == 0  # the next scan is due at +10 s
    write(landing / "b.csv")
    os.utime(landing / "b.csv", (clock.now, clock.now))  # written at this moment of the fake timeline
    clock.advance(0.5)
    assert scheduler.tick().objects == 1  # a.csv held for 10 s; b.csv changed 0.5 s ago
    assert keys(runtime, pipeline.name) == ["a.csv"]
    clock.advance(10)
    assert scheduler.tick().objects == 1
    assert keys(runtime, pipeline.name) == ["a.csv", "b.csv"]
    scheduler.dispatcher.wait_idle(20)
    scheduler.close()


def test_files_that_arrived_while_down_are_found_at_start_and_never_run_twice(runtime, unique, tmp_path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    pipeline = Pipeline(on_file, name=f"down_{unique}", triggers=[FileArrival(str(landing), settle_seconds=1)])
    first = Scheduler(runtime, [pipeline])
    first.tick()
    first.close()
    old = time.time() - 60
    for name in ("x.csv", "y.csv", "z.csv"):
        write(landing / name)
        os.utime(landing / name, (old, old))
    second = Scheduler(runtime, [pipeline])
    assert second.tick().objects == 3
    second.dispatcher.wait_idle(20)
    second.close()
    write(landing / "x.csv", "rewritten, so a new version\n")
    os.utime(landing / "x.csv", (old + 1, old + 1))
    with runtime.store.engine.begin() as conn:  # even without the seen table, the run keys hold
        conn.execute(sa.delete(trigger_objects).where(trigger_objects.c.pipeline == pipeline.name))
    third = Scheduler(runtime, [pipeline])
    assert third.tick().objects == 1
    assert keys(runtime, pipeline.name) == ["x.csv", "x.csv", "y.csv", "z.csv"]
    third.dispatcher.wait_idle(20)
    third.close()


@pytest.mark.slow
def test_a_storm_of_10000_files_queues_10000_runs_under_the_limit_losing_none(runtime, unique, tmp_path) -> None:
    landing = tmp_path / "storm"
    landing.mkdir()
    pipeline = Pipeline(on_file, name=f"storm_{unique}", triggers=[FileArrival(str(landing), settle_seconds=1)])
    scheduler = Scheduler(runtime, [pipeline], options=Options(max_concurrent_runs=4, rescan_seconds=3600))
    scheduler.tick()
    for i in range(10_000):
        with open(landing / f"f{i:05d}.csv", "w") as handle:
            handle.write(str(i))
    peak = 0

    def all_queued() -> bool:
        nonlocal peak
        peak = max(peak, scheduler.dispatcher.in_flight)
        with runtime.store.engine.begin() as conn:
            count = conn.execute(
                sa.select(sa.func.count()).select_from(runs).where(runs.c.pipeline == pipeline.name)
            ).scalar()
        return count == 10_000

    assert tick_until(scheduler, all_queued, timeout=240)
    scheduler.dispatcher.stop()
    with runtime.store.engine.begin() as conn:
        rows = conn.execute(
            sa.select(runs.c.idempotency_key, runs.c.status).where(runs.c.pipeline == pipeline.name)
        ).all()
    assert len({r.idempotency_key for r in rows}) == 10_000
    assert sum(1 for r in rows if r.status == "RUNNING") <= 4 and peak <= 4
    assert sorted(keys(runtime, pipeline.name)) == [f"f{i:05d}.csv" for i in range(10_000)]
    scheduler.close()
