"""The same store suite on SQLite and on the local PostgreSQL, schema made by the migrations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate.core import history as h
from lockgate.store import NewRun, RunUpdate
from lockgate.store.memory import MemoryStore
from lockgate.store.sql import SqlStore, head_revision


@pytest.fixture(params=["sqlite", "postgres", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "sqlite":
        s: object = SqlStore(f"sqlite:///{tmp_path / 'lockgate.db'}")
    elif request.param == "memory":
        s = MemoryStore()
    else:
        url = request.getfixturevalue("postgres_url")
        s = SqlStore(url)
    yield s
    s.close()  # type: ignore[attr-defined]


def _id() -> str:
    return "t" + uuid.uuid4().hex[:19]


def _new(run_id: str, key: str | None = None, status: str = "RUNNING", owner: str | None = "me") -> NewRun:
    return NewRun(
        run_id, "feedback", "python", {"day": "2026-11-25"}, 100.0, status=status, owner=owner, idempotency_key=key
    )


def _started(run_id: str) -> h.RunStarted:
    return h.RunStarted(at=100.0, run_id=run_id, pipeline="feedback", params={}, workflow={"steps": []})


def test_a_run_and_its_history_round_trip(store) -> None:
    run_id = _id()
    assert store.create_run(_new(run_id), [_started(run_id)])
    assert store.append(run_id, [h.StepStarted(at=101.0, step="a", attempt=1)], None, "me", 101.0)
    result = {"rows": [1, 2], "name": "ü"}
    assert store.append(run_id, [h.StepSucceeded(at=102.0, step="a", attempt=1, result=result)], None, "me", 102.0)
    events = store.history(run_id)
    assert [e.type for e in events] == ["RunStarted", "StepStarted", "StepSucceeded"]
    assert events[2] == h.StepSucceeded(at=102.0, step="a", attempt=1, result=result)
    record = store.get_run(run_id)
    assert record.status == "RUNNING" and record.params == {"day": "2026-11-25"} and record.heartbeat_at == 102.0


def test_only_the_owner_of_a_running_run_may_append(store) -> None:
    run_id = _id()
    store.create_run(_new(run_id), [_started(run_id)])
    assert not store.append(run_id, [h.StepStarted(at=1.0, step="a", attempt=1)], None, "intruder", 1.0)
    assert len(store.history(run_id)) == 1


def test_final_update_sets_the_summary_and_closes_the_run(store) -> None:
    run_id = _id()
    store.create_run(_new(run_id), [_started(run_id)])
    update = RunUpdate(status="SUCCEEDED", output={"n": 3}, has_output=True, ended_at=110.0)
    assert store.append(run_id, [h.RunSucceeded(at=110.0, output={"n": 3})], update, "me", 110.0)
    record = store.get_run(run_id)
    assert (record.status, record.output, record.ended_at) == ("SUCCEEDED", {"n": 3}, 110.0)
    assert not store.append(run_id, [], None, "me", 111.0)


def test_an_idempotency_key_admits_one_run_ever(store) -> None:
    key = f"s3://bucket/a.csv#{uuid.uuid4().hex}"
    first, second = _id(), _id()
    assert store.create_run(_new(first, key), [_started(first)])
    assert not store.create_run(_new(second, key), [_started(second)])
    assert store.find_by_key(key).run_id == first
    assert store.get_run(second) is None


def test_abort_ends_an_unfinished_run_only(store) -> None:
    run_id = _id()
    store.create_run(_new(run_id), [_started(run_id)])
    assert store.abort(run_id, h.RunAborted(at=120.0, cause="cancelled by user"))
    record = store.get_run(run_id)
    assert record.status == "ABORTED" and record.cause == "cancelled by user"
    assert not store.abort(run_id, h.RunAborted(at=121.0, cause="again"))
    assert store.history(run_id)[-1].type == "RunAborted"


def test_claim_takes_a_run_only_from_a_stale_owner(store) -> None:
    run_id = _id()
    store.create_run(_new(run_id, owner="old"), [_started(run_id)])
    assert not store.claim(run_id, "new", lambda owner, beat: False, 200.0)
    assert store.claim(run_id, "new", lambda owner, beat: owner == "old", 200.0)
    assert store.get_run(run_id).owner == "new"
    assert store.append(run_id, [], None, "new", 201.0)
    assert not store.append(run_id, [], None, "old", 201.0)


def test_queued_runs_are_claimed_oldest_first_and_once(store) -> None:
    pipeline = f"p{uuid.uuid4().hex[:8]}"
    ids = []
    for i in range(5):
        run_id = _id()
        ids.append(run_id)
        store.create_run(NewRun(run_id, pipeline, "python", {}, 100.0 + i, status="QUEUED"), [])
    first = store.claim_queued("w1", 300.0, 3, [pipeline])
    second = store.claim_queued("w2", 300.0, 3, [pipeline])
    assert [r.run_id for r in first] == ids[:3] and [r.run_id for r in second] == ids[3:]
    assert {r.status for r in first + second} == {"RUNNING"}
    assert store.claim_queued("w3", 300.0, 3, [pipeline]) == []


def test_runs_list_newest_first_with_filters(store) -> None:
    pipeline = f"p{uuid.uuid4().hex[:8]}"
    ids = []
    for i in range(3):
        run_id = _id()
        ids.append(run_id)
        store.create_run(NewRun(run_id, pipeline, "python", {}, 100.0 + i, owner="me"), [])
    store.abort(ids[1], h.RunAborted(at=1.0, cause="x"))
    assert [r.run_id for r in store.list_runs(pipeline=pipeline)] == ids[::-1]
    assert [r.run_id for r in store.list_runs(pipeline=pipeline, status="ABORTED")] == [ids[1]]
    assert len(store.list_runs(pipeline=pipeline, limit=2)) == 2
    page = store.list_runs(pipeline=pipeline, limit=2)
    rest = store.list_runs(pipeline=pipeline, limit=2, before=page[-1].run_id)
    assert [r.run_id for r in page + rest] == ids[::-1]  # pages follow on, none twice
    assert store.list_runs(pipeline=pipeline, before="no-such-run") == []
    back = store.list_runs(pipeline=pipeline, limit=1, after=rest[0].run_id)  # the page before, newest first
    assert [r.run_id for r in back] == [ids[1]]
    assert [r.run_id for r in store.list_runs(pipeline=pipeline, limit=5, after=ids[0])] == ids[:0:-1]
    assert store.list_runs(pipeline=pipeline, after=ids[2]) == []
    assert store.list_runs(pipeline=pipeline, after="no-such-run") == []


def test_reopen_queues_a_succeeded_run_for_a_service_and_keeps_its_start(store) -> None:
    run_id, pipeline = _id(), f"p{uuid.uuid4().hex[:8]}"
    store.create_run(NewRun(run_id, pipeline, "python", {}, 100.0, owner="me"), [_started(run_id)])
    assert store.append(run_id, [], RunUpdate(status="SUCCEEDED", ended_at=150.0, has_output=True, output=1), "me", 150)
    cleared = h.StepsCleared(at=200.0, steps=["a"], actor="ana")
    assert not store.reopen(run_id, None, cleared, 200.0, status="QUEUED")  # retry's statuses: not a success
    assert store.reopen(run_id, None, cleared, 200.0, finished=["SUCCEEDED"], status="QUEUED")
    record = store.get_run(run_id)
    assert (record.status, record.owner, record.ended_at, record.output) == ("QUEUED", None, None, None)
    (claimed,) = store.claim_queued("w", 300.0, 5, [pipeline])
    assert claimed.started_at == 100.0 and store.history(run_id)[-1] == cleared


def test_a_unique_prefix_finds_a_run(store) -> None:
    run_id = _id()
    store.create_run(_new(run_id), [])
    assert store.get_run(run_id[:12]).run_id == run_id


def test_migrations_create_the_schema_at_the_head_revision(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'm.db'}")
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        tables = set(sa.inspect(conn).get_table_names())
    assert {"runs", "events"} <= tables
    store.close()
    SqlStore(f"sqlite:///{tmp_path / 'm.db'}").close()  # opening again is a no-op


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'w.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()
