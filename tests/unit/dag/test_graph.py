import datetime as dt
import re
from typing import Any

import pytest

from lockgate import CycleError, UsageError, pipeline, task


@task
def a() -> int:
    return 1


@task
def b(x: int = 0) -> int:
    return x + 1


@task
def c() -> int:
    return 3


def test_a_task_called_outside_a_pipeline_is_a_plain_call() -> None:
    assert b(41) == 42
    assert b.map([1, 2, 3]) == [2, 3, 4]


def test_data_and_order_dependencies_become_upstream_edges() -> None:
    @pipeline
    def flow() -> Any:
        first = a()
        second = b(first)
        c() >> first
        return second

    workflow = flow.compile({})
    assert list(workflow.steps) == ["c", "a", "b"]
    assert workflow.steps["a"].upstream == ("c",)
    assert workflow.steps["b"].upstream == ("a",)


def test_a_task_called_twice_makes_two_named_steps() -> None:
    @pipeline
    def flow() -> Any:
        return [b(1), b(2), b(3)]

    assert list(flow.compile({}).steps) == ["b", "b__2", "b__3"]


def test_a_cycle_is_rejected_naming_its_steps() -> None:
    @pipeline
    def loop() -> None:
        x, y, z = a(), c(), b()
        x >> y >> z
        z >> x

    with pytest.raises(CycleError) as info:
        loop.compile({})
    assert re.fullmatch(r"pipeline loop in \S*test_graph\.py has a cycle: a -> c -> b -> a", str(info.value))
    assert info.value.steps == ["a", "c", "b", "a"]


def test_lists_join_with_shift_operators() -> None:
    @pipeline
    def flow() -> None:
        [a(), c()] >> b()

    assert flow.compile({}).steps["b"].upstream == ("a", "c")


def test_an_argument_that_is_not_json_is_refused_with_its_location() -> None:
    @pipeline
    def flow() -> None:
        b(object())

    with pytest.raises(UsageError, match=r"test_graph.py:\d+: step b: argument 1: a object cannot be passed"):
        flow.compile({})


def test_branching_on_a_result_while_building_is_refused() -> None:
    @pipeline
    def flow() -> None:
        if a():
            c()

    with pytest.raises(UsageError, match="not known while the pipeline is built"):
        flow.compile({})


def test_steps_record_where_they_were_called() -> None:
    @pipeline
    def flow() -> None:
        a()

    assert (
        flow.compile({}).steps["a"].location.startswith("test_graph.py:")
        or "tests" in flow.compile({}).steps["a"].location
    )


def test_bad_trigger_rule_is_refused() -> None:
    with pytest.raises(UsageError, match="trigger rule 'sometimes'"):
        task(trigger_rule="sometimes")(lambda: 1)


@pipeline
def typed(
    day: dt.date, limit: int = 10, ratio: float = 0.5, dry_run: bool = False, tags: list[str] | None = None
) -> None:
    pass


def test_parameters_are_converted_by_annotation() -> None:
    bound = typed.bind(
        {"day": "2026-11-25", "limit": "5", "ratio": "2", "dry_run": "true", "tags": '["a"]'}, from_text=True
    )
    assert bound == {"day": dt.date(2026, 11, 25), "limit": 5, "ratio": 2.0, "dry_run": True, "tags": ["a"]}


def test_a_missing_parameter_is_named() -> None:
    with pytest.raises(UsageError, match="pipeline typed: missing required parameter 'day'"):
        typed.bind({})


def test_an_ill_typed_parameter_is_named() -> None:
    with pytest.raises(UsageError, match=r"pipeline typed: parameter 'limit': 'many' is not a valid int"):
        typed.bind({"day": "2026-11-25", "limit": "many"}, from_text=True)
    with pytest.raises(UsageError, match=r"parameter 'day': 5 is not a valid date"):
        typed.bind({"day": 5})


def test_an_unknown_parameter_is_named_with_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"has no parameter 'dya' \(parameters: day, limit, ratio, dry_run, tags\)"):
        typed.bind({"dya": "x"})
