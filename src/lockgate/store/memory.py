"""The RunStore in memory: for tests and for runs nobody needs to keep."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from lockgate.core.history import TERMINAL_RUN, Event
from lockgate.store.base import REOPENABLE, NewRun, RunRecord, RunUpdate


class MemoryStore:
    """Same promises as SqlStore, kept in dictionaries behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunRecord] = {}
        self._events: dict[str, list[Event]] = {}
        self._keys: dict[str, str] = {}  # idempotency key -> run id

    def close(self) -> None:
        pass

    def create_run(self, run: NewRun, batch: Sequence[Event]) -> bool:
        with self._lock:
            return self._create(run, batch)

    def create_runs(self, runs: Sequence[NewRun]) -> list[bool]:
        with self._lock:
            for run in runs:
                if run.run_id in self._runs:
                    raise ValueError(f"run {run.run_id} exists")
            return [self._create(run, ()) for run in runs]

    def _create(self, run: NewRun, batch: Sequence[Event]) -> bool:
        """Insert one run; the caller holds the lock."""
        if run.run_id in self._runs:
            raise ValueError(f"run {run.run_id} exists")
        if run.idempotency_key is not None:
            if run.idempotency_key in self._keys:
                return False
            self._keys[run.idempotency_key] = run.run_id
        self._runs[run.run_id] = RunRecord(
            run_id=run.run_id,
            pipeline=run.pipeline,
            kind=run.kind,
            status=run.status,
            params=copy.deepcopy(run.params),
            output=None,
            error=None,
            cause=None,
            created_at=run.created_at,
            started_at=run.created_at if run.status == "RUNNING" else None,
            ended_at=None,
            owner=run.owner,
            heartbeat_at=run.created_at if run.owner else None,
            idempotency_key=run.idempotency_key,
            parent_run_id=run.parent_run_id,
            created_by=run.created_by,
        )
        self._events[run.run_id] = list(batch)
        return True

    def append(
        self,
        run_id: str,
        batch: Sequence[Event],
        update: RunUpdate | None,
        owner: str,
        now: float,
        also: Callable[[Any], None] | None = None,
    ) -> bool:
        if also is not None:
            raise TypeError("the in-memory store writes no other tables (`also` needs a SQL store)")
        with self._lock:
            record = self._runs.get(run_id)
            if record is None or record.owner != owner or record.status != "RUNNING":
                return False
            changes: dict[str, object] = {"heartbeat_at": now}
            if update is not None:
                if update.status is not None:
                    changes["status"] = update.status
                if update.has_output:
                    changes["output"] = update.output
                if update.error is not None:
                    changes["error"], changes["cause"] = update.error, update.cause
                if update.ended_at is not None:
                    changes["ended_at"] = update.ended_at
            self._runs[run_id] = replace(record, **changes)  # type: ignore[arg-type]
            self._events[run_id].extend(batch)
        return True

    def history(self, run_id: str) -> list[Event]:
        with self._lock:
            return list(self._events.get(run_id, ()))

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            if run_id in self._runs:
                return self._runs[run_id]
            found = [r for key, r in self._runs.items() if len(run_id) >= 4 and key.startswith(run_id)]
            return found[0] if len(found) == 1 else None

    def find_by_key(self, idempotency_key: str) -> RunRecord | None:
        with self._lock:
            run_id = self._keys.get(idempotency_key)
            return self._runs[run_id] if run_id is not None else None

    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = 100,
        before: str | None = None,
        after: str | None = None,
    ) -> list[RunRecord]:
        with self._lock:
            rows = [
                r
                for r in self._runs.values()
                if (pipeline is None or r.pipeline == pipeline) and (status is None or r.status == status)
            ]
            cursor = self._runs.get(before) if before is not None else None
            newer_than = self._runs.get(after) if after is not None else None
        rows.sort(key=lambda r: (r.created_at, r.run_id), reverse=True)
        if before is not None:
            if cursor is None:
                return []
            rows = [r for r in rows if (r.created_at, r.run_id) < (cursor.created_at, cursor.run_id)]
        if after is not None:
            if newer_than is None:
                return []
            rows = [r for r in rows if (r.created_at, r.run_id) > (newer_than.created_at, newer_than.run_id)]
            return rows[-limit:]
        return rows[:limit]

    def claim(self, run_id: str, owner: str, is_stale: Callable[[str | None, float | None], bool], now: float) -> bool:
        with self._lock:
            record = self._runs.get(run_id)
            if record is None or record.status != "RUNNING" or not is_stale(record.owner, record.heartbeat_at):
                return False
            self._runs[run_id] = replace(record, owner=owner, heartbeat_at=now)
        return True

    def abort(self, run_id: str, event: Event) -> bool:
        with self._lock:
            record = self._runs.get(run_id)
            if record is None or record.status in TERMINAL_RUN:
                return False
            cause = event.body().get("cause")
            self._runs[run_id] = replace(
                record, status="ABORTED", ended_at=event.at, error="lockgate.Aborted", cause=cause
            )
            self._events[run_id].append(event)
        return True

    def claim_queued(
        self, owner: str, now: float, limit: int, pipelines: Sequence[str] | None = None
    ) -> list[RunRecord]:
        with self._lock:
            queued = sorted(
                (
                    r
                    for r in self._runs.values()
                    if r.status == "QUEUED" and (pipelines is None or r.pipeline in pipelines)
                ),
                key=lambda r: (r.created_at, r.run_id),
            )[:limit]
            claimed = []
            for record in queued:
                record = replace(
                    record, status="RUNNING", owner=owner, heartbeat_at=now, started_at=record.started_at or now
                )
                self._runs[record.run_id] = record
                claimed.append(record)
        return claimed

    def count_runs(self, status: str) -> int:
        with self._lock:
            return sum(1 for r in self._runs.values() if r.status == status)

    def reopen(
        self,
        run_id: str,
        owner: str | None,
        event: Event,
        now: float,
        *,
        finished: Sequence[str] = REOPENABLE,
        status: str = "RUNNING",
    ) -> bool:
        with self._lock:
            record = self._runs.get(run_id)
            if record is None or record.status not in finished:
                return False
            self._runs[run_id] = replace(
                record,
                status=status,
                ended_at=None,
                error=None,
                cause=None,
                output=None,
                owner=owner if status == "RUNNING" else None,
                heartbeat_at=now if status == "RUNNING" else None,
            )
            self._events[run_id].append(event)
        return True
