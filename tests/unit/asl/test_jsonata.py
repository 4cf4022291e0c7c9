"""JSONata templates and the functions Step Functions adds to JSONata."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockgate.asl.errors import QUERY_EVALUATION_ERROR, StatesError
from lockgate.asl.jsonata import compile_expression, evaluate_template, is_expression


class Entropy:
    def random(self) -> float:
        return 0.25

    def uuid(self) -> str:
        return "3f0c3b9e-8c7a-4d52-9b1e-5a6f7d8e9c0b"


def bindings(data: Any = None, **variables: Any) -> dict[str, Any]:
    return {"states": {"input": data, "context": {"Execution": {"Name": "run-1"}}}, **variables}


def evaluate(value: Any, data: Any = None, **variables: Any) -> Any:
    return evaluate_template(value, bindings(data, **variables), entropy=Entropy())


def fails(value: Any, data: Any = None) -> str:
    with pytest.raises(StatesError) as caught:
        evaluate(value, data)
    assert caught.value.error == QUERY_EVALUATION_ERROR
    return caught.value.cause


def test_is_expression() -> None:
    assert is_expression("{% 1 %}") and is_expression("{%1%}")
    assert not is_expression(" {% 1 %}") and not is_expression("{% 1 %} ") and not is_expression("1")
    assert not is_expression(None) and not is_expression(["{% 1 %}"])


def test_templates_are_evaluated_at_any_depth() -> None:
    template = {
        "static": "Hello",
        "title": "{% $states.input.title %}",
        "name": "{% $customerName %}",
        "not-evaluated": "$customerName",
        "list": ["{% 1 + 1 %}", {"deep": "{% $states.context.Execution.Name %}"}, 3, None, True],
    }
    assert evaluate(template, {"title": "Doctor"}, customerName="María") == {
        "static": "Hello",
        "title": "Doctor",
        "name": "María",
        "not-evaluated": "$customerName",
        "list": [2, {"deep": "run-1"}, 3, None, True],
    }


def test_results_are_plain_json() -> None:
    result = evaluate("{% [$states.input.a, null, {'k': $states.input.n}] %}", {"a": [1, 2], "n": None})
    assert result == [1, 2, None, {"k": None}]  # JSONata flattens a path's array into the constructor
    assert type(result) is list
    assert evaluate("{% 6 / 2 %}") == 3 and type(evaluate("{% 6 / 2 %}")) is int
    assert evaluate("{% 1 / 4 %}") == 0.25
    assert evaluate("{% $states.input %}", None) is None  # a null input is null, not undefined
    assert evaluate("{% $states.input %}", [1, None]) == [1, None]


def test_undefined_is_an_error() -> None:
    assert "undefined" in fails("{% $states.input.missing %}", {})
    assert "undefined" in fails({"a": ["{% $nothing %}"]})


def test_syntax_and_type_errors() -> None:
    assert "Invalid JSONata expression" in fails("{% 1 + %}")
    assert "empty" in fails("{%  %}")
    assert "failed" in fails("{% 'a' + 1 %}")
    with pytest.raises(StatesError):
        compile_expression("{% ) %}")
    assert compile_expression("{% 1 %}") is compile_expression("{% 1 %}")


def test_step_functions_functions() -> None:
    assert evaluate("{% $partition([1, 2, 3, 4, 5, 6, 7, 8, 9], 3) %}") == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert evaluate("{% $partition([1, 2, 3, 4, 5], 2) %}") == [[1, 2], [3, 4], [5]]
    assert evaluate("{% $range(0, 10, 2) %}") == [0, 2, 4, 6, 8, 10]
    assert evaluate("{% $range(10, 0, -5) %}") == [10, 5, 0]
    assert evaluate("{% $hash($states.input.content, 'SHA-256') %}", {"content": "abc"}) == (
        hashlib.sha256(b"abc").hexdigest()
    )
    assert evaluate("{% $random() %}") == 0.25
    seeded = evaluate("{% $random(7) %}")
    assert seeded == evaluate("{% $random(7) %}") and 0 <= seeded < 1
    assert evaluate("{% $uuid() %}") == Entropy().uuid()
    assert evaluate("{% $parse($states.input.s) %}", {"s": '{"x": [1, null]}'}) == {"x": [1, None]}


def test_function_argument_checks() -> None:
    assert "positive integer" in fails("{% $partition([1], 0) %}")
    assert "must be an array" in fails("{% $partition('x', 1) %}")
    assert "must not be zero" in fails("{% $range(1, 5, 0) %}")
    assert "limit is 1000" in fails("{% $range(1, 2000, 1) %}")
    assert "unknown algorithm" in fails("{% $hash('x', 'SHA-3') %}")
    assert "not JSON" in fails("{% $parse('{nope') %}")


def test_randomness_needs_an_entropy_source() -> None:
    with pytest.raises(StatesError, match="randomness"):
        evaluate_template("{% $uuid() %}", bindings())
    assert evaluate_template("{% $random(1) %}", bindings()) == evaluate("{% $random(1) %}")


@given(st.lists(st.integers(-5, 5), max_size=30), st.integers(1, 8))
def test_partition_then_flatten_gives_the_input_back(items: list[int], size: int) -> None:
    chunks = evaluate("{% $partition($states.input.items, $size) %}", {"items": items}, size=size)
    flattened = [item for chunk in chunks for item in chunk] if items else []
    assert flattened == items
