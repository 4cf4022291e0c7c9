# ruff: noqa: F811 - pytest fixtures imported from notify_services are parameters here
"""`/metrics` scraped over HTTP from a running server after runs."""

from __future__ import annotations

import time

import httpx
from notify_services import Receiver, api_server, receiver  # noqa: F401

import lockgate
from lockgate import Retry, pipeline, task
from lockgate.notify.delivery import deliver_due
from lockgate.notify.plugin import notifier_of
from lockgate.runtime import default_runtime
from lockgate.server import metrics


@task
def score(x: int) -> int:
    return x * 2


@task
def boom() -> None:
    raise KeyError("missing column")


tries: list[int] = []


@task(retry=Retry(max_attempts=1, interval=0.01))
def wobbly() -> None:
    tries.append(1)
    if len(tries) % 2 == 1:
        raise ConnectionError("try again")


@pipeline(name="metrics_mapped")
def mapped() -> None:
    score.map([1, 2, 3])
    wobbly()


@pipeline(name="metrics_broken", on_failure=["metrics"])
def broken() -> None:
    boom()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()) and len(s.labels) == len(labels):
                return float(s.value)
    return 0.0


def test_metrics_count_runs_steps_retries_and_queue(
    api_server: str, receiver: Receiver, admin_headers: dict[str, str]
) -> None:
    server = api_server
    runtime = default_runtime()
    topics = notifier_of(runtime).topics
    topics.create("metrics", time.time())
    topics.subscribe("metrics", f"webhook:{receiver.url}", "k", time.time())
    receiver.statuses = [500]
    before = httpx.get(f"{server}/metrics", headers=admin_headers).text
    assert lockgate.run(mapped).status == "SUCCEEDED"
    assert lockgate.run(mapped).status == "SUCCEEDED"
    assert lockgate.run(broken).status == "FAILED"
    runtime.close()  # the delivery process reports its outcome (retrying) back to this process's metrics
    assert [status for _, status in deliver_due(runtime, now=time.time() + 3600)] == ["DELIVERED"]
    runtime.enqueue("metrics_mapped", {})
    metrics.observe_tick_lag(0.25)
    metrics.observe_trigger_latency("s3", 1.5)
    response = httpx.get(f"{server}/metrics", headers=admin_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text

    def delta(name: str, **labels: str) -> float:
        return sample(text, name, **labels) - sample(before, name, **labels)

    assert delta("lockgate_runs_started_total", pipeline="metrics_mapped") == 2
    assert delta("lockgate_runs_finished_total", pipeline="metrics_mapped", status="SUCCEEDED") == 2
    assert delta("lockgate_runs_finished_total", pipeline="metrics_broken", status="FAILED") == 1
    # mapped elements share the step's label: score, never score[1]
    assert delta("lockgate_step_duration_seconds_count", pipeline="metrics_mapped", step="score") == 6
    assert "score[" not in text
    assert delta("lockgate_step_retries_total", pipeline="metrics_mapped", step="wobbly") == 2
    assert delta("lockgate_step_duration_seconds_count", pipeline="metrics_mapped", step="wobbly") == 4
    assert sample(text, "lockgate_queue_depth") == 1
    assert sample(text, "lockgate_scheduler_tick_lag_seconds") == 0.25
    assert delta("lockgate_trigger_latency_seconds_count", trigger="s3") == 1
    assert delta("lockgate_notifications_total", channel="webhook", outcome="retrying") == 1
    assert delta("lockgate_notifications_total", channel="webhook", outcome="delivered") == 1
    conventions = (
        "lockgate_runs_started_total", "lockgate_runs_finished_total", "lockgate_step_duration_seconds",
        "lockgate_step_retries_total", "lockgate_queue_depth", "lockgate_scheduler_tick_lag_seconds",
        "lockgate_trigger_latency_seconds", "lockgate_notifications_total",
    )  # fmt: skip
    for name in conventions:
        assert f"# HELP {name} " in text
