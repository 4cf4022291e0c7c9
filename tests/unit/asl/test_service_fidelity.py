"""Rules where the service's behaviour is the reference: paths, Wait, Map, payload sizes, ARNs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.asl import arns, paths
from lockgate.asl.driver import run_execution
from lockgate.asl.errors import StatesError
from lockgate.asl.resources import Resources


def run(definition: dict[str, Any], value: Any = None) -> dict[str, Any]:
    return run_execution(definition, {} if value is None else value, resources=Resources())


def one(state: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": "S", "States": {"S": {**state, "End": True}}}


# --- paths ---------------------------------------------------------------------------------


def test_a_dot_before_a_bracket_is_valid_as_in_jayway() -> None:
    units = [{"OU": 2}, {"OU": 0}, {"OU": 5}]
    assert paths.select("$.[?(@.OU > 0)]", units, {}) == [{"OU": 2}, {"OU": 5}]
    assert paths.select("$.units.[?(@.OU > 0)]", {"units": units}, {}) == [{"OU": 2}, {"OU": 5}]
    assert paths.select("$.units.[1]", {"units": units}, {}) == {"OU": 0}
    assert paths.is_reference_path("$.units.[1]")
    assert paths.select("$..[?(@.OU > 4)]", {"units": units}, {}) == [{"OU": 5}]


def test_a_last_bracket_of_names_gives_an_object_of_those_fields_as_in_jayway() -> None:
    objects = [{"bucket": "b1", "key": "k1", "size": 1}, {"bucket": "b2", "key": "k2"}, "not an object"]
    assert paths.select("$.[*].['bucket', 'key']", objects, {}) == [
        {"bucket": "b1", "key": "k1"},
        {"bucket": "b2", "key": "k2"},
    ]
    assert paths.select("$[0]['key','size','absent']", objects, {}) == {"key": "k1", "size": 1}
    assert paths.select("$$.Execution['Id', \"Name\"]", {}, {"Execution": {"Id": "i", "Name": "n", "X": 0}}) == {
        "Id": "i",
        "Name": "n",
    }
    assert paths.select("$v['a','b']", {}, {}, variables={"v": {"a": 1, "b": 2, "c": 3}}) == {"a": 1, "b": 2}
    with pytest.raises(StatesError, match="could not be found"):
        paths.select("$[2]['a','b']", objects, {})  # one node, and it is not an object
    assert not paths.is_reference_path("$.a['b','c']")  # a union of names is never a reference path


def test_regular_expression_filters_match_the_whole_value_as_in_jayway() -> None:
    items = {"Items": [{"name": "ab"}, {"name": "xab"}, {"name": "AB"}, {"name": "a1"}, {"name": 'say "hi"'}]}
    assert paths.select("$.Items[?(@.name =~ /a.*/)].name", items, {}) == ["ab", "a1"]  # not "xab": a whole match
    assert paths.select("$.Items[?(@.name =~ /a.*/i)].name", items, {}) == ["ab", "AB", "a1"]
    assert paths.select(r"$.Items[?(@.name =~ /a\d/)].name", items, {}) == ["a1"]
    assert paths.select('$.Items[?(@.name =~ /say "hi"/)].name', items, {}) == ['say "hi"']
    assert paths.select("$.Items[?(@.name =~ /b/)]", items, {}) == []


def test_in_and_nin_filters_over_literal_lists_as_in_jayway() -> None:
    items = {"Items": [{"s": "OK", "n": 1}, {"s": "BAD", "n": 2}, {"s": "MEH", "n": 3}]}
    assert paths.select("$.Items[?(@.s in ['OK', 'MEH'])].n", items, {}) == [1, 3]
    assert paths.select("$.Items[?(@.s nin ['OK','MEH'])].n", items, {}) == [2]
    assert paths.select("$.Items[?(@.n in [1, 3] && @.s != 'OK')].s", items, {}) == ["MEH"]
    assert paths.select("$.Items[?(@.s in $.allowed)].n", {**items, "allowed": ["BAD"]}, {}) == [2]


def test_path_functions_are_taken_but_find_nothing_when_the_state_runs() -> None:
    from lockgate.asl.validate import validate

    sums = one({"Type": "Pass", "Parameters": {"Jobs.$": "$.Jobs.sum()", "n.$": "$$.Execution.Input.keys()"}})
    assert validate(sums) == []  # the service takes the definition
    result = run(sums, {"Jobs": [0, 1]})
    assert result["status"] == "FAILED" and result["error"] == "States.Runtime"
    assert (
        "The JSONPath '$.Jobs.sum()' specified for the field 'Jobs.$' could not be found in the input"
        in result["cause"]
    )
    found = validate(one({"Type": "Pass", "ResultPath": "$.a.length()"}))  # never a reference path
    assert [p.pointer for p in found] == ["/States/S/ResultPath"]
    assert not paths.is_valid_path("$.a.length(")


def test_a_filters_at_matches_objects_only_as_the_service_documents() -> None:
    data = {"bar": ["a", "b"], "nums": [1, 5, 7], "jar": [{"a": 1}, {"a": 5}, {"a": 7}]}
    assert paths.select("$.bar[?(@ == 'a')]", data, {}) == []
    assert paths.select("$.nums[?(@ > 2)]", data, {}) == []
    assert paths.select("$.jar[?(@.a >= 5)]", data, {}) == [{"a": 5}, {"a": 7}]
    people = {"p": [{"mail": "x@ y", "n": 1}, {"mail": "z", "n": 2}]}
    assert paths.select("$.p[?(@.mail == 'x@ y')].n", people, {}) == [1]  # an @ inside a string is text


def test_escaped_characters_in_field_names() -> None:
    data = {"a.b": [1, 2], "it's": {"x": 3}, "w[0]": 4}
    assert paths.select(r"$.a\.b", data, {}) == [1, 2]
    assert paths.select(r"$.a\.b[*]", data, {}) == [1, 2]
    assert paths.select(r"$['it\'s'].x", data, {}) == 3
    assert paths.select(r"$.w\[0\]", data, {}) == 4


def test_the_whole_context_object_as_input_path_and_output_path() -> None:
    result = run(one({"Type": "Pass", "InputPath": "$$", "Parameters": {"name.$": "$.Execution.Name"}}))
    assert result["status"] == "SUCCEEDED" and isinstance(result["output"]["name"], str)
    result = run(one({"Type": "Pass", "OutputPath": "$$"}), {"a": 1})
    assert result["output"]["State"]["Name"] == "S" and result["output"]["Execution"]["Input"] == {"a": 1}


def test_intrinsics_take_the_context_object_and_variables() -> None:
    definition = {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"who": {"first": "Ada"}}, "Next": "Use"},
            "Use": {
                "Type": "Pass",
                "Parameters": {"text.$": "States.Format('{} in {}', $who.first, $$.State.Name)"},
                "End": True,
            },
        },
    }
    assert run(definition)["output"] == {"text": "Ada in Use"}


# --- Pass and Parameters forms -----------------------------------------------------------


def test_pass_with_result_and_result_path_null_keeps_its_input() -> None:
    state = {"Type": "Pass", "Result": {"ignored": True}, "ResultPath": None}
    assert run(one(state), {"keep": 1})["output"] == {"keep": 1}


def test_pass_result_wins_over_parameters() -> None:
    state = {"Type": "Pass", "Parameters": {"p.$": "$.x"}, "Result": {"r": 1}, "ResultPath": "$.out"}
    assert run(one(state), {"x": 2})["output"] == {"x": 2, "out": {"r": 1}}


def test_nested_dollar_fields_in_arrays_and_intrinsic_values() -> None:
    state = {
        "Type": "Pass",
        "Parameters": {
            "list": [{"a.$": "$.x"}, "literal", [{"n.$": "States.ArrayLength($.xs)"}], ["$.not-a-path"]],
            "object": {"deeper": {"name.$": "$$.State.Name", "text.$": "States.Format('{}-{}', $.x, $.xs[1])"}},
        },
    }
    assert run(one(state), {"x": "v", "xs": [1, 2]})["output"] == {
        "list": [{"a": "v"}, "literal", [{"n": 2}], ["$.not-a-path"]],
        "object": {"deeper": {"name": "S", "text": "v-2"}},
    }


def test_parameters_may_be_an_array_of_templates() -> None:
    state = {"Type": "Pass", "Parameters": [{"Item.$": "$.Item"}, "literal", [{"n.$": "States.ArrayLength($.xs)"}]]}
    assert run(one(state), {"Item": {"id": 1}, "xs": [1, 2]})["output"] == [{"Item": {"id": 1}}, "literal", [{"n": 2}]]


def test_unicode_variable_names_in_both_languages() -> None:
    from lockgate.asl.validate import validate

    definition = {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"café": {"n": 1}, "名前.$": "$.v", "e\u0301t\u00e9": 3}, "Next": "Read"},
            "Read": {"Type": "Pass", "Parameters": {"a.$": "$café.n", "b.$": "$名前", "c.$": "$e\u0301t\u00e9"},
                     "Next": "Both"},
            "Both": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% [$states.input.a, $café.n, $名前] %}",
                     "End": True},
        },
    }  # fmt: skip
    assert validate(definition) == []
    assert run(definition, {"v": "x"})["output"] == [1, 1, "x"]


# --- Wait --------------------------------------------------------------------------------


def test_seconds_path_with_a_fraction_fails_with_runtime() -> None:
    result = run(one({"Type": "Wait", "SecondsPath": "$.s"}), {"s": 1.5})
    assert result["status"] == "FAILED" and result["error"] == "States.Runtime"
    assert "cannot be parsed as a long value" in result["cause"]


# --- Map ---------------------------------------------------------------------------------

ITEM = {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}


@pytest.mark.parametrize("mode", ["INLINE", "DISTRIBUTED"])
def test_legacy_iterator_and_parameters(mode: str) -> None:
    config = {"Mode": mode, "ExecutionType": "STANDARD"}
    iterator = {**ITEM, "ProcessorConfig": config} if mode == "DISTRIBUTED" else ITEM
    state = {"Type": "Map", "ItemsPath": "$.xs", "Parameters": {"x.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
             "Iterator": iterator}  # fmt: skip
    from lockgate.asl.validate import validate

    assert validate(one(state)) == []
    assert run(one(state), {"xs": ["a", "b"]})["output"] == [{"x": "a", "i": 0}, {"x": "b", "i": 1}]


DISTRIBUTED = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}


def test_max_concurrency_and_tolerated_failure_paths_may_name_variables() -> None:
    fails = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "No"}}}
    definition = {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"limit": 2, "share": 50}, "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.xs", "MaxConcurrencyPath": "$limit",
                     "ToleratedFailurePercentagePath": "$share",
                     "ItemProcessor": {**fails, "ProcessorConfig": DISTRIBUTED},
                     "End": True},
        },
    }  # fmt: skip
    from lockgate.asl.validate import validate

    assert validate(definition) == []
    result = run(definition, {"xs": [1, 2, 3]})
    assert result["status"] == "FAILED" and result["error"] == "States.ExceedToleratedFailureThreshold"


def test_item_batcher_gives_each_child_batch_input_and_items() -> None:
    state = {"Type": "Map", "ItemsPath": "$.xs", "ItemProcessor": {**ITEM, "ProcessorConfig": {"Mode": "DISTRIBUTED"}},
             "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"job.$": "$.job"}}}  # fmt: skip
    result = run(one(state), {"xs": [1, 2, 3], "job": "j"})
    assert result["output"] == [
        {"BatchInput": {"job": "j"}, "Items": [1, 2]},
        {"BatchInput": {"job": "j"}, "Items": [3]},
    ]


def test_result_writer_details_are_bucket_and_key(tmp_path: Path) -> None:
    writer = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Path": str(tmp_path)}}
    state = {"Type": "Map", "ItemsPath": "$.xs", "ItemProcessor": {**ITEM, "ProcessorConfig": {"Mode": "DISTRIBUTED"}},
             "ResultWriter": writer}  # fmt: skip
    output = run(one(state), {"xs": [1]})["output"]
    details = output["ResultWriterDetails"]
    assert set(details) == {"Bucket", "Key"}
    manifest = Path(details["Key"])
    assert manifest.parent.name == output["MapRunArn"].rsplit(":", 1)[-1]  # the Map Run's id names the folder
    import json

    files = json.loads(manifest.read_text())["ResultFiles"]
    assert set(files) == {"FAILED", "PENDING", "SUCCEEDED"} and files["SUCCEEDED"][0]["Key"].endswith(
        "SUCCEEDED_0.json"
    )


# --- payload size ------------------------------------------------------------------------


def test_payload_limit_counts_utf8_bytes_of_the_json_text() -> None:
    # 87,000 three-byte characters: 261,000 bytes of UTF-8 (the JSON text adds a few), under 256 KiB.
    under = {"Type": "Pass", "Parameters": {"t.$": "$.t"}}
    assert run(one(under), {"t": "€" * 87_000})["status"] == "SUCCEEDED"
    over = run(one(under), {"t": "€" * 88_000})
    assert over["status"] == "FAILED" and over["error"] == "States.DataLimitExceeded"


# --- ARNs --------------------------------------------------------------------------------


@pytest.fixture
def region() -> Iterator[None]:
    arns.configure("eu-west-3", "210987654321")
    yield
    arns.reset()


def test_arns_carry_the_configured_region_and_account(region: None) -> None:
    result = run(one({"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id", "m.$": "$$.StateMachine.Id"}}))
    execution = result["output"]["id"].split(":")
    assert execution[:6] == ["arn", "aws", "states", "eu-west-3", "210987654321", "execution"]
    assert result["output"]["m"].startswith("arn:aws:states:eu-west-3:210987654321:stateMachine:")


def test_arns_default_to_the_service_look(monkeypatch: pytest.MonkeyPatch) -> None:
    arns.reset()
    monkeypatch.delenv("LOCKGATE_ASL__REGION", raising=False)
    assert arns.state_machine("m").startswith("arn:aws:states:us-east-1:123456789012:stateMachine:m")
    monkeypatch.setenv("LOCKGATE_ASL__REGION", "ap-south-1")
    arns.reset()
    assert arns.execution("m", "e") == "arn:aws:states:ap-south-1:123456789012:execution:m:e"
    arns.reset()
    with pytest.raises(ValueError, match="not a region"):
        arns.configure("local")


def test_an_import_failure_is_neither_retried_nor_caught_by_the_wildcards() -> None:
    from lockgate.asl._recovery import Failure, matches
    from lockgate.asl.errors import IMPORT_FAILED

    failure = Failure(IMPORT_FAILED, "python:m:f: cannot import the module m")
    assert not matches("States.ALL", failure) and not matches("States.TaskFailed", failure)
    assert matches(IMPORT_FAILED, failure)
    retried = {"Type": "Task", "Resource": "python:lockgate_no_such_module:f",
               "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 5, "IntervalSeconds": 3600}]}  # fmt: skip
    result = run(one(retried))
    assert result["error"] == IMPORT_FAILED and "lockgate_no_such_module" in result["cause"]


def test_a_large_multibyte_task_result_the_service_accepts_passes_durably(runtime: Any, fake: Any) -> None:
    from lockgate.asl import durable
    from lockgate.asl.resources import register_task

    register_task("fidelity.big", lambda n: "ü" * n)  # two bytes each in UTF-8, six as a \\u escape
    _, result = durable.start(runtime, one({"Type": "Task", "Resource": "lockgate:task:fidelity.big"}), 130_000,
                              state_machine="Big", sleep=fake.sleep)  # fmt: skip
    assert result["status"] == "SUCCEEDED" and len(result["output"]) == 130_000
    _, result = durable.start(runtime, one({"Type": "Task", "Resource": "lockgate:task:fidelity.big"}), 132_000,
                              state_machine="Big", sleep=fake.sleep)  # fmt: skip
    assert result["error"] == "States.DataLimitExceeded"
