"""Branches, short circuits and groups: built by the pipeline, followed by the pure engine."""

from __future__ import annotations

from typing import Any

import pytest

import lockgate
from lockgate import group, pipeline, short_circuit, task
from lockgate.core import engine
from lockgate.core import history as h
from lockgate.core.errors import UsageError
from lockgate.core.model import Workflow


@task
def count_rows(day: str) -> int:
    return 5


@task.branch
def route(n_rows: int) -> str:
    return "full_load" if n_rows > 1_000 else "quick_load"


@task
def full_load(n: int) -> str:
    return "full"


@task
def quick_load(n: int) -> str:
    return "quick"


@task(trigger_rule="none_failed")
def publish(a: Any, b: Any) -> str:
    return "published"


@task
def strict_publish(a: Any, b: Any) -> str:
    return "strict"


@task
def check(day: str) -> bool:
    return False


@task
def pull_orders(day: str) -> list:
    return []


@task
def pull_users(day: str) -> list:
    return []


@task(trigger_rule="all_done")
def cleanup() -> str:
    return "clean"


def compile_(fn: Any, **params: Any) -> Workflow:
    p = pipeline(fn)
    return p.compile(p.bind(params))


class Driver:
    """Feeds the engine each started step's scripted result, as the runtime would."""

    def __init__(self, workflow: Workflow, results: dict[str, Any]) -> None:
        self.now = 1000.0
        first = engine.start("run1", workflow, {}, self.now)
        self.history: list[h.Event] = [first]
        self.state = engine.replay([first])
        self.results = results
        self.history += engine.decide(self.state, engine.Tick(), self.now, lambda: 0.5, 8)

    def run(self) -> engine.RunState:
        while self.state.status == "RUNNING":
            running = sorted(self.state.running)
            assert running, "the run waits on nothing"
            for name in running:
                self.now += 1
                step = self.state.steps[name]
                signal = engine.AttemptSucceeded(name, step.attempt, self.results.get(name))
                self.history += engine.decide(self.state, signal, self.now, lambda: 0.5, 8)
        return self.state

    def statuses(self) -> dict[str, str]:
        return {name: self.state.steps[name].status for name in self.state.workflow.steps}


def branching(day: str):
    n = count_rows(day)
    choice = route(n)
    full = full_load(n)
    quick = quick_load(n)
    choice >> [full, quick]
    return publish(full, quick), strict_publish(full, quick)


def test_a_branch_follows_the_step_it_names_and_skips_the_other_as_airflow_does() -> None:
    driver = Driver(compile_(branching, day="d"), {"count_rows": 5, "route": "quick_load"})
    state = driver.run()
    assert state.status == "SUCCEEDED"
    assert driver.statuses() == {
        "count_rows": "SUCCEEDED", "route": "SUCCEEDED", "full_load": "SKIPPED", "quick_load": "SUCCEEDED",
        "publish": "SUCCEEDED", "strict_publish": "SKIPPED",
    }  # fmt: skip
    reasons = {e.step: e.reason for e in driver.history if isinstance(e, h.StepSkipped)}
    assert reasons["full_load"] == "branch route did not choose it"
    assert engine.replay(driver.history).steps["full_load"].status == "SKIPPED"  # replay derives the same


def test_a_branch_may_choose_several_or_none_and_a_wrong_name_fails_it() -> None:
    both = Driver(compile_(branching, day="d"), {"route": ["full_load", "quick_load"]}).run()
    assert both.steps["strict_publish"].status == "SUCCEEDED"
    none = Driver(compile_(branching, day="d"), {"route": []}).run()
    assert none.status == "SUCCEEDED" and none.steps["publish"].status == "SUCCEEDED"
    assert none.steps["full_load"].status == none.steps["quick_load"].status == "SKIPPED"
    wrong = Driver(compile_(branching, day="d"), {"route": "slow_load"}).run()
    assert wrong.status == "FAILED" and wrong.steps["route"].error.name == "lockgate.BranchError"
    assert "full_load, quick_load" in wrong.steps["route"].error.cause


