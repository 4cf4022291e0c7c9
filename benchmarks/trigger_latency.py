"""Trigger latency and scheduler tick cost.

    python benchmarks/trigger_latency.py [--files 500] [--objects 500] [--schedules 10000]

Measures, from a file's close (or an S3 PUT's return) to its run's first step starting:
  - folder (inotify): files dropped one by one into a watched folder;
  - S3 with event notifications: each PUT followed by its notification POSTed to
    /api/events/s3 (the S3 server here does not deliver notifications itself, so the
    benchmark sends each one the moment the PUT returns);
  - S3 by polling (poll_interval 1 s): objects put at a steady pace (20 a second), found by listings;
and the cost of one scheduler tick with 10,000 cron schedules (a fake clock moved 1 s per tick).
Each figure is printed with its goal and the ratio measured/goal (<= 1.0 meets it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

STARTED: dict[str, float] = {}
ARRIVED = threading.Condition()


def _record_start(key: str) -> float:
    now = time.time()
    with ARRIVED:
        STARTED.setdefault(key, now)
        ARRIVED.notify_all()
    return now


def _wait_for(key: str, timeout: float = 30.0) -> float:
    with ARRIVED:
        if not ARRIVED.wait_for(lambda: key in STARTED, timeout):
            raise SystemExit(f"no run started for {key} within {timeout} s")
        return STARTED[key]


def _define_pipelines(folder: Path, bucket: str):
    from lockgate import task
    from lockgate.dag.pipeline import Pipeline
    from lockgate.triggers import FileArrival

    @task
    def first_step(event: dict) -> float:
        return _record_start(event["uri"])

    def on_arrival(event: dict):
        return first_step(event)

    return [
        Pipeline(on_arrival, name="bench_folder", triggers=[FileArrival(str(folder))]),
        Pipeline(on_arrival, name="bench_pushed", triggers=[FileArrival(f"s3://{bucket}/pushed/", poll_interval=3600)]),
        Pipeline(on_arrival, name="bench_polled", triggers=[FileArrival(f"s3://{bucket}/polled/", poll_interval=1.0)]),
    ]


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50, p99


def _line(label: str, values: list[float], goal: float, unit: str = "ms") -> None:
    p50, p99 = _percentiles(values)
    print(
        f"{label:<34} n={len(values):<6} p50 {p50 * 1000:8.1f} {unit}  p99 {p99 * 1000:8.1f} {unit}  "
        f"max {max(values) * 1000:8.1f} {unit}  goal p99 <= {goal * 1000:.0f} {unit}  ratio {p99 / goal:.2f}",
        flush=True,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


def bench_folder(folder: Path, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        path = folder / f"file-{i:05d}.csv"
        with open(path, "w") as handle:
            handle.write("id,value\n1,2\n")
        closed = time.time()
        latencies.append(_wait_for(path.as_uri()) - closed)
    return latencies


def bench_pushed(client, bucket: str, api: str, count: int) -> list[float]:
    import httpx

    latencies = []
    with httpx.Client() as http:
        for i in range(count):
            key = f"pushed/object-{i:05d}.csv"
            put = client.put_object(Bucket=bucket, Key=key, Body=b"id,value\n1,2\n")
            returned = time.time()
            record = {
                "eventName": "ObjectCreated:Put",
                "eventTime": dt.datetime.now(dt.UTC).isoformat(),
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 12, "eTag": put["ETag"].strip('"')}},
            }
            http.post(f"{api}/api/events/s3", json={"Records": [record]}).raise_for_status()
            latencies.append(_wait_for(f"s3://{bucket}/{key}") - returned)
    return latencies


def bench_polled(client, bucket: str, count: int, pace: float) -> list[float]:
    returned = {}
    for i in range(count):
        key = f"polled/object-{i:05d}.csv"
        client.put_object(Bucket=bucket, Key=key, Body=b"id,value\n1,2\n")
        returned[f"s3://{bucket}/{key}"] = time.time()
        time.sleep(pace)
    return [_wait_for(uri) - at for uri, at in returned.items()]


def bench_ticks(runtime, schedules: int, ticks: int) -> tuple[float, list[float]]:
    from lockgate import task
    from lockgate.dag.pipeline import Pipeline
    from lockgate.triggers import Cron
    from lockgate.triggers.scheduler import Options, Scheduler

    @task
    def nothing(logical_date: str) -> str:
        return logical_date

    def scheduled(logical_date: str):
        return nothing(logical_date)

    rng = random.Random(7)
    exprs = []
    for i in range(schedules):
        kind = i % 10
        if kind < 7:
            exprs.append(f"{rng.randrange(60)} {rng.randrange(24)} * * *")
        elif kind < 9:
            exprs.append(f"{rng.randrange(60)} * * * *")
        else:
            exprs.append(f"*/{rng.choice([5, 10, 15, 30])} * * * *")
    pipelines = [
        Pipeline(scheduled, name=f"bench_cron_{i}", triggers=[Cron(e, timezone="Europe/Paris")])
        for i, e in enumerate(exprs)
    ]
    now = [dt.datetime(2026, 11, 24, 12, 0, 0, tzinfo=dt.UTC).timestamp()]
    scheduler = Scheduler(
        runtime, pipelines, clock=lambda: now[0], options=Options(max_concurrent_runs=8, inotify=False)
    )
    began = time.perf_counter()
    scheduler.start()
    start_cost = time.perf_counter() - began
    costs = []
    for _ in range(ticks):
        now[0] += 1.0
        began = time.perf_counter()
        scheduler.tick()
        costs.append(time.perf_counter() - began)
    scheduler.dispatcher.wait_idle(60)
    scheduler.close()
    return start_cost, costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=600)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lockgate-bench-"))
    os.environ["LOCKGATE_HOME"] = str(work / "home")
    os.chdir(work)
    port = _free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        os.environ.update(
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}",
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_REGION="us-east-1",
        )
        import boto3
        import uvicorn

        from lockgate.runtime import Runtime
        from lockgate.server.app import create_app
        from lockgate.triggers.scheduler import Options, Scheduler

        client = boto3.client("s3")
        bucket = "bench"
        client.create_bucket(Bucket=bucket)
        folder = work / "landing"
        folder.mkdir()
        runtime = Runtime()
        scheduler = Scheduler(runtime, _define_pipelines(folder, bucket), options=Options(max_concurrent_runs=64))
        stop = threading.Event()
        scheduler.start()
        loop = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
        loop.start()
        api_port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(runtime), host="127.0.0.1", port=api_port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        _wait_port(api_port)

        print(f"lockgate trigger latency (SQLite store, threads executor, {os.cpu_count()} cores)", flush=True)
        _line("folder (inotify)", bench_folder(folder, args.files), 0.250)
        _line(
            "S3 with event notifications",
            bench_pushed(client, bucket, f"http://127.0.0.1:{api_port}", args.objects),
            0.250,
        )
        _line("S3 by polling (poll_interval 1 s)", bench_polled(client, bucket, args.objects, pace=0.05), 1.100)
        stop.set()
        scheduler.wake()
        loop.join(30)
        server.should_exit = True

        start_cost, costs = bench_ticks(Runtime(), args.schedules, args.ticks)
        print(
            f"scheduler start with {args.schedules} cron schedules: {start_cost * 1000:.0f} ms"
            " (registering and first slots)"
        )
        _line(f"tick, {args.schedules} cron schedules", costs, 0.050)
    finally:
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    main()
