"""Latency of what operators look at, on a store holding 100,000 runs (a million events).

    python benchmarks/api_latency.py [--runs 100000] [--requests 200] [--postgres URL] [--no-sqlite]

Fills a fresh store (SQLite in a temporary folder, and PostgreSQL when --postgres names a server:
a database of its own is made and dropped) with runs of 20 pipelines, 10 events each, then times:
  - the runs list: GET /api/runs filtered by pipeline and status, 50 a page, the first page and
    the next one (before=the last run of the first);
  - the UI's runs page: GET /ui/runs filtered likewise, its second page (HTML, 50 rows, with the
    pipelines of the filter's list);
  - a run's page: GET /ui/runs/{id} (HTML: summary, steps, timeline, history);
  - the pipelines page: GET /ui/pipelines (20 pipelines, each with its last 20 runs);
  - `lockgate runs --json` (the command's work in this process; the interpreter's start is
    benchmarks/startup.py's business).
Requests go over loopback HTTP to the real app under uvicorn. Each line prints p50 and p99, the
goal (p99 <= 100 ms) and the floor: the same queries in bare SQL on a raw driver connection.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

GOAL_MS = 100.0
PIPELINES = [f"bench_{i:02d}" for i in range(20)]
STATUSES = ["SUCCEEDED"] * 17 + ["FAILED", "FAILED", "ABORTED"]
STEPS = ["extract", "transform", "load", "report"]
CHUNK = 5_000


def _workflow(pipeline: str) -> dict[str, Any]:
    steps = []
    for i, name in enumerate(STEPS):
        steps.append({"name": name, "task": f"bench:{name}", "args": {"args": [], "kwargs": {}},
                      "upstream": [STEPS[i - 1]] if i else [], "trigger_rule": "all_success", "retry": [],
                      "timeout": None, "map_over": None, "map_concurrency": None, "location": ""})  # fmt: skip
    return {"name": pipeline, "steps": steps, "output": None, "timeout": None, "source": "", "meta": {}}


def fill(engine: Any, count: int) -> list[tuple[str, str, str]]:
    """`count` finished runs with 10 events each; returns (run id, pipeline, status) of every run."""
    import sqlalchemy as sa

    from lockgate import _json
    from lockgate.core import history as h
    from lockgate.store.schema import events, runs
    from lockgate.views import new_run_id

    rng = random.Random(7)
    start = time.time() - count * 60.0
    made: list[tuple[str, str, str]] = []
    workflows = {p: _workflow(p) for p in PIPELINES}
    run_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(runs.insert(), run_rows)
            conn.execute(events.insert(), event_rows)
        run_rows.clear()
        event_rows.clear()

    for i in range(count):
        at = start + i * 60.0
        run_id = new_run_id(at) + uuid.uuid4().hex[:4]
        pipeline = PIPELINES[i % len(PIPELINES)]
        status = rng.choice(STATUSES)
        made.append((run_id, pipeline, status))
        history: list[h.Event] = [h.RunStarted(at=at, run_id=run_id, pipeline=pipeline, params={"day": "2026-11-30"},
                                               workflow=workflows[pipeline])]  # fmt: skip
        t = at
        for step in STEPS:
            history.append(h.StepStarted(at=t + 0.1, step=step, attempt=1))
            history.append(h.StepSucceeded(at=t + 1.0, step=step, attempt=1, result=[1, 2, 3]))
            t += 1.0
        ended = t + 0.1
        if status == "SUCCEEDED":
            history.append(h.RunSucceeded(at=ended, output=6))
        elif status == "FAILED":
            history.append(h.RunFailed(at=ended, error="States.TaskFailed", cause="step report failed"))
        else:
            history.append(h.RunAborted(at=ended, cause="cancelled by user"))
        output = "6" if status == "SUCCEEDED" else None
        run_rows.append({"run_id": run_id, "pipeline": pipeline, "kind": "python", "status": status,
                         "params": '{"day": "2026-11-30"}', "output": output, "error": None, "cause": None,
                         "created_at": at, "started_at": at, "ended_at": ended, "owner": None,
                         "heartbeat_at": None, "idempotency_key": None, "parent_run_id": None})  # fmt: skip
        event_rows += [{"run_id": run_id, "type": e.type, "at": e.at, "body": _json.dumps(e.body())} for e in history]
        if len(run_rows) >= CHUNK:
            flush()
    if run_rows:
        flush()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        elif engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE runs")
            conn.exec_driver_sql("ANALYZE events")
        total = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar()
    print(f"  filled {count:,} runs, {total:,} events")
    return made


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm: caches, prepared statements, templates
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def report(label: str, samples: list[float], floor: list[float]) -> bool:
    p50, p99 = percentiles(samples)
    f50, f99 = percentiles(floor)
    ok = p99 <= GOAL_MS
    verdict = "ok" if ok else "MISSED"
    print(f"  {label:<34} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  goal p99 <= {GOAL_MS:.0f} ms "
          f"({p99 / GOAL_MS:4.2f})  floor p50 {f50:6.2f} ms  p99 {f99:6.2f} ms  {verdict}")  # fmt: skip
    return ok


@contextlib.contextmanager
def serving(runtime: Any) -> Iterator[str]:
    import socket

    import uvicorn

    from lockgate.server.app import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _define_pipelines() -> None:
    """The 20 pipelines, defined in this process, as a service would have loaded them."""
    from lockgate import pipeline, task

    @task
    def step() -> int:
        return 1

    for name in PIPELINES:

        def body() -> Any:
            return step()

        pipeline(name=name)(body)


def measure(url: str, requests: int) -> bool:
    """Fill the store at `url`, then time every view and its bare-SQL floor; True when all meet the goal."""
    import httpx

    from lockgate.cli import main as cli_main
    from lockgate.config import load
    from lockgate.runtime import Runtime
    from lockgate.store.sql import SqlStore

    print(f"{url.split('://')[0]}: {os.environ.get('BENCH_RUNS')} runs")
    store = SqlStore(url)
    made = fill(store.engine, int(os.environ["BENCH_RUNS"]))
    runtime = Runtime(load(), store=store)
    rng = random.Random(11)
    failed = [r for r in made if r[2] == "FAILED"]
    raw = store.engine.raw_connection()
    cursor = raw.cursor()
    mark = "?" if store.engine.dialect.name == "sqlite" else "%s"
    ok = True

    def bare(sql: str, *params: Any) -> Any:
        cursor.execute(sql.replace("?", mark), params)
        return cursor.fetchall()

    list_sql = "SELECT * FROM runs WHERE pipeline = ? AND status = ? ORDER BY created_at DESC, run_id DESC LIMIT 50"
    page_sql = ("SELECT * FROM runs WHERE pipeline = ? AND status = ? AND (created_at < ? OR (created_at = ? AND "
                "run_id < ?)) ORDER BY created_at DESC, run_id DESC LIMIT 50")  # fmt: skip
    from lockgate.server.tokens import TokenStore
    from lockgate.server.ui_views import DISTINCT_PIPELINES

    secret = TokenStore.of(runtime).create(f"bench-{uuid.uuid4().hex[:6]}", "viewer").secret
    with serving(runtime) as base, httpx.Client(base_url=base, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {secret}"  # the API takes the token
        login = client.post("/ui/login", data={"token": secret, "next": "/"})  # the pages take the session cookie
        assert login.status_code in (200, 303), login.text[:200]

        def first_page() -> Any:
            _, pipeline, _ = rng.choice(failed)
            answer = client.get("/api/runs", params={"pipeline": pipeline, "status": "FAILED", "limit": 50})
            assert answer.status_code == 200 and answer.json(), answer.text[:200]
            return pipeline, answer.json()[-1]["run_id"]

        pages = [first_page() for _ in range(requests)]
        ok &= report("runs list, pipeline+status, page 1", timed(first_page, requests),
                     timed(lambda: bare(list_sql, rng.choice(PIPELINES), "FAILED"), requests))  # fmt: skip

        def next_page() -> None:
            pipeline, last = rng.choice(pages)
            answer = client.get(
                "/api/runs", params={"pipeline": pipeline, "status": "FAILED", "limit": 50, "before": last}
            )
            assert answer.status_code == 200, answer.text[:200]

        def next_page_floor() -> None:
            pipeline, last = rng.choice(pages)
            (at,) = bare("SELECT created_at FROM runs WHERE run_id = ?", last)[0]
            bare(page_sql, pipeline, "FAILED", at, at, last)

        ok &= report("runs list, pipeline+status, page 2", timed(next_page, requests), timed(next_page_floor, requests))

        def ui_runs_page() -> None:
            pipeline, last = rng.choice(pages)
            answer = client.get("/ui/runs", params={"pipeline": pipeline, "status": "FAILED", "before": last})
            assert answer.status_code == 200 and "page-newer" in answer.text, answer.text[:200]

        def ui_runs_floor() -> None:
            next_page_floor()
            bare(DISTINCT_PIPELINES)  # the filter's list of pipelines, as the page reads it

        ok &= report("runs page (HTML), pipeline+status, page 2", timed(ui_runs_page, requests),
                     timed(ui_runs_floor, requests))  # fmt: skip

        def run_page() -> None:
            run_id = rng.choice(made)[0]
            answer = client.get(f"/ui/runs/{run_id}")
            assert answer.status_code == 200 and run_id in answer.text

        def run_page_floor() -> None:
            run_id = rng.choice(made)[0]
            bare("SELECT * FROM runs WHERE run_id = ?", run_id)
            bare("SELECT type, at, body FROM events WHERE run_id = ? ORDER BY id", run_id)

        ok &= report("run page (HTML)", timed(run_page, requests), timed(run_page_floor, requests))

        def pipelines_page() -> None:
            answer = client.get("/ui/pipelines")
            assert answer.status_code == 200 and PIPELINES[-1] in answer.text

        def pipelines_floor() -> None:
            for name in PIPELINES:
                bare("SELECT * FROM runs WHERE pipeline = ? ORDER BY created_at DESC, run_id DESC LIMIT 20", name)
            bare("SELECT DISTINCT pipeline FROM runs WHERE kind = ?", "asl")

        repeat = max(20, requests // 4)
        ok &= report("pipelines page (HTML)", timed(pipelines_page, repeat), timed(pipelines_floor, repeat))

    def runs_command() -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli_main(["runs", "--json", "--limit", "100"])
        assert code == 0 and len(json.loads(out.getvalue())) == 100

    ok &= report("lockgate runs --json (in process)", timed(runs_command, requests),
                 timed(lambda: bare("SELECT * FROM runs ORDER BY created_at DESC, run_id DESC LIMIT 100"),
                       requests))  # fmt: skip
    cursor.close()
    raw.close()
    store.close()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (postgresql+psycopg://...)")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    os.environ["BENCH_RUNS"] = str(args.runs)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    _define_pipelines()
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        os.environ["LOCKGATE_HOME"] = str(Path(folder) / "home")
        os.chdir(folder)
        if not args.no_sqlite:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            os.environ["LOCKGATE_DATABASE_URL"] = url
            ok &= measure(url, args.requests)
        if args.postgres:
            import sqlalchemy as sa

            name = f"lockgate_bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
            os.environ["LOCKGATE_DATABASE_URL"] = url
            try:
                ok &= measure(url, args.requests)
            finally:
                from lockgate.runtime import close_default

                close_default()
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
