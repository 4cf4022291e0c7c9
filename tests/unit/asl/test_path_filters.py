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
    assert ids("$.items[?(@.id in $.lookup)].id") == []  # an object is no list: nothing is in it
    assert ids("$.items[?(@.absent in [1, null])].id") == []  # a missing field is never a member
    assert ids("$.items[?(@.absent nin [1])].id") == [1, 2, 3, 4]
    assert ids("$.items[0:3][?('b' in @.tags)].id") == [1]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("$.items[?(@.id in $.missing)].id", "the filter operator 'in' needs a list, not a missing value"),
        ("$.items[?(@.id nin $.items[0].id)].id", "the filter operator 'nin' needs a list, not a number"),
        ("$.items[?('b' in @.tags)].id", "needs a list, not a missing value"),  # the fourth item has no tags
        ("$.items[?(@.id in 'abc')].id", "needs a list, not a string"),
        ("$.items[?(@.tags anyof ['a'])].id", "'anyof' needs a list, not a missing value"),
        ("$.items[?(@.name subsetof ['ab'])].id", "'subsetof' needs a list, not a string"),
        ("$.items[?(@.id noneof 3)].id", "'noneof' needs a list, not a number"),
        ("$.items[?(@.id in $.nested)].id", "cannot compare the items of a list of lists or objects"),
        ("$.items[?(@.tags empty 5)].id", "'empty' needs true or false on its right, not a number"),
        ("$.items[?(@.tags all ['a'])].id", "the filter operator 'all' cannot be evaluated"),
        ("$.items[?(@.tags type 'a')].id", "the filter operator 'type' cannot be evaluated"),
    ],
)
def test_what_jayway_cannot_evaluate_fails_the_state_with_states_runtime(path: str, reason: str) -> None:
    """Jayway compiles these filters (the service takes the definition) and throws while it
    evaluates them ('Expected value list node', 'Could not determine value type', ...)."""
    assert paths.path_problem(path) is None
    with pytest.raises(StatesError) as raised:
        ids(path, {**ITEMS, "nested": [[1], {"a": 1}]})
    assert raised.value.error == "States.Runtime" and reason in raised.value.cause
    assert ids(path, {**ITEMS, "items": []}) == []  # evaluated on no item, it throws nothing


def test_a_test_for_the_field_first_keeps_a_set_operator_from_failing() -> None:
    assert ids("$.items[?(@.tags && @.tags anyof ['a', 'c'])].id") == [1, 3]  # && stops at the first false
    assert ids("$.items[?(!@.tags || @.tags anyof ['c'])].id") == [3, 4]


def test_membership_compares_as_jayways_value_nodes() -> None:
    data = {"v": [{"x": 1}, {"x": 1.0}, {"x": "1"}, {"x": "1.0"}, {"x": True}, {"x": [1]}, {"x": {"a": None}}]}
    # a string is in a list of numbers when it is a number's text; a number when a string parses to it
    assert ids("$.v[?(@.x in [1])].x", data) == [1, 1.0, "1"]
    assert ids("$.v[?(@.x in ['1'])].x", data) == [1, 1.0, "1"]
    assert ids("$.v[?(@.x in ['1.0'])].x", data) == [1, 1.0, "1.0"]
    assert ids("$.v[?(@.x in [true])].x", data) == [True]
    assert ids("$.v[?(@.x in ['$.x', '[1]'])].x", data) == []  # Jayway reads such items as a path, as JSON
    assert ids("$.v[?(@.x IN [1] && @.x Nin ['1'])].x", data) == []  # operators in any case


def test_subsetof_anyof_and_noneof_need_lists_on_both_sides() -> None:
    tags: list[Any] = [["a", "b"], [], ["c"], {}]
    data = {"items": [{"id": index + 1, "tags": value} for index, value in enumerate(tags)]}
    assert ids("$.items[?(@.tags subsetof ['a', 'b', 'c'])].id", data) == [1, 2, 3]
    assert ids("$.items[?(@.tags subsetof ['a'])].id", data) == [2]  # the empty list is a subset of any
    assert ids("$.items[?(@.tags anyof ['c', 'z'])].id", data) == [3]
    assert ids("$.items[?(@.tags noneof ['c'])].id", data) == [1, 2]  # not 4: an object is no list
    assert ids("$.items[?(@.tags noneof $.other)].id", {**data, "other": {}}) == []
    assert ids("$.items[?(@.tags subsetof $.allowed)].id", {**data, "allowed": ["a", "b"]}) == [1, 2]


