"""Jayway JsonPath's value semantics in filters (`EvaluatorFactory`, `ValueNodes`, the path
functions): how two values compare, what the word operators and `=~` hold for, and where Jayway
throws while it evaluates (`FilterFailure`: the state fails with States.Runtime).

A JSON value read by a path becomes a node: a string, a number (a BigDecimal of the value's Java
text), a boolean, null, or a JSON node (an array or object); a missing one is `UNDEFINED`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

UNDEFINED = object()  # what a path operand that names one node gives when that node is missing


class FilterFailure(Exception):
    """A filter Jayway reads but cannot evaluate on this value (the state fails at run time)."""


_BIG_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_UNMATCHABLE = object()  # a list item Jayway reads as a path or as JSON text: it equals nothing


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _java_double(value: float) -> str:
    """Java's Double.toString: plain between 10^-3 and 10^7, else `d.dddE<n>`."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    exact = Decimal(repr(value))
    if 1e-3 <= abs(value) < 1e7:
        text = format(exact, "f")
        return text if "." in text else text + ".0"
    sign, digits, exponent = exact.as_tuple()
    shown = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) + int(exponent) - 1
    return ("-" if sign else "") + shown[0] + "." + (shown[1:] or "0") + f"E{power}"


def _number_text(value: int | float) -> str:
    """A number node's text: Java's BigDecimal.toString of the value's Java text."""
    return str(value) if type(value) is int else str(Decimal(_java_double(value)))


def _decimal(value: int | float) -> Decimal:
    return Decimal(value) if type(value) is int else Decimal(_java_double(value))


def _java_equal(left: Any, right: Any) -> bool:
    """Java's equals over parsed JSON: an integer never equals a fraction, containers deeply."""
    if type(left) is not type(right):
        return False
    if type(left) is list:
        return len(left) == len(right) and all(_java_equal(a, b) for a, b in zip(left, right, strict=True))
    if type(left) is dict:
        return left.keys() == right.keys() and all(_java_equal(value, right[key]) for key, value in left.items())
    return bool(left == right)


def _node_equal(left: Any, right: Any) -> bool:
    """`left.equals(right)` of Jayway's value nodes (not symmetric between strings and numbers)."""
    if left is UNDEFINED or right is UNDEFINED or left is _UNMATCHABLE or right is _UNMATCHABLE:
        return False
    if left is None or right is None:
        return left is None and right is None
    if type(left) is bool or type(right) is bool:
        return left is right
    if type(left) is str:
        if type(right) is str:
            return left == right
        return _is_number(right) and left == _number_text(right)
    if _is_number(left):
        if _is_number(right):
            return _decimal(left) == _decimal(right)
        return type(right) is str and _BIG_DECIMAL.fullmatch(right) is not None and _decimal(left) == Decimal(right)
    return False  # a JSON node equals only through `==` between two JSON nodes


def _equals(left: Any, right: Any) -> bool:
    if type(left) in (list, dict) and type(right) in (list, dict):
        return _java_equal(left, right)
    return _node_equal(left, right)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")  # bytes order as Java's UTF-16 code units do


def _order(left: Any, right: Any) -> int | None:
    """-1, 0 or 1 as Jayway orders two values (numbers, strings, or one of each), else None."""
    if _is_number(left) and _is_number(right):
        a, b = _decimal(left), _decimal(right)
        return (a > b) - (a < b)
    if type(left) is str and _is_number(right):
        right = _number_text(right)
    elif _is_number(left) and type(right) is str:
        left = _number_text(left)
    if type(left) is str and type(right) is str:
        x, y = _utf16(left), _utf16(right)
        return (x > y) - (x < y)
    return None


def _ordered(test: Callable[[int], bool]) -> Callable[[Any, Any], bool]:
    def evaluate(left: Any, right: Any) -> bool:
        order = _order(left, right)
        return order is not None and test(order)

    return evaluate


def kind(value: Any) -> str:
    if value is UNDEFINED:
        return "a missing value"
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) is str:
        return "a string"
    if type(value) is list:
        return "an array"
    return "an object" if type(value) is dict else "a number"


def _value_list(value: Any, operator: str) -> list[Any] | None:
    """An operand as Jayway's value list: None for an object (no match); FilterFailure for a value
    that is no JSON node (Jayway's 'Expected value list node') or a list holding containers."""
    if type(value) is dict:
        return None
    if type(value) is not list:
        raise FilterFailure(f"the filter operator '{operator}' needs a list, not {kind(value)}")
    items: list[Any] = []
    for item in value:
        if type(item) in (list, dict):
            raise FilterFailure(
                f"the filter operator '{operator}' cannot compare the items of a list of lists or objects"
            )
        if type(item) is str and _read_as_node(item):
            item = _UNMATCHABLE
        items.append(item)
    return items


