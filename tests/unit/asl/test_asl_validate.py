"""The validator: every rule of the language it checks, each problem with its pointer and state."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lockgate.asl.validate import Problem, validate

GOOD: dict[str, Any] = {
    "Comment": "every state type, both query languages",
    "StartAt": "Prepare",
    "States": {
        "Prepare": {
            "Type": "Pass",
            "Parameters": {"n.$": "$.n", "id.$": "States.UUID()", "when.$": "$$.Execution.StartTime"},
            "ResultPath": "$.prepared",
            "Assign": {"count": 0, "who.$": "$.name"},
            "Next": "Work",
        },
        "Work": {
            "Type": "Task",
            "Resource": "lockgate:task:work",
            "TimeoutSeconds": 60,
            "HeartbeatSeconds": 10,
            "Retry": [
                {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 1.5},
                {"ErrorEquals": ["States.ALL"], "JitterStrategy": "FULL", "MaxDelaySeconds": 30},
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
            "Next": "Check",
        },
        "Check": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Fan"},
                {
                    "And": [{"Variable": "$.s", "IsPresent": True}, {"Variable": "$.s", "StringMatches": "a*"}],
                    "Next": "Pause",
                },
                {"Not": {"Variable": "$.t", "TimestampLessThanPath": "$$.Execution.StartTime"}, "Next": "Work"},
            ],
            "Default": "Done",
        },
        "Pause": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Check"},
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "One", "States": {"One": {"Type": "Pass", "End": True}}},
                {"StartAt": "Two", "States": {"Two": {"Type": "Succeed"}}},
            ],
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 2,
            "ItemSelector": {"item.$": "$$.Map.Item.Value"},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Inner",
                "States": {"Inner": {"Type": "Pass", "End": True}},
            },
            "Next": "Modern",
        },
        "Modern": {
            "Type": "Pass",
            "QueryLanguage": "JSONata",
            "Output": {"total": "{% $count + 1 %}", "input": "{% $states.input %}"},
            "Assign": {"count": "{% $count + 1 %}"},
            "Next": "Decide",
        },
        "Decide": {
            "Type": "Choice",
            "QueryLanguage": "JSONata",
            "Choices": [{"Condition": "{% $count > 3 %}", "Next": "Done", "Output": "{% $states.input %}"}],
            "Default": "Modern",
        },
        "Done": {"Type": "Succeed"},
        "Failed": {"Type": "Fail", "Error": "Work.Failed", "CausePath": "$.error.Cause"},
    },
}


def problems_of(definition: Any) -> list[Problem]:
    return validate(definition)


def with_state(name: str, state: Any, start: str | None = None) -> dict[str, Any]:
    definition = copy.deepcopy(GOOD)
    definition["States"][name] = state
    if start is not None:
        definition["StartAt"] = start
    return definition


def only(definition: Any) -> Problem:
    found = problems_of(definition)
    assert len(found) == 1, found
    return found[0]


def test_a_good_definition_has_no_problems() -> None:
    assert problems_of(GOOD) == []


def test_problems_print_state_pointer_and_message() -> None:
    problem = Problem("/States/A/Next", "A", "'B' is not a state in this state machine")
    assert str(problem) == "state 'A' /States/A/Next: 'B' is not a state in this state machine"
    assert str(Problem("", None, "a state machine must be a JSON object")) == "/: a state machine must be a JSON object"


def test_missing_start_at_and_states() -> None:
    found = problems_of({})
    assert [(p.pointer, p.message) for p in found] == [
        ("/StartAt", "StartAt is required"),
        ("/States", "States is required"),
    ]
    assert only({"StartAt": "A", "States": {}}).pointer == "/States"
    assert only([]).message == "a state machine must be a JSON object"


def test_start_at_and_next_must_name_states() -> None:
    definition = copy.deepcopy(GOOD)
    definition["StartAt"] = "Nowhere"
    found = problems_of(definition)
    assert found[0].pointer == "/StartAt" and "Nowhere" in found[0].message
    definition = copy.deepcopy(GOOD)
    definition["States"]["Pause"]["Next"] = "Ghost"
    problem = only(definition)
    assert (problem.pointer, problem.state) == ("/States/Pause/Next", "Pause")
    definition = copy.deepcopy(GOOD)
    definition["States"]["Check"]["Default"] = "Ghost"
    assert only(definition).pointer == "/States/Check/Default"


def test_every_problem_is_reported_not_just_the_first() -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Pause"]["Next"] = "Ghost"
    definition["States"]["Work"]["Retry"][0]["BackoffRate"] = 0.5
    definition["States"]["Done"]["Retry"] = []
    pointers = {p.pointer for p in problems_of(definition)}
    assert {"/States/Pause/Next", "/States/Work/Retry/0/BackoffRate", "/States/Done/Retry"} <= pointers


def test_unreachable_states() -> None:
    problem = only(with_state("Orphan", {"Type": "Succeed"}))
    assert (problem.pointer, problem.state) == ("/States/Orphan", "Orphan")
    assert "cannot be reached" in problem.message


def test_states_that_can_never_end() -> None:
    definition = {
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Wait", "Seconds": 1, "Next": "A"}},
    }
    found = problems_of(definition)
    assert {p.state for p in found} == {"A", "B"}
    assert all("never reach an end" in p.message for p in found)


def test_loops_with_a_way_out_are_fine() -> None:
    definition = {
        "StartAt": "Loop",
        "States": {
            "Loop": {"Type": "Pass", "Next": "Again"},
            "Again": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.i", "NumericLessThan": 10, "Next": "Loop"}],
                "Default": "End",
            },
            "End": {"Type": "Succeed"},
        },
    }
    assert problems_of(definition) == []


def test_next_or_end() -> None:
    problem = only(with_state("Pause", {"Type": "Wait", "Seconds": 1}))
    assert "needs Next or" in problem.message and problem.pointer == "/States/Pause"
    problem = only(with_state("Pause", {"Type": "Wait", "Seconds": 1, "Next": "Check", "End": True}))
    assert problem.message == "End and Next cannot be used together"


def test_fields_not_allowed_for_the_type() -> None:
    problem = only(with_state("Done", {"Type": "Succeed", "Resource": "x"}))
    assert (problem.pointer, problem.message) == (
        "/States/Done/Resource",
        "the field 'Resource' is not allowed in a Succeed state",
    )
    assert only(with_state("Done", {"Type": "Succeed", "Bogus": 1})).pointer == "/States/Done/Bogus"
    assert "unknown Type" in only(with_state("Done", {"Type": "Sleep"})).message
    assert "Type is required" in only(with_state("Done", {"End": True})).message


@pytest.mark.parametrize("kind", ["Pass", "Choice", "Wait", "Succeed", "Fail"])
def test_retry_and_catch_only_where_allowed(kind: str) -> None:
    state: dict[str, Any] = {"Type": kind, "Retry": [{"ErrorEquals": ["States.ALL"]}]}
    found = problems_of({"StartAt": "S", "States": {"S": state}})
    assert any(p.pointer == "/States/S/Retry" and "not allowed in a " + kind in p.message for p in found)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("BackoffRate", 0.5),
        ("MaxAttempts", -1),
        ("IntervalSeconds", 0),
        ("IntervalSeconds", 1.5),
        ("JitterStrategy", "SOME"),
        ("MaxDelaySeconds", 0),
        ("MaxDelaySeconds", 31_622_400),
    ],
)
def test_bad_retry_values(field: str, value: Any) -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Work"]["Retry"][0][field] = value
    problem = only(definition)
    assert (problem.pointer, problem.state) == (f"/States/Work/Retry/0/{field}", "Work")


def test_states_all_must_be_alone_and_last() -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Work"]["Retry"].reverse()
    problem = only(definition)
    assert problem.pointer == "/States/Work/Retry/0/ErrorEquals" and "last" in problem.message
    definition = copy.deepcopy(GOOD)
    definition["States"]["Work"]["Catch"][0]["ErrorEquals"] = ["States.ALL", "States.Timeout"]
    assert "alone" in only(definition).message
    definition["States"]["Work"]["Catch"][0]["ErrorEquals"] = []
    assert only(definition).pointer == "/States/Work/Catch/0/ErrorEquals"


def test_catch_needs_a_known_next() -> None:
    definition = copy.deepcopy(GOOD)
    del definition["States"]["Work"]["Catch"][0]["Next"]
    found = problems_of(definition)
    assert any(p.pointer == "/States/Work/Catch/0" and "needs Next" in p.message for p in found)


def test_bad_paths() -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Prepare"]["InputPath"] = "$.a["
    definition["States"]["Prepare"]["ResultPath"] = "$.items[*]"
    definition["States"]["Prepare"]["OutputPath"] = "nope"
    definition["States"]["Prepare"]["Parameters"]["bad.$"] = "$..["
    pointers = [p.pointer for p in problems_of(definition)]
    assert pointers == [
        "/States/Prepare/InputPath",
        "/States/Prepare/OutputPath",
        "/States/Prepare/ResultPath",
        "/States/Prepare/Parameters/bad.$",
    ]
    definition = copy.deepcopy(GOOD)
    definition["States"]["Prepare"]["ResultPath"] = "$$.Execution"
    assert "into the state's input" in only(definition).message
    definition = copy.deepcopy(GOOD)
    definition["States"]["Check"]["Choices"][0]["Variable"] = "x"
    assert only(definition).pointer == "/States/Check/Choices/0/Variable"


def test_bad_intrinsics() -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Prepare"]["Parameters"]["id.$"] = "States.Format('x'"
    definition["States"]["Prepare"]["Assign"]["n.$"] = "States.NoSuch()"
    definition["States"]["Failed"]["CausePath"] = "States.Format('{}', $.a"
    found = problems_of(definition)
    assert [p.pointer for p in found] == [
        "/States/Prepare/Parameters/id.$",
        "/States/Prepare/Assign/n.$",
        "/States/Failed/CausePath",
    ]
    assert "unknown intrinsic function" in found[1].message


def test_duplicate_payload_fields_after_removing_the_suffix() -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Prepare"]["Parameters"]["n"] = 1
    assert "appears twice" in only(definition).message


def test_bad_jsonata() -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Modern"]["Output"]["total"] = "{% $count + %}"
    definition["States"]["Decide"]["Choices"][0]["Condition"] = "{% ( %}"
    found = problems_of(definition)
    assert [p.pointer for p in found] == ["/States/Modern/Output/total", "/States/Decide/Choices/0/Condition"]


def test_query_language_fields() -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Modern"]["ResultPath"] = "$.x"
    definition["States"]["Prepare"]["Output"] = {"a": 1}
    found = problems_of(definition)
    assert {(p.pointer, p.state) for p in found} == {
        ("/States/Modern/ResultPath", "Modern"),
        ("/States/Prepare/Output", "Prepare"),
    }
    definition = copy.deepcopy(GOOD)
    definition["QueryLanguage"] = "JSONata"
    found = problems_of(definition)
    assert any(p.pointer == "/States/Prepare/Parameters" and "JSONPath field" in p.message for p in found)
    definition = copy.deepcopy(GOOD)
    definition["States"]["Prepare"]["QueryLanguage"] = "XPath"
    assert only(definition).pointer == "/States/Prepare/QueryLanguage"


def test_a_jsonata_machine_cannot_have_jsonpath_states() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True}},
    }
    assert only(definition).pointer == "/States/A/QueryLanguage"


def test_wait_needs_exactly_one_duration() -> None:
    assert "exactly one" in only(with_state("Pause", {"Type": "Wait", "Next": "Check"})).message
    problem = only(with_state("Pause", {"Type": "Wait", "Seconds": 5, "SecondsPath": "$.s", "Next": "Check"}))
    assert "Seconds, SecondsPath" in problem.message
    assert (
        only(with_state("Pause", {"Type": "Wait", "Seconds": -1, "Next": "Check"})).pointer == "/States/Pause/Seconds"
    )
    assert only(with_state("Pause", {"Type": "Wait", "Timestamp": "tomorrow", "Next": "Check"})).pointer == (
        "/States/Pause/Timestamp"
    )


def test_task_timeouts() -> None:
    state = copy.deepcopy(GOOD["States"]["Work"])
    state["TimeoutSecondsPath"] = "$.timeout"
    assert "cannot be used together" in only(with_state("Work", state)).message
    state = copy.deepcopy(GOOD["States"]["Work"])
    state["HeartbeatSeconds"] = 60
    assert "smaller than TimeoutSeconds" in only(with_state("Work", state)).message
    state["TimeoutSeconds"] = 0
    state["HeartbeatSeconds"] = 1
    assert only(with_state("Work", state)).pointer == "/States/Work/TimeoutSeconds"
    del state["Resource"]
    state["TimeoutSeconds"] = 5
    assert "needs Resource" in only(with_state("Work", state)).message


def test_fail_error_and_cause_forms() -> None:
    found = problems_of(with_state("Failed", {"Type": "Fail", "Error": "E", "ErrorPath": "$.e", "Cause": 3}))
    assert [p.pointer for p in found] == ["/States/Failed/ErrorPath", "/States/Failed/Cause"]


def test_choice_rules() -> None:
    assert "needs Choices" in only(with_state("Check", {"Type": "Choice", "Default": "Done"})).message
    assert only(with_state("Check", {"Type": "Choice", "Choices": []})).pointer == "/States/Check/Choices"
    bad_rules = [
        {"Variable": "$.n", "NumericEquals": "1", "Next": "Done"},
        {"Variable": "$.n", "Next": "Done"},
        {"NumericEquals": 1, "Next": "Done"},
        {"And": [{"Variable": "$.n", "IsNull": "yes", "Next": "Done"}], "Next": "Done"},
        {"Variable": "$.t", "TimestampEquals": "2020-01-01", "Next": "Done"},
        {"Variable": "$.n", "BooleanEquals": 1},
        {"Or": [], "Next": "Done"},
    ]
    found = problems_of(with_state("Check", {"Type": "Choice", "Choices": bad_rules, "Default": "Work"}))
    # (The states only the old rules led to are now unreachable: reported too, filtered out here.)
    assert [p.pointer for p in found if p.state == "Check"] == [
        "/States/Check/Choices/0/NumericEquals",
        "/States/Check/Choices/1",
        "/States/Check/Choices/2",
        "/States/Check/Choices/3/And/0/Next",
        "/States/Check/Choices/3/And/0/IsNull",
        "/States/Check/Choices/4/TimestampEquals",
        "/States/Check/Choices/5",
        "/States/Check/Choices/5/BooleanEquals",
        "/States/Check/Choices/6/Or",
    ]


def test_jsonata_choice_rules_need_a_condition() -> None:
    state = {"Type": "Choice", "QueryLanguage": "JSONata", "Choices": [{"Next": "Done", "Variable": "$.x"}]}
    found = problems_of(with_state("Decide", state))
    assert {p.pointer for p in found} == {"/States/Decide/Choices/0/Variable", "/States/Decide/Choices/0"}


def test_map_and_parallel_structure() -> None:
    assert "needs ItemProcessor" in only(with_state("Each", {"Type": "Map", "Next": "Modern"})).message
    assert "needs Branches" in only(with_state("Fan", {"Type": "Parallel", "Next": "Each"})).message
    state = copy.deepcopy(GOOD["States"]["Each"])
    state["ToleratedFailurePercentage"] = 150
    state["MaxConcurrency"] = -1
    state["ItemProcessor"]["ProcessorConfig"]["Mode"] = "SOMETIMES"
    found = problems_of(with_state("Each", state))
    assert {p.pointer for p in found} == {
        "/States/Each/ItemProcessor/ProcessorConfig/Mode",
        "/States/Each/MaxConcurrency",
        "/States/Each/ToleratedFailurePercentage",
    }


def test_nested_machines_are_validated_with_pointers_into_them() -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Fan"]["Branches"][1]["States"]["Two"] = {"Type": "Pass", "Next": "Nowhere"}
    definition["States"]["Each"]["ItemProcessor"]["States"]["Inner"]["Retry"] = [
        {"ErrorEquals": ["X"], "MaxAttempts": -2}
    ]
    definition["States"]["Each"]["ItemProcessor"]["States"]["Inner"]["Type"] = "Task"
    definition["States"]["Each"]["ItemProcessor"]["States"]["Inner"]["Resource"] = "python:jobs:r"
    found = problems_of(definition)
    assert [(p.pointer, p.state) for p in found] == [
        ("/States/Fan/Branches/1/States/Two/Next", "Two"),
        ("/States/Each/ItemProcessor/States/Inner/Retry/0/MaxAttempts", "Inner"),
    ]


def test_variable_names_in_assign() -> None:
    definition = copy.deepcopy(GOOD)
    definition["States"]["Prepare"]["Assign"] = {"1st": 1, "ok_name": 2, "has space": 3, "states": 4, "x" * 81: 5}
    found = problems_of(definition)
    assert [p.pointer.rsplit("/", 1)[1] for p in found] == ["1st", "has space", "states", "x" * 81]


def test_pointers_escape_slashes_and_tildes() -> None:
    definition = {"StartAt": "a/b~c", "States": {"a/b~c": {"Type": "Pass"}}}
    assert only(definition).pointer == "/States/a~1b~0c"
