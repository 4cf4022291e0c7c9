"""`report_written(uri)`: a step says it wrote a dataset, which starts `DatasetUpdated` triggers."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from lockgate.triggers.schema import dataset_events

log = logging.getLogger(__name__)


def report_written(uri: str) -> None:
    """Record that the current step (or this program) wrote `uri`; pipelines with a matching
    `DatasetUpdated` trigger get a run with `event = {"uri", "run_id", "pipeline", "step", "time"}`.
    """
    from lockgate import attempt
    from lockgate.core.errors import UsageError
    from lockgate.runtime import default_runtime

    if not isinstance(uri, str) or not uri:
        raise UsageError("report_written: the dataset URI must be a non-empty string")
    ctx = attempt.current()
    runtime = default_runtime()
    engine = getattr(runtime.store, "engine", None)
    if engine is None:
        raise UsageError("report_written needs the SQL store (LOCKGATE_DATABASE_URL or the default SQLite file)")
    row = {
        "uri": uri,
        "run_id": ctx.run_id if ctx else None,
        "pipeline": ctx.pipeline if ctx else None,
        "step": ctx.step if ctx else None,
        "at": runtime.clock(),
    }
    with engine.begin() as conn:
        conn.execute(sa.insert(dataset_events), row)
    log.info("dataset %s written", uri, extra={"run_id": row["run_id"], "step": row["step"]})