def test_contains_finds_a_substring_or_an_item() -> None:
    data = {"v": [{"x": "abc"}, {"x": ["a", 1]}, {"x": {"a": 1}}, {"x": 5}, {}]}
    assert ids("$.v[?(@.x contains 'b')].x", data) == ["abc"]
    assert ids("$.v[?(@.x contains 'a')].x", data) == ["abc", ["a", 1]]
    assert ids("$.v[?(@.x contains '1')].x", data) == [["a", 1]]  # '1' equals 1 in Jayway
    assert ids("$.v[?(@.x CONTAINS 1)].x", data) == [["a", 1]]


def test_size_counts_an_array_or_a_strings_utf16_units() -> None:
    assert ids("$.items[?(@.tags size 2)].id") == [1]
    assert ids("$.items[?(@.tags size 0)].id") == [2]
    assert ids("$.items[?(@.name size 2)].id") == [1]
    assert ids("$.items[?(@.name size 3)].id") == [3]  # a character outside the BMP counts twice, as in Java
    assert ids("$.items[?(@.meta size 0)].id") == []  # an object's length is -1 to Jayway
    assert ids("$.items[?(@.meta size -1)].id") == [1, 2]
    assert ids("$.items[?(@.tags size 'two')].id") == []  # a size that is not a number matches nothing
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


def test_comparisons_follow_jayways_value_nodes() -> None:
    data = {"v": [{"x": 1}, {"x": 1.0}, {"x": "1"}, {"x": "1.0"}, {"x": True}, {"x": None}, {"x": "10"}, {}]}
    # a string equals a number when it is the number's text (BigDecimal's), a number equals a
    # string that parses to it: `'1.0' == 1` is false, `1.0 == '1'` true
    assert ids("$.v[?(@.x == 1)].x", data) == [1, 1.0, "1"]
    assert ids("$.v[?(@.x == '1')].x", data) == [1, 1.0, "1"]
    assert ids("$.v[?(@.x == 1.0)].x", data) == [1, 1.0, "1.0"]
    assert ids("$.v[?(@.x != 1)].x", data) == ["1.0", True, None, "10"]  # and the item with no x
    assert len(ids("$.v[?(@.x != 1)]", data)) == 5
    assert ids("$.v[?(@.x == true)].x", data) == [True]  # a boolean equals only a boolean
    assert ids("$.v[?(@.x == null)].x", data) == [None]  # a missing field is not null
    # strings order by their UTF-16 units; against a number, by the number's text
    assert ids("$.v[?(@.x > 5)].x", data) == []  # '10' < '5' as text
    assert ids("$.v[?(@.x >= '1')].x", data) == [1, 1.0, "1", "1.0", "10"]
    assert ids("$.s[?(@.t < '\uffff')].t", {"s": [{"t": "\U0001f600"}, {"t": "\ue000"}]}) == ["\U0001f600", "\ue000"]
    assert ids("$.v[?(@.x == $.one)].x", {**data, "one": "1"}) == [1, 1.0, "1"]
    # 1e20's Java text is 1.0E20, which BigDecimal writes 1.0E+20
    big = {"v": [{"x": "1.0E+20"}, {"x": 1e20}, {"x": "1e20"}], "big": 1e20}
    assert ids("$.v[?(@.x == $.big)].x", big) == ["1.0E+20", 1e20]


def test_a_regular_expression_matches_as_jayways_evaluator() -> None:
    data = {"a": [{"x": "abc"}, {"x": 12}, {"x": True}, {"x": None}, {}, {"x": ["q", "ab"]}, {"x": "ABC"}]}
    assert ids("$.a[?(@.x =~ /ab.*/)].x", data) == ["abc", ["q", "ab"]]  # an array matches by any item
    assert ids("$.a[?(@.x =~ /1.*/)].x", data) == [12]  # a number by its text
    assert ids("$.a[?(@.x =~ /tr.*/)].x", data) == [True]
    assert len(ids("$.a[?(@.x =~ /.*/)]", data)) == 7  # null, missing: the empty text
    assert ids("$.a[?(@.x =~ /ab.*/i)].x", data) == ["abc", ["q", "ab"], "ABC"]
    assert ids("$.a[?(@.x =~ 'abc')].x", data) == []  # a string is no regular expression
    assert "does not compile" in str(paths.path_problem("$.a[?(@.x =~ /a(/)]"))


def test_a_literal_on_the_left_of_a_comparison_is_a_value() -> None:
    data = {"a": [{"x": 1}, {"x": 2}, {"x": "b"}, {"b": "b"}]}
    assert ids("$.a[?(1 < @.x)].x", data) == [2, "b"]  # 1's text orders before 'b', as in Jayway
    assert ids("$.a[?('b' == @.x)].x", data) == ["b"]  # not the item's field b
    assert ids("$.a[?('1' == @.x || 2 == @.x)].x", data) == [1, 2]


