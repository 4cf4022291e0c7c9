"""Intrinsic functions, from the examples and argument rules of the ASL specification."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockgate.asl.errors import INTRINSIC_FAILURE, RUNTIME, StatesError
from lockgate.asl.intrinsics import FUNCTION_NAMES, evaluate_intrinsic, is_intrinsic, parse_intrinsic


class Entropy:
    def __init__(self, draw: float = 0.5) -> None:
        self.draw = draw
        self.uuids = 0

    def random(self) -> float:
        return self.draw

    def uuid(self) -> str:
        self.uuids += 1
        return f"00000000-0000-4000-8000-{self.uuids:012d}"


def run(expression: str, data: Any = None, context: dict[str, Any] | None = None, **variables: Any) -> Any:
    return evaluate_intrinsic(expression, data if data is not None else {}, context or {}, variables, Entropy())


def fails(expression: str, data: Any = None, error: str = INTRINSIC_FAILURE) -> str:
    with pytest.raises(StatesError) as caught:
        run(expression, data)
    assert caught.value.error == error
    return caught.value.cause


def test_format_examples() -> None:
    data = {"name": "Arnav", "template": "Hello, my name is {}."}
    assert run("States.Format('Hello, my name is {}.', $.name)", data) == "Hello, my name is Arnav."
    assert run("States.Format($.template, $.name)", data) == "Hello, my name is Arnav."
    assert (
        run("States.Format('Your name is {}, we are in the year {}', $.name, 2020)", {"name": "Foo"})
        == "Your name is Foo, we are in the year 2020"
    )
    assert run("States.Format('{} {} {}', true, null, 1.5)") == "true null 1.5"


def test_format_escapes() -> None:
    text = r"States.Format('Welcome to {} {}\'s playlist.', $.firstName, $.lastName)"
    assert run(text, {"firstName": "Ada", "lastName": "King"}) == "Welcome to Ada King's playlist."
    assert run(r"States.Format('literal \{\} and {} and \\ backslash', 'x')") == "literal {} and x and \\ backslash"


def test_format_checks() -> None:
    assert "1 placeholder" in fails("States.Format('{}')")
    assert "0 placeholder" in fails("States.Format('none', 1)")
    assert "must be a string" in fails("States.Format(3)")
    assert "open escape" in fails(r"States.Format('bad \n escape')")


def test_format_renders_objects_and_arrays_as_java_maps_and_lists() -> None:
    data = {"o": {"Arg1": 1, "Arg2": []}, "a": [1, "s", None, {"q": True}, 1.5]}
    assert run("States.Format('{}', $.o)", data) == "{Arg1=1, Arg2=[]}"
    assert run("States.Format('<{}>', $.a)", data) == "<[1, s, null, {q=true}, 1.5]>"
    assert (
        run("States.Format('{} {}', $$, $v)", {}, {"Execution": {"Name": "e"}}, v={"k": "x"})
        == "{Execution={Name=e}} {k=x}"
    )


def test_math_add_rounds_each_argument_halves_upward_as_java() -> None:
    assert run("States.MathAdd(1.49, 0)") == 1
    assert run("States.MathAdd(1.5, 0)") == 2
    assert run("States.MathAdd(-1.5, 0)") == -1
    assert run("States.MathAdd(-1.51, 0)") == -2
    assert run("States.MathAdd($.a, $.b)", {"a": 2.5, "b": -2.5}) == 1


def test_string_to_json_of_empty_text_is_null() -> None:
    assert run("States.StringToJson('')") is None
    assert run("States.StringToJson($.s)", {"s": ""}) is None


def test_json_string_conversions() -> None:
    assert run("States.StringToJson($.s)", {"s": '{"number": 20}'}) == {"number": 20}
    assert run("States.JsonToString($.j)", {"j": {"name": "Foo", "year": 2020}}) == '{"name":"Foo","year":2020}'
    assert "not JSON" in fails("States.StringToJson('{nope')")
    assert "must be a path" in fails("States.JsonToString('text')")


def test_array_examples() -> None:
    data = {"someJson": {"random": "abcdefg"}, "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5}
    assert run("States.Array('Foo', 2020, $.someJson, null)", data) == ["Foo", 2020, {"random": "abcdefg"}, None]
    assert run("States.Array()") == []
    assert run("States.ArrayPartition($.inputArray,4)", data) == [[1, 2, 3, 4], [5, 6, 7, 8], [9]]
    assert run("States.ArrayPartition(States.ArrayRange(1, 7, 1), 4)") == [[1, 2, 3, 4], [5, 6, 7]]
    assert run("States.ArrayContains($.inputArray, 5)", data) is True
    assert run("States.ArrayContains($.inputArray, 10)", data) is False
    assert run("States.ArrayRange(1, 9, 2)") == [1, 3, 5, 7, 9]
    assert run("States.ArrayRange(9, 1, -2)") == [9, 7, 5, 3, 1]
    assert run("States.ArrayRange(1, 0, 1)") == []
    assert run("States.ArrayGetItem($.inputArray, $.index)", data) == 6
    assert run("States.ArrayLength($.inputArray)", data) == 9
    assert run("States.ArrayUnique($.a)", {"a": [1, 2, 3, 3, 3, 3, 3, 3, 4]}) == [1, 2, 3, 4]


def test_arrays_compare_json_values_not_python_ones() -> None:
    assert run("States.ArrayUnique($.a)", {"a": [1, True, 1, {"x": [1]}, {"x": [1]}, "1"]}) == [
        1,
        True,
        {"x": [1]},
        "1",
    ]
    assert run("States.ArrayContains($.a, true)", {"a": [1, 0]}) is False
    assert run("States.ArrayContains($.a, $.o)", {"a": [{"b": 1, "c": 2}], "o": {"c": 2, "b": 1}}) is True


def test_array_checks() -> None:
    assert "positive integer" in fails("States.ArrayPartition($.a, 0)", {"a": [1]})
    assert "must be an array" in fails("States.ArrayPartition('x', 2)")
    assert "must be an integer" in fails("States.ArrayPartition($.a, 1.5)", {"a": [1]})
    assert "non-zero" in fails("States.ArrayRange(1, 9, 0)")
    assert "limit is 1000" in fails("States.ArrayRange(1, 1001, 1)")
    assert len(run("States.ArrayRange(1, 1000, 1)")) == 1000
    assert "out of bounds" in fails("States.ArrayGetItem($.a, 3)", {"a": [1, 2, 3]})
    assert "out of bounds" in fails("States.ArrayGetItem($.a, -1)", {"a": [1, 2, 3]})
    assert "must be an array" in fails("States.ArrayLength('abc')")


def test_encoding_and_hashing_examples() -> None:
    assert run("States.Base64Encode($.input)", {"input": "Data to encode"}) == "RGF0YSB0byBlbmNvZGU="
    assert run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')") == "Data to encode"
    # The documentation prints this SHA-1 with one digit missing; this is the full digest.
    assert run("States.Hash($.Data, $.Algorithm)", {"Data": "input data", "Algorithm": "SHA-1"}) == (
        "aaff4a450a104cd177d28d18d74485e8cae074b7"
    )
    for name, algorithm in (("MD5", "md5"), ("SHA-256", "sha256"), ("SHA-384", "sha384"), ("SHA-512", "sha512")):
        assert run(f"States.Hash('input data', '{name}')") == hashlib.new(algorithm, b"input data").hexdigest()
    assert "unknown algorithm" in fails("States.Hash('x', 'SHA-3')")
    assert "limit is 10000" in fails("States.Base64Encode($.s)", {"s": "x" * 10_001})
    assert "not Base64" in fails("States.Base64Decode('***')")


def test_json_merge_is_shallow_only() -> None:
    data = {"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}}
    assert run("States.JsonMerge($.json1, $.json2, false)", data) == {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}
    assert "must be false" in fails("States.JsonMerge($.json1, $.json2, true)", data)
    assert "must be an object" in fails("States.JsonMerge($.json1, 'x', false)", data)


def test_math() -> None:
    assert run("States.MathAdd($.value1, $.step)", {"value1": 111, "step": -1}) == 110
    assert run("States.MathAdd(111, -1)") == 110
    assert "must be a number" in fails("States.MathAdd('1', 1)")
    assert "outside the range" in fails("States.MathAdd(2147483648, 1)")
    assert evaluate_intrinsic("States.MathRandom(1, 999)", {}, {}, {}, Entropy(0.0)) == 1
    assert evaluate_intrinsic("States.MathRandom(1, 999)", {}, {}, {}, Entropy(0.999999999)) == 998
    seeded = {run("States.MathRandom(1, 999, 42)") for _ in range(3)}
    assert len(seeded) == 1 and 1 <= seeded.pop() < 999
    assert "greater than the start" in fails("States.MathRandom(5, 5)")


def test_string_split_and_uuid() -> None:
    assert run("States.StringSplit($.inputString, $.splitter)", {"inputString": "1,2,3,4,5", "splitter": ","}) == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert run("States.StringSplit('This.is+a,test=string', '.+,=')") == ["This", "is", "a", "test", "string"]
    entropy = Entropy()
    first = evaluate_intrinsic("States.UUID()", {}, {}, {}, entropy)
    second = evaluate_intrinsic("States.UUID()", {}, {}, {}, entropy)
    assert first != second and first.startswith("00000000-")
    with pytest.raises(StatesError, match="randomness"):
        evaluate_intrinsic("States.UUID()", {}, {}, {}, None)


def test_arguments_may_be_context_paths_variables_and_nested_calls() -> None:
    assert run("States.Format('{}-{}', $$.Execution.Name, $who)", {}, {"Execution": {"Name": "run1"}}, who="me") == (
        "run1-me"
    )
    arn = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/1.2.3"
    expression = (
        "States.Format('{}.{}.{}', "
        "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.Arn, '/'), 2), '.'), 0), "
        "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.Arn, '/'), 2), '.'), 1), "
        "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.Arn, '/'), 2), '.'), 2))"
    )
    assert run(expression, {"Arn": arn}) == "1.2.3"
    assert run("States.ArrayLength($.items[?(@.ok == true)])", {"items": [{"ok": True}, {"ok": False}]}) == 1


def test_a_missing_path_argument_is_a_runtime_error() -> None:
    assert "could not be found" in fails("States.Array($.nope)", {}, error=RUNTIME)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("States.Nope()", "unknown intrinsic function"),
        ("States.Array(", "unexpected end"),
        ("States.Array(1 2)", "expected ','"),
        ("States.Array(1) extra", "unexpected text"),
        ("States.Format('open)", "unterminated string"),
        ("States.ArrayLength()", "takes 1 argument"),
        ("States.MathRandom(1)", "takes 2 to 3"),
        ("States.Array($.[)", "invalid path"),
        ("States.UUID(1)", "takes 0 argument"),
    ],
)
def test_syntax_errors_are_intrinsic_failures(expression: str, problem: str) -> None:
    with pytest.raises(StatesError) as caught:
        parse_intrinsic(expression)
    assert caught.value.error == INTRINSIC_FAILURE
    assert problem in caught.value.cause


def test_nesting_is_limited_to_ten() -> None:
    nested = "States.Array(" * 10 + ")" * 10
    assert parse_intrinsic(nested) is parse_intrinsic(nested)  # cached
    with pytest.raises(StatesError, match="more than 10 nested"):
        parse_intrinsic("States.Array(" * 11 + ")" * 11)


def test_is_intrinsic_and_the_function_list() -> None:
    assert is_intrinsic("States.Array($.a)") and is_intrinsic("States.UUID()")
    assert not is_intrinsic("$.a") and not is_intrinsic("plain text") and not is_intrinsic(3)
    assert len(FUNCTION_NAMES) == 18


# --- properties ----------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5)


@given(st.lists(json_scalars, max_size=40), st.integers(1, 12))
def test_partition_then_flatten_gives_the_input_back(items: list[Any], size: int) -> None:
    chunks = run("States.ArrayPartition($.a, $.n)", {"a": items, "n": size})
    assert [item for chunk in chunks for item in chunk] == items
    assert all(len(chunk) == size for chunk in chunks[:-1]) and all(0 < len(chunk) <= size for chunk in chunks)


def _quote(text: str) -> str:
    return "'" + "".join("\\" + char if char in "'{}\\" else char for char in text) + "'"


@given(st.text(max_size=30))
def test_an_escaped_literal_formats_to_itself(text: str) -> None:
    assert run(f"States.Format({_quote(text)})") == text
    assert run(f"States.Format('<{{}}>', {_quote(text)})") == f"<{text}>"


@given(st.text(max_size=200))
def test_base64_round_trips(text: str) -> None:
    assert run("States.Base64Decode(States.Base64Encode($.t))", {"t": text}) == text


@given(st.integers(-50, 50), st.integers(-50, 50), st.integers(-7, 7).filter(bool))
def test_array_range_matches_python_range(start: int, end: int, step: int) -> None:
    expected = list(range(start, end + (1 if step > 0 else -1), step))
    assert run(f"States.ArrayRange({start}, {end}, {step})") == expected


@given(st.lists(st.text(alphabet="ab,;", max_size=6), max_size=6))
def test_string_split_drops_empty_pieces(parts: list[str]) -> None:
    text = ",".join(parts)
    assert run("States.StringSplit($.t, ',;')", {"t": text}) == [
        piece for part in parts for piece in part.replace(";", ",").split(",") if piece
    ]
