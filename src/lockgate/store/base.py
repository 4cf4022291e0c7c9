"""What the engine needs from a metadata store, and the run record it reads back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lockgate.core.history import Event

REOPENABLE = ("FAILED", "TIMED_OUT", "ABORTED")  # what `lockgate retry` takes; clear and mark take SUCCEEDED too


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run's row: its cached status and summary, derived from its history."""

    run_id: str
    pipeline: str
    kind: str
    status: str
    params: dict[str, Any]
    output: Any
    error: str | None
    cause: str | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    owner: str | None
    heartbeat_at: float | None
    idempotency_key: str | None = None
    parent_run_id: str | None = None
    created_by: str | None = None  # a token's name, `cli:<user>`, or the trigger that queued it


@dataclass(frozen=True, slots=True)
class RunUpdate:
    """Summary columns to change together with appended events."""

    status: str | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    ended_at: float | None = None
    has_output: bool = False


@dataclass(frozen=True, slots=True)
class NewRun:
    run_id: str
    pipeline: str
    kind: str
    params: dict[str, Any]
    created_at: float
    status: str = "RUNNING"
    owner: str | None = None
    idempotency_key: str | None = None
    parent_run_id: str | None = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A run to queue with `Runtime.enqueue_many`."""

    pipeline: str
    params: dict[str, Any]
    idempotency_key: str | None = None
    kind: str = "python"
    parent_run_id: str | None = None
    created_by: str | None = None  # None: whoever acts now (lockgate.core.history.current_actor)


class RunStore(Protocol):
    """Runs and their histories. Every write is one transaction."""

    def create_run(self, run: NewRun, events: Sequence[Event]) -> bool:
        """Insert a run with its first events; False if its idempotency key already has a run."""
        ...

    def create_runs(self, runs: Sequence[NewRun]) -> list[bool]:
        """Insert many runs without events in one transaction; per run, False when its idempotency
        key already had a run (or an earlier run of the same batch took it)."""
        ...

    def append(
        self,
        run_id: str,
        events: Sequence[Event],
        update: RunUpdate | None,
        owner: str,
        now: float,
        also: Callable[[Any], None] | None = None,
    ) -> bool:
        """Append events and refresh the run's heartbeat, only while `owner` holds the running run.

        Returns False, writing nothing, when the run was taken over, aborted or finished elsewhere.
        `also` (SQL stores only) writes more in the same transaction, given its connection: the
        celery executor records the attempts a batch starts with the batch itself.
        """
        ...

    def history(self, run_id: str) -> list[Event]: ...

    def get_run(self, run_id: str) -> RunRecord | None:
        """A run by id, or by a unique id prefix."""
        ...

    def find_by_key(self, idempotency_key: str) -> RunRecord | None: ...

    def list_runs(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = 100,
        before: str | None = None,
        after: str | None = None,
    ) -> list[RunRecord]:
        """Newest first; `before` (a run id): the `limit` runs created just before that one (the
        next page), `after`: the `limit` created just after it (the page before), still newest first."""
        ...

    def claim(self, run_id: str, owner: str, is_stale: Any, now: float) -> bool:
        """Take ownership of a run whose owner `is_stale(owner, heartbeat_at)` says is gone."""
        ...

    def abort(self, run_id: str, event: Event) -> bool:
        """Append a RunAborted event to a run that has not finished; False if it had."""
        ...

    def claim_queued(
        self, owner: str, now: float, limit: int, pipelines: Sequence[str] | None = None
    ) -> list[RunRecord]:
        """Move up to `limit` QUEUED runs, oldest first, to RUNNING under `owner`.

        Safe with several claimers: on PostgreSQL by SKIP LOCKED, on SQLite by the write lock.
        """
        ...

    def count_runs(self, status: str) -> int: ...

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
        """Set a run that ended with one of `finished` statuses going again, appending `event`:
        RUNNING under `owner`, or QUEUED with no owner (a service claims it and carries it on)."""
        ...
