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

import re
from dataclasses import dataclass
from typing import Any

from lockgate.asl import paths
from lockgate.asl._intrinsic_functions import FUNCTIONS, MANY, fail, format_values
from lockgate.asl.errors import StatesError

MAX_NESTING = 10
_NAME = re.compile(r"[A-Za-z0-9._]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_LOOKS_LIKE_CALL = re.compile(r"\s*[A-Za-z_][A-Za-z0-9._]*\s*\(")


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


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def error(self, message: str) -> StatesError:
        return fail(f"Invalid intrinsic function {self.text!r}: {message} at character {self.at + 1}")

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
        if name not in FUNCTIONS:
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
        low, high, _ = FUNCTIONS[name]
        if not low <= len(arguments) <= high:
            expected = str(low) if low == high else f"{low} to {high}" if high < MANY else f"at least {low}"
            raise fail(f"{name} takes {expected} argument(s), but {len(arguments)} were given in {self.text!r}")
        if name == "States.JsonToString" and type(arguments[0]) is not PathArgument:
            raise fail(f"States.JsonToString: the argument must be a path, in {self.text!r}")
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


# The kind each argument must have, per function (the last entry repeats), to judge literal arguments
# before running: a literal of the wrong kind fails every execution.
_KINDS: dict[str, tuple[str, ...]] = {
    "States.Format": ("string", "any"),
    "States.StringToJson": ("string",),
    "States.ArrayPartition": ("array", "integer"),
    "States.ArrayContains": ("array", "any"),
    "States.ArrayRange": ("integer", "integer", "integer"),
    "States.ArrayGetItem": ("array", "integer"),
    "States.ArrayLength": ("array",),
    "States.ArrayUnique": ("array",),
    "States.Base64Encode": ("string",),
    "States.Base64Decode": ("string",),
    "States.Hash": ("any", "string"),
    "States.JsonMerge": ("object", "object", "boolean"),
    "States.MathRandom": ("integer", "integer", "integer"),
    "States.MathAdd": ("number", "number"),
    "States.StringSplit": ("string", "string"),
}


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def literal_problems(call: Call) -> list[str]:
    """The literal arguments of `call` (and of calls nested in it) whose kind the function refuses."""
    problems: list[str] = []
    kinds = _KINDS.get(call.name, ())
    for position, argument in enumerate(call.arguments):
        if type(argument) is Call:
            problems.extend(literal_problems(argument))
            continue
        if type(argument) is not Literal or not kinds:
            continue
        wanted = kinds[min(position, len(kinds) - 1)]
        found = _kind_of(argument.value)
        if wanted == "any" or found == wanted or (wanted == "number" and found == "integer"):
            continue
        problems.append(f"{call.name}: argument {position + 1} must be {'an' if wanted[0] in 'aio' else 'a'} "
                        f"{wanted}, not the {found} {argument.value!r}")  # fmt: skip
    return problems


_cache: dict[str, Call] = {}


def parse_intrinsic(expression: str) -> Call:
    """Parse an intrinsic call; raises StatesError("States.IntrinsicFailure") naming the problem."""
    cached = _cache.get(expression) if type(expression) is str else None
    if cached is not None:
        return cached
    if not isinstance(expression, str):
        raise fail(f"An intrinsic function must be a string, not {expression!r}")
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
        return format_values(values, first.pieces if type(first) is Literal else None)
    return FUNCTIONS[call.name][2](values, entropy)


FUNCTION_NAMES = tuple(FUNCTIONS)
