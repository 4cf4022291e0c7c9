"""JSONata states, per-state query languages and variables."""

from __future__ import annotations

from typing import Any

from machine_harness import Raise, drive


def test_jsonata_arguments_output_and_assign() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Price",
        "States": {
            "Price": {
                "Type": "Task",
                "Resource": "price",
                "Arguments": {"sku": "{% $states.input.sku %}", "qty": "{% $states.input.qty * 2 %}"},
                "Assign": {"paid": "{% $states.result.total %}", "was": "{% $states.input.qty %}"},
                "Output": {"total": "{% $states.result.total %}"},
                "Next": "Report",
            },
            "Report": {
                "Type": "Pass",
                "Output": {"paid": "{% $paid %}", "was": "{% $was %}", "in": "{% $states.input %}"},
                "End": True,
            },
        },
    }
    trace = drive(definition, {"sku": "A1", "qty": 3}, {"price": lambda p: {"total": p["qty"] * 10, "sku": p["sku"]}})
    assert trace.machine.output == {"paid": 60, "was": 3, "in": {"total": 60}}
    exited = trace.events("TaskStateExited")[0]["stateExitedEventDetails"]
    assert exited["assignedVariables"] == {"paid": "60", "was": "3"}


def test_jsonata_task_output_defaults_to_the_result() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": "r", "End": True}},
    }
    assert drive(definition, {"x": 1}, {"r": lambda p: {"got": p}}).machine.output == {"got": {"x": 1}}


def test_assign_sees_variables_as_they_were_when_the_state_began() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "One",
        "States": {
            "One": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Two"},
            "Two": {
                "Type": "Pass",
                "Assign": {"x": "{% $x + 1 %}", "y": "{% $x %}"},
                "Output": "{% $x %}",
                "Next": "Three",
            },
            "Three": {
                "Type": "Pass",
                "Output": {"x": "{% $x %}", "y": "{% $y %}", "prev": "{% $states.input %}"},
                "End": True,
            },
        },
    }
    assert drive(definition, {}).machine.output == {"x": 2, "y": 1, "prev": 1}


def test_jsonata_choice_condition_with_rule_output() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $states.input.n > 3 %}", "Output": {"big": True}, "Next": "S"}],
                "Default": "Small",
            },
            "S": {"Type": "Succeed"},
            "Small": {"Type": "Pass", "Output": "small", "End": True},
        },
    }
    assert drive(definition, {"n": 5}).machine.output == {"big": True}
    assert drive(definition, {"n": 1}).machine.output == "small"


def test_a_jsonata_state_inside_a_jsonpath_machine() -> None:
    definition = {
        "StartAt": "Old",
        "States": {
            "Old": {"Type": "Pass", "Parameters": {"v.$": "$.a"}, "Next": "New"},
            "New": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.v * 3 %}", "End": True},
        },
    }
    assert drive(definition, {"a": 2}).machine.output == 6


def test_jsonata_catch_output_and_error_output() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "r",
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Output": {"why": "{% $states.errorOutput.Cause %}", "in": "{% $states.input %}"},
                        "Next": "S",
                    }
                ],
                "End": True,
            },
            "S": {"Type": "Succeed"},
        },
    }

    def fail(_: Any) -> Any:
        raise Raise("E", "because")

    assert drive(definition, {"k": 1}, {"r": fail}).machine.output == {"why": "because", "in": {"k": 1}}


def test_jsonata_map_items_and_item_selector() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% $states.input.values %}",
                "ItemSelector": {
                    "v": "{% $states.context.Map.Item.Value %}",
                    "i": "{% $states.context.Map.Item.Index %}",
                },
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "Output": "{% $states.input.v + $states.input.i %}", "End": True}},
                },
                "End": True,
            }
        },
    }
    assert drive(definition, {"values": [10, 20]}).machine.output == [10, 21]


def test_a_jsonata_error_is_a_query_evaluation_error_that_catch_can_handle() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": "{% $states.input.a + 'x' %}", "End": True}},
    }
    assert drive(definition, {"a": 1}).machine.error == "States.QueryEvaluationError"


def test_jsonata_wait_seconds_expression() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": "{% $states.input.d %}", "End": True}},
    }
    trace = drive(definition, {"d": 9})
    assert trace.timers[0].due_at - trace.machine.history[0]["timestamp"] == 9


def test_jsonata_uuid_and_random_in_output_draw_from_the_machines_entropy() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Draw",
        "States": {"Draw": {"Type": "Pass", "Output": {"id": "{% $uuid() %}", "r": "{% $random() %}"}, "End": True}},
    }
    first, again = drive(definition, {}, seed=7).machine, drive(definition, {}, seed=7).machine
    assert first.status == "SUCCEEDED", first.cause
    assert len(first.output["id"]) == 36 and 0 <= first.output["r"] < 1
    assert first.output == again.output  # drawn from the entropy a replay gets back
