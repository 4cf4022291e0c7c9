"""A clear or a mark applied while the run is running: attempts in flight are left behind, and
what still waits to start (queued elements, retries) is not lost."""

from __future__ import annotations

from typing import Any

from lockgate import pipeline, task
from lockgate.core import engine
from lockgate.core import history as h


@task
def numbers() -> list:
    return [1, 2, 3]


@task
def square(n: int) -> int:
    return n * n


@task
def side() -> int:
    return 0


@task
def total(values: list, other: int) -> int:
    return sum(values) + other


@pipeline
def mapped():
    return total(square.map(numbers(), max_concurrency=1), side())


def started(events: list[h.Event]) -> list[tuple[str, int]]:
    return [(e.step, e.attempt) for e in events if isinstance(e, h.StepStarted)]


def run_until_square_runs() -> tuple[Any, list[h.Event]]:
    first = engine.start("r", mapped.compile({}), {}, 0.0)
    state = engine.replay([first])
    history = [first, *engine.decide(state, engine.Tick(), 1.0, lambda: 0.5, 8)]
    history += engine.decide(state, engine.AttemptSucceeded("numbers", 1, [1, 2, 3]), 2.0, lambda: 0.5, 8)
    assert state.steps["square[0]"].status == "RUNNING" and state.steps["square"].queue == [1, 2]
    return state, history


def test_a_clear_elsewhere_keeps_a_mapped_steps_queued_elements_going() -> None:
    state, history = run_until_square_runs()
    history += engine.decide(state, engine.AttemptSucceeded("side", 1, 0), 3.0, lambda: 0.5, 8)
    cleared = h.StepsCleared(at=4.0, steps=["side"], actor="ana", request="r1")
    engine.apply(state, cleared)
    history += [cleared, *engine.decide(state, engine.Tick(), 4.0, lambda: 0.5, 8)]
    assert ("side", 2) in started(history)
    for i, at in ((0, 5.0), (1, 6.0), (2, 7.0)):
        history += engine.decide(state, engine.AttemptSucceeded(f"square[{i}]", 1, (i + 1) ** 2), at, lambda: 0.5, 8)
    history += engine.decide(state, engine.AttemptSucceeded("side", 2, 0), 8.0, lambda: 0.5, 8)
    history += engine.decide(state, engine.AttemptSucceeded("total", 1, 14), 9.0, lambda: 0.5, 8)
    assert state.status == "SUCCEEDED"
    assert engine.replay(history).status == "SUCCEEDED"


def test_clearing_a_running_mapped_step_leaves_its_elements_behind() -> None:
    state, history = run_until_square_runs()
    cleared = h.StepsCleared(at=3.0, steps=["square"], actor="ana", request="r1")
    engine.apply(state, cleared)
    history += [cleared, *engine.decide(state, engine.Tick(), 3.0, lambda: 0.5, 8)]
    assert "square[0]" in state.running and state.steps["square[0]"].attempt == 2  # mapped again
    late = engine.decide(state, engine.AttemptSucceeded("square[0]", 1, 1), 4.0, lambda: 0.5, 8)
    assert late == []  # the attempt left behind: its outcome is ignored
    history += engine.decide(state, engine.AttemptSucceeded("square[0]", 2, 1), 5.0, lambda: 0.5, 8)
    assert state.steps["square[1]"].status == "RUNNING"
    replayed = engine.replay(history)
    assert replayed.running == state.running and replayed.steps["square[0]"].status == "SUCCEEDED"
    resumed = engine.decide(replayed, engine.Resume("me"), 6.0, lambda: 0.5, 8)  # nothing stale is interrupted
    interrupted = sorted(e.step for e in resumed if isinstance(e, h.StepInterrupted))
    assert interrupted == sorted(state.running) == ["side", "square[1]"]


def test_a_mapped_steps_items_follow_its_upstream_result_after_a_clear() -> None:
    # The mapped lists are resolved once for all elements; a new result upstream resolves them again.
    state, history = run_until_square_runs()
    assert state.step_input("square[0]")[0] == [1]
    cleared = h.StepsCleared(at=3.0, steps=["numbers"], actor="ana", request="r1")
    engine.apply(state, cleared)
    history += [cleared, *engine.decide(state, engine.Tick(), 3.0, lambda: 0.5, 8)]
    assert ("numbers", 2) in started(history)
    history += engine.decide(state, engine.AttemptSucceeded("numbers", 2, [10, 20]), 4.0, lambda: 0.5, 8)
    assert [state.step_input(f"square[{i}]")[0] for i in range(2)] == [[10], [20]]


def test_an_attempt_that_changes_its_item_in_place_leaves_the_next_attempts_item_alone() -> None:
    state, _ = run_until_square_runs()
    state.steps["numbers"].result = [{"n": 1}, {"n": 2}, {"n": 3}]
    args, _ = state.step_input("square[0]")
    args[0]["n"] = 99
    assert state.step_input("square[0]")[0] == [{"n": 1}]