def gated(day: str):
    with group("extract"):
        orders, users = pull_orders(day), pull_users(day)
    short_circuit(check(day))
    done = strict_publish(orders, users)
    return done, cleanup()


def test_a_false_short_circuit_skips_everything_after_it_and_the_run_succeeds() -> None:
    workflow = compile_(gated, day="d")
    assert list(workflow.steps)[:2] == ["extract.pull_orders", "extract.pull_users"]
    assert workflow.steps["extract.pull_orders"].group == "extract"
    assert workflow.steps["cleanup"].upstream == ("short_circuit",)
    driver = Driver(workflow, {"check": False, "short_circuit": False})
    state = driver.run()
    assert state.status == "SUCCEEDED"
    assert state.steps["strict_publish"].status == "SKIPPED" and state.steps["cleanup"].status == "SKIPPED"
    passed = Driver(workflow, {"check": True, "short_circuit": True}).run()
    assert passed.steps["cleanup"].status == passed.steps["strict_publish"].status == "SUCCEEDED"


def test_a_retried_or_cleared_run_keeps_branches_not_taken_skipped() -> None:
    driver = Driver(compile_(branching, day="d"), {"route": "quick_load"})
    driver.run()
    driver.history.append(h.StepsCleared(at=driver.now + 1, steps=["publish"], actor="t"))
    state = engine.replay(driver.history)
    assert state.status == "RUNNING" and list(state.ready) == ["publish"]
    assert state.steps["full_load"].status == "SKIPPED"


def test_if_on_a_step_result_points_to_task_branch_and_groups_are_checked() -> None:
    def testing(day: str):
        if check(day):
            return full_load(1)
        return quick_load(1)

    with pytest.raises(UsageError, match=r"@task.branch"):
        compile_(testing, day="d")
    with pytest.raises(UsageError, match="inside a @pipeline"), group("x"):
        pass

    def dotted(day: str):
        with group("a.b"):
            return check(day)

    with pytest.raises(UsageError, match="without '.'"):
        compile_(dotted, day="d")
    assert short_circuit(0) is False  # outside a pipeline it is just bool()


def test_branching_runs_for_real(home: Any) -> None:
    @pipeline
    def real_branching(day: str):
        return branching(day)

    run = lockgate.run(real_branching, day="d", executor="inline")
    assert run.status == "SUCCEEDED" and run.output == ["published", None]
    assert run.step("full_load").status == "SKIPPED"


def test_a_group_is_one_compound_node_in_the_run_graph() -> None:
    from lockgate.server.run_graph import pipeline_graph

    driver = Driver(compile_(gated, day="d"), {"check": True, "short_circuit": True})
    graph = pipeline_graph(driver.run()).to_json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["group:extract"]["kind"] == "group" and nodes["group:extract"]["status"] == "SUCCEEDED"
    assert nodes["extract.pull_orders"]["parent"] == "group:extract"
    assert nodes["extract.pull_orders"]["label"] == "pull_orders"


def test_choice_edges_carry_their_conditions() -> None:
    from lockgate.server.run_graph import machine_graph

    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.n", "NumericGreaterThan": 1000, "Next": "Full"},
                    {"And": [{"Variable": "$.ok", "BooleanEquals": True}, {"Not": {"Variable": "$.late",
                     "IsPresent": True}}], "Next": "Quick"},
                ],
                "Default": "Quick",
            },
            "Full": {"Type": "Succeed"},
            "Quick": {"Type": "Succeed"},
        },
    }  # fmt: skip
    edges = {
        (e["source"], e["target"]): e.get("label") for e in machine_graph(definition, [], "RUNNING").to_json()["edges"]
    }
    assert edges[("Pick", "Full")] == "$.n > 1000"
    assert edges[("Pick", "Quick")] == "$.ok == true and not $.late present | default"
    jsonata = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $states.input.n > 3 %}", "Next": "D"}],
                "Default": "D",
            },
            "D": {"Type": "Succeed"},
        },
    }
    (edge,) = machine_graph(jsonata, [], "RUNNING").to_json()["edges"]
    assert edge["label"] == "$states.input.n > 3 | default"
