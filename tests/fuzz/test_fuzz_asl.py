"""Random definitions, paths, expressions and intrinsic calls: only clear errors, never a crash or a hang."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz._bounded import bounded, fuzz, json_values

from lockgate.asl import definition as definition_file
from lockgate.asl import intrinsics, jsonata, paths, validate
from lockgate.asl.driver import run_execution
from lockgate.asl.entropy import SeededEntropy
from lockgate.asl.errors import StatesError
from lockgate.asl.resources import Resources
from lockgate.core.errors import UsageError

TYPES = ["Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map", "Bogus"]
FIELDS = ["Next", "End", "Parameters", "ResultPath", "InputPath", "OutputPath", "Result", "Seconds", "Choices",
          "Default", "Branches", "ItemProcessor", "ItemsPath", "Retry", "Catch", "Error", "Cause", "Resource",
          "QueryLanguage", "Arguments", "Output", "Assign", "Items", "MaxConcurrency", "Comment"]  # fmt: skip
NAMES = st.sampled_from(["A", "B", "C", "Done"])
field_values = (
    json_values
    | NAMES
    | st.sampled_from(["$", "$.a", "$$.Execution.Id", "$.a[0]", "{% $states.input %}", "States.Format('{}', $.a)"])
)


def _state() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"Type": st.sampled_from(TYPES)}, optional={f: field_values for f in FIELDS})


def _machine(depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"StartAt": NAMES | json_values, "States": st.dictionaries(NAMES, _state(), min_size=0, max_size=4)},
        optional={"QueryLanguage": st.sampled_from(["JSONPath", "JSONata", "XPath"]), "TimeoutSeconds": json_values},
    )


@fuzz
@given(_machine())
def test_validate_answers_problems_for_any_definition_shaped_value(machine: dict[str, Any]) -> None:
    problems = bounded(lambda: validate.validate(machine))
    assert isinstance(problems, list)
    for problem in problems:
        assert isinstance(problem.message, str) and problem.message


@fuzz
@given(json_values)
def test_validate_answers_problems_for_any_json_value(value: Any) -> None:
    assert isinstance(bounded(lambda: validate.validate(value)), list)


@fuzz
@given(_machine(), json_values)
def test_a_valid_random_definition_runs_to_an_end(machine: dict[str, Any], value: Any) -> None:
    if validate.validate(machine):
        return
    for state in machine["States"].values():
        if state["Type"] in ("Task", "Wait", "Map", "Parallel"):
            return  # no resources, timers or nested machines here: the interpreter's own tests do those
    result = bounded(lambda: run_execution(machine, value, resources=Resources({}), entropy=SeededEntropy(1)))
    assert result["status"] in ("SUCCEEDED", "FAILED")


@fuzz
@given(st.text(max_size=60))
def test_definition_text_is_loaded_or_refused_with_a_usage_error(text: str) -> None:
    try:
        bounded(lambda: definition_file.load("{" + text))
    except UsageError:
        pass


path_text = st.text(alphabet="$.[]*?@()'\"0123456789:,-abc=<>! ", max_size=30)


@fuzz
@given(st.one_of(path_text, st.from_regex(r"\$[.\[][\w\[\]\.\*'\"?@()=<>, :-]{0,20}", fullmatch=True)), json_values)
def test_jsonpath_selects_or_raises_a_states_error(path: str, data: Any) -> None:
    try:
        bounded(lambda: paths.select(path, data, {"Execution": {"Id": "x"}}, variables={"v": 1}))
    except StatesError:
        pass
    assert isinstance(paths.is_valid_path(path), bool)


@fuzz
@given(st.text(max_size=40), json_values)
def test_jsonata_evaluates_or_raises_a_states_error(body: str, data: Any) -> None:
    try:
        bounded(lambda: jsonata.evaluate_expression("{% " + body + " %}", {"states": {"input": data}}))
    except StatesError:
        pass


jsonata_pieces = st.sampled_from(
    [
        "$states.input",
        "$sum(",
        "$count(",
        "[1,2,3]",
        "$map(",
        "function($x){$x}",
        ")",
        "(",
        ",",
        "1",
        "'a'",
        "$match(",
        "/a+/",
        "$string(",
        "&",
        "+",
        "$reverse(",
        "$split(",
        "$range(0,5,1)",
        "$partition(",
        "$hash(",
        "$parse(",
        "'{}'",
        "$uuid()",
        "$random()",
    ]
)


@fuzz
@given(st.lists(jsonata_pieces, max_size=8), json_values)
def test_jsonata_built_from_real_pieces_evaluates_or_raises_a_states_error(pieces: list[str], data: Any) -> None:
    try:
        bounded(lambda: jsonata.evaluate_expression("{% " + " ".join(pieces) + " %}", {"states": {"input": data}},
                                                    entropy=SeededEntropy(1)))  # fmt: skip
    except StatesError:
        pass


INTRINSICS = ["States.Format", "States.StringToJson", "States.JsonToString", "States.Array", "States.ArrayPartition",
              "States.ArrayContains", "States.ArrayRange", "States.ArrayGetItem", "States.ArrayLength",
              "States.ArrayUnique", "States.Base64Encode", "States.Base64Decode", "States.Hash", "States.JsonMerge",
              "States.MathRandom", "States.MathAdd", "States.StringSplit", "States.UUID", "States.Nope"]  # fmt: skip
argument = st.one_of(
    st.integers(-5, 5).map(str),
    st.sampled_from(["$.a", "$", "$$.Execution.Id", "'x,y'", "'{}'", "'{\"a\": 1}'", "null", "true", "1.5", "'MD5'"]),
    st.text(alphabet="'\\{}(),$.ab ", max_size=8),
)


@fuzz
@given(st.sampled_from(INTRINSICS), st.lists(argument, max_size=4), json_values)
def test_intrinsic_calls_evaluate_or_raise_a_states_error(name: str, args: list[str], data: Any) -> None:
    expression = f"{name}({', '.join(args)})"
    try:
        bounded(lambda: intrinsics.evaluate_intrinsic(expression, {"a": data}, {"Execution": {"Id": "x"}}, {},
                                                      SeededEntropy(1)))  # fmt: skip
    except StatesError:
        pass


@fuzz
@given(json_values)
def test_payload_templates_build_or_raise_a_states_error(template: Any) -> None:
    try:
        bounded(lambda: paths.build_payload(template, {"a": 1}, {}, {}, SeededEntropy(1)))
    except StatesError:
        pass
    json.dumps(template)
