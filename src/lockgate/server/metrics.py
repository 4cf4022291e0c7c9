"""Prometheus metrics on `/metrics`, in a private registry, fed by a run observer.

The names are the project's conventions (docs/notifications.md lists them). Counters live in
the process that ran the runs, so `/metrics` of `lockgate serve` shows the runs it drove;
`lockgate_queue_depth` is read from the store at each scrape. Other areas report through
`observe_tick_lag` and `observe_trigger_latency`.

Nothing is counted until the process serves `/metrics` (`router` calls `enable`): a one-shot
`lockgate run` or a worker would pay for importing prometheus-client (about 50 ms) to keep
counters nobody can read.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from lockgate.core import history as h
from lockgate.core.engine import RunState

_MAPPED = re.compile(r"\[\d+\]$")
_lock = threading.Lock()
_metrics: _Metrics | None = None
_enabled = False


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs_started = Counter("lockgate_runs_started_total", "Runs started.", ["pipeline"], registry=r)
        self.runs_finished = Counter(
            "lockgate_runs_finished_total", "Runs finished, by final status.", ["pipeline", "status"], registry=r
        )
        self.step_duration = Histogram(
            "lockgate_step_duration_seconds",
            "Duration of step attempts (mapped elements share their step's label).",
            ["pipeline", "step"],
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, float("inf")),
            registry=r,
        )
        self.step_retries = Counter(
            "lockgate_step_retries_total", "Retries scheduled.", ["pipeline", "step"], registry=r
        )
        self.queue_depth = Gauge("lockgate_queue_depth", "Runs waiting in the queue (QUEUED).", registry=r)
        self.tick_lag = Gauge(
            "lockgate_scheduler_tick_lag_seconds", "How late the scheduler's last tick ran.", registry=r
        )
        self.trigger_latency = Histogram(
            "lockgate_trigger_latency_seconds",
            "From an event (a file, an object, a schedule slot) to its run request.",
            ["trigger"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, float("inf")),
            registry=r,
        )
        self.notifications = Counter(
            "lockgate_notifications_total",
            "Notification delivery attempts, by outcome.",
            ["channel", "outcome"],
            registry=r,
        )
        # start time of each running attempt: (run id, step, attempt) -> at
        self.started: dict[tuple[str, str, int], float] = {}


def available() -> bool:
    """Whether prometheus-client is installed (the `server` extra); without it nothing is counted."""
    import importlib.util

    return importlib.util.find_spec("prometheus_client") is not None


def enable() -> None:
    """Count from now on: this process serves `/metrics`."""
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


def metrics() -> _Metrics:
    """This process's metrics, made on first use."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


def step_label(step: str) -> str:
    """A step's metric label: a mapped element `score[17]` counts as `score`."""
    return _MAPPED.sub("", step)


def observe(state: RunState, batch: list[h.Event]) -> None:
    """The run observer: counts runs, retries and step durations of a committed batch."""
    if not _enabled:
        return
    m = metrics()
    pipeline = state.pipeline
    for event in batch:
        kind = type(event)
        if kind is h.StepStarted:
            m.started[(state.run_id, event.step, event.attempt)] = event.at  # type: ignore[attr-defined]
        elif kind is h.StepSucceeded or kind is h.StepFailed:
            began = m.started.pop((state.run_id, event.step, event.attempt), None)  # type: ignore[attr-defined]
            if began is not None:
                m.step_duration.labels(pipeline, step_label(event.step)).observe(max(0.0, event.at - began))  # type: ignore[attr-defined]
        elif kind is h.RetryScheduled:
            m.step_retries.labels(pipeline, step_label(event.step)).inc()  # type: ignore[attr-defined]
        elif kind is h.RunStarted:
            m.runs_started.labels(pipeline).inc()
        elif kind in (h.RunSucceeded, h.RunFailed, h.RunTimedOut, h.RunAborted):
            m.runs_finished.labels(pipeline, state.status).inc()
    if state.status != "RUNNING" and m.started:
        for key in [k for k in m.started if k[0] == state.run_id]:
            del m.started[key]


def observe_tick_lag(seconds: float) -> None:
    """The scheduler reports how late its last tick ran."""
    if _enabled:
        metrics().tick_lag.set(seconds)


def observe_trigger_latency(trigger: str, seconds: float) -> None:
    """A trigger reports the time from its event to the run request it made."""
    if _enabled:
        metrics().trigger_latency.labels(trigger).observe(seconds)


def observe_queue_depth(queued: int) -> None:
    """The scheduler reports how many runs are QUEUED (a scrape also reads it from the store)."""
    if _enabled:
        metrics().queue_depth.set(queued)


def count_notification(channel: str, outcome: str) -> None:
    """One delivery attempt: outcome `delivered`, `retrying` or `failed`."""
    if _enabled and available():
        metrics().notifications.labels(channel, outcome).inc()


def exposition(store: Any = None) -> tuple[bytes, str]:
    """The metrics in Prometheus text format, with the queue depth read from `store` now."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    m = metrics()
    if store is not None:
        m.queue_depth.set(store.count_runs("QUEUED"))
    return generate_latest(m.registry), CONTENT_TYPE_LATEST


def router(runtime: Any) -> Any:
    from fastapi import APIRouter, Response

    enable()
    api = APIRouter(tags=["metrics"])

    @api.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        body, content_type = exposition(runtime.store)
        return Response(content=body, media_type=content_type)

    return api
