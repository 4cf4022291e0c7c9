"""Choice rules: which branch a Choice state takes.

In JSONPath mode a rule compares the value at its `Variable` path with a constant (`StringEquals`)
or with the value at another path (`StringEqualsPath`), tests it (`IsNull`, `IsPresent`, ...), or
combines rules with And/Or/Not. A value of the wrong type never matches (no error), as the service
does; a `Variable` (or `...Path`) that finds nothing is States.Runtime, except under IsPresent.
In JSONata mode a rule is `{"Condition": "{% ... %}", "Next": ...}` and must yield a boolean.

Rules compile once to closures, cached by identity (a definition's rules live as long as it does).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable
from typing import Any

from lockgate.asl import jsonata
from lockgate.asl.errors import QUERY_EVALUATION_ERROR, RUNTIME, StatesError
from lockgate.asl.paths import exists, select

_Test = Callable[[Any, dict[str, Any], dict[str, Any] | None], bool]

_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})")
_ORDER = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}
_KINDS = ("String", "Numeric", "Boolean", "Timestamp")
COMPARISONS = frozenset(
    f"{kind}{order}" for kind in _KINDS for order in _ORDER if not (kind == "Boolean" and order != "Equals")
)
TYPE_TESTS = frozenset({"IsPresent", "IsNull", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"})
OPERATORS = frozenset(
    COMPARISONS | {f"{name}Path" for name in COMPARISONS} | TYPE_TESTS | {"StringMatches", "And", "Or", "Not"}
)


def parse_timestamp(value: Any) -> dt.datetime | None:
    """An RFC 3339 timestamp (`2016-08-18T17:33:00Z`, uppercase T, Z or an offset), else None."""
    if type(value) is not str:
        return None
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = dt.UTC
    if zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        offset = dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        return dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "0")[:6].ljust(6, "0")), tzinfo=offset,
        )  # fmt: skip
    except ValueError:
        return None


def _is_number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and value == value


def _java_order(compare: Callable[[Any, Any], bool], left: str, right: str) -> bool:
    """Order strings as Java's compareTo does: by UTF-16 code units (Python orders by code points)."""
    if left.isascii() and right.isascii():
        return compare(left, right)
    return compare(left.encode("utf-16-be", "surrogatepass"), right.encode("utf-16-be", "surrogatepass"))


def _comparable(kind: str, value: Any) -> Any:
    """The value in comparable form, or None when it is not of the operator's type."""
    if kind == "Numeric":
        return value if _is_number(value) else None
    if kind == "String":
        return value if type(value) is str else None
    if kind == "Boolean":
        return value if type(value) is bool else None
    return parse_timestamp(value)


def _compare(kind: str, compare: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    left, right = _comparable(kind, left), _comparable(kind, right)
    if left is None or right is None:
        return False
    if kind == "String" and compare is not operator.eq:
        return _java_order(compare, left, right)
    return compare(left, right)


def matches_pattern(pattern: str) -> re.Pattern[str]:
    """The regex for a StringMatches pattern: `*` is any text, `\\*` a star, `\\\\` a backslash."""
    out: list[str] = []
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\" and pattern[position + 1 : position + 2] in ("*", "\\"):
            out.append(re.escape(pattern[position + 1]))
            position += 2
            continue
        out.append(".*" if char == "*" else re.escape(char))
        position += 1
    return re.compile("".join(out), re.DOTALL)


def _operator_of(rule: dict[str, Any]) -> str:
    found = [key for key in rule if key in OPERATORS]
    if len(found) != 1:
        raise StatesError(
            RUNTIME,
            "A Choice rule must have exactly one comparison operator, "
            + (f"found {', '.join(found)}" if found else "found none"),
        )
    return found[0]


def _compile(rule: Any) -> _Test:
    if not isinstance(rule, dict):
        raise StatesError(RUNTIME, f"A Choice rule must be an object, not {rule!r}")
    name = _operator_of(rule)
    operand = rule[name]
    if name in ("And", "Or"):
        if not isinstance(operand, list) or not operand:
            raise StatesError(RUNTIME, f"The value of {name} must be a non-empty array of Choice rules")
        tests = tuple(_compile(sub) for sub in operand)
        if name == "And":
            return lambda data, context, variables: all(test(data, context, variables) for test in tests)
        return lambda data, context, variables: any(test(data, context, variables) for test in tests)
    if name == "Not":
        inner = _compile(operand)
        return lambda data, context, variables: not inner(data, context, variables)
    path = rule.get("Variable")
    if not isinstance(path, str):
        raise StatesError(RUNTIME, f"A Choice rule with {name} needs a Variable path")
    if name == "IsPresent":
        return lambda data, context, variables: exists(path, data, context, variables=variables) == operand
    if name in TYPE_TESTS:
        check = _TYPE_CHECKS[name]
        return lambda data, context, variables: (
            check(select(path, data, context, variables=variables, field="Variable")) == operand
        )
    if name == "StringMatches":
        if not isinstance(operand, str):
            return lambda data, context, variables: False
        regex = matches_pattern(operand)
        return lambda data, context, variables: _string_matches(
            regex, select(path, data, context, variables=variables, field="Variable")
        )
    by_path = name.endswith("Path")
    base = name[:-4] if by_path else name
    kind = next(kind for kind in _KINDS if base.startswith(kind))
    compare = _ORDER[base[len(kind) :]]
    if by_path:
        return lambda data, context, variables: _compare(
            kind,
            compare,
            select(path, data, context, variables=variables, field="Variable"),
            select(operand, data, context, variables=variables, field=name),
        )
    constant = _comparable(kind, operand)
    if kind == "Numeric" and constant is not None and type(operand) is not bool:
        # The hot case (a counter in a loop): skip the generic path.
        return lambda data, context, variables: _numeric(
            compare, select(path, data, context, variables=variables, field="Variable"), constant
        )
    return lambda data, context, variables: _compare(
        kind, compare, select(path, data, context, variables=variables, field="Variable"), operand
    )


def _numeric(compare: Callable[[Any, Any], bool], value: Any, constant: Any) -> bool:
    return (type(value) is int or type(value) is float) and compare(value, constant)


def _string_matches(regex: re.Pattern[str], value: Any) -> bool:
    return type(value) is str and regex.fullmatch(value) is not None


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda value: value is None,
    "IsNumeric": _is_number,
    "IsString": lambda value: type(value) is str,
    "IsBoolean": lambda value: type(value) is bool,
    "IsTimestamp": lambda value: parse_timestamp(value) is not None,
}