def test_negation_of_a_parenthesised_test_and_of_a_path() -> None:
    data = {"v": [{"x": 1, "y": 1}, {"x": 2}, {"y": 3}]}
    assert ids("$.v[?(!(@.x == 1))]", data) == [{"x": 2}, {"y": 3}]
    assert ids("$.v[?(!(@.x == 1 || @.y == 3))]", data) == [{"x": 2}]
    assert ids("$.v[?(! (@.x) && @.y)]", data) == [{"y": 3}]
    assert ids("$.v[?(!(!(@.x == 2)))]", data) == [{"x": 2}]
    assert ids("$.v[?(!@.y)]", data) == [{"x": 2}]  # right before a path alone, '!' is "does not exist"
    assert ids("$.v[?(!@.x == 1)]", data) == [{"x": 1, "y": 1}]  # before a compared path Jayway skips it
    assert ids("$.v[?(!@.x size 1)]", {"v": [{"x": "a"}, {"x": "bb"}]}) == [{"x": "a"}]
    assert ids("$.v[?(!(@.y in $.w))]", {**data, "w": [3]}) == [{"x": 1, "y": 1}, {"x": 2}]


def test_a_filter_tests_an_object_itself_and_refuses_a_scalar() -> None:
    data = {"order": {"total": 5, "id": "o1"}, "name": "n", "orders": [{"total": 5}, {"total": 1}]}
    assert ids("$.order[?(@.total > 1)].id", data) == ["o1"]  # not the object's field values
    assert ids("$.order[?(@.total > 9)]", data) == []
    assert ids("$.orders[?(@.total > 1)]", data) == [{"total": 5}]
    with pytest.raises(StatesError, match="a filter cannot be applied to a string"):
        ids("$.name[?(@.total > 1)]", data)


def test_functions_inside_a_filter_are_compared() -> None:
    data = {"items": [{"id": 1, "tags": ["a", "b"], "p": [1, 2, 3]}, {"id": 2, "tags": [], "p": [4]},
                      {"id": 3, "tags": {"k": 1}, "p": [2, "x", 2]}], "n": 2}  # fmt: skip
    assert ids("$.items[?(@.tags.length() > 1)].id", data) == [1]
    assert ids("$.items[?(@.tags.size() == 0)].id", data) == [2]
    assert ids("$.items[?(@.tags.length() == 1)].id", data) == [3]  # an object's number of fields
    assert ids("$.items[?(1 < @.tags.length())].id", data) == [1]
    assert ids("$.items[?(@.tags.length() == $.n)].id", data) == [1]
    assert ids("$.items[?(@.p.sum() >= 4)].id", data) == [1, 2, 3]
    assert ids("$.items[?(@.p.avg() == 2)].id", data) == [1, 3]  # numbers only: 'x' is left out
    assert ids("$.items[?(@.p.max() == 4 || @.p.min() == 1)].id", data) == [1, 2]
    assert ids("$.items[?(@.p.stddev() == 0)].id", data) == [2, 3]
    assert ids("$.items[?(@.tags.keys() contains 'k')].id", data) == [3]
    assert ids("$.items[?(!(@.tags.length() > 1))].id", data) == [2, 3]
    assert ids("$.items[?(@.id.length() == null)].id", data) == [1, 2, 3]  # a number has no length
    with pytest.raises(StatesError, match=r"the function 'sum\(\)' needs an array holding numbers"):
        ids("$.items[?(@.tags.sum() > 1)].id", data)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("$.a[?(@.tags.length())]", "the function call '@.tags.length()' in a filter must be compared"),
        ("$.a[?(@.tags.first() == 'a')]", "the function 'first()' is not evaluated in a filter"),
    ],
)
def test_functions_lockgate_does_not_evaluate_in_a_filter_are_refused(path: str, reason: str) -> None:
    problem = paths.path_problem(path)
    assert problem is not None and reason in problem


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
        ("$.a[?(@.x in [$.b])]", "must hold only strings, numbers, true, false or null"),
        ("$.a[?(@.x size 2 == true)]", "the filter test 'size' cannot be compared"),
        ("$.a[?(!(@.x == 1) == true)]", "the filter test '!(...)' cannot be compared"),
        ("$.a[?(@.x = 1)]", "'=' is not a filter operator (use '==')"),
        ("$.a[?(!())]", "'!(' in a filter needs a test and its closing ')'"),
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
            "Out": {"Type": "Pass", "InputPath": "$.items[?(@.tags = 2)]", "End": True},
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
           "\\", "'", " == ", " =~ /a/", "$", " contains ", " ALL ", "!(", ".length()", ".sum()", " < ",
           "'1' == "]  # fmt: skip


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
