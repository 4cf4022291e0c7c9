"""The engine as a pure function: scripted outcomes, a fake clock, no store and no threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lockgate import Retry, pipeline, task
from lockgate.core import engine
from lockgate.core import history as h
from lockgate.core.errors import ErrorInfo
from lockgate.core.model import Workflow


@task
def extract(day: str) -> list[int]:
    return [1, 2, 3]


@task
def score(row: int) -> int:
    return row * 10


@task
def load(rows: list[int]) -> int:
    return sum(rows)


@task(retry=Retry(max_attempts=4, interval=10, backoff_rate=1.5, max_delay=60))
def flaky() -> str:
    return "ok"


@task(trigger_rule="one_failed")
def alert() -> str:
    return "sent"


@task(trigger_rule="all_done")
def cleanup() -> str:
    return "clean"


def compile_(fn: Callable[..., Any], **params: Any) -> Workflow:
    p = pipeline(fn)
    return p.compile(p.bind(params))


class Driver:
    """Feeds the engine and records its history, as the runtime does, minus I/O."""

    def __init__(self, workflow: Workflow, capacity: int = 8) -> None:
        self.now = 1000.0
        self.capacity = capacity
        first = engine.start("run1", workflow, {}, self.now)
        self.history: list[h.Event] = [first]
        self.state = engine.replay([first])
        self.feed(engine.Tick())

    def feed(self, signal: engine.Signal) -> list[h.Event]:
        events = engine.decide(self.state, signal, self.now, lambda: 0.5, self.capacity)
        self.history += events
        return events

    def running(self) -> list[str]:
        return sorted(self.state.running)

    def succeed(self, step: str, result: Any = None) -> list[h.Event]:
        return self.feed(engine.AttemptSucceeded(step, self.state.steps[step].attempt, result))

    def fail(self, step: str, name: str = "ValueError", retryable: bool = True) -> list[h.Event]:
        error = ErrorInfo(name=name, cause="boom", retryable=retryable)
        return self.feed(engine.AttemptFailed(step, self.state.steps[step].attempt, error))

    def advance(self, seconds: float) -> list[h.Event]:
        self.now += seconds
        return self.feed(engine.Tick())

    def status(self, name: str) -> str:
        return self.state.steps[name].status

    def types(self) -> list[str]:
        return [e.type for e in self.history]


def test_a_chain_runs_in_order_and_its_output_is_the_return_value() -> None:
    d = Driver(compile_(lambda: load(score.map(extract("2026-11-25")))))
    assert d.running() == ["extract"]
    d.succeed("extract", [1, 2, 3])
    assert d.running() == ["score[0]", "score[1]", "score[2]"]
    for i in range(3):
        d.succeed(f"score[{i}]", i * 10)
    assert d.running() == ["load"]
    d.succeed("load", 30)
    assert d.state.status == "SUCCEEDED" and d.state.output == 30
    assert d.state.steps["score"].result == [0, 10, 20]


def test_step_input_resolves_references_and_map_items() -> None:
    d = Driver(compile_(lambda: load(score.map(extract("2026-11-25")))))
    assert d.state.step_input("extract") == (["2026-11-25"], {})
    d.succeed("extract", [7, 8])
    assert d.state.step_input("score[1]") == ([8], {})


def test_retries_wait_10_then_15_then_22_5_seconds() -> None:
    d = Driver(compile_(lambda: flaky()))
    waits = []
    for _ in range(3):
        events = d.fail("flaky")
        retry = next(e for e in events if isinstance(e, h.RetryScheduled))
        waits.append(retry.wait)
        assert d.status("flaky") == "RETRYING"
        assert d.state.next_wakeup() == d.now + retry.wait
        d.advance(retry.wait - 0.001)
        assert d.status("flaky") == "RETRYING"
        d.advance(0.001)
        assert d.status("flaky") == "RUNNING"
    assert waits == [10, 15, 22.5]
    d.succeed("flaky", "ok")
    assert d.state.status == "SUCCEEDED"
    assert d.state.steps["flaky"].attempt == 4


def test_retries_end_after_max_attempts() -> None:
    d = Driver(compile_(lambda: flaky()))
    for _ in range(4):
        d.fail("flaky")
        d.advance(60)
    d.fail("flaky")
    assert d.status("flaky") == "FAILED"
    assert d.state.status == "FAILED" and d.state.error == "ValueError"
    assert d.state.steps["flaky"].attempt == 5


def test_hard_failures_are_not_retried_by_default() -> None:
    d = Driver(compile_(lambda: flaky()))
    d.fail("flaky", "lockgate.DataQuality", retryable=False)
    assert d.state.status == "FAILED"
    assert "RetryScheduled" not in d.types()


def test_a_failure_skips_all_success_downstream_and_runs_one_failed() -> None:
    def flow() -> Any:
        rows = extract("d")
        total = load(rows)
        alert() << rows
        cleanup() << total
        return total

    d = Driver(compile_(flow))
    d.fail("extract", retryable=False)
    assert d.status("load") == "SKIPPED"
    assert d.running() == ["alert", "cleanup"]  # all_done counts a skipped upstream as done
    d.succeed("alert", "sent")
    d.succeed("cleanup", "clean")
    assert d.state.status == "FAILED"
    assert "StepSkipped" in d.types()


def test_one_failed_is_skipped_when_nothing_fails() -> None:
    def flow() -> Any:
        rows = extract("d")
        rows >> alert()
        return rows

    d = Driver(compile_(flow))
    d.succeed("extract", [1])
    assert d.status("alert") == "SKIPPED"
    assert d.state.status == "SUCCEEDED"


@pytest.mark.parametrize(
    ("rule", "outcomes", "expected"),
    [
        ("all_success", ["ok", "ok"], "RUNNING"),
        ("all_success", ["ok", "fail"], "SKIPPED"),
        ("all_done", ["fail", "fail"], "RUNNING"),
        ("none_failed", ["ok", "ok"], "RUNNING"),
        ("none_failed", ["ok", "fail"], "SKIPPED"),
        ("one_success", ["fail", "ok"], "RUNNING"),
        ("one_success", ["fail", "fail"], "SKIPPED"),
        ("one_failed", ["ok", "fail"], "RUNNING"),
        ("one_failed", ["ok", "ok"], "SKIPPED"),
    ],
)
def test_trigger_rules(rule: str, outcomes: list[str], expected: str) -> None:
    @task(name="a")
    def a() -> int:
        return 1

    @task(name="b")
    def b() -> int:
        return 2

    @task(name="c", trigger_rule=rule)
    def c() -> int:
        return 3

    def flow() -> Any:
        return [a(), b()] >> c()

    d = Driver(compile_(flow))
    for name, outcome in zip(["a", "b"], outcomes, strict=True):
        if outcome == "ok":
            d.succeed(name, 1)
        else:
            d.fail(name, retryable=False)
    assert d.status("c") == expected


def test_one_failed_fires_as_soon_as_one_upstream_fails() -> None:
    @task(name="x")
    def x() -> int:
        return 1

    @task(name="y")
    def y() -> int:
        return 1

    def flow() -> Any:
        return [x(), y()] >> alert()

    d = Driver(compile_(flow))
    d.fail("x", retryable=False)
    assert d.status("alert") == "RUNNING" and d.status("y") == "RUNNING"


def test_map_concurrency_limits_running_elements() -> None:
    d = Driver(compile_(lambda: score.map(extract("d"), max_concurrency=2)))
    d.succeed("extract", [1, 2, 3, 4, 5])
    assert d.running() == ["score[0]", "score[1]"]
    d.succeed("score[0]", 10)
    assert d.running() == ["score[1]", "score[2]"]


def test_capacity_limits_running_steps() -> None:
    d = Driver(compile_(lambda: score.map(extract("d"))), capacity=3)
    d.succeed("extract", list(range(10)))
    assert len(d.running()) == 3


def test_mapping_over_nothing_succeeds_with_an_empty_list() -> None:
    d = Driver(compile_(lambda: load(score.map(extract("d")))))
    d.succeed("extract", [])
    assert d.status("score") == "SUCCEEDED" and d.state.steps["score"].result == []
    assert d.running() == ["load"]


def test_mapping_over_a_non_list_fails_the_step_clearly() -> None:
    d = Driver(compile_(lambda: score.map(extract("d"))))
    d.succeed("extract", {"not": "a list"})
    assert d.status("score") == "FAILED"
    assert "maps over a dict, not a list" in d.state.cause


def test_a_failed_element_fails_the_mapped_step_after_the_others_finish() -> None:
    d = Driver(compile_(lambda: load(score.map(extract("d")))))
    d.succeed("extract", [1, 2])
    d.fail("score[0]", retryable=False)
    assert d.status("score") == "RUNNING"
    d.succeed("score[1]", 20)
    assert d.status("score") == "FAILED" and d.status("load") == "SKIPPED"
    assert d.state.status == "FAILED"


def test_step_timeout_fails_the_attempt_with_states_timeout() -> None:
    @task(name="slow", timeout=30)
    def slow() -> int:
        return 1

    d = Driver(compile_(lambda: slow()))
    d.advance(29)
    assert d.status("slow") == "RUNNING"
    d.advance(1)
    assert d.status("slow") == "FAILED" and d.state.error == "States.Timeout"
    d.succeed("slow", 1)  # a late outcome of the abandoned attempt changes nothing
    assert d.state.status == "FAILED"


def test_run_timeout_times_the_run_out_and_aborts_running_steps() -> None:
    p = pipeline(timeout=60)(lambda: extract("d"))
    d = Driver(p.compile({}))
    d.advance(60)
    assert d.state.status == "TIMED_OUT" and d.status("extract") == "ABORTED"


def test_resume_interrupts_running_steps_without_spending_retries() -> None:
    d = Driver(compile_(lambda: flaky()))
    d.feed(engine.Resume("me"))
    step = d.state.steps["flaky"]
    assert step.status == "RUNNING" and step.attempt == 2 and step.interruptions == 1
    assert step.retries == [0]


def test_a_step_interrupted_three_times_fails() -> None:
    d = Driver(compile_(lambda: flaky()))
    for _ in range(3):
        d.feed(engine.Resume("me"))
    assert d.status("flaky") == "FAILED"
    assert d.state.error == "lockgate.Interrupted"


def test_replaying_the_history_rebuilds_the_same_state() -> None:
    d = Driver(compile_(lambda: load(score.map(extract("d")))), capacity=2)
    d.succeed("extract", [1, 2, 3])
    d.fail("score[1]", retryable=False)
    d.succeed("score[0]", 10)
    replayed = engine.replay(d.history)
    for name, step in d.state.steps.items():
        other = replayed.steps[name]
        assert (other.status, other.attempt, other.result) == (step.status, step.attempt, step.result), name
    assert replayed.running == d.state.running
    assert list(replayed.ready) == list(d.state.ready)


def test_redrive_reruns_failed_steps_and_keeps_successes() -> None:
    d = Driver(compile_(lambda: load(score.map(extract("d")))))
    d.succeed("extract", [1, 2])
    d.succeed("score[0]", 10)
    d.fail("score[1]", retryable=False)
    assert d.state.status == "FAILED"
    d.history.append(h.RunRedriven(at=d.now))
    engine.apply(d.state, d.history[-1])
    d.feed(engine.Tick())
    assert d.running() == ["score[1]"] and d.state.steps["score[1]"].attempt == 2
    d.succeed("score[1]", 20)
    d.succeed("load", 30)
    assert d.state.status == "SUCCEEDED"
    assert d.state.steps["extract"].attempt == 1 and d.state.steps["score[0]"].attempt == 1


def test_a_pipeline_with_no_steps_succeeds_at_once() -> None:
    d = Driver(compile_(lambda: {"nothing": 1}))
    assert d.state.status == "SUCCEEDED" and d.state.output == {"nothing": 1}
