import datetime as dt
import threading
from zoneinfo import ZoneInfo

from lockgate import task
from lockgate.dag.pipeline import Pipeline
from lockgate.runtime import Runtime
from lockgate.triggers import Cron, Interval
from lockgate.triggers.ledger import Ledger
from lockgate.triggers.scheduler import Options, Scheduler

PARIS = ZoneInfo("Europe/Paris")
GATE = threading.Event()


@task
def echo(value: str) -> str:
    return value


@task
def hold(value: str) -> str:
    GATE.wait(30)
    return value


def daily(logical_date: str, data_interval_start: str = "", data_interval_end: str = ""):
    return echo(f"{logical_date}|{data_interval_start}|{data_interval_end}")


def held(logical_date: str):
    return hold(logical_date)


def logical_dates(runtime, name):
    return sorted(r.params["logical_date"] for r in runtime.store.list_runs(pipeline=name, limit=10_000))


def make(name, *triggers, fn=daily, **kw):
    return Pipeline(fn, name=name, triggers=list(triggers), **kw)


def paris(*args):
    return dt.datetime(*args, tzinfo=PARIS)


def test_without_catchup_the_first_run_is_the_next_slot_and_downtime_runs_only_the_latest(
    runtime, unique, clock_at
) -> None:
    name = f"daily_{unique}"
    pipeline = make(name, Cron("0 6 * * *", timezone="Europe/Paris"))
    clock = clock_at(paris(2026, 11, 24, 5, 0).timestamp())
    scheduler = Scheduler(runtime, [pipeline], clock=clock)
    assert scheduler.tick().slots == 0
    clock.set(paris(2026, 11, 24, 6, 0))
    assert scheduler.tick().slots == 1
    assert scheduler.tick().slots == 0
    assert scheduler.dispatcher.wait_idle(10)
    (run,) = runtime.store.list_runs(pipeline=name)
    assert run.status == "SUCCEEDED"
    assert run.output == "2026-11-24T06:00:00+01:00|2026-11-23T06:00:00+01:00|2026-11-24T06:00:00+01:00"
    scheduler.close()

    clock.set(paris(2026, 11, 27, 9, 0))  # down for three days: a new scheduler starts
    restarted = Scheduler(runtime, [pipeline], clock=clock)
    assert restarted.tick().slots == 1
    assert logical_dates(runtime, name) == ["2026-11-24T06:00:00+01:00", "2026-11-27T06:00:00+01:00"]
    restarted.dispatcher.wait_idle(10)
    restarted.close()


def test_with_catchup_every_missed_slot_since_start_date_runs_once_across_restarts(runtime, unique, clock_at) -> None:
    name = f"catchup_{unique}"
    pipeline = make(
        name, Cron("0 6 * * *", timezone="Europe/Paris", catchup=True, start_date="2026-11-20T00:00:00+01:00")
    )
    clock = clock_at(paris(2026, 11, 24, 7, 0).timestamp())
    first = Scheduler(runtime, [pipeline], clock=clock, options=Options(max_concurrent_runs=2))
    assert first.tick().slots == 5
    first.close()
    again = Scheduler(runtime, [pipeline], clock=clock)
    assert again.tick().slots == 0
    clock.set(paris(2026, 11, 26, 6, 0))
    assert again.tick().slots == 2
    assert logical_dates(runtime, name) == [f"2026-11-{d}T06:00:00+01:00" for d in range(20, 27)]
    again.dispatcher.wait_idle(30)
    first.dispatcher.wait_idle(30)
    again.close()


def test_two_schedulers_on_one_store_queue_each_slot_once(runtime, unique, clock_at) -> None:
    name = f"twice_{unique}"
    pipeline = make(name, Cron("*/10 * * * *"))
    clock = clock_at(dt.datetime(2026, 11, 24, 12, 1, tzinfo=dt.UTC).timestamp())
    other = Runtime()
    try:
        a = Scheduler(runtime, [pipeline], clock=clock, options=Options(max_concurrent_runs=1))
        b = Scheduler(other, [pipeline], clock=clock, options=Options(max_concurrent_runs=1))
        a.tick(), b.tick()
        for _ in range(6):
            clock.advance(600)
            a.tick()
            b.tick()
        assert len(logical_dates(runtime, name)) == 6
        assert len(set(logical_dates(runtime, name))) == 6
        a.dispatcher.wait_idle(30), b.dispatcher.wait_idle(30)
        a.close(), b.close()
    finally:
        other.close()


def test_a_paused_pipeline_is_not_scheduled_and_its_queued_runs_wait(runtime, unique, clock_at) -> None:
    name = f"paused_{unique}"
    pipeline = make(name, Interval(60, catchup=True))
    clock = clock_at(1_795_000_000.0)
    scheduler = Scheduler(runtime, [pipeline], clock=clock)
    scheduler.tick()
    ledger = Ledger(runtime)
    ledger.pause(name, clock())
    runtime.enqueue(name, {"logical_date": "manual"})
    clock.advance(300)
    report = scheduler.tick()
    assert (report.slots, report.started) == (0, 0)
    assert runtime.store.count_runs("QUEUED") == 1
    ledger.unpause(name)
    report = scheduler.tick()
    assert report.slots == 5  # catch-up on: the slots missed while paused run
    assert scheduler.dispatcher.wait_idle(30)
    scheduler.tick()
    assert scheduler.dispatcher.wait_idle(30)
    assert runtime.store.count_runs("QUEUED") == 0
    scheduler.close()


def test_max_active_runs_and_the_global_limit_hold(runtime, unique, clock_at) -> None:
    limited = make(f"limited_{unique}", fn=held, max_active_runs=1)
    free = make(f"free_{unique}", fn=held)
    for i in range(3):
        runtime.enqueue(limited.name, {"logical_date": str(i)})
        runtime.enqueue(free.name, {"logical_date": str(i)})
    GATE.clear()
    scheduler = Scheduler(runtime, [limited, free], clock=clock_at(0.0), options=Options(max_concurrent_runs=3))
    try:
        assert scheduler.tick().started == 3
        assert scheduler.tick().started == 0
        running = {r.pipeline: 0 for r in runtime.store.list_runs(status="RUNNING")}
        for r in runtime.store.list_runs(status="RUNNING"):
            running[r.pipeline] += 1
        assert running == {limited.name: 1, free.name: 2}
    finally:
        GATE.set()
    assert scheduler.dispatcher.wait_idle(30)
    while scheduler.tick().started:
        scheduler.dispatcher.wait_idle(30)
    assert {r.status for r in runtime.store.list_runs(limit=100)} == {"SUCCEEDED"}
    scheduler.close()


def test_ticks_with_many_schedules_touch_only_those_due(runtime, unique, clock_at) -> None:
    pipelines = [make(f"many_{unique}_{i}", Cron(f"{i % 60} {i % 24} * * *")) for i in range(500)]
    clock = clock_at(dt.datetime(2026, 11, 24, 0, 0, 30, tzinfo=dt.UTC).timestamp())
    scheduler = Scheduler(runtime, pipelines, clock=clock, options=Options(max_concurrent_runs=1))
    scheduler.tick()
    clock.advance(24 * 3600)
    assert scheduler.tick().slots == 500
    scheduler.dispatcher.stop()
    scheduler.close()
