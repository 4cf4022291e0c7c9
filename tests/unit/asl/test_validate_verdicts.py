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
ITEM = {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}
LAMBDA = "arn:aws:states:::lambda:invoke"
MAP_WITH_SELECTOR = {
    "Type": "Map",
    "ItemProcessor": ITEM,
    "ResultSelector": {"n.$": "States.ArrayLength($)"},
    "End": True,
}

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
    # the Parameters and Pass forms the service refuses
    "ResultSelector on a Pass state": one({"Type": "Pass", "Parameters": {"a.$": "$.x"}, "ResultSelector": {"b": 1}}),
    "Parameters that is not an object": one({"Type": "Pass", "Parameters": "$.x"}),
    "ResultSelector that is a number": task(LAMBDA, Parameters={"FunctionName": "f"}, ResultSelector=3),
    "a .$ field whose value is not a string": one({"Type": "Pass", "Parameters": {"n.$": 3}}),
    "a .$ field deep in an array that is neither a path nor an intrinsic": one(
        {"Type": "Pass", "Parameters": {"list": [{"inner": [{"v.$": "not a path"}]}]}}
    ),
    "a field given twice once .$ is removed, inside an array": one(
        {"Type": "Pass", "Parameters": {"list": [{"v": 1, "v.$": "$.v"}]}}
    ),
    "ItemSelector and the legacy Parameters together on a Map": one(
        {"Type": "Map", "ItemProcessor": ITEM, "ItemSelector": {"v.$": "$"}, "Parameters": {"v.$": "$"}}
    ),
    "a ResultPath into the context object": one({"Type": "Pass", "Result": 1, "ResultPath": "$$.Execution"}),
    "Parameters in a JSONata state": one({"Type": "Pass", "Parameters": {"a": 1}}, QueryLanguage="JSONata"),
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
    # the Parameters and Pass forms the service takes
    "Pass with Result and ResultPath null": one({"Type": "Pass", "Result": {"a": 1}, "ResultPath": None}),
    "Pass with a Result that is not an object": one({"Type": "Pass", "Result": "done", "ResultPath": "$.status"}),
    "Pass with both Parameters and Result": one({"Type": "Pass", "Parameters": {"a.$": "$.x"}, "Result": 1}),
    "Pass with InputPath and OutputPath null": one({"Type": "Pass", "InputPath": None, "OutputPath": None}),
    "Parameters that is an array of templates": one({"Type": "Pass", "Parameters": [{"Item.$": "$.Item"}, "literal"]}),
    "ResultSelector that is an array": task(LAMBDA, Parameters={"FunctionName": "f"}, ResultSelector=[{"a.$": "$"}]),
    "nested .$ fields inside arrays and objects": one(
        {
            "Type": "Pass",
            "Parameters": {
                "list": [{"a.$": "$.x"}, "literal", 3, [{"b.$": "$$.Execution.Id"}], ["$.not-a-path"]],
                "object": {"deeper": {"c.$": "$.y[0]", "d": "$.stays literal"}},
            },
        }
    ),
    "intrinsic calls as values, nested": one(
        {
            "Type": "Pass",
            "Parameters": {
                "merged.$": "States.JsonMerge($.a, States.StringToJson($.b), false)",
                "text.$": "States.Format('{} of {}', States.ArrayLength($.items), $total)",
                "id.$": "States.UUID()",
                "empty.$": "States.Array()",
                "spaced.$": "States.Format( '{}' , $.x )",
            },
        }
    ),
    "Parameters reading a variable and the whole context object": one(
        {"Type": "Pass", "Parameters": {"v.$": "$limits.max", "ctx.$": "$$"}}
    ),
    "Parameters on a Map as the legacy ItemSelector": one(
        {"Type": "Map", "Iterator": ITEM, "Parameters": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"}}
    ),
    "Parameters on a Map with an ItemProcessor": one(
        {"Type": "Map", "ItemProcessor": ITEM, "Parameters": {"v.$": "$$.Map.Item.Value"}}
    ),
    "a Task with Parameters, ResultSelector and nested intrinsics": task(
        LAMBDA,
        Parameters={"FunctionName": "f", "Payload": {"in.$": "States.StringToJson($.body)", "list": [{"k.$": "$.k"}]}},
        ResultSelector={"p.$": "$.Payload", "code.$": "$.StatusCode"},
    ),
    "ResultSelector on a Map and a Parallel": one(
        {
            "Type": "Parallel",
            "Branches": [{"StartAt": "M", "States": {"M": MAP_WITH_SELECTOR}}],
            "ResultSelector": {"first.$": "$[0]"},
        }
    ),
    "JSONPath Assign with nested .$ fields": one(
        {"Type": "Pass", "Assign": {"a": {"b.$": "$.x"}, "c": [{"d.$": "$$.State.Name"}], "e.$": "States.UUID()"}}
    ),
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
            "ItemProcessor": {**ITEM, "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}},
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


VARIABLE_NAMES_ACCEPTED = ["a", "_", "_private", "count2", "camelCase", "café", "名前", "Ⅻ", "e\u0301t\u00e9", "a" * 80]
VARIABLE_NAMES_REJECTED = ["1st", "a-b", "has space", "x²", "$x", "a.b", "a" * 81, "states", "", "a\u200d"]


@pytest.mark.parametrize("language", ["JSONPath", "JSONata"])
@pytest.mark.parametrize("variable", VARIABLE_NAMES_ACCEPTED)
def test_variable_names_the_service_allows(variable: str, language: str) -> None:
    assert messages(one({"Type": "Pass", "Assign": {variable: 1}}, QueryLanguage=language)) == [], variable


@pytest.mark.parametrize("language", ["JSONPath", "JSONata"])
@pytest.mark.parametrize("variable", VARIABLE_NAMES_REJECTED)
def test_variable_names_the_service_refuses(variable: str, language: str) -> None:
    (message,) = messages(one({"Type": "Pass", "Assign": {variable: 1}}, QueryLanguage=language))
    assert "reserved" in message if variable == "states" else "not a valid variable name" in message


def test_a_jsonpath_assign_key_ending_in_dollar_names_the_variable_without_it() -> None:
    assert messages(one({"Type": "Pass", "Assign": {"café.$": "$.x"}})) == []
    (message,) = messages(one({"Type": "Pass", "Assign": {"café.$": "$.x"}}, QueryLanguage="JSONata"))
    assert "'café.$' is not a valid variable name" in message


def test_keys_given_twice_in_the_text_are_refused() -> None:
    from lockgate.asl import definition as definitions

    batcher = (
        '{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "I", '
        '"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, '
        '"States": {"I": {"Type": "Pass", "End": true}}}, '
        '"ItemBatcher": {"MaxItemsPerBatch": 2, "MaxItemsPerBatch": 3}}}}'
    )
    found = validate(definitions.loads(batcher))
    assert [(p.pointer, p.state) for p in found] == [("/States/M/ItemBatcher/MaxItemsPerBatch", "M")]
    assert "given twice" in found[0].message
    states = '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}, "A": {"Type": "Succeed"}}}'
    (problem,) = validate(definitions.loads(states))
    assert problem.pointer == "/States/A" and "state name 'A' is given twice" in problem.message
    deep = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"l": [{"a": 1, "a": 2}]}, "End": true}}}'
    assert [p.pointer for p in validate(definitions.loads(deep))] == ["/States/P/Parameters/l/0/a"]
    unique = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"a": 1, "a.$": "$.a"}, "End": true}}}'
    assert [p.message for p in validate(definitions.loads(unique))] == [
        "the field 'a' appears twice once '.$' is removed"
    ]


