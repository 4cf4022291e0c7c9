"""The triggers' memory in the store, and the one way a trigger queues a run.

Every run a trigger starts is queued with an idempotency key naming its cause (an object
version, a schedule slot, an upstream run, a dataset event), so the store's unique key makes
it happen once, ever, across restarts and across several schedulers. The tables here only
save work: which object versions were already queued, each schedule's last slot, scan cursors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from lockgate.store.base import RunRequest
from lockgate.triggers.files import FileArrival, ObjectSeen
from lockgate.triggers.schema import (
    paused_pipelines,
    pipeline_actions,
    trigger_cursors,
    trigger_objects,
    trigger_schedules,
)

log = logging.getLogger(__name__)

KEY_MAX = 500


def run_key(kind: str, pipeline: str, cause: str) -> str:
    """An idempotency key `kind:pipeline:cause`, shortened with a digest when too long for the column."""
    key = f"{kind}:{pipeline}:{cause}"
    if len(key) <= KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[: KEY_MAX - 66]}~{digest}"


def slot_key(pipeline: str, slot: float) -> str:
    stamp = dt.datetime.fromtimestamp(slot, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return run_key("slot", pipeline, stamp)


def object_key(pipeline: str, obj: ObjectSeen) -> str:
    return run_key("object", pipeline, f"{obj.uri}#{obj.etag}")


def object_actor(obj: ObjectSeen) -> str:
    """Who started a run for an object: `s3:<uri>`, or `file:<path>` for a local file."""
    uri = obj.uri
    if uri.startswith("s3://"):
        return f"s3:{uri}"
    from urllib.parse import unquote

    return f"file:{unquote(uri.removeprefix('file://'))}"


def params_for(pipeline: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The trigger's values the pipeline's function accepts (all of them if it takes **kwargs)."""
    parameters = pipeline.signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(values)
    return {k: v for k, v in values.items() if k in parameters}


def kind_of(pipeline: Any) -> str:
    """The run kind a pipeline's runs have: "python", or "asl" for a served state machine."""
    return str(getattr(pipeline, "kind", "python"))


def trigger_label(trigger: Any) -> str:
    """The `trigger` label of lockgate_trigger_latency_seconds: cron, interval, file, object, manifest, ..."""
    from lockgate.triggers.manifests import Manifest
    from lockgate.triggers.schedule import Cron, Interval
    from lockgate.triggers.upstream import DatasetUpdated, PipelineSucceeded

    if isinstance(trigger, Manifest):
        return "manifest"
    if isinstance(trigger, FileArrival):
        return "object" if trigger.is_s3 else "file"
    if isinstance(trigger, Cron):
        return "cron"
    if isinstance(trigger, Interval):
        return "interval"
    if isinstance(trigger, PipelineSucceeded):
        return "pipeline_succeeded"
    if isinstance(trigger, DatasetUpdated):
        return "dataset"
    return type(trigger).__name__.lower()


def observe_latency(label: str, seconds: float) -> None:
    """Report a trigger's latency (event to queued run) to this process's metrics, if it keeps any."""
    from lockgate.server import metrics

    if metrics.available():
        metrics.observe_trigger_latency(label, max(0.0, seconds))


