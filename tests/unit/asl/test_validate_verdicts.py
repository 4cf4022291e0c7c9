"""Validation verdicts as the service's ValidateStateMachineDefinition gives them."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.asl.validate import validate


def one(state: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {**top, "StartAt": "S", "States": {"S": {**state, "End": True}}}


def task(resource: str, **fields: Any) -> dict[str, Any]:
    return one({"Type": "Task", "Resource": resource, **fields})


def messages(definition: dict[str, Any]) -> list[str]:
    return [p.message for p in validate(definition)]


INNER_PASS = {"StartAt": "S", "States": {"S": {"Type": "Pass", "End": True}}}

REJECTED = {
    "a state name reused inside a Map": one({"Type": "Map", "ItemProcessor": INNER_PASS}),
    "a state name reused in two branches": one(
        {"Type": "Parallel", "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}] * 2}
    ),
    "both MaxItemsPerBatch and its path": one(
        {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
            "ItemBatcher": {"MaxItemsPerBatch": 2, "MaxItemsPerBatchPath": "$.n"},
        }
    ),
    "an unknown ItemBatcher field": one(
        {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
            "ItemBatcher": {"MaxItems": 2},
        }
    ),
    "a CloudFormation substitution left in": task("${ProcessFunctionArn}"),
    "a Lambda ARN with a bad alias": task("arn:aws:lambda:us-east-1:123456789012:function:f:bad.alias"),
    "a Lambda ARN with two qualifiers": task("arn:aws:lambda:us-east-1:123456789012:function:f:1:2"),
    "a Lambda FunctionName with a bad qualifier": task(
        "arn:aws:states:::lambda:invoke",
        Parameters={"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:f:a/b"},
    ),
    "JSONata without a closing delimiter": one({"Type": "Pass", "Output": "{% $states.input"}, QueryLanguage="JSONata"),
    "JSONata with a space before it": one({"Type": "Pass", "Output": " {% $states.input %}"}, QueryLanguage="JSONata"),
    "JSONata without an opening delimiter": one(
        {"Type": "Pass", "Output": "$states.input %}"}, QueryLanguage="JSONata"
    ),
    "JSONata with an extra delimiter": one(
        {"Type": "Pass", "Output": "{% $states.input %}%}"}, QueryLanguage="JSONata"
    ),
    "an intrinsic with too many arguments": one({"Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.a, 1)"}}),
    "an intrinsic with a literal of the wrong kind": one(
        {"Type": "Pass", "Parameters": {"n.$": "States.ArrayLength('abc')"}}
    ),
    "a nested intrinsic with a literal of the wrong kind": one(
        {"Type": "Pass", "Parameters": {"n.$": "States.Format('{}', States.MathAdd('a', 1))"}}
    ),
    "Credentials with a .$ field that is not a path": task(
        "arn:aws:states:::lambda:invoke", Credentials={"RoleArn.$": "role"}, Parameters={"FunctionName": "f"}
    ),
    "Credentials without RoleArn": task(
        "arn:aws:states:::lambda:invoke",
        Credentials={"Role": "arn:aws:iam::1:role/r"},
        Parameters={"FunctionName": "f"},
    ),
    "a JSONPath state in a JSONata machine": one(
        {"Type": "Pass", "QueryLanguage": "JSONPath"}, QueryLanguage="JSONata"
    ),
    "a JSONata field in a state that takes the top-level JSONPath inside a JSONata Map": one(
        {
            "Type": "Map",
            "QueryLanguage": "JSONata",
            "Items": "{% [1] %}",
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "Output": "{% 1 %}", "End": True}}},
        }
    ),
    "a JSONPath state inside a Map of a JSONata machine": one(
        {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "I",
                "States": {"I": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True}},
            },
        },
        QueryLanguage="JSONata",
    ),
}

ACCEPTED = {
    "a Lambda ARN with a version": task("arn:aws:lambda:us-east-1:123456789012:function:f:12"),
    "a Lambda ARN with an alias": task("arn:aws:lambda:us-east-1:123456789012:function:f:prod-1"),
    "a Lambda ARN with $LATEST": task("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST"),
    "a Lambda ARN unqualified": task("arn:aws:lambda:us-east-1:123456789012:function:my_f-1"),
    "Credentials with a path": task(
        "arn:aws:states:::lambda:invoke", Credentials={"RoleArn.$": "$.role"}, Parameters={"FunctionName": "f"}
    ),
    "intrinsics over the context object and variables": one(
        {
            "Type": "Pass",
            "Parameters": {"a.$": "States.Format('{} {}', $$.Execution.Id, $v)", "b.$": "States.MathAdd(1.5, 2)"},
        }
    ),
    "a dot before a filter": one({"Type": "Pass", "Parameters": {"a.$": "$.items.[?(@.OU > 0)]"}}),
    "the context object as InputPath": one({"Type": "Pass", "InputPath": "$$", "OutputPath": "$$.Execution"}),
    "a JSONata state in a JSONPath machine": one({"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 %}"}),
    "a JSONata Map holding JSONPath states in a JSONPath machine": one(
        {
            "Type": "Map",
            "QueryLanguage": "JSONata",
            "Items": "{% [1] %}",
            "ItemProcessor": {
                "StartAt": "I",
                "States": {"I": {"Type": "Pass", "QueryLanguage": "JSONPath", "InputPath": "$", "End": True}},
            },
        }
    ),
    "a JSONata Map whose states take the top-level JSONPath": one(
        {
            "Type": "Map",
            "QueryLanguage": "JSONata",
            "Items": "{% [1] %}",
            "ItemProcessor": {
                "StartAt": "I",
                "States": {"I": {"Type": "Pass", "Parameters": {"v.$": "$"}, "End": True}},
            },
        }
    ),
    "a JSONata Parallel holding JSONata states": one(
        {
            "Type": "Parallel",
            "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "Output": "{% 2 %}", "End": True}}}],
        },
        QueryLanguage="JSONata",
    ),
    "an ItemBatcher with BatchInput and byte limit": one(
        {
            "Type": "Map",
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
            "ItemBatcher": {"MaxInputBytesPerBatch": 1024, "BatchInput": {"k.$": "$.k"}},
        }
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_rejected(case: str) -> None:
    assert messages(REJECTED[case]), case


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted(case: str) -> None:
    assert messages(ACCEPTED[case]) == [], case


def test_a_reused_name_says_where_it_was_first() -> None:
    (message,) = messages(REJECTED["a state name reused inside a Map"])
    assert "used twice" in message and "/States/S" in message
