"""Choice rules in both query languages, from the ASL specification's rules and examples."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockgate.asl.choice import choose, choose_index, evaluate_rule, matches_pattern, parse_timestamp
from lockgate.asl.errors import QUERY_EVALUATION_ERROR, RUNTIME, StatesError

DOC_STATE = {
    "Type": "Choice",
    "Choices": [
        {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
        {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
        {
            "And": [
                {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                {"Variable": "$.value", "NumericLessThan": 30},
            ],
            "Next": "ValueInTwenties",
        },
    ],
    "Default": "DefaultState",
}


def rule(operator: str, value: Any, variable: str = "$.v") -> dict[str, Any]:
    return {"Variable": variable, operator: value}


def check(operator: str, value: Any, data: Any) -> bool:
    return evaluate_rule(rule(operator, value), {"v": data}, {})


def test_the_documented_example_picks_value_in_twenties() -> None:
    assert choose(DOC_STATE, {"type": "Private", "value": 22}, {}, {}) == "ValueInTwenties"
    assert choose(DOC_STATE, {"type": "Public", "value": 22}, {}, {}) == "Public"
    assert choose(DOC_STATE, {"type": "Private", "value": 0}, {}, {}) == "ValueIsZero"
    assert choose(DOC_STATE, {"type": "Private", "value": 31}, {}, {}) is None
    assert choose_index(DOC_STATE, {"type": "Private", "value": 22}, {}, {}) == 2


@pytest.mark.parametrize(
    ("operator", "value", "data", "expected"),
    [
        ("StringEquals", "MyString", "MyString", True),
        ("StringEquals", "MyString", "Other", False),
        ("StringLessThan", "b", "a", True),
        ("StringGreaterThan", "MyStringABC", "MyStringABD", True),
        ("StringLessThanEquals", "a", "a", True),
        ("StringGreaterThanEquals", "b", "a", False),
        ("NumericEquals", 1, 1.0, True),
        ("NumericLessThan", 2, 1, True),
        ("NumericGreaterThan", 2, 1, False),
        ("NumericLessThanEquals", 1.5, 1.5, True),
        ("NumericGreaterThanEquals", -1, 0, True),
        ("BooleanEquals", True, True, True),
        ("BooleanEquals", False, True, False),
        ("TimestampEquals", "2001-01-01T12:00:00Z", "2001-01-01T12:00:00Z", True),
        ("TimestampEquals", "2001-01-01T12:00:00Z", "2001-01-01T13:00:00+01:00", True),
        ("TimestampLessThan", "2016-08-18T17:33:00Z", "2016-08-18T17:32:59.999Z", True),
        ("TimestampGreaterThan", "2016-08-18T17:33:00Z", "2016-08-18T17:33:00.001Z", True),
        ("TimestampLessThanEquals", "2016-08-18T17:33:00Z", "2016-08-18T17:33:00Z", True),
        ("TimestampGreaterThanEquals", "2016-08-18T17:33:00Z", "2015-01-01T00:00:00Z", False),
    ],
)
def test_comparison_operators(operator: str, value: Any, data: Any, expected: bool) -> None:
    assert check(operator, value, data) is expected


@pytest.mark.parametrize(
    ("operator", "value", "data"),
    [
        ("NumericEquals", 1, "1"),
        ("NumericEquals", 1, True),
        ("StringEquals", "1", 1),
        ("StringEquals", "null", None),
        ("BooleanEquals", True, 1),
        ("BooleanEquals", False, 0),
        ("TimestampEquals", "2001-01-01T12:00:00Z", "2001-01-01 12:00:00Z"),
        ("TimestampEquals", "2001-01-01T12:00:00Z", "2001-01-01t12:00:00z"),
        ("NumericLessThan", 5, [1]),
    ],
)
def test_a_value_of_the_wrong_type_never_matches(operator: str, value: Any, data: Any) -> None:
    assert check(operator, value, data) is False
    assert evaluate_rule({"Not": rule(operator, value)}, {"v": data}, {}) is True


def test_timestamps_can_also_be_compared_as_strings() -> None:
    assert check("StringEquals", "2001-01-01T12:00:00Z", "2001-01-01T12:00:00Z")


def test_path_forms_compare_two_values_of_the_input_context_or_variables() -> None:
    data = {"a": 3, "b": 5, "s": "x", "t": "2020-01-01T00:00:00Z", "flag": True}
    assert evaluate_rule({"Variable": "$.a", "NumericLessThanPath": "$.b"}, data, {})
    assert not evaluate_rule({"Variable": "$.a", "NumericGreaterThanPath": "$.b"}, data, {})
    assert evaluate_rule({"Variable": "$.s", "StringEqualsPath": "$$.Name"}, data, {"Name": "x"})
    assert evaluate_rule({"Variable": "$.flag", "BooleanEqualsPath": "$expected"}, data, {}, {"expected": True})
    assert evaluate_rule(
        {"Variable": "$.t", "TimestampLessThanPath": "$.later"}, {**data, "later": "2021-01-01T00:00:00Z"}, {}
    )
    assert not evaluate_rule({"Variable": "$.a", "StringEqualsPath": "$.a"}, data, {})  # numbers are not strings
    with pytest.raises(StatesError) as caught:
        evaluate_rule({"Variable": "$.a", "NumericEqualsPath": "$.missing"}, data, {})
    assert caught.value.error == RUNTIME


def test_variables_and_context_as_the_variable() -> None:
    assert evaluate_rule({"Variable": "$count", "NumericGreaterThan": 2}, {}, {}, {"count": 3})
    assert evaluate_rule(
        {"Variable": "$$.Execution.Name", "StringMatches": "run-*"}, {}, {"Execution": {"Name": "run-7"}}
    )


def test_a_missing_variable_is_a_runtime_error_except_under_is_present() -> None:
    with pytest.raises(StatesError) as caught:
        evaluate_rule(rule("StringEquals", "x", "$.missing"), {}, {})
    assert caught.value.error == RUNTIME and "$.missing" in caught.value.cause
    with pytest.raises(StatesError):
        evaluate_rule(rule("IsNull", True, "$.missing"), {}, {})
    assert evaluate_rule(rule("IsPresent", False, "$.missing"), {}, {})
    assert not evaluate_rule(rule("IsPresent", True, "$.missing"), {}, {})
    assert evaluate_rule(rule("IsPresent", True, "$.here"), {"here": None}, {})
    assert not evaluate_rule(rule("IsPresent", True, "$.items[*]"), {"items": []}, {})
    assert evaluate_rule(rule("IsPresent", True, "$.items[*]"), {"items": [0]}, {})
    assert not evaluate_rule(rule("IsPresent", True, "$ghost"), {}, {}, {})


@pytest.mark.parametrize(
    ("operator", "yes", "no"),
    [
        ("IsNull", None, 0),
        ("IsNumeric", 1.5, "1.5"),
        ("IsNumeric", 0, False),
        ("IsString", "", None),
        ("IsBoolean", False, 0),
        ("IsTimestamp", "2016-08-18T17:33:00Z", "2016-08-18"),
        ("IsTimestamp", "2016-08-18T17:33:00.123456789-07:00", "2016-13-18T17:33:00Z"),
    ],
)
def test_type_tests(operator: str, yes: Any, no: Any) -> None:
    assert check(operator, True, yes) and not check(operator, True, no)
    assert check(operator, False, no) and not check(operator, False, yes)


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("*.log", "foo.log", True),
        ("*.log", "foo.log.zip", False),
        ("foo*.log", "foobar.log", True),
        ("foo*.log", "foo.log", True),
        ("*", "", True),
        ("a*b*c", "a-b-c", True),
        ("a*b*c", "acb", False),
        (r"\*", "*", True),
        (r"\*", "x", False),
        (r"a\\b", "a\\b", True),
        (r"a\\*", "a\\anything", True),
        ("a.b", "axb", False),
        ("(x)+", "(x)+", True),
        ("line*", "line\nbreak", True),
    ],
)
def test_string_matches(pattern: str, text: str, expected: bool) -> None:
    assert check("StringMatches", pattern, text) is expected


def test_string_matches_a_non_string_is_false() -> None:
    assert not check("StringMatches", "*", 5)


@given(st.text(alphabet=st.characters(blacklist_characters="*\\"), max_size=12), st.text(max_size=12))
def test_string_matches_without_wildcards_is_equality(pattern: str, text: str) -> None:
    assert check("StringMatches", pattern, text) is (pattern == text)
    assert matches_pattern(pattern).fullmatch(pattern)


@given(st.text(max_size=8), st.text(max_size=8))
def test_string_order_follows_utf16_code_units(left: str, right: str) -> None:
    expected = left.encode("utf-16-be", "surrogatepass") < right.encode("utf-16-be", "surrogatepass")
    assert evaluate_rule({"Variable": "$.a", "StringLessThanPath": "$.b"}, {"a": left, "b": right}, {}) is expected


def test_supplementary_characters_sort_as_java_sorts_them() -> None:
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, which sorts before U+FFFD.
    assert check("StringLessThan", "\ufffd", "\U0001f600")


@given(st.integers(-100, 100), st.integers(-100, 100))
def test_numeric_operators_agree_with_arithmetic(value: int, limit: int) -> None:
    assert check("NumericLessThan", limit, value) is (value < limit)
    assert check("NumericGreaterThanEquals", limit, value) is (value >= limit)
    assert evaluate_rule({"Or": [rule("NumericLessThan", limit), rule("NumericEquals", limit)]}, {"v": value}, {}) is (
        value <= limit
    )


def test_nesting_and_or_not() -> None:
    nested = {
        "Or": [
            {"And": [rule("IsString", True), {"Not": rule("StringEquals", "skip")}]},
            rule("NumericGreaterThan", 10),
        ]
    }
    assert evaluate_rule(nested, {"v": "go"}, {})
    assert not evaluate_rule(nested, {"v": "skip"}, {})
    assert evaluate_rule(nested, {"v": 11}, {})
    assert not evaluate_rule(nested, {"v": 5}, {})


def test_malformed_rules_raise() -> None:
    with pytest.raises(StatesError, match="exactly one comparison operator"):
        evaluate_rule({"Variable": "$.v", "StringEquals": "a", "NumericEquals": 1}, {"v": "a"}, {})
    with pytest.raises(StatesError, match="needs a Variable"):
        evaluate_rule({"StringEquals": "a"}, {}, {})
    with pytest.raises(StatesError, match="non-empty array"):
        evaluate_rule({"And": []}, {}, {})


def test_rules_compile_once_and_stay_correct_for_new_dicts() -> None:
    first = rule("NumericEquals", 1)
    assert evaluate_rule(first, {"v": 1}, {})
    for value in range(50):  # fresh dicts may reuse ids of freed ones; results must follow the rule
        assert evaluate_rule(rule("NumericEquals", value), {"v": value}, {})


def test_jsonata_conditions() -> None:
    state = {
        "Type": "Choice",
        "Choices": [
            {"Condition": "{% $states.input.n > $limit %}", "Next": "Big"},
            {"Condition": "{% $states.context.Execution.Name = 'x' %}", "Next": "Named"},
            {"Condition": True, "Next": "Always"},
        ],
    }
    assert choose(state, {"n": 5}, {}, {"limit": 3}, "JSONata") == "Big"
    assert choose(state, {"n": 1}, {"Execution": {"Name": "x"}}, {"limit": 3}, "JSONata") == "Named"
    assert choose_index(state, {"n": 1}, {"Execution": {"Name": "y"}}, {"limit": 3}, "JSONata") == 2
    assert evaluate_rule({"Condition": "{% true %}"}, {}, {})
    bindings = {"states": {"input": {"n": 10}, "context": {}}, "limit": 100}
    assert choose(state, {}, {}, None, "JSONata", bindings=bindings) == "Always"


def test_a_jsonata_condition_must_be_boolean() -> None:
    with pytest.raises(StatesError) as caught:
        evaluate_rule({"Condition": "{% $states.input.n %}"}, {"n": 1}, {})
    assert caught.value.error == QUERY_EVALUATION_ERROR
    with pytest.raises(StatesError) as caught:
        evaluate_rule({"Condition": "{% $states.input.missing %}"}, {}, {})
    assert caught.value.error == QUERY_EVALUATION_ERROR


def test_parse_timestamp() -> None:
    parsed = parse_timestamp("2016-08-18T17:33:00.5+02:00")
    assert parsed is not None and parsed.isoformat() == "2016-08-18T17:33:00.500000+02:00"
    for bad in ("2016-08-18T17:33:00", "2016-08-18T25:33:00Z", 5, None, "2016-02-30T00:00:00Z"):
        assert parse_timestamp(bad) is None
