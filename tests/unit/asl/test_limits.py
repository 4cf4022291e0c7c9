"""The bounds of state machines: each one fails clearly, is configurable, and never hangs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.asl import definition as definition_file
from lockgate.asl import jsonata, limits, validate
from lockgate.asl.driver import run_execution
from lockgate.asl.errors import StatesError
from lockgate.asl.resources import Resources
from lockgate.core.errors import UsageError

PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
LOOP = {
    "StartAt": "Spin",
    "States": {
        "Spin": {"Type": "Pass", "Next": "Check"},
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.never", "IsPresent": True, "Next": "Out"}],
            "Default": "Spin",
        },
        "Out": {"Type": "Succeed"},
    },
}


@pytest.fixture
def bounds() -> Iterator[Any]:
    """Set some limits for one test; the previous ones come back afterwards."""
    previous = limits.current()

    def use(**values: Any) -> None:
        limits.set_limits(limits.Limits(**values))

    yield use
    limits.set_limits(previous)


def nested_parallels(levels: int) -> dict[str, Any]:
    machine: dict[str, Any] = PASS
    for level in range(levels):  # state names are unique in a whole definition: P0 innermost
        name = f"P{level}"
        machine = {"StartAt": name, "States": {name: {"Type": "Parallel", "Branches": [machine], "End": True}}}
    return machine


def nested_text(levels: int) -> str:
    text = json.dumps(PASS)
    for level in range(levels):
        head = '{"StartAt":"P' + str(level) + '","States":{"P' + str(level) + '":{"Type":"Parallel","Branches":['

        text = head + text + '],"End":true}}}'
    return text


def run(definition: dict[str, Any], value: Any = None) -> dict[str, Any]:
    return run_execution(definition, {} if value is None else value, resources=Resources({}))


def test_nesting_beyond_the_limit_is_a_validation_error_naming_limit_and_state() -> None:
    problems = validate.validate(nested_parallels(400))
    assert len(problems) == 1
    problem = problems[0]
    assert "definition_nesting" in problem.message and "100" in problem.message
    assert problem.state.startswith("P") and problem.pointer.startswith("/States/P399/Branches/0/States/P398/")
    assert validate.validate(nested_parallels(99)) == []


def test_a_definition_file_nested_thousands_of_levels_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text(nested_text(400))
    with pytest.raises(UsageError, match="nests too deeply"):
        definition_file.load(path)
    path.write_text(nested_text(150))  # parses, then validation names the limit
    assert "definition_nesting" in validate.validate(definition_file.load(path))[0].message


def test_a_definition_over_the_size_limit_is_refused(bounds: Any) -> None:
    bounds(definition_bytes=1000)
    big = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "x" * 2000, "End": True}}}
    (problem,) = validate.validate(big)
    assert "definition_bytes" in problem.message and problem.pointer == ""


def test_validation_time_is_linear_in_the_number_of_states() -> None:
    def chain(n: int) -> dict[str, Any]:
        states: dict[str, Any] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n)}
        states[f"S{n}"] = {"Type": "Succeed"}
        return {"StartAt": "S0", "States": states}

    def seconds(n: int) -> float:
        machine = chain(n)
        started = time.perf_counter()
        assert validate.validate(machine) == []
        return time.perf_counter() - started

    # 20 times the states: linear is about 20 times the time, quadratic 400 times; the best of
    # three of each keeps a loaded machine's pauses out of the ratio
    small, large = min(seconds(1000) for _ in range(3)), min(seconds(20_000) for _ in range(3))
    assert large < 60 * small + 0.3, (small, large)


def test_a_loop_fails_when_its_history_reaches_the_limit(bounds: Any) -> None:
    bounds(history_events=1000)
    result = run(LOOP)
    assert result["status"] == "FAILED" and result["error"] == "States.Runtime"
    assert "history_events" in result["cause"] and "1000" in result["cause"]


def test_the_history_limit_counts_the_closing_event(bounds: Any) -> None:
    from lockgate.asl.entropy import SeededEntropy
    from lockgate.asl.machine import Machine

    bounds(history_events=500)
    machine = Machine(LOOP, {}, None, entropy=SeededEntropy(0))
    machine.advance(1000.0)
    assert machine.status == "FAILED"
    assert len(machine.history) <= 500 and machine.history[-1]["type"] == "ExecutionFailed"


def test_an_inline_map_over_more_items_than_the_limit_fails(bounds: Any) -> None:
    bounds(map_inline_items=10)
    definition = {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ItemProcessor": PASS}}}
    assert run(definition, list(range(10)))["status"] == "SUCCEEDED"
    result = run(definition, list(range(11)))
    assert result["status"] == "FAILED" and "map_inline_items" in result["cause"]


@pytest.mark.parametrize(
    "expression",
    [
        "{% ($f := function($x){$f($x)}; $f(1)) %}",  # a tail call: the stack never grows
        "{% ($f := function($x){1 + $f($x)}; $f(1)) %}",  # the stack grows
        '{% $match("' + "a" * 40 + '!", /(a|a)*$/) %}',  # catastrophic backtracking
        '{% $replace("' + "a" * 40 + '!", /(a|a)*$/, "x") %}',
    ],
)
def test_a_runaway_jsonata_expression_fails_with_states_runtime(bounds: Any, expression: str) -> None:
    bounds(expression_seconds=0.1)
    started = time.monotonic()
    with pytest.raises(StatesError) as info:
        jsonata.evaluate_expression(expression, {"states": {}})
    assert info.value.error == "States.Runtime" and "[limits] expression_" in info.value.cause
    assert time.monotonic() - started < 5


def test_a_runaway_expression_fails_its_state_and_the_execution_ends(bounds: Any) -> None:
    bounds(expression_seconds=0.1)
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": "{% ($f := function($x){$f($x)}; $f(1)) %}", "End": True}},
    }
    result = run(definition)
    assert result["status"] == "FAILED" and result["error"] == "States.Runtime"


def test_regular_expressions_still_work_within_the_limits() -> None:
    bindings = {"states": {}}
    assert jsonata.evaluate_expression('{% $replace("abc", /(b)/, "[$1]") %}', bindings) == "a[b]c"
    assert jsonata.evaluate_expression('{% $split("a, b", /,\\s*/) %}', bindings) == ["a", "b"]
    assert jsonata.evaluate_expression('{% $contains("Hello", /l+/i) %}', bindings) is True
    assert jsonata.evaluate_expression('{% $match("a1b22", /\\d+/).match %}', bindings) == ["1", "22"]


def test_deep_input_is_a_clear_error_not_a_recursion_error() -> None:
    text = "[" * 3000 + "]" * 3000
    with pytest.raises(ValueError, match="json_depth"):
        limits.parse_json(text, "the input")
    value: Any = []
    for _ in range(300):
        value = [value]
    with pytest.raises(ValueError, match="json_depth"):
        limits.check_input(value)


def test_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch, bounds: Any) -> None:
    from lockgate.config import load

    monkeypatch.setenv("LOCKGATE_LIMITS__HISTORY_EVENTS", "321")
    assert limits.configure(load()).history_events == 321
    monkeypatch.setenv("LOCKGATE_LIMITS__HISTORY_EVENTS", "-1")
    with pytest.raises(UsageError, match="history_events"):
        limits.configure(load())


def test_the_settings_defaults_are_the_limits_defaults() -> None:
    from lockgate.config import DEFAULTS

    assert DEFAULTS["limits"] == limits.DEFAULTS


def test_a_runaway_jsonpath_fails_with_states_runtime_in_bounded_time(bounds: Any) -> None:
    from lockgate.asl import paths

    bounds(expression_seconds=0.2)
    shallow: Any = {"a": 1}
    for _ in range(20):
        shallow = {"b": shallow}
    assert len(paths.select("$..b..a", shallow, {})) == 20  # nested descent that ends in time works
    deep: Any = {"a": 1}
    for _ in range(200):
        deep = {"b": deep}
    started = time.monotonic()
    with pytest.raises(StatesError) as info:
        paths.select("$..b..b..b..a", deep, {})
    assert info.value.error == "States.Runtime" and "expression_seconds" in info.value.cause
    assert time.monotonic() - started < 5


def assigning(assign: dict[str, Any], then: dict[str, Any] | None = None) -> dict[str, Any]:
    states: dict[str, Any] = {"Set": {"Type": "Pass", "Assign": assign, "End": then is None}}
    if then is not None:
        states["Set"]["Next"] = "Then"
        states["Then"] = {**then, "End": True}
    return {"StartAt": "Set", "States": states}


def test_one_variable_over_the_service_limit_fails_with_data_limit_exceeded(bounds: Any) -> None:
    bounds(state_data_bytes=1024 * 1024)  # the input carries the value: let it in
    big = "x" * (256 * 1024 - 2)  # its JSON text is exactly 256 KiB: allowed
    result = run(assigning({"ok.$": "$.text"}), {"text": big})
    assert result["status"] == "SUCCEEDED", result
    multibyte = "\u00e9" * (128 * 1024)  # 128 Ki characters: 256 KiB + 2 bytes of UTF-8 JSON
    result = run(assigning({"big.$": "$.text"}), {"text": multibyte})
    assert result["status"] == "FAILED" and result["error"] == "States.DataLimitExceeded"
    assert "the variable 'big'" in result["cause"] and "[limits] variable_bytes" in result["cause"]


def test_the_values_of_one_assign_are_limited_together(bounds: Any) -> None:
    bounds(variable_bytes=100, assign_bytes=150, variables_bytes=1000)
    text = "y" * 78  # 80 bytes as JSON
    assert run(assigning({"a": text}))["status"] == "SUCCEEDED"
    result = run(assigning({"a": text, "b": text}))
    assert result["status"] == "FAILED" and result["error"] == "States.DataLimitExceeded"
    assert "160 bytes together" in result["cause"] and "[limits] assign_bytes" in result["cause"]
    # the same two values in two states are fine: the Assign limit is per Assign
    result = run(assigning({"a": text}, {"Type": "Pass", "Assign": {"b": text}}))
    assert result["status"] == "SUCCEEDED"


def test_all_the_variables_a_state_sees_are_limited_together(bounds: Any) -> None:
    bounds(variable_bytes=100, assign_bytes=100, variables_bytes=200)
    text = "z" * 78  # 80 bytes as JSON
    two = assigning({"a": text}, {"Type": "Pass", "Assign": {"b": text}})
    assert run(two)["status"] == "SUCCEEDED"  # 160 bytes stored
    three = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"a": text}, "Next": "B"},
            "B": {"Type": "Pass", "Assign": {"b": text}, "Next": "A2"},
            "A2": {"Type": "Pass", "Assign": {"a": "small"}, "Next": "C"},  # replacing a value frees its bytes
            "C": {"Type": "Pass", "Assign": {"c": text}, "Next": "D"},  # 167 bytes
            "D": {"Type": "Pass", "Assign": {"d": text}, "End": True},
        },
    }
    result = run(three)
    assert result["status"] == "FAILED" and result["error"] == "States.DataLimitExceeded"
    assert "would be 247 bytes together" in result["cause"] and "[limits] variables_bytes" in result["cause"]


def test_a_data_limit_on_assign_is_caught_only_by_name(bounds: Any) -> None:
    bounds(variable_bytes=10)
    catching = {
        "StartAt": "Set",
        "States": {
            "Set": {
                "Type": "Pass",
                "Assign": {"v": "far more than ten bytes"},
                "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    assert run(catching)["status"] == "SUCCEEDED"
    catching["States"]["Set"]["Catch"][0]["ErrorEquals"] = ["States.ALL"]
    assert run(catching)["status"] == "FAILED"


def test_jsonata_assign_is_limited_too(bounds: Any) -> None:
    bounds(variable_bytes=50)
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Set",
        "States": {"Set": {"Type": "Pass", "Assign": {"v": "{% $pad('', 60, 'q') %}"}, "End": True}},
    }
    result = run(definition)
    assert result["status"] == "FAILED" and result["error"] == "States.DataLimitExceeded"
    assert "the variable 'v' is 62 bytes" in result["cause"]


def test_a_catchers_assign_is_limited_too(bounds: Any) -> None:
    bounds(variable_bytes=20)
    definition = {
        "StartAt": "Boom",
        "States": {
            "Boom": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "x" * 40}}}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"why.$": "$.Cause"}, "Next": "Done"}],
                "End": True,
            },
            "Done": {"Type": "Succeed"},
        },
    }
    result = run(definition)
    assert result["status"] == "FAILED" and result["error"] == "States.DataLimitExceeded"
    assert "the variable 'why'" in result["cause"]
