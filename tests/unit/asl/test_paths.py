"""JSONPath paths, payload templates and InputPath/ResultPath/OutputPath, from the ASL specification."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockgate.asl import paths
from lockgate.asl.errors import RUNTIME, StatesError

SPEC_INPUT = {"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": True}}


class Entropy:
    def random(self) -> float:
        return 0.5

    def uuid(self) -> str:
        return "9f2a6c1e-0b1d-4c5e-8f3a-2d4b6c8e0a1f"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", SPEC_INPUT),
        ("$.foo", 123),
        ("$.bar", ["a", "b", "c"]),
        ("$.car.cdr", True),
        ("$.bar[0]", "a"),
        ("$.bar[-1]", "c"),
        ("$['car']['cdr']", True),
        ('$["bar"][1]', "b"),
    ],
)
def test_reference_paths_select_one_value(path: str, expected: Any) -> None:
    assert paths.select(path, SPEC_INPUT, {}) == expected


def test_escaped_dots_and_odd_field_names() -> None:
    data = {"store.book": 1, "a b": {"c-d": 2}, "foo": {".bar": 3}}
    assert paths.select(r"$.store\.book", data, {}) == 1
    assert paths.select("$['a b'].c-d", data, {}) == 2
    assert paths.select(r"$.foo.\.bar", data, {}) == 3


def test_indefinite_paths_return_lists() -> None:
    data = {"a": [1, 2, 3, 4], "items": [{"n": 1, "ok": True}, {"n": 2, "ok": False}], "deep": {"x": {"n": 9}}}
    assert paths.select("$.a[0,1]", data, {}) == [1, 2]
    assert paths.select("$.a[-3:]", data, {}) == [2, 3, 4]
    assert paths.select("$.items[*].n", data, {}) == [1, 2]
    assert paths.select("$.items[?(@.n > 1)]", data, {}) == [{"n": 2, "ok": False}]
    assert sorted(paths.select("$..n", data, {})) == [1, 2, 9]
    assert paths.select("$.items[?(@.n > 5)]", data, {}) == []


def test_context_object_and_variables() -> None:
    context = {"Execution": {"Id": "arn:exec", "Input": {"k": 1}}, "DayOfWeek": "TUESDAY"}
    assert paths.select("$$.Execution.Id", {}, context) == "arn:exec"
    assert paths.select("$$", {}, context) is context
    variables = {"customer": {"name": "María"}, "count": 3}
    assert paths.select("$customer.name", {}, {}, variables=variables) == "María"
    assert paths.select("$count", {}, {}, variables=variables) == 3


def test_variable_names_are_unicode_identifiers() -> None:
    variables = {"café": {"n": [1, 2]}, "名前": "x", "e\u0301t\u00e9": 3, "_": 4}
    assert paths.select("$café.n[1]", {}, {}, variables=variables) == 2
    assert paths.select("$名前", {}, {}, variables=variables) == "x"
    assert paths.select("$e\u0301t\u00e9", {}, {}, variables=variables) == 3
    assert paths.select("$_", {}, {}, variables=variables) == 4
    assert [paths.is_variable_name(n) for n in ("café", "_1", "Ⅻ", "1a", "x²", "a-b", "$a", "a" * 81)] == [
        True, True, True, False, False, False, False, False,
    ]  # fmt: skip


def test_a_path_that_matches_nothing_is_a_runtime_error_naming_it() -> None:
    with pytest.raises(StatesError) as caught:
        paths.select("$.missing.x", {"a": 1}, {})
    assert caught.value.error == RUNTIME
    assert "'$.missing.x'" in caught.value.cause and "could not be found in the input" in caught.value.cause
    with pytest.raises(StatesError, match=r"specified for the field 'x\.\$'"):
        paths.select("$.nope", {}, {}, field="x.$")
    with pytest.raises(StatesError, match="context object"):
        paths.select("$$.Task.Token", {}, {})
    with pytest.raises(StatesError, match="variable 'ghost'"):
        paths.select("$ghost", {}, {}, variables={})
    for bad_index in ("$.bar[3]", "$.bar[-4]", "$.foo[0]", "$.bar.x"):
        with pytest.raises(StatesError):
            paths.select(bad_index, SPEC_INPUT, {})


@pytest.mark.parametrize("bad", ["", "foo", "$.a[", "$..", 17, None, "$.a[?(@.x ==]"])
def test_invalid_paths(bad: Any) -> None:
    assert not paths.is_valid_path(bad)
    with pytest.raises(StatesError) as caught:
        paths.select(bad, {}, {})
    assert caught.value.error == RUNTIME


def test_reference_paths_are_the_definite_ones() -> None:
    for path in ("$", "$.a.b", "$.a[0].b", "$['a']", "$$.Execution.Id", "$var.x", r"$.store\.book"):
        assert paths.is_reference_path(path), path
    for path in ("$.a[*]", "$..a", "$.a[0,1]", "$.a[1:2]", "$.a[?(@.b == 1)]", "nope"):
        assert not paths.is_reference_path(path), path


def test_input_and_output_paths() -> None:
    data = {"numbers": {"val1": 3, "val2": 4}}
    assert paths.apply_input_path(data, None, {}) == {}
    assert paths.apply_input_path(data, "$", {}) is data
    assert paths.apply_input_path(data, "$.numbers", {}) == {"val1": 3, "val2": 4}
    assert paths.apply_output_path(data, None, {}) == {}
    assert paths.apply_output_path(data, "$", {}) is data
    assert paths.apply_output_path({"a": [1, 2, 3, 4]}, "$.a[0,1]", {}) == [1, 2]
    with pytest.raises(StatesError, match="InputPath"):
        paths.apply_input_path(data, "$.other", {})


def test_result_path_examples_from_the_specification() -> None:
    raw = {"master": {"detail": [1, 2, 3]}}
    before = copy.deepcopy(raw)
    assert paths.apply_result_path(raw, 6, "$.master.detail") == {"master": {"detail": 6}}
    assert paths.apply_result_path(raw, 6, "$.master.result.sum") == {
        "master": {"detail": [1, 2, 3], "result": {"sum": 6}}
    }
    assert paths.apply_result_path({"a": 1}, "Hi!", "$.b.greeting") == {"a": 1, "b": {"greeting": "Hi!"}}
    assert raw == before  # never modified in place
    assert paths.apply_result_path(raw, 6, None) is raw
    assert paths.apply_result_path(raw, 6, "$") == 6


def test_result_path_into_arrays_and_failures() -> None:
    assert paths.apply_result_path({"a": [1, {"b": 2}]}, 9, "$.a[1].b") == {"a": [1, {"b": 9}]}
    assert paths.apply_result_path({"a": [1, 2]}, 9, "$.a[-1]") == {"a": [1, 9]}
    with pytest.raises(StatesError) as caught:
        paths.apply_result_path("foo", 1, "$.x")
    assert caught.value.error == RUNTIME and "a string" in caught.value.cause
    with pytest.raises(StatesError, match="no element"):
        paths.apply_result_path({"a": [1]}, 9, "$.a[5]")
    with pytest.raises(StatesError, match="cannot set the field 'c'"):
        paths.apply_result_path({"a": {"b": 1}}, 9, "$.a.b.c")
    with pytest.raises(StatesError, match="reference path"):
        paths.apply_result_path({}, 1, "$$.Execution")
    with pytest.raises(StatesError, match="reference path"):
        paths.apply_result_path({"a": [1]}, 1, "$.a[*]")


def test_payload_template_example_from_the_specification() -> None:
    template = {
        "flagged": True,
        "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
        "weekday.$": "$$.DayOfWeek",
        "formattedOutput.$": "States.Format('Today is {}', $$.DayOfWeek)",
    }
    data = {"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}
    payload = paths.build_payload(template, data, {"DayOfWeek": "TUESDAY"}, {}, Entropy())
    assert payload == {
        "flagged": True,
        "parts": {"first": 0, "last3": [30, 40, 50]},
        "weekday": "TUESDAY",
        "formattedOutput": "Today is TUESDAY",
    }


def test_payload_templates_recurse_into_arrays_and_read_variables() -> None:
    template = {"list": [{"x.$": "$.a"}, "plain", 3, ["$.not-a-path"]], "v.$": "$who", "literal": "$.a"}
    payload = paths.build_payload(template, {"a": 1}, {}, {"who": "me"}, Entropy())
    assert payload == {"list": [{"x": 1}, "plain", 3, ["$.not-a-path"]], "v": "me", "literal": "$.a"}


def test_payload_template_failures_name_the_field() -> None:
    with pytest.raises(StatesError, match=r"'name\.\$'"):
        paths.build_payload({"name.$": "$.missing"}, {}, {}, {}, Entropy())
    with pytest.raises(StatesError, match="must be a path or an intrinsic"):
        paths.build_payload({"name.$": 3}, {}, {}, {}, Entropy())


# --- properties ----------------------------------------------------------------------------------

keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ABCXYZ0123456789-", min_size=1, max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)


@given(st.lists(keys, min_size=1, max_size=5), json_values, json_values)
def test_result_path_then_select_finds_the_result_and_leaves_the_input_alone(
    route: list[str], existing: Any, result: Any
) -> None:
    data = {"keep": existing}
    before = copy.deepcopy(data)
    path = "$." + ".".join(route)
    output = paths.apply_result_path(data, result, path)
    assert paths.select(path, output, {}) == result
    assert data == before
    if route[0] != "keep":
        assert output["keep"] == existing


@given(st.dictionaries(keys, json_values, min_size=1, max_size=4), st.data())
def test_the_fast_path_agrees_with_jsonpath_ng(data: dict[str, Any], draw: st.DataObject) -> None:
    from jsonpath_ng.ext import parse

    key = draw.draw(st.sampled_from(sorted(data)))
    path = f"$['{key}']"
    expected = [match.value for match in parse(path).find(data)]
    assert [paths.select(path, data, {})] == expected