_compiled: dict[int, tuple[dict[str, Any], _Test]] = {}


def _test_of(rule: dict[str, Any]) -> _Test:
    entry = _compiled.get(id(rule))
    if entry is not None and entry[0] is rule:
        return entry[1]
    test = _compile(rule)
    if len(_compiled) >= 4096:
        _compiled.clear()
    _compiled[id(rule)] = (rule, test)  # holding the rule keeps its id from being reused
    return test


def evaluate_rule(
    rule: dict[str, Any], data: Any, context: dict[str, Any], variables: dict[str, Any] | None = None
) -> bool:
    """Whether a Choice rule matches: a JSONPath rule, or a JSONata rule with a `Condition`."""
    if "Condition" in rule:
        return _condition(rule["Condition"], _bindings(data, context, variables))
    return _test_of(rule)(data, context, variables)


def _bindings(data: Any, context: dict[str, Any], variables: dict[str, Any] | None) -> dict[str, Any]:
    return {**(variables or {}), "states": {"input": data, "context": context}}


def _condition(condition: Any, bindings: dict[str, Any]) -> bool:
    result = jsonata.evaluate_template(condition, bindings)
    if type(result) is not bool:
        raise StatesError(
            QUERY_EVALUATION_ERROR,
            f"The Condition {condition!r} must evaluate to a boolean, but it returned {result!r}",
        )
    return result


def choose_index(
    state: dict[str, Any],
    data: Any,
    context: dict[str, Any],
    variables: dict[str, Any] | None = None,
    query_language: str = "JSONPath",
    *,
    bindings: dict[str, Any] | None = None,
) -> int | None:
    """The index in `Choices` of the first rule that matches, or None (then Default applies).

    In JSONata mode `bindings` (the `$states` object and the variables, as `jsonata` takes them)
    may be given; by default `$states` holds `input` (= data) and `context`.
    """
    choices = state.get("Choices") or ()
    if query_language == "JSONata":
        scope = bindings if bindings is not None else _bindings(data, context, variables)
        for index, rule in enumerate(choices):
            if _condition(rule.get("Condition"), scope):
                return index
        return None
    for index, rule in enumerate(choices):
        if _test_of(rule)(data, context, variables):
            return index
    return None


def choose(
    state: dict[str, Any],
    data: Any,
    context: dict[str, Any],
    variables: dict[str, Any] | None = None,
    query_language: str = "JSONPath",
    *,
    bindings: dict[str, Any] | None = None,
) -> str | None:
    """The `Next` of the first matching choice, or None when none matches (Default is the caller's)."""
    index = choose_index(state, data, context, variables, query_language, bindings=bindings)
    return None if index is None else state["Choices"][index].get("Next")
