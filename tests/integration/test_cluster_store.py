"""The store's side of a worker cluster: conditional claims, outcomes, the sweep, pool slots."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.executors.base import Job
from lockgate.store.attempts import ClusterStore, WorkerRow
from lockgate.store.sql import SqlStore


@pytest.fixture(params=["sqlite", "postgres"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> ClusterStore:
    url = f"sqlite:///{tmp_path / 'lg.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    return ClusterStore(SqlStore(url).engine)


def _job(run_id: str, step: str, attempt: int = 1, pool: str | None = None, priority: int = 0) -> Job:
    return Job(run_id, "p", step, attempt, "m:t", "", [], {}, "", "", pool=pool, priority=priority)


def _worker(name: str, heartbeat: float, pid: int = 1) -> WorkerRow:
    return WorkerRow(name, "elsewhere", pid, ["default"], 4, heartbeat, heartbeat)


def test_an_attempt_is_claimed_once_and_only_its_worker_writes_its_outcome(cluster: ClusterStore, tmp_path) -> None:
    job = _job(f"r-{tmp_path.name}", "a")
    assert cluster.put([job], 1.0) == [job]
    assert cluster.put([job], 2.0) == [job]  # recorded again by a new driver: the row stays as it was
    assert cluster.claim(job, "w1", 3.0)
    assert not cluster.claim(job, "w2", 3.0)  # a duplicate delivery
    assert not cluster.finish(job, "w2", {"step": "a", "attempt": 1}, 4.0)
    assert cluster.finish(job, "w1", {"step": "a", "attempt": 1, "result_json": "1"}, 4.0)
    [row] = cluster.ended(job.run_id)
    assert row.state == "done" and row.outcome["result_json"] == "1"
    cluster.forget(job.run_id, [("a", 1)])
    assert cluster.get(job.run_id, "a", 1) is None


def test_the_sweep_interrupts_the_attempts_of_dead_workers_and_frees_their_slots(
    cluster: ClusterStore, tmp_path
) -> None:
    run = f"r-{tmp_path.name}"
    cluster.set_pool(f"pool-{run}", 1)
    cluster.register(_worker(f"dead-{run}", 10.0))
    cluster.register(_worker(f"live-{run}", 100.0))
    first, second = _job(run, "a", pool=f"pool-{run}"), _job(run, "b", pool=f"pool-{run}", priority=5)
    assert cluster.put([first, second], 1.0) == []  # pooled: they wait for a slot
    released = cluster.release_waiting(2.0)
    assert [j.step for j in released if j.run_id == run] == ["b"]  # one slot, the higher priority
    assert not [j for j in cluster.release_waiting(2.0) if j.run_id == run]  # no slot left
    assert cluster.claim(second, f"dead-{run}", 3.0)
    assert cluster.sweep(lambda w: w.worker == f"dead-{run}") >= 1
    assert cluster.get(run, "b", 1).state == "interrupted"
    assert f"dead-{run}" not in {w.worker for w in cluster.list_workers()}
    assert [j.step for j in cluster.release_waiting(4.0) if j.run_id == run] == ["a"]  # the slot came back
    pool = next(p for p in cluster.list_pools() if p["name"] == f"pool-{run}")
    assert pool == {"name": f"pool-{run}", "slots": 1, "in_use": 1, "waiting": 0}


def test_attempts_of_an_ended_run_are_not_claimed_and_are_swept(cluster: ClusterStore, tmp_path) -> None:
    from lockgate.core import history as h
    from lockgate.store.base import NewRun

    store = SqlStore(str(cluster.engine.url.render_as_string(hide_password=False)))
    run = f"r-{tmp_path.name}"
    assert store.create_run(NewRun(run, "p", "python", {}, 1.0, owner="me"), [])
    running, queued = _job(run, "a"), _job(run, "b")
    cluster.put([running, queued], 1.0)
    cluster.register(_worker(f"w-{run}", 100.0))
    assert cluster.claim(running, f"w-{run}", 2.0)
    assert cluster.ended_runs([run]) == {}
    assert store.abort(run, h.RunAborted(at=3.0, cause="cancelled by user"))
    assert cluster.ended_runs([run, "no-such-run"]) == {run: "ABORTED"}
    assert not cluster.claim(queued, f"w-{run}", 4.0)  # its message arrives after the cancel: dropped
    cluster.sweep(lambda w: False)
    assert cluster.get(run, "b", 1) is None  # what no driver will read is deleted
    assert cluster.get(run, "a", 1) is not None  # a running one stays until its worker stops it
    cluster.close(running)
    assert cluster.get(run, "a", 1) is None


def test_a_dropped_attempt_frees_its_slot_is_missing_for_its_worker_and_cannot_be_claimed(
    cluster: ClusterStore, tmp_path
) -> None:
    run = f"r-{tmp_path.name}"
    cluster.set_pool(f"pool-{run}", 1)
    running, queued = _job(run, "a", pool=f"pool-{run}"), _job(run, "b", pool=f"pool-{run}")
    other = _job(run, "c")
    assert cluster.put([running, queued, other], 1.0) == [other]
    assert [j.step for j in cluster.release_waiting(2.0) if j.run_id == run] == ["a"]
    assert cluster.claim(running, "w1", 3.0) and cluster.claim(other, "w1", 3.0)
    assert cluster.missing([running, other]) == []

    dropped = cluster.drop(run, "a", 1)
    assert dropped is not None and dropped.state == "running"
    assert cluster.missing([running, other]) == [running]  # its worker kills its child
    assert cluster.drop(run, "a", 1) is None
    assert not cluster.finish(running, "w1", {"step": "a", "attempt": 1}, 4.0)  # its outcome goes nowhere
    assert [j.step for j in cluster.release_waiting(4.0) if j.run_id == run] == ["b"]  # the slot came free

    assert cluster.drop(run, "b", 1).state == "dispatched"
    assert not cluster.claim(queued, "w2", 5.0)  # its message, still on its way, runs nothing
