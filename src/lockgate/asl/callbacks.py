"""Answers to `.waitForTaskToken` tasks: SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat.

A Task whose Resource ends in `.waitForTaskToken` is started like any other, but its result is
what someone later sends with its task token (`$$.Task.Token`). In memory the answers go through
a process-wide mailbox (`send_in_process`); for durable runs through the store's
`asl_callbacks` table (`send`), which the process driving the run polls.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from lockgate.core.errors import UsageError

log = logging.getLogger(__name__)

SUCCESS, FAILURE, HEARTBEAT = "success", "failure", "heartbeat"
ACTIVITY_STARTED = "activity_started"  # a worker took an activity task (its name is the output)
MAP_RUN_UPDATE = "update_map_run"  # UpdateMapRun's new settings for a running Map Run, keyed by map_run_key
WAIT_FOR_TOKEN = ".waitForTaskToken"


def map_run_key(map_run_arn: str) -> str:
    """The mailbox key under which a run driving a Map Run hears of UpdateMapRun (short: a digest of the ARN)."""
    import hashlib

    return "mapRun:" + hashlib.sha256(map_run_arn.encode()).hexdigest()[:40]


def update_map_run(engine: Any, run_id: str, map_run_arn: str, settings: dict[str, Any], now: float) -> None:
    """Record UpdateMapRun's settings for the run driving the Map Run (it applies them at its next poll)."""
    from lockgate.asl.schema import asl_callbacks

    with engine.begin() as conn:
        row = {"run_id": run_id, "token": map_run_key(map_run_arn), "kind": MAP_RUN_UPDATE,
               "output": json.dumps(settings), "error": "", "cause": "", "at": now}  # fmt: skip
        conn.execute(asl_callbacks.insert(), row)


@dataclass(frozen=True, slots=True)
class Answer:
    """One callback: `seq` orders them; `kind` is success, failure or heartbeat."""

    seq: int
    token: str
    kind: str
    output: Any = None
    error: str = ""
    cause: str = ""


class Mailbox(Protocol):
    def register(self, token: str, invoke_id: str, now: float) -> None:
        """Remember a token handed out, so answers to it can reach this run."""
        ...

    def poll(self) -> list[Answer]:
        """Answers received since the last poll, oldest first."""
        ...


def _check(kind: str, output: Any, error: str | None) -> None:
    if kind not in (SUCCESS, FAILURE, HEARTBEAT):
        raise UsageError(f"unknown callback kind {kind!r}")
    if kind == SUCCESS:
        try:
            json.dumps(output, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"task output is not JSON: {exc}") from None
    if error is not None and len(error) > 256:
        raise UsageError("error names are at most 256 characters")


class MemoryMailbox:
    """Answers sent in this process (`send_in_process`), for in-memory executions."""

    _lock = threading.Lock()
    _boxes: dict[str, MemoryMailbox] = {}

    def __init__(self) -> None:
        self._answers: list[Answer] = []
        self._seq = 0

    def register(self, token: str, invoke_id: str, now: float) -> None:
        with self._lock:
            self._boxes[token] = self

    def poll(self) -> list[Answer]:
        with self._lock:
            answers, self._answers = self._answers, []
        return answers

    def _put(self, token: str, kind: str, output: Any, error: str, cause: str) -> None:
        self._seq += 1
        self._answers.append(Answer(self._seq, token, kind, output, error, cause))


def send_in_process(token: str, kind: str, output: Any = None, error: str = "", cause: str = "") -> None:
    """Answer a task token of an in-memory execution running in this process."""
    _check(kind, output, error)
    with MemoryMailbox._lock:
        box = MemoryMailbox._boxes.get(token)
        if box is None:
            raise UsageError("TaskDoesNotExist: no running task has this token")
        if kind != HEARTBEAT:
            del MemoryMailbox._boxes[token]
        box._put(token, kind, output, error, cause)


class StoreMailbox:
    """Answers through the store's tables, for durable executions (survives restarts)."""

    def __init__(self, engine: Any, run_id: str, after: int = 0) -> None:
        self.engine, self.run_id, self.after = engine, run_id, after
        self.unreachable = False  # the last poll found the store unreachable

    def register(self, token: str, invoke_id: str, now: float) -> None:
        """Record the token (idempotent); an unreachable store is waited out, so an answer sent
        once it is back finds the token."""
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_task_tokens
        from lockgate.loop import patiently

        def write() -> None:
            with self.engine.begin() as conn:
                found = conn.execute(sa.select(asl_task_tokens.c.token).where(asl_task_tokens.c.token == token))
                if found.first() is None:
                    conn.execute(
                        asl_task_tokens.insert(),
                        {"token": token, "run_id": self.run_id, "invoke_id": invoke_id, "created_at": now},
                    )

        patiently(write, self.run_id, "registering a task token")

    def poll(self) -> list[Answer]:
        """The answers after the last one seen; none while the store is unreachable (the next
        poll asks again, from the same place)."""
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_callbacks as t
        from lockgate.store.sql import describe_unreachable, unreachable

        query = sa.select(t).where(t.c.run_id == self.run_id, t.c.id > self.after).order_by(t.c.id)
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except Exception as exc:
            if not unreachable(exc):
                raise
            if not self.unreachable:
                log.warning(
                    "run %s: the store is unreachable (%s); task token answers are read once it answers",
                    self.run_id,
                    describe_unreachable(exc),
                    extra={"run_id": self.run_id},
                )
            self.unreachable = True
            return []
        self.unreachable = False
        answers = []
        for row in rows:
            self.after = max(self.after, int(row["id"]))
            output = json.loads(row["output"]) if row["output"] is not None else None
            answers.append(
                Answer(int(row["id"]), row["token"], row["kind"], output, row["error"] or "", row["cause"] or "")
            )
        return answers


def send(engine: Any, token: str, kind: str, now: float, output: Any = None, error: str = "", cause: str = "") -> str:
    """Record an answer for a durable execution's task token; returns the run id."""
    import sqlalchemy as sa

    from lockgate.asl.schema import asl_callbacks, asl_task_tokens
    from lockgate.store.schema import runs

    _check(kind, output, error)
    with engine.begin() as conn:
        row = conn.execute(sa.select(asl_task_tokens).where(asl_task_tokens.c.token == token)).mappings().first()
        if row is None:
            raise UsageError("TaskDoesNotExist: no task was given this token")
        status = conn.execute(sa.select(runs.c.status).where(runs.c.run_id == row["run_id"])).scalar()
        if status != "RUNNING":
            raise UsageError(f"TaskTimedOut: run {row['run_id']} is {status}; its tasks take no more answers")
        conn.execute(
            asl_callbacks.insert(),
            {
                "run_id": row["run_id"],
                "token": token,
                "kind": kind,
                "output": json.dumps(output) if kind == SUCCESS else None,
                "error": error,
                "cause": cause,
                "at": now,
            },
        )
    return str(row["run_id"])
