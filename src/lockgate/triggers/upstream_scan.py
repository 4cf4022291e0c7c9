"""Following upstream work: scans of succeeded runs and of reported datasets, by persisted cursors.

A cursor is a time; each scan re-reads a lookback window before it, because a run that ended
earlier may commit later. The run keys (`succeeded:<pipeline>:<run id>`, `dataset:<pipeline>:<event id>`)
make re-reading harmless.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.store.schema import runs
from lockgate.triggers.ledger import Ledger, kind_of, observe_latency, params_for, run_key
from lockgate.triggers.schema import dataset_events
from lockgate.triggers.upstream import DatasetUpdated, PipelineSucceeded


class UpstreamScan:
    """Queues runs of pipelines with PipelineSucceeded and DatasetUpdated triggers."""

    def __init__(self, ledger: Ledger, pipelines: list[Any], lookback: float, every: float) -> None:
        self.ledger = ledger
        self.lookback = lookback
        self.every = every
        self.after: dict[str, list[Any]] = {}  # upstream pipeline -> pipelines waiting for it
        self.datasets: list[tuple[Any, DatasetUpdated]] = []
        for pipeline in pipelines:
            for trigger in pipeline.triggers:
                if isinstance(trigger, PipelineSucceeded):
                    self.after.setdefault(trigger.name, []).append(pipeline)
                elif isinstance(trigger, DatasetUpdated):
                    self.datasets.append((pipeline, trigger))
        self._handled: dict[str, float] = {}  # run keys already requested -> when their cause happened
        self._next = 0.0
        self._finished = 0

    def queue(self, now: float, finished: int, paused: set[str]) -> int:
        """Scan if due (every `every` seconds, or at once when runs ended here); returns runs queued."""
        if not (self.after or self.datasets):
            return 0
        if now < self._next and finished == self._finished:
            return 0
        self._finished = finished
        self._next = now + self.every
        queued = 0
        if self.after:
            queued += self._succeeded(now, paused)
        if self.datasets:
            queued += self._written(now, paused)
        horizon = now - 2 * self.lookback
        self._handled = {k: at for k, at in self._handled.items() if at >= horizon}
        return queued

    def _succeeded(self, now: float, paused: set[str]) -> int:
        since = self._cursor("upstream", now)
        query = sa.select(runs.c.run_id, runs.c.pipeline, runs.c.output, runs.c.ended_at).where(
            runs.c.status == "SUCCEEDED",
            runs.c.pipeline.in_(sorted(self.after)),
            runs.c.ended_at >= since - self.lookback,
        )
        with self.ledger.engine.begin() as conn:
            rows = conn.execute(query).all()
        queued = 0
        for row in rows:
            event = {
                "pipeline": row.pipeline,
                "run_id": row.run_id,
                "output": _json.loads(row.output),
                "time": _json.iso(row.ended_at),
            }
            for pipeline in self.after[row.pipeline]:
                key = run_key("succeeded", pipeline.name, row.run_id)
                queued += self._once(
                    pipeline, {"event": event}, key, row.ended_at, paused, now, f"upstream:{row.pipeline}"
                )
        self.ledger.set_cursor("upstream", max([since, *(r.ended_at for r in rows)]))
        return queued

    def _written(self, now: float, paused: set[str]) -> int:
        since = self._cursor("datasets", now)
        query = sa.select(dataset_events).where(dataset_events.c.at >= since - self.lookback)
        with self.ledger.engine.begin() as conn:
            rows = conn.execute(query).all()
        queued = 0
        for row in rows:
            event = {
                "uri": row.uri,
                "run_id": row.run_id,
                "pipeline": row.pipeline,
                "step": row.step,
                "time": _json.iso(row.at),
            }
            for pipeline, trigger in self.datasets:
                if trigger.matches(row.uri):
                    key = run_key("dataset", pipeline.name, str(row.id))
                    queued += self._once(pipeline, {"event": event}, key, row.at, paused, now, f"upstream:{row.uri}")
        self.ledger.set_cursor("datasets", max([since, *(r.at for r in rows)]))
        return queued

    def _cursor(self, name: str, now: float) -> float:
        value = self.ledger.cursor(name)
        if value is None:  # first start: what happened before the scheduler existed does not count
            self.ledger.set_cursor(name, now)
            return now
        return value

    def _once(
        self, pipeline: Any, values: dict[str, Any], key: str, at: float, paused: set[str], now: float, by: str
    ) -> int:
        if key in self._handled or pipeline.name in paused:
            return 0
        run_id = self.ledger.request(pipeline.name, params_for(pipeline, values), key, kind_of(pipeline), created_by=by)
        self._handled[key] = at
        if run_id:
            observe_latency("pipeline_succeeded" if key.startswith("succeeded:") else "dataset", now - at)
        return 1 if run_id else 0