class Ledger:
    """Trigger state over the runtime's SQL store; safe to share between threads."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.engine: sa.Engine = runtime.store.engine
        self._seen: dict[str, set[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    # -- queueing runs ----------------------------------------------------------------------

    def request(
        self, pipeline: str, params: dict[str, Any], key: str, kind: str = "python", *, created_by: str
    ) -> str | None:
        """Queue a run unless `key` already has one; returns the new run's id or None. `created_by`
        names the trigger (`schedule`, `upstream:<pipeline>`, ...)."""
        run_id: str | None = self.runtime.enqueue(
            pipeline, params, kind=kind, idempotency_key=key, created_by=created_by
        )
        if run_id is not None:
            log.info("queued run %s of %s (%s)", run_id, pipeline, key, extra={"run_id": run_id})
        return run_id

    def request_many(self, requests: Sequence[RunRequest]) -> list[str | None]:
        """Queue many runs in one transaction (a storm, a catch-up); per request the new id or None."""
        made: list[str | None] = self.runtime.enqueue_many(requests)
        for request, run_id in zip(requests, made, strict=True):
            if run_id is not None:
                log.info(
                    "queued run %s of %s (%s)", run_id, request.pipeline, request.idempotency_key,
                    extra={"run_id": run_id},
                )  # fmt: skip
        return made

    def fire_objects(self, pairs: Iterable[tuple[Any, Any, ObjectSeen]]) -> list[str]:
        """Queue one run per (pipeline, trigger, object) not queued before; returns the new run ids."""
        todo: list[tuple[Any, Any, ObjectSeen, set[tuple[str, str]]]] = []
        for pipeline, trigger, obj in pairs:
            seen = self.seen(pipeline.name)
            mark = (obj.uri, obj.etag)
            with self._lock:
                if mark in seen:
                    continue
                seen.add(mark)
            todo.append((pipeline, trigger, obj, seen))
        if not todo:
            return []
        try:
            requests = [
                RunRequest(
                    pipeline.name,
                    params_for(pipeline, {"event": trigger.event(obj)}),
                    object_key(pipeline.name, obj),
                    kind_of(pipeline),
                    created_by=object_actor(obj),
                )
                for pipeline, trigger, obj, _ in todo
            ]
            made = self.request_many(requests)
        except BaseException:
            with self._lock:
                for _, _, obj, seen in todo:
                    seen.discard((obj.uri, obj.etag))  # not queued: let the next scan try again
            raise
        now = self.runtime.clock()
        queued: list[str] = []
        rows = []
        for (pipeline, trigger, obj, _), run_id in zip(todo, made, strict=True):
            if run_id is not None:
                queued.append(run_id)
                observe_latency(trigger_label(trigger), now - obj.time)
            rows.append(
                {
                    "pipeline": pipeline.name,
                    "uri": obj.uri,
                    "etag": obj.etag,
                    "size": obj.size,
                    "seen_at": obj.time,
                    "run_id": run_id,
                }
            )
        self._insert_ignoring_duplicates(trigger_objects, rows)
        return queued

    def seen(self, pipeline: str) -> set[tuple[str, str]]:
        """The object versions already queued for `pipeline` (read from the store once)."""
        with self._lock:
            found = self._seen.get(pipeline)
        if found is not None:
            return found
        query = sa.select(trigger_objects.c.uri, trigger_objects.c.etag).where(trigger_objects.c.pipeline == pipeline)
        with self.engine.begin() as conn:
            loaded = {(row.uri, row.etag) for row in conn.execute(query)}
        with self._lock:
            return self._seen.setdefault(pipeline, loaded)

    def is_seen(self, pipeline: str, uri: str, etag: str) -> bool:
        return (uri, etag) in self.seen(pipeline)

    def _insert_ignoring_duplicates(self, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        dialect = self.engine.dialect.name
        if dialect in ("sqlite", "postgresql"):
            from sqlalchemy.dialects import postgresql, sqlite

            insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
            with self.engine.begin() as conn:
                conn.execute(insert(table).on_conflict_do_nothing(), list(rows))
            return
        for row in rows:
            try:
                with self.engine.begin() as conn:
                    conn.execute(table.insert(), row)
            except sa.exc.IntegrityError:
                pass  # already recorded: the row says what we wanted it to say

    # -- schedules ----------------------------------------------------------------------------

    def schedules(self) -> dict[tuple[str, str], tuple[float, float | None]]:
        """(pipeline, trigger key) -> (registered_at, last_slot)."""
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(trigger_schedules)).all()
        return {(r.pipeline, r.trigger): (r.registered_at, r.last_slot) for r in rows}

    def register_schedules(self, rows: Sequence[tuple[str, str, float]]) -> None:
        self._insert_ignoring_duplicates(
            trigger_schedules,
            [{"pipeline": p, "trigger": t, "registered_at": at, "last_slot": None} for p, t, at in rows],
        )

    def set_last_slots(self, updates: Sequence[tuple[str, str, float]]) -> None:
        """Move schedules' last slots forward (never back: another scheduler may be ahead)."""
        if not updates:
            return
        c = trigger_schedules.c
        statement = (
            sa.update(trigger_schedules)
            .where(c.pipeline == sa.bindparam("p"), c.trigger == sa.bindparam("t"))
            .where(sa.or_(c.last_slot.is_(None), c.last_slot < sa.bindparam("s")))
            .values(last_slot=sa.bindparam("s"))
        )
        with self.engine.begin() as conn:
            conn.execute(statement, [{"p": p, "t": t, "s": s} for p, t, s in updates])

    # -- cursors and pauses ---------------------------------------------------------------------

    def cursor(self, name: str) -> float | None:
        with self.engine.begin() as conn:
            value = conn.execute(sa.select(trigger_cursors.c.value).where(trigger_cursors.c.name == name)).scalar()
        return None if value is None else float(value)

    def set_cursor(self, name: str, value: float) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(trigger_cursors).where(trigger_cursors.c.name == name).values(value=value)
            ).rowcount
        if not done:
            self._insert_ignoring_duplicates(trigger_cursors, [{"name": name, "value": value}])

    def paused(self) -> set[str]:
        with self.engine.begin() as conn:
            return {row.pipeline for row in conn.execute(sa.select(paused_pipelines.c.pipeline))}

    def pause(self, pipeline: str, now: float, by: str | None = None) -> bool:
        """Pause a pipeline, recording who did (`by`, default whoever acts now); False if it already was."""
        if pipeline in self.paused():
            return False
        self._insert_ignoring_duplicates(paused_pipelines, [{"pipeline": pipeline, "paused_at": now}])
        self._record_action(pipeline, "pause", by, now)
        return True

    def unpause(self, pipeline: str, now: float | None = None, by: str | None = None) -> bool:
        """Unpause a pipeline, recording who did; False if it was not paused."""
        with self.engine.begin() as conn:
            done = bool(
                conn.execute(sa.delete(paused_pipelines).where(paused_pipelines.c.pipeline == pipeline)).rowcount
            )
        if done:
            self._record_action(pipeline, "unpause", by, self.runtime.clock() if now is None else now)
        return done

    def _record_action(self, pipeline: str, action: str, by: str | None, now: float) -> None:
        from lockgate.core.history import current_actor

        row = {"pipeline": pipeline, "action": action, "by": by or current_actor(), "at": now}
        with self.engine.begin() as conn:
            conn.execute(pipeline_actions.insert(), row)
        log.info("pipeline %s: %s by %s", pipeline, action, row["by"])

    def actions(
        self, pipelines: Sequence[str] | None = None, per_pipeline: int = 20
    ) -> dict[str, list[dict[str, Any]]]:
        """Each pipeline's latest pause and unpause actions, newest first: action, by, at (ISO 8601)."""
        from lockgate import _json

        query = sa.select(pipeline_actions).order_by(pipeline_actions.c.id.desc())
        if pipelines is not None:
            query = query.where(pipeline_actions.c.pipeline.in_(list(pipelines)))
        out: dict[str, list[dict[str, Any]]] = {}
        with self.engine.begin() as conn:
            for row in conn.execute(query):
                listed = out.setdefault(row.pipeline, [])
                if len(listed) < per_pipeline:
                    listed.append({"action": row.action, "by": row.by, "at": _json.iso(row.at)})
        return out

    def annotate(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add to pipeline rows (`lockgate pipelines --json`, `/api/pipelines`) who paused each
        paused one (`paused_by`, `paused_at`) and its latest pause and unpause `actions`."""
        actions = self.actions([row["name"] for row in rows if row.get("name")])
        for row in rows:
            done = actions.get(row.get("name") or "", [])
            last_pause = next((a for a in done if a["action"] == "pause"), None) if row.get("paused") else None
            row["paused_by"] = last_pause["by"] if last_pause else None
            row["paused_at"] = last_pause["at"] if last_pause else None
            row["actions"] = done
        return rows
