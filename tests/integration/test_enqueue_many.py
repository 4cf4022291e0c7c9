"""Runtime.enqueue_many and the stores' create_runs: many queued runs in one transaction, each key once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.runtime import Runtime
from lockgate.store import NewRun
from lockgate.store.base import RunRequest
from lockgate.store.memory import MemoryStore
from lockgate.store.sql import SqlStore


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    if request.param == "sqlite":
        store: object = SqlStore(f"sqlite:///{tmp_path / 'lockgate.db'}")
    elif request.param == "memory":
        store = MemoryStore()
    else:
        store = SqlStore(request.getfixturevalue("postgres_url"))
    rt = Runtime(store=store)  # type: ignore[arg-type]
    yield rt
    rt.close()
    store.close()  # type: ignore[attr-defined]


def test_enqueue_many_queues_new_keys_and_skips_taken_ones(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:8]
    before = runtime.enqueue("p", {"n": 0}, idempotency_key=f"{tag}:0")
    assert before is not None
    requests = [RunRequest("p", {"n": n}, f"{tag}:{n}") for n in range(5)]
    requests.append(RunRequest("p", {"n": 9}, f"{tag}:3"))  # the same key twice in one batch
    requests.append(RunRequest("p", {"n": 7}))  # no key: always queued
    made = runtime.enqueue_many(requests)
    assert made[0] is None and made[5] is None
    assert all(run_id is not None for run_id in made[1:5]) and made[6] is not None
    again = runtime.enqueue_many(requests)
    assert again[:6] == [None] * 6 and again[6] not in (None, made[6])
    record = runtime.store.get_run(made[3])  # type: ignore[arg-type]
    assert record is not None and (record.status, record.params, record.kind) == ("QUEUED", {"n": 3}, "python")
    assert runtime.store.find_by_key(f"{tag}:3").run_id == made[3]  # type: ignore[union-attr]


def test_enqueue_many_keeps_the_requested_order_for_claims(runtime: Runtime) -> None:
    name = f"ordered-{uuid.uuid4().hex[:8]}"
    made = runtime.enqueue_many([RunRequest(name, {"n": n}, f"{name}:{n}", kind="asl") for n in range(50)])
    claimed = runtime.claim_queued(50, [name])
    assert [r.run_id for r in claimed] == made
    assert {r.kind for r in claimed} == {"asl"}


def test_two_writers_with_the_same_keys_queue_each_run_once(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:8]
    requests = [RunRequest("storm", {"n": n}, f"{tag}:{n}") for n in range(300)]
    results: list[list[str | None]] = []
    barrier = threading.Barrier(2)

    def write() -> None:
        barrier.wait()
        results.append(runtime.enqueue_many(requests))

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 2
    for n in range(300):
        made = [r[n] for r in results if r[n] is not None]
        assert len(made) == 1  # exactly one writer queued slot n, and says so
        assert runtime.store.find_by_key(f"{tag}:{n}").run_id == made[0]  # type: ignore[union-attr]


def test_create_runs_of_nothing_is_nothing(runtime: Runtime) -> None:
    assert runtime.store.create_runs([]) == []
    run_id = "t" + uuid.uuid4().hex[:19]
    assert runtime.store.create_runs([NewRun(run_id, "p", "python", {}, 1.0, status="QUEUED")]) == [True]
