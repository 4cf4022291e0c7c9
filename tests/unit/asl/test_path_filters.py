"""Jayway JsonPath's word operators in filters (in, nin, subsetof, anyof, noneof, size, empty),
with the semantics of Jayway's evaluators, the library the service uses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockgate.asl import paths
from lockgate.asl.driver import run_execution
from lockgate.asl.errors import StatesError
from lockgate.asl.resources import Resources
from lockgate.asl.validate import validate

ITEMS: dict[str, Any] = {
    "items": [
        {"id": 1, "tags": ["a", "b"], "name": "ab", "meta": {"k": 1}},
        {"id": 2, "tags": [], "name": "", "meta": {}},
        {"id": 3, "tags": ["c"], "name": "h\U0001f600", "meta": 7},
        {"id": 4},
    ],
    "wanted": [1, 3],
    "lookup": {"pick": [2]},
}


def ids(path: str, data: Any = ITEMS, **kwargs: Any) -> Any:
    return paths.select(path, data, {}, **kwargs)


def test_in_and_nin_take_a_path_to_a_list_from_the_document_or_the_item() -> None:
    assert ids("$.items[?(@.id in $.wanted)].id") == [1, 3]
    assert ids("$.items[?(@.id nin $.wanted)].id") == [2, 4]
    assert ids("$.items[?(@.id in $.lookup.pick)].id") == [2]
    assert ids("$.items[?('b' in @.tags)].id") == [1]
    assert ids("$.items[?(@.id in $.missing)].id") == []  # no list there: nothing is in it
    assert ids("$.items[?(@.id in $.items[0].id)].id") == []  # a number is not a list
    assert ids("$.items[?(@.absent in [1, null])].id") == []  # a missing field is never a member
    assert ids("$.items[?(@.absent nin [1])].id") == [1, 2, 3, 4]


def test_membership_compares_json_values() -> None:
    data = {"v": [{"x": 1}, {"x": 1.0}, {"x": "1"}, {"x": True}, {"x": [1]}, {"x": {"a": None}}]}
    assert len(ids("$.v[?(@.x in [1])]", data)) == 2  # 1 and 1.0, never "1" or true
    assert ids("$.v[?(@.x in [true])]", data) == [{"x": True}]
    assert ids("$.v[?(@.x in $.want)]", {**data, "want": [[1], {"a": None}]}) == [{"x": [1]}, {"x": {"a": None}}]


def test_subsetof_anyof_and_noneof_need_lists_on_both_sides() -> None:
    assert ids("$.items[?(@.tags subsetof ['a', 'b', 'c'])].id") == [1, 2, 3]
    assert ids("$.items[?(@.tags subsetof ['a'])].id") == [2]  # the empty list is a subset of any
    assert ids("$.items[?(@.tags anyof ['c', 'z'])].id") == [3]
    assert ids("$.items[?(@.tags noneof ['c'])].id") == [1, 2]  # not 4: it has no list
    assert ids("$.items[?(@.name anyof ['ab'])].id") == []  # a string is not a list
    assert ids("$.items[?(@.tags subsetof $.tags_allowed)].id", {**ITEMS, "tags_allowed": ["a", "b"]}) == [1, 2]


def test_size_counts_an_array_or_a_strings_utf16_units() -> None:
    assert ids("$.items[?(@.tags size 2)].id") == [1]
    assert ids("$.items[?(@.tags size 0)].id") == [2]
    assert ids("$.items[?(@.name size 2)].id") == [1]
    assert ids("$.items[?(@.name size 3)].id") == [3]  # a character outside the BMP counts twice, as in Java
    assert ids("$.items[?(@.meta size 0)].id") == []  # an object has no size
    assert ids("$.items[?(@.tags size 1.9)].id") == [3]  # Java's intValue: toward zero
    assert ids("$.items[?(@.tags size $.two)].id", {**ITEMS, "two": 2}) == [1]


def test_empty_holds_for_an_empty_string_array_or_object() -> None:
    assert ids("$.items[?(@.tags empty true)].id") == [2]
    assert ids("$.items[?(@.name empty true)].id") == [2]
    assert ids("$.items[?(@.meta empty true)].id") == [2]
    assert ids("$.items[?(@.tags empty false)].id") == [1, 3]
    assert ids("$.items[?(@.id empty false)].id") == []  # a number is neither empty nor not
    assert ids("$.items[?(@.absent empty true)].id") == []


def test_word_operators_combine_with_the_other_filter_tests() -> None:
    assert ids("$.items[?(@.id in [1, 2] && @.tags size 0)].id") == [2]
    assert ids("$.items[?(@.id in $.wanted || @.name empty true)].id") == [1, 2, 3]
    assert ids("$.items[?(!(@.tags size 2))].id") == [2, 3, 4]
    assert ids("$.items[?(@.tags empty false && @.id > 1)].name") == ["h\U0001f600"]
    assert ids("$..[?(@.tags size 1)].id") == [3]
    nested = {"g": [{"n": 1, "a": [{"b": [1]}, {"b": []}]}, {"n": 2, "a": [{"b": []}]}]}
    assert ids("$.g[?(@.a[?(@.b size 1)] size 1)].n", nested) == [1]  # a filter inside a filter's path


def test_fields_and_strings_named_like_operators_are_left_alone() -> None:
    data = {"x": [{"size": 3, "in": "a in b", "empty": True}, {"size": 1, "in": "c", "empty": False}]}
    assert ids("$.x[?(@.size > 2)].in", data) == ["a in b"]
    assert ids("$.x[?(@.in == 'a in b')].size", data) == [3]
    assert ids("$.x[?(@['empty'] == false)].size", data) == [1]
    assert ids("$.x[?(@.in size 1)].size", data) == [1]


def test_a_variable_path_reads_its_filters_dollar_from_the_variable() -> None:
    variables = {"v": {"allowed": [2], "list": [{"x": 1}, {"x": 2}]}}
    assert ids("$v.list[?(@.x in $.allowed)].x", {}, variables=variables) == [2]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("$.a[?(@.tags size)]", "the filter operator 'size' needs a path or a value on its right"),
        ("$.a[?(size 2)]", "the filter operator 'size' needs a path or a value on its left"),
        ("$.a[?(@.tags empty 5)]", "the filter operator 'empty' takes true or false on its right"),
        ("$.a[?(@.tags empty $.b)]", "the filter operator 'empty' takes true or false on its right"),
        ("$.a[?(@.tags size 'two')]", "the filter operator 'size' takes a number or a path on its right"),
        ("$.a[?(@.x in 'a')]", "the filter operator 'in' takes a list ([...]) or a path on its right"),
        ("$.a[?(@.x anyof 3)]", "the filter operator 'anyof' takes a list ([...]) or a path on its right"),
        ("$.a[?(@.x in [$.b])]", "must hold only strings, numbers, true, false or null"),
        ("$.a[?(@.x size 2 == true)]", "the filter operator 'size' makes a test; it cannot be compared"),
        ("$.a[?(@.x in in [1])]", "the filter operator 'in' needs a path or a value on its"),
        ("$.a[?(@.x in['a'])]", "the filter operator 'in' must be followed by a space"),
    ],
)
def test_malformed_word_operators_are_invalid_paths_with_a_reason(path: str, reason: str) -> None:
    problem = paths.path_problem(path)
    assert problem is not None and reason in problem
    assert not paths.is_valid_path(path)


def test_validation_names_the_state_and_field_of_a_malformed_filter() -> None:
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Pass", "Parameters": {"few.$": "$.items[?(@.tags size)]"}, "Next": "Out"},
            "Out": {"Type": "Pass", "InputPath": "$.items[?(@.tags empty maybe)]", "End": True},
        },
    }
    found = validate(definition)
    assert [(p.state, p.pointer) for p in found] == [
        ("Pick", "/States/Pick/Parameters/few.$"),
        ("Out", "/States/Out/InputPath"),
    ]
    assert "the filter operator 'size' needs a path or a value on its right" in found[0].message


def test_a_state_runs_with_word_operator_filters() -> None:
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Pass",
                "Parameters": {
                    "wanted.$": "$.items[?(@.id in $.wanted)].id",
                    "pairs.$": "$.items[?(@.tags size 2)].name",
                    "blank.$": "$.items[?(@.name empty true)].id",
                },
                "End": True,
            }
        },
    }
    assert validate(definition) == []
    result = run_execution(definition, ITEMS, resources=Resources())
    assert result["status"] == "SUCCEEDED"
    assert result["output"] == {"wanted": [1, 3], "pairs": ["ab"], "blank": [2]}


_PIECES = [".a", "[?(", "@", ".tags", " size ", " in ", " nin ", " subsetof ", " anyof ", " noneof ", " empty ",
           "true", "[", "]", "(", ")", "'x'", '"y"', "1", "-2.5", "$.w", " && ", " || ", "!", ",", "[*]", "..",
           "\\", "'", " == ", " =~ /a/", "$"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12))
def test_any_text_with_word_operators_is_a_path_or_a_clear_error(pieces: list[str]) -> None:
    path = "$" + "".join(pieces)
    data = {"a": [{"tags": ["x"], "w": [1]}, {"tags": []}, "s"], "w": [1, "x"]}
    problem = paths.path_problem(path)
    assert (problem is None) == paths.is_valid_path(path)
    if problem is None:
        try:
            paths.select(path, data, {})
        except StatesError:
            pass  # a reference path that finds nothing
