"""Activities: Task states whose work is done by workers polling for it (GetActivityTask).

A Task whose Resource is an activity ARN (`arn:aws:states:REGION:ACCOUNT:activity:NAME`) is
started like a `.waitForTaskToken` task: the driver registers its task token, then `enqueue`
stores the task's input in `asl_activity_tasks`. A worker's `take` claims the oldest waiting
task of the activity (one worker per task, even with many servers) and answers it with
SendTaskSuccess/Failure/Heartbeat on its token, as for any callback; HeartbeatSeconds and
TimeoutSeconds are the machine's, as for callbacks.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ACTIVITY = re.compile(r"arn:aws[a-z-]*:states:[^:]*:[^:]*:activity:(?P<name>[^:]+)")


def awaits_token(resource: object) -> bool:
    """Whether a Task on `resource` waits for its task token: `.waitForTaskToken`, or an activity."""
    return isinstance(resource, str) and (resource.endswith(".waitForTaskToken") or activity_name(resource) is not None)


def activity_name(resource: str) -> str | None:
    """The activity an activity ARN names, else None."""
    match = _ACTIVITY.fullmatch(resource)
    return match.group("name") if match else None


def enqueue(engine: Any, run_id: str, resource: str, payload: Any, token: str, now: float) -> None:
    """Offer one task of the activity to workers (idempotent per token)."""
    import sqlalchemy as sa

    from lockgate.store.schema import asl_activity_tasks as t

    name = activity_name(resource)
    assert name is not None
    with engine.begin() as conn:
        if conn.execute(sa.select(t.c.token).where(t.c.token == token)).first() is None:
            values = {
                "token": token,
                "activity": name,
                "run_id": run_id,
                "input": json.dumps(payload),
                "created_at": now,
            }
            conn.execute(t.insert(), values)


def take(engine: Any, name: str, worker: str, now: float) -> dict[str, str] | None:
    """Claim the oldest waiting task of activity `name` whose execution still runs: {taskToken, input}."""
    import sqlalchemy as sa

    from lockgate.asl.callbacks import ACTIVITY_STARTED
    from lockgate.asl.schema import asl_callbacks
    from lockgate.store.schema import asl_activity_tasks as t
    from lockgate.store.schema import runs

    query = (
        sa.select(t.c.token, t.c.input)
        .join(runs, runs.c.run_id == t.c.run_id)
        .where(t.c.activity == name, t.c.taken_at.is_(None), runs.c.status == "RUNNING")
        .order_by(t.c.created_at)
        .limit(5)
    )
    with engine.begin() as conn:
        for row in conn.execute(query.add_columns(t.c.run_id)).all():
            claimed = conn.execute(
                sa.update(t).where(t.c.token == row.token, t.c.taken_at.is_(None)).values(taken_at=now, worker=worker)
            ).rowcount
            if claimed == 1:  # the run's history shows ActivityStarted with the worker's name
                started = {"run_id": row.run_id, "token": row.token, "kind": ACTIVITY_STARTED,
                           "output": json.dumps(worker), "error": "", "cause": "", "at": now}  # fmt: skip
                conn.execute(asl_callbacks.insert(), started)
                return {"taskToken": row.token, "input": row.input}
    return None


def forget(engine: Any, name: str) -> None:
    """Drop the waiting tasks of a deleted activity."""
    import sqlalchemy as sa

    from lockgate.store.schema import asl_activity_tasks as t

    with engine.begin() as conn:
        conn.execute(sa.delete(t).where(t.c.activity == name, t.c.taken_at.is_(None)))