DISTRIBUTED = {**ITEM, "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}}
CHOICE_RULE = {"Variable": "$.a", "IsPresent": True, "Next": "T"}


def choice(rule: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [rule]}, "T": {"Type": "Succeed"}}}


# Rules of the Amazon States Language and of the service's validator (SCHEMA_VALIDATION_FAILED,
# INVALID_STATE_NAME, INVALID_RESOURCE): each definition breaks one, at the pointer given.
BROKEN_RULES = {
    "a state's Comment that is not a string": (one({"Type": "Pass", "Comment": 5}), "/States/S/Comment", "Comment"),
    "the machine's Comment that is not a string": (
        one({"Type": "Pass"}, Comment=["a"]), "/Comment", "Comment must be a string"),
    "a branch's Comment that is not a string": (
        one({"Type": "Parallel", "Branches": [{**ITEM, "Comment": 1}]}), "/States/S/Branches/0/Comment", "Comment"),
    "a Choice rule's Comment that is not a string": (
        choice({**CHOICE_RULE, "Comment": True}), "/States/C/Choices/0/Comment", "Comment must be a string"),
    "a retrier's Comment that is not a string": (
        task(LAMBDA, Retry=[{"ErrorEquals": ["X"], "Comment": {}}]), "/States/S/Retry/0/Comment", "Comment"),
    "a Version that is not a string": (one({"Type": "Pass"}, Version=1.0), "/Version", "Version must be a string"),
    "an empty state name": ({"StartAt": "", "States": {"": {"Type": "Pass", "End": True}}}, "/States/",
                            "a state name must be 1 to 80 characters"),
    "a state name with a control character": (
        {"StartAt": "a\tb", "States": {"a\tb": {"Type": "Pass", "End": True}}}, "/States/a\tb",
        "no control characters"),
    "a Task Resource that is not a URI": (task("hello"), "/States/S/Resource", "must be a URI"),
    "a Wait over the service's longest": (
        one({"Type": "Wait", "Seconds": 100_000_000}), "/States/S/Seconds", "Seconds must be at most 99999999"),
    "Variable beside And": (
        choice({"Variable": "$.a", "And": [{"Variable": "$.a", "IsPresent": True}], "Next": "T"}),
        "/States/C/Choices/0/Variable", "Variable cannot be used with And"),
    "Variable beside Not": (
        choice({"Variable": "$.a", "Not": {"Variable": "$.a", "IsPresent": True}, "Next": "T"}),
        "/States/C/Choices/0/Variable", "Variable cannot be used with Not"),
    "a DISTRIBUTED processor without ExecutionType": (
        one({"Type": "Map", "ItemProcessor": {**ITEM, "ProcessorConfig": {"Mode": "DISTRIBUTED"}}}),
        "/States/S/ItemProcessor/ProcessorConfig", "needs ExecutionType"),
    **{
        f"{key} on an inline Map": (
            one({"Type": "Map", "ItemProcessor": ITEM, key: value}), f"/States/S/{key}", "a field of a distributed Map")
        for key, value in [
            ("ItemReader", {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}}),
            ("ItemBatcher", {"MaxItemsPerBatch": 2}),
            ("ResultWriter", {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b"}}),
            ("ToleratedFailurePercentage", 5),
            ("ToleratedFailureCount", 1),
            ("Label", "each"),
        ]
    },
}  # fmt: skip

READ = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "b", "Key": "k"}}
WRITE = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "b", "Prefix": "out"}}