def _read_as_node(text: str) -> bool:
    """Whether Jayway reads a string list item as a path or as JSON text rather than a string."""
    stripped = text.strip()
    if stripped[:1] in ("$", "@"):
        return True
    return len(stripped) > 1 and (stripped[0], stripped[-1]) in (("[", "]"), ("{", "}"))


def _member(value: Any, items: list[Any]) -> bool:
    return any(_node_equal(value, item) for item in items)


def _in(left: Any, right: Any, operator: str = "in") -> bool:
    items = _value_list(right, operator)
    return items is not None and _member(left, items)


def _both_lists(left: Any, right: Any, operator: str) -> tuple[list[Any], list[Any]] | None:
    rights = _value_list(right, operator)  # Jayway reads the right side first
    if rights is None:
        return None
    lefts = _value_list(left, operator)
    return None if lefts is None else (lefts, rights)


def _subsetof(left: Any, right: Any) -> bool:
    lists = _both_lists(left, right, "subsetof")
    return lists is not None and all(_member(item, lists[1]) for item in lists[0])


def _anyof(left: Any, right: Any) -> bool:
    lists = _both_lists(left, right, "anyof")
    return lists is not None and any(_member(item, lists[1]) for item in lists[0])


def _noneof(left: Any, right: Any) -> bool:
    lists = _both_lists(left, right, "noneof")
    return lists is not None and not any(_member(item, lists[1]) for item in lists[0])


def _size(left: Any, right: Any) -> bool:
    if not _is_number(right):
        return False
    expected = int(right)  # Java's intValue: toward zero
    if type(left) is str:
        return len(_utf16(left)) // 2 == expected  # Java counts UTF-16 code units
    if type(left) is list:
        return len(left) == expected
    return type(left) is dict and expected == -1  # Jayway's length of an object


def _empty(left: Any, right: Any) -> bool:
    if type(left) not in (str, list, dict):
        return False
    if type(right) is not bool:
        raise FilterFailure(f"the filter operator 'empty' needs true or false on its right, not {kind(right)}")
    return (len(left) == 0) is right


def _contains(left: Any, right: Any) -> bool:
    if type(left) is str:
        return type(right) is str and right in left
    if type(left) is list:
        items = _value_list(left, "contains")
        return items is not None and any(_node_equal(right, item) for item in items)
    return False


def _regex_input(value: Any) -> str:
    """The text Jayway matches a value against: a string, a number's text, `true`/`false`, or ''."""
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    return _number_text(value) if _is_number(value) else ""


def _matches(left: Any, right: Any) -> bool:
    if type(right) is not re.Pattern:
        return False
    if type(left) is list:
        items = _value_list(left, "=~")
        return items is not None and any(right.search(_regex_input(item)) for item in items)
    return right.search(_regex_input(left)) is not None


def _never(operator: str) -> Callable[[Any, Any], bool]:
    def evaluate(left: Any, right: Any) -> bool:
        raise FilterFailure(f"the filter operator '{operator}' cannot be evaluated in a path's text")

    return evaluate


EVALUATE: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equals,
    "!=": lambda left, right: not _equals(left, right),
    "<": _ordered(lambda order: order < 0),
    "<=": _ordered(lambda order: order <= 0),
    ">": _ordered(lambda order: order > 0),
    ">=": _ordered(lambda order: order >= 0),
    "=~": _matches,
    "in": _in,
    "nin": lambda left, right: not _in(left, right, "nin"),
    "subsetof": _subsetof,
    "anyof": _anyof,
    "noneof": _noneof,
    "size": _size,
    "empty": _empty,
    "contains": _contains,
    "all": _never("all"),  # Jayway reads its right side as a value list, which text never makes
    "type": _never("type"),  # a class, which text never makes
    "matches": _never("matches"),  # a predicate, which text never makes
}


def call(function: str, value: Any) -> Any:
    """Jayway's path functions (`Length`, `KeySetFunction`, the numeric aggregations, which give a
    Java double and fail on no number)."""
    if function in ("length", "size"):
        return len(value) if type(value) in (list, dict) else None
    if function == "keys":
        return list(value) if type(value) is dict else None
    numbers = [_double(item) for item in value if _is_number(item)] if type(value) is list else []
    if not numbers:
        what = "an array with no number" if type(value) is list else kind(value)
        raise FilterFailure(f"the function '{function}()' needs an array holding numbers, not {what}")
    if function == "min":
        return min(numbers)
    if function == "max":
        return max(numbers)
    total = squares = 0.0
    for number in numbers:  # in order, as Java adds doubles
        total += number
        squares += number * number
    if function == "sum":
        return total
    if function == "avg":
        return total / len(numbers)
    return math.sqrt(max(0.0, squares / len(numbers) - total * total / len(numbers) / len(numbers)))


def _double(number: int | float) -> float:
    """Java's doubleValue: an integer too large for a double is an infinity."""
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf
