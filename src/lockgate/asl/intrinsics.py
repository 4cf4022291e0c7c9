"""ASL intrinsic functions (`States.Format(...)` and the rest) for JSONPath payload templates.

An expression is parsed once into a small tree (cached by its text) and evaluated against the
state's data, the context object and the variables. Arguments are string literals in single
quotes (`\\'`, `\\{`, `\\}` and `\\\\` are the only escapes), numbers, true/false/null, paths
(`$.x`, `$$.x`, `$name.x`) and nested calls, at most 10 deep. Every argument check fails with
States.IntrinsicFailure naming the function; a path that finds nothing is States.Runtime.

Randomness (`States.UUID`, unseeded `States.MathRandom`) comes from `entropy`, any object with
`random() -> float in [0, 1)` and `uuid() -> str`, so an execution can record and replay it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lockgate.asl import paths
from lockgate.asl.errors import INTRINSIC_FAILURE, StatesError

MAX_NESTING = 10
_TEXT_LIMIT = 10_000
_RANGE_LIMIT = 1000
_MANY = 1_000_000
_INT32 = (-(2**31), 2**31 - 1)
_NAME = re.compile(r"[A-Za-z0-9._]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_LOOKS_LIKE_CALL = re.compile(r"\s*[A-Za-z_][A-Za-z0-9._]*\s*\(")
_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant argument; `pieces` splits a string literal at its unescaped `{}` placeholders."""

    value: Any
    pieces: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class PathArgument:
    path: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: tuple[Literal | PathArgument | Call, ...]


def _fail(cause: str) -> StatesError:
    return StatesError(INTRINSIC_FAILURE, cause)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def error(self, message: str) -> StatesError:
        return _fail(f"Invalid intrinsic function {self.text!r}: {message} at character {self.at + 1}")

    def skip_spaces(self) -> None:
        while self.at < len(self.text) and self.text[self.at].isspace():
            self.at += 1

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def call(self, depth: int) -> Call:
        if depth > MAX_NESTING:
            raise self.error(f"more than {MAX_NESTING} nested intrinsic functions")
        match = _NAME.match(self.text, self.at)
        if match is None:
            raise self.error("expected a function name")
        name = match.group()
        if name not in _FUNCTIONS:
            raise self.error(f"unknown intrinsic function '{name}'")
        self.at = match.end()
        self.skip_spaces()
        if self.peek() != "(":
            raise self.error(f"expected '(' after {name}")
        self.at += 1
        arguments: list[Literal | PathArgument | Call] = []
        self.skip_spaces()
        if self.peek() == ")":
            self.at += 1
        else:
            while True:
                self.skip_spaces()
                arguments.append(self.argument(depth))
                self.skip_spaces()
                char = self.peek()
                self.at += 1
                if char == ")":
                    break
                if char != ",":
                    self.at -= 1
                    raise self.error("expected ',' or ')'")
        low, high, _ = _FUNCTIONS[name]
        if not low <= len(arguments) <= high:
            expected = str(low) if low == high else f"{low} to {high}" if high < _MANY else f"at least {low}"
            raise _fail(f"{name} takes {expected} argument(s), but {len(arguments)} were given in {self.text!r}")
        if name == "States.JsonToString" and type(arguments[0]) is not PathArgument:
            raise _fail(f"States.JsonToString: the argument must be a path, in {self.text!r}")
        return Call(name, tuple(arguments))

    def argument(self, depth: int) -> Literal | PathArgument | Call:
        char = self.peek()
        if char == "'":
            return self.string()
        if char == "$":
            return self.path()
        if char == "-" or char.isdigit():
            match = _NUMBER.match(self.text, self.at)
            if match is None:
                raise self.error("invalid number")
            self.at = match.end()
            number = match.group()
            return Literal(float(number) if match.group(1) or match.group(2) else int(number))
        for word, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.at) and not _NAME.match(self.text, self.at + len(word)):
                self.at += len(word)
                return Literal(value)
        if char == "":
            raise self.error("unexpected end")
        return self.call(depth + 1)

    def string(self) -> Literal:
        self.at += 1
        pieces: list[str] = []
        current: list[str] = []
        while True:
            if self.at >= len(self.text):
                raise self.error("unterminated string")
            char = self.text[self.at]
            if char == "\\":
                escaped = self.text[self.at + 1 : self.at + 2]
                if escaped not in ("'", "{", "}", "\\"):
                    raise self.error("open escape '\\' (only \\', \\{, \\} and \\\\ are escapes)")
                current.append(escaped)
                self.at += 2
                continue
            if char == "'":
                self.at += 1
                pieces.append("".join(current))
                return Literal("{}".join(pieces), tuple(pieces))
            if char == "{" and self.text[self.at + 1 : self.at + 2] == "}":
                pieces.append("".join(current))
                current = []
                self.at += 2
                continue
            current.append(char)
            self.at += 1

    def path(self) -> PathArgument:
        start, depth, quote = self.at, 0, ""
        while self.at < len(self.text):
            char = self.text[self.at]
            if quote:
                if char == "\\":
                    self.at += 1
                elif char == quote:
                    quote = ""
            elif char in "'\"" and depth:
                quote = char
            elif char in "[(":
                depth += 1
            elif char in "])":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (char == "," or char.isspace()):
                break
            self.at += 1
        text = self.text[start : self.at]
        if not paths.is_valid_path(text):
            raise self.error(f"invalid path '{text}'")
        return PathArgument(text)


_cache: dict[str, Call] = {}


def parse_intrinsic(expression: str) -> Call:
    """Parse an intrinsic call; raises StatesError("States.IntrinsicFailure") naming the problem."""
    cached = _cache.get(expression) if type(expression) is str else None
    if cached is not None:
        return cached
    if not isinstance(expression, str):
        raise _fail(f"An intrinsic function must be a string, not {expression!r}")
    parser = _Parser(expression)
    parser.skip_spaces()
    call = parser.call(1)
    parser.skip_spaces()
    if parser.at != len(expression):
        raise parser.error("unexpected text after the call")
    if len(_cache) >= 4096:
        _cache.clear()
    _cache[expression] = call
    return call


def is_intrinsic(text: Any) -> bool:
    """Whether `text` has the shape of an intrinsic call (a name then '('); it may still be invalid."""
    return isinstance(text, str) and _LOOKS_LIKE_CALL.match(text) is not None


def evaluate_intrinsic(
    expression: str, data: Any, context: dict[str, Any], variables: dict[str, Any] | None, entropy: Any
) -> Any:
    """Evaluate an intrinsic call against the data (`$`), context (`$$`) and variables (`$name`)."""
    return _evaluate(parse_intrinsic(expression), data, context, variables, entropy)


def _evaluate(call: Call, data: Any, context: dict[str, Any], variables: dict[str, Any] | None, entropy: Any) -> Any:
    values = []
    for argument in call.arguments:
        if type(argument) is Literal:
            values.append(argument.value)
        elif type(argument) is PathArgument:
            values.append(paths.select(argument.path, data, context, variables=variables))
        else:
            values.append(_evaluate(argument, data, context, variables, entropy))  # type: ignore[arg-type]
    if call.name == "States.Format":
        first = call.arguments[0]
        return _format(values, first.pieces if type(first) is Literal else None)
    return _FUNCTIONS[call.name][2](values, entropy)


# --- argument checks -------------------------------------------------------------------------

_ORDINALS = ("first", "second", "third")


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _bad(name: str, position: int, wanted: str, value: Any) -> StatesError:
    shown = json.dumps(value, default=str)
    if len(shown) > 200:
        shown = shown[:200] + "..."
    return _fail(f"{name}: the {_ORDINALS[position]} argument must be {wanted}, but it is the {_type(value)} {shown}")


def _integer(name: str, position: int, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(name, position, "an integer", value)
    if isinstance(value, float):
        if not value.is_integer():
            raise _bad(name, position, "an integer", value)
        return int(value)
    return value


def _array(name: str, position: int, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(name, position, "an array", value)
    return value


def _string(name: str, position: int, value: Any, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise _bad(name, position, "a string", value)
    if limit is not None and len(value) > limit:
        raise _fail(f"{name}: the {_ORDINALS[position]} argument is {len(value)} characters long; the limit is {limit}")
    return value


def _object(name: str, position: int, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(name, position, "an object", value)
    return value


def _json_key(value: Any) -> str:
    """A key equal for equal JSON values (unlike Python, true is not 1)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# --- the functions -------------------------------------------------------------------------


def _format(values: list[Any], pieces: tuple[str, ...] | None) -> str:
    template = _string("States.Format", 0, values[0])
    if pieces is None:
        pieces = tuple(template.split("{}"))
    arguments = values[1:]
    if len(pieces) - 1 != len(arguments):
        raise _fail(
            f"States.Format: the template has {len(pieces) - 1} placeholder(s) {{}} "
            f"but {len(arguments)} value(s) were given"
        )
    out = [pieces[0]]
    for value, piece in zip(arguments, pieces[1:], strict=True):
        if isinstance(value, list | dict):
            raise _fail(
                f"States.Format: a value to format must be a string, number, boolean or null, not an {_type(value)}"
            )
        out.append(value if isinstance(value, str) else json.dumps(value))
        out.append(piece)
    return "".join(out)


def _string_to_json(values: list[Any], entropy: Any) -> Any:
    text = _string("States.StringToJson", 0, values[0])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"States.StringToJson: the argument is not JSON text ({exc})") from None


def _json_to_string(values: list[Any], entropy: Any) -> str:
    return json.dumps(values[0], separators=(",", ":"), ensure_ascii=False)


def _array_of(values: list[Any], entropy: Any) -> list[Any]:
    return list(values)


def _array_partition(values: list[Any], entropy: Any) -> list[list[Any]]:
    items = _array("States.ArrayPartition", 0, values[0])
    size = _integer("States.ArrayPartition", 1, values[1])
    if size <= 0:
        raise _bad("States.ArrayPartition", 1, "a positive integer (the chunk size)", values[1])
    return [items[start : start + size] for start in range(0, len(items), size)]


def _array_contains(values: list[Any], entropy: Any) -> bool:
    items = _array("States.ArrayContains", 0, values[0])
    wanted = _json_key(values[1])
    return any(_json_key(item) == wanted for item in items)


def _array_range(values: list[Any], entropy: Any) -> list[int]:
    start, end, step = (_integer("States.ArrayRange", i, values[i]) for i in range(3))
    if step == 0:
        raise _bad("States.ArrayRange", 2, "a non-zero integer (the step)", values[2])
    count = max(0, (end - start) // step + 1)
    if count > _RANGE_LIMIT:
        raise _fail(f"States.ArrayRange: the range would have {count} items; the limit is {_RANGE_LIMIT}")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(values: list[Any], entropy: Any) -> Any:
    items = _array("States.ArrayGetItem", 0, values[0])
    index = _integer("States.ArrayGetItem", 1, values[1])
    if not 0 <= index < len(items):
        raise _fail(f"States.ArrayGetItem: the index {index} is out of bounds for an array of {len(items)} items")
    return items[index]


def _array_length(values: list[Any], entropy: Any) -> int:
    return len(_array("States.ArrayLength", 0, values[0]))


def _array_unique(values: list[Any], entropy: Any) -> list[Any]:
    seen: dict[str, Any] = {}
    for item in _array("States.ArrayUnique", 0, values[0]):
        seen.setdefault(_json_key(item), item)
    return list(seen.values())


def _base64_encode(values: list[Any], entropy: Any) -> str:
    text = _string("States.Base64Encode", 0, values[0], _TEXT_LIMIT)
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _base64_decode(values: list[Any], entropy: Any) -> str:
    text = _string("States.Base64Decode", 0, values[0], _TEXT_LIMIT)
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise _fail(f"States.Base64Decode: the argument is not Base64-encoded UTF-8 text ({exc})") from None


def _hash(values: list[Any], entropy: Any) -> str:
    data = values[0] if isinstance(values[0], str) else json.dumps(values[0], separators=(",", ":"))
    if len(data) > _TEXT_LIMIT:
        raise _fail(f"States.Hash: the data is {len(data)} characters long; the limit is {_TEXT_LIMIT}")
    algorithm = _string("States.Hash", 1, values[1])
    if algorithm not in _HASHES:
        raise _fail(f"States.Hash: unknown algorithm '{algorithm}' (use one of {', '.join(_HASHES)})")
    return hashlib.new(_HASHES[algorithm], data.encode("utf-8")).hexdigest()


def _json_merge(values: list[Any], entropy: Any) -> dict[str, Any]:
    left = _object("States.JsonMerge", 0, values[0])
    right = _object("States.JsonMerge", 1, values[1])
    if values[2] is not False:
        raise _fail("States.JsonMerge: the third argument must be false (only the shallow merge is supported)")
    return {**left, **right}


def _math_random(values: list[Any], entropy: Any) -> int:
    start = _integer("States.MathRandom", 0, values[0])
    end = _integer("States.MathRandom", 1, values[1])
    if end <= start:
        raise _fail(f"States.MathRandom: the end ({end}) must be greater than the start ({start})")
    if len(values) == 3:
        draw = random.Random(_integer("States.MathRandom", 2, values[2])).random()
    else:
        draw = _entropy(entropy, "States.MathRandom").random()
    return min(end - 1, start + int(draw * (end - start)))


def _math_add(values: list[Any], entropy: Any) -> int:
    total = 0
    for position, value in enumerate(values):
        number = _integer("States.MathAdd", position, value)
        if not _INT32[0] <= number <= _INT32[1]:
            raise _fail(f"States.MathAdd: {number} is outside the range {_INT32[0]} to {_INT32[1]}")
        total += number
    return total


def _string_split(values: list[Any], entropy: Any) -> list[str]:
    text = _string("States.StringSplit", 0, values[0])
    delimiters = _string("States.StringSplit", 1, values[1])
    if not delimiters:
        return [text] if text else []
    pattern = "[" + re.escape(delimiters) + "]+"
    return [part for part in re.split(pattern, text) if part]


def _uuid(values: list[Any], entropy: Any) -> str:
    return str(_entropy(entropy, "States.UUID").uuid())


def _entropy(entropy: Any, name: str) -> Any:
    if entropy is None:
        raise _fail(f"{name}: no source of randomness was given to this evaluation")
    return entropy


_Function = Callable[[list[Any], Any], Any]
_FUNCTIONS: dict[str, tuple[int, int, _Function]] = {
    "States.Format": (1, _MANY, lambda values, entropy: _format(values, None)),
    "States.StringToJson": (1, 1, _string_to_json),
    "States.JsonToString": (1, 1, _json_to_string),
    "States.Array": (0, _MANY, _array_of),
    "States.ArrayPartition": (2, 2, _array_partition),
    "States.ArrayContains": (2, 2, _array_contains),
    "States.ArrayRange": (3, 3, _array_range),
    "States.ArrayGetItem": (2, 2, _array_get_item),
    "States.ArrayLength": (1, 1, _array_length),
    "States.ArrayUnique": (1, 1, _array_unique),
    "States.Base64Encode": (1, 1, _base64_encode),
    "States.Base64Decode": (1, 1, _base64_decode),
    "States.Hash": (2, 2, _hash),
    "States.JsonMerge": (3, 3, _json_merge),
    "States.MathRandom": (2, 3, _math_random),
    "States.MathAdd": (2, 2, _math_add),
    "States.StringSplit": (2, 2, _string_split),
    "States.UUID": (0, 0, _uuid),
}
FUNCTION_NAMES = tuple(_FUNCTIONS)