def distributed(**fields: Any) -> dict[str, Any]:
    return one({"Type": "Map", "ItemProcessor": DISTRIBUTED, **fields})


BROKEN_RULES.update({
    "a batch over 256 KiB": (distributed(ItemBatcher={"MaxInputBytesPerBatch": 262_145}),
                             "/States/S/ItemBatcher/MaxInputBytesPerBatch", "at most 262144"),
    "a reader of another resource": (distributed(ItemReader={**READ, "Resource": "arn:aws:states:::s3:deleteObject"}),
                                     "/States/S/ItemReader/Resource", "s3:getObject or s3:listObjectsV2"),
    "a writer of another resource": (distributed(ResultWriter={**WRITE, "Resource": "arn:aws:states:::s3:getObject"}),
                                     "/States/S/ResultWriter/Resource", "arn:aws:states:::s3:putObject"),
    "an unknown InputType": (distributed(ItemReader={**READ, "ReaderConfig": {"InputType": "XML"}}),
                             "/States/S/ItemReader/ReaderConfig/InputType", "InputType must be one of CSV"),
    "an unknown CSVHeaderLocation": (
        distributed(ItemReader={**READ, "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "TOP"}}),
        "/States/S/ItemReader/ReaderConfig/CSVHeaderLocation", "FIRST_ROW, GIVEN"),
    "GIVEN headers without CSVHeaders": (
        distributed(ItemReader={**READ, "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN"}}),
        "/States/S/ItemReader/ReaderConfig/CSVHeaders", "needs CSVHeaders"),
    "an unknown CSVDelimiter": (
        distributed(ItemReader={**READ, "ReaderConfig": {"InputType": "CSV", "CSVDelimiter": "DASH"}}),
        "/States/S/ItemReader/ReaderConfig/CSVDelimiter", "COMMA, PIPE, SEMICOLON, SPACE, TAB"),
    "MaxItems over 100,000,000": (
        distributed(ItemReader={**READ, "ReaderConfig": {"InputType": "JSON", "MaxItems": 100_000_001}}),
        "/States/S/ItemReader/ReaderConfig/MaxItems", "from 0 to 100000000"),
    "MaxItems and MaxItemsPath": (
        distributed(ItemReader={**READ, "ReaderConfig": {"InputType": "JSON", "MaxItems": 2, "MaxItemsPath": "$.n"}}),
        "/States/S/ItemReader/ReaderConfig/MaxItemsPath", "cannot be used together"),
    "an unknown OutputType": (distributed(ResultWriter={**WRITE, "WriterConfig": {"OutputType": "XML"}}),
                              "/States/S/ResultWriter/WriterConfig/OutputType", "JSON, JSONL"),
    "an unknown Transformation": (distributed(ResultWriter={**WRITE, "WriterConfig": {"Transformation": "ZIP"}}),
                                  "/States/S/ResultWriter/WriterConfig/Transformation", "NONE, COMPACT, FLATTEN"),
})  # fmt: skip


def jsonata(output: Any, **state: Any) -> dict[str, Any]:
    return one({"Type": "Pass", "Output": output, **state}, QueryLanguage="JSONata")


CATCHING = {"Type": "Task", "Resource": LAMBDA, "Arguments": {}}

BROKEN_RULES.update({
    # the service evaluates an expression with no context item: the input is $states.input
    "a name at the top level": (jsonata("{% phone %}"), "/States/S/Output", "Reference to 'phone' at the top level"),
    "a name as a function's argument": (jsonata({"n": "{% $sum(prices) %}"}), "/States/S/Output/n", "'prices'"),
    "a name as an object key": (jsonata("{% {a: 1} %}"), "/States/S/Output", "Reference to 'a' at the top level"),
    "a name in a function's body": (jsonata("{% $map($states.input.xs, function($x) { y }) %}"),
                                    "/States/S/Output", "Reference to 'y' at the top level"),
    "the context item $": (jsonata("{% $ %}"), "/States/S/Output", "Reference to '$' at the top level"),
    "the root $$": (jsonata("{% $$.a %}"), "/States/S/Output", "Reference to '$$' at the top level"),
    "$states.errorOutput outside a catcher": (jsonata("{% $states.errorOutput.Cause %}"), "/States/S/Output",
                                              "only available in a Catch entry's Output and Assign"),
    "a name in a Choice Condition": (
        {"QueryLanguage": "JSONata", "StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
            {"Condition": "{% total > 1 %}", "Next": "T"}], "Default": "T"}, "T": {"Type": "Succeed"}}},
        "/States/C/Choices/0/Condition", "Reference to 'total' at the top level"),
    "a name in a catcher's Output": (
        one({**CATCHING, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S", "Output": "{% Cause %}"}]},
            QueryLanguage="JSONata"), "/States/S/Catch/0/Output", "Reference to 'Cause' at the top level"),
})  # fmt: skip


@pytest.mark.parametrize("case", sorted(BROKEN_RULES))
def test_a_broken_rule_is_refused_at_its_field(case: str) -> None:
    definition, pointer, message = BROKEN_RULES[case]
    found = validate(definition)
    assert [p.pointer for p in found] == [pointer], (case, found)
    assert message in found[0].message, (case, found[0].message)


@pytest.mark.parametrize(
    "definition",
    [
        one({"Type": "Pass", "Comment": "copies its input"}, Comment="a machine", Version="1.0"),
        task("python:jobs:score"),
        task("lockgate:task:load"),
        task("arn:aws:lambda:us-east-1:123456789012:function:Score"),
        one({"Type": "Wait", "Seconds": 99_999_999}),
        choice({"Not": {"Variable": "$.a", "IsPresent": True}, "Next": "T", "Comment": "no a"}),
        one({"Type": "Map", "ItemProcessor": DISTRIBUTED, "ItemBatcher": {"MaxItemsPerBatch": 2}, "Label": "each",
             "ToleratedFailurePercentage": 5, "ToleratedFailureCount": 1}),
        one({"Type": "Map", "Iterator": DISTRIBUTED, "ItemBatcher": {"MaxItemsPerBatch": 2}}),
        distributed(
            ItemReader={**READ, "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "GIVEN",
                                                 "CSVHeaders": ["a", "b"], "CSVDelimiter": "TAB", "MaxItems": 10}},
            ItemBatcher={"MaxInputBytesPerBatch": 262_144},
            ResultWriter={**WRITE, "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"}},
        ),
        distributed(ItemReader={"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "b"}}),
        # later steps, predicates, groupings and sort terms read the value before them
        jsonata("{% $states.input.items[price > 1].(name & ' ' & code)^(>price){kind: $count(id)} %}"),
        jsonata({"v": "{% $v %}", "c": "{% $states.context.Execution.Id %}", "f": "{% $sum([1, 2]) %}"}),
        jsonata("{% $map($states.input.xs, function($x) { $x.y }) %}"),
        one({**CATCHING, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S", "Output": "{% $states.errorOutput %}",
                                    "Assign": {"why": "{% $states.errorOutput.Cause %}"}}]}, QueryLanguage="JSONata"),
    ],
)  # fmt: skip
def test_what_the_rules_allow_is_taken(definition: dict[str, Any]) -> None:
    assert validate(definition) == []
