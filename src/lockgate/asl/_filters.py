"""Jayway JsonPath's filters as the service evaluates them, over jsonpath-ng's grammar.

Jayway's word operators (`in`, `nin`, `subsetof`, `anyof`, `noneof`, `size`, `empty`,
`contains`, `all`, `type`, `matches`, in any case), which jsonpath-ng does not read, and `!`
before a parenthesised test are swapped for marker fields jsonpath-ng parses as existence tests;
once the path is parsed, each marker becomes a `Relation` node (or, for `!(...)`, the negation of
its parsed test), and each comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`) a `Relation` too. An
operand is a path (`@.x` from the item, `$.x` from the document the path reads) or a literal (a
string, a number, `true`, `false`, `null`, or a list of those). As in Jayway, a path operand that
names one node gives its value, one with wildcards or filters the list of its matches.

What the relations hold for, with Jayway's semantics, is `asl._jayway`; where Jayway throws
while it evaluates, the state fails with States.Runtime (`FilterFailure`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lockgate.asl._jayway import EVALUATE, UNDEFINED, FilterFailure, call, kind

__all__ = ["FilterError", "FilterFailure", "Spec", "attach", "extract", "mentioned"]

OPERATORS = ("in", "nin", "subsetof", "anyof", "noneof", "size", "empty", "contains", "all", "type", "matches")
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_FILTER = re.compile(r"\?\s*\(")
_MARK = "\u2063lockgate relation "
_MARKED = re.compile(r"\u2063lockgate relation (\d+)")
_FILTER_OPEN = re.compile(r"\[\s*\?\s*\(")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_]\w*")
_PATH_STOP = frozenset(" \t\r\n)(&|=<>!,~'\"")
_LITERAL = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null""")
_UNESCAPE = re.compile(r"\\(.)")
_CALLED = re.compile(r"\.([A-Za-z]+)\(\)$")
FUNCTIONS = ("length", "size", "keys", "min", "max", "avg", "sum", "stddev")  # those evaluated in a filter


class FilterError(ValueError):
    """A filter Jayway JsonPath cannot read (the service refuses the definition)."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "path", "string", "number", "word", "list" or "punct"
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Spec:
    """One relation as written: its operands' texts (a path, or a literal already read) and operator."""

    left: tuple[str | None, Any]
    operator: str
    right: tuple[str | None, Any]


def mentioned(rest: str) -> bool:
    """Whether a path may hold a filter (a cheap test before `extract` and `attach`)."""
    return "?" in rest and _FILTER.search(rest) is not None


def extract(rest: str) -> tuple[str, list[Spec]]:
    """`rest` with each relation of a word operator swapped for a marker, and the relations in order.

    Raises FilterError for an operator that lacks an operand or has one of the wrong kind.
    """
    found: list[Spec] = []
    return _rewrite(rest, found), found


def _rewrite(text: str, found: list[Spec]) -> str:
    out: list[str] = []
    at = 0
    for start, end in _filter_bodies(text):
        out.append(text[at:start])
        out.append(_rewrite_body(text[start:end], found))
        at = end
    out.append(text[at:])
    return "".join(out)


def _filter_bodies(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of the expression inside each outermost `[?( ... )]` of `text`."""
    at, end = 0, len(text)
    while at < end:
        char = text[at]
        if char in "'\"":
            at = _string_end(text, at)
        elif char == "[":
            close = _bracket_end(text, at)
            opened = _FILTER_OPEN.match(text, at)
            if opened is not None:
                inner = text[opened.end() : close - 1 if text[close - 1 : close] == "]" else close].rstrip()
                body_end = opened.end() + len(inner) - (1 if inner.endswith(")") else 0)
                if body_end >= opened.end():
                    yield opened.end(), body_end
            at = close
        else:
            at += 1


def _string_end(text: str, start: int) -> int:
    quote, at = text[start], start + 1
    while at < len(text):
        if text[at] == "\\":
            at += 2
        elif text[at] == quote:
            return at + 1
        else:
            at += 1
    return len(text)


def _bracket_end(text: str, start: int) -> int:
    """The index after the `]` that closes the `[` at `start` (quotes skipped), or the text's end."""
    depth, at = 0, start
    while at < len(text):
        char = text[at]
        if char in "'\"":
            at = _string_end(text, at)
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return at + 1
        at += 1
    return len(text)


def _path_end(text: str, start: int) -> int:
    at = start + 1
    while at < len(text):
        char = text[at]
        if char == "[":
            at = _bracket_end(text, at)
        elif char == "\\":
            at += 2
        elif char in _PATH_STOP:
            break
        else:
            at += 1
    if text[at : at + 2] == "()" and _CALLED.search(text, start, at + 2):
        at += 2  # a function call ends the path (`@.tags.length()`)
    return min(at, len(text))


def _tokens(body: str) -> list[_Token]:
    tokens: list[_Token] = []
    at = 0
    while at < len(body):
        char = body[at]
        if char.isspace():
            at += 1
            continue
        if char in "'\"":
            kind, end = "string", _string_end(body, at)
        elif char in "@$":
            kind, end = "path", _path_end(body, at)
        elif char == "[":
            kind, end = "list", _bracket_end(body, at)
        elif (number := _NUMBER.match(body, at)) is not None:
            kind, end = "number", number.end()
        elif (word := _WORD.match(body, at)) is not None:
            kind, end = "word", word.end()
        else:
            kind, end = "punct", at + 1
        tokens.append(_Token(kind, at, end, body[at:end]))
        at = end
    return tokens


def _rewrite_body(body: str, found: list[Spec]) -> str:
    tokens = _tokens(body)
    swaps: list[tuple[int, int, str]] = []
    used = -1
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if _is_bang(tokens, index):
            after = tokens[index + 1] if index + 1 < len(tokens) else None
            if after is not None and after.text == "(":
                close = _group_end(tokens, index + 1)
                inner = body[after.end : tokens[close].start] if close < len(tokens) else ""
                if close >= len(tokens) or not inner.strip():
                    raise FilterError("'!(' in a filter needs a test and its closing ')'")
                found.append(Spec((inner, None), "!", (None, None)))
                swaps.append((token.start, tokens[close].end, f"@['{_MARK}{len(found) - 1}']"))
                used, index = close, close + 1
                continue
            if after is not None and after.kind == "path" and _operator_follows(tokens, index + 2):
                swaps.append((token.start, token.end, ""))  # Jayway skips a '!' before a compared path
        if token.kind != "word" or token.text.lower() not in OPERATORS:
            index += 1
            continue
        operator = token.text.lower()
        left = tokens[index - 1] if index > 0 else None
        right = tokens[index + 1] if index + 1 < len(tokens) else None
        if left is None or index - 1 <= used or not _is_operand(left):
            raise FilterError(f"the filter operator '{operator}' needs a path or a value on its left")
        if right is None or not _is_operand(right):
            raise FilterError(f"the filter operator '{operator}' needs a path or a value on its right")
        if right.start == token.end:  # Jayway reads an operator word up to the next space
            raise FilterError(f"the filter operator '{operator}' must be followed by a space")
        found.append(Spec(_operand(left), operator, _operand(right)))
        swaps.append((left.start, right.end, f"@['{_MARK}{len(found) - 1}']"))
        used = index + 1
        index += 2
    _called_comparisons(tokens, swaps, found)
    consumed = {start for start, _, _ in swaps} | {end for _, end, _ in swaps}
    inside = [(start, end) for start, end, text in swaps if text]
    for token in tokens:  # a path that is not an operand may hold a filter of its own
        if token.kind == "path" and "[" in token.text and token.start not in consumed and token.end not in consumed:
            if any(start <= token.start < end for start, end in inside):
                continue
            rewritten = _rewrite(token.text, found)
            if rewritten != token.text:
                swaps.append((token.start, token.end, rewritten))
    out: list[str] = []
    at = 0
    for start, end, text in sorted(swaps):
        out.append(body[at:start])
        out.append(text)
        at = end
    out.append(body[at:])
    return "".join(out)


def _called_comparisons(tokens: list[_Token], swaps: list[tuple[int, int, str]], found: list[Spec]) -> None:
    """Swap for a marker each comparison with a function call on either side (`@.tags.length() >
    1`), which jsonpath-ng does not read, or a literal on its left (`1 < @.x`), which jsonpath-ng
    reads as a field's name."""
    taken = [(start, end) for start, end, text in swaps if text]
    for index, token in enumerate(tokens):
        called = token.kind == "path" and _CALLED.search(token.text) is not None
        literal_left = token.kind != "path" and _is_operand(token)
        if not (called or literal_left) or any(start <= token.start < end for start, end in taken):
            continue
        left, operator, right = _comparison_around(tokens, index)
        if literal_left and (operator is None or left is not token):
            continue  # a literal on a comparison's right, or not compared: jsonpath-ng reads it
        if operator is None or left is None or right is None:
            raise FilterError(f"the function call '{token.text}' in a filter must be compared (==, <, ...)")
        found.append(Spec(_operand(left), operator, _operand(right)))
        swaps.append((left.start, right.end, f"@['{_MARK}{len(found) - 1}']"))
        taken.append((left.start, right.end))


def _comparison_around(tokens: list[_Token], index: int) -> tuple[_Token | None, str | None, _Token | None]:
    """(left, operator, right) of the comparison the operand at `index` stands in, if any."""

    def operator_at(first: int, step: int) -> tuple[str, int] | None:
        run: list[_Token] = []
        at = first
        while 0 <= at < len(tokens) and tokens[at].kind == "punct" and tokens[at].text in "=<>!":
            if run and (tokens[at].start != run[-1].end if step > 0 else tokens[at].end != run[-1].start):
                break
            run.append(tokens[at])
            at += step
        text = "".join(t.text for t in (run if step > 0 else reversed(run)))
        return (text, at) if text in _COMPARISONS else None

    after = operator_at(index + 1, 1)
    if after is not None and 0 <= after[1] < len(tokens) and _is_operand(tokens[after[1]]):
        return tokens[index], after[0], tokens[after[1]]
    before = operator_at(index - 1, -1)
    if before is not None and 0 <= before[1] < len(tokens) and _is_operand(tokens[before[1]]):
        return tokens[before[1]], before[0], tokens[index]
    return None, None, None


def _is_bang(tokens: list[_Token], index: int) -> bool:
    """Whether the token at `index` is a logical `!` (not the start of `!=`)."""
    token = tokens[index]
    if token.text != "!":
        return False
    after = tokens[index + 1] if index + 1 < len(tokens) else None
    return after is None or not (after.text == "=" and after.start == token.end)


def _group_end(tokens: list[_Token], opened: int) -> int:
    """The index of the `)` closing the `(` token at `opened` (len(tokens) when unclosed)."""
    depth = 0
    for index in range(opened, len(tokens)):
        if tokens[index].text == "(":
            depth += 1
        elif tokens[index].text == ")":
            depth -= 1
            if depth == 0:
                return index
    return len(tokens)


def _operator_follows(tokens: list[_Token], index: int) -> bool:
    if index >= len(tokens):
        return False
    token = tokens[index]
    return token.text in ("=", "<", ">", "!") or (token.kind == "word" and token.text.lower() in OPERATORS)


def _is_operand(token: _Token) -> bool:
    if token.kind == "word":
        return token.text in ("true", "false", "null")
    return token.kind in ("path", "string", "number", "list")


def _operand(token: _Token) -> tuple[str | None, Any]:
    """(path text, None) for a path; (None, value) for a literal."""
    if token.kind == "path":
        return token.text, None
    return None, _literal(token)


def _literal(token: _Token) -> Any:
    text = token.text
    if token.kind == "string":
        if len(text) < 2 or text[-1] != text[0]:
            raise FilterError(f"the string {text} in a filter is not closed")
        return _UNESCAPE.sub(r"\1", text[1:-1])
    if token.kind == "number":
        return float(text) if any(c in text for c in ".eE") else int(text)
    if token.kind == "word":
        return {"true": True, "false": False, "null": None}[text]
    items = text[1:-1] if text.endswith("]") else None
    if items is None or _LITERAL.sub("", items).replace(",", "").strip():
        raise FilterError(f"the list {text} in a filter must hold only strings, numbers, true, false or null")
    return [_literal(_literal_token(item)) for item in _LITERAL.findall(items)]


def _literal_token(text: str) -> _Token:
    kind = "string" if text[0] in "'\"" else "word" if text[0].isalpha() else "number"
    return _Token(kind, 0, len(text), text)


# --- evaluation ----------------------------------------------------------------------------------

Query = Callable[[str], tuple[Any, bool]]  # path text -> (jsonpath-ng expression, names one node)
Tests = Callable[[str], list[Any]]  # a filter's test text -> its parsed tests (a conjunction)


@dataclass(frozen=True, slots=True)
class _Operand:
    query: Any  # a jsonpath-ng expression, or None for a literal
    definite: bool
    literal: Any
    function: str | None = None  # a Jayway function applied to what the path finds

    def value(self, datum: Any) -> Any:
        if self.query is None:
            return self.literal
        found = self.query.find(datum)
        value = (found[0].value if found else UNDEFINED) if self.definite else [match.value for match in found]
        return value if self.function is None or value is UNDEFINED else call(self.function, value)


def attach(tree: Any, specs: list[Spec], query: Query, tests: Tests, definite: Callable[[Any], bool]) -> Any:
    """The parsed `tree` with each marker of `extract` replaced by its relation (or negation), and
    each comparison by a relation with Jayway's semantics.

    Raises FilterError when a relation stands where jsonpath-ng took it as a value to compare
    (`@.a size 2 == true`): a relation is a test of its own.
    """
    from jsonpath_ng import Child, Descendants
    from jsonpath_ng.ext.filter import And, Expression, Filter

    def operand(side: tuple[str | None, Any]) -> _Operand:
        text, literal = side
        if text is None:
            return _Operand(None, True, literal)
        called = _CALLED.search(text)
        if called is None:
            expression, names_one = query(text)
            return _Operand(expression, names_one, None)
        function, head = called.group(1), text[: called.start()]
        if function not in FUNCTIONS:
            raise FilterError(f"the function '{function}()' is not evaluated in a filter (only {', '.join(FUNCTIONS)})")
        if head == "@":
            from jsonpath_ng import This

            return _Operand(This(), True, None, function)
        expression, names_one = query(head)
        return _Operand(expression, names_one, None, function)

    relation = _relation_class(Expression)

    def build(index: int) -> Any:
        spec = specs[index]
        if spec.operator == "!":
            return Expression(And(tests(str(spec.left[0]))), "!", None)
        return relation(operand(spec.left), spec.operator, operand(spec.right))

    placed: set[int] = set()

    def swap(node: Any) -> Any:
        if isinstance(node, Expression) and not getattr(node, "is_relation", False):
            index = _marker(node.target)
            if index is not None:
                if node.op is not None and node.op != "!":
                    shown = "!(...)" if specs[index].operator == "!" else specs[index].operator
                    raise FilterError(f"the filter test '{shown}' cannot be compared")
                placed.add(index)
                return build(index)  # Jayway skips a '!' right before a relation's path
            node.target = swap(node.target)
            if _is_query(node.value):
                node.value = swap(node.value)
            if node.op == "=":
                raise FilterError("'=' is not a filter operator (use '==')")
            if node.op == "=~":
                pattern = _pattern(node.value)
                return relation(_Operand(node.target, definite(node.target), None), "=~", _Operand(None, True, pattern))
            if node.op in _COMPARISONS:
                right = (
                    _Operand(node.value, definite(node.value), None)
                    if _is_query(node.value)
                    else _Operand(None, True, node.value)
                )
                return relation(_Operand(node.target, definite(node.target), None), node.op, right)
            return node
        if isinstance(node, Child) and isinstance(node.right, Filter) and not isinstance(node.left, Descendants):
            node.left = swap(node.left)
            node.right = _jayway_filter(Filter)(swap(node.right).expressions, definite(node.left))
            return node
        if hasattr(node, "expressions"):
            node.expressions = [swap(item) for item in node.expressions]
        elif hasattr(node, "operands"):
            node.operands = [swap(item) for item in node.operands]
        else:
            for side in ("left", "right"):
                child = getattr(node, side, None)
                if _is_query(child):
                    setattr(node, side, swap(child))
        return node

    tree = swap(tree)
    if len(placed) != len(specs):
        missing = next(spec for index, spec in enumerate(specs) if index not in placed)
        raise FilterError(f"the filter operator '{missing.operator}' is not inside a filter test")
    return tree


def _is_query(node: Any) -> bool:
    from jsonpath_ng import JSONPath

    return isinstance(node, JSONPath)


def _marker(target: Any) -> int | None:
    from jsonpath_ng import Child, Fields, This

    if isinstance(target, Child) and isinstance(target.left, This) and isinstance(target.right, Fields):
        fields = target.right.fields
        if len(fields) == 1 and (matched := _MARKED.fullmatch(fields[0])) is not None:
            return int(matched.group(1))
    return None


_FILTER_CLASS: Any = None


def _jayway_filter(base: type) -> Any:
    """A filter as Jayway applies it: to an object itself (not to its fields' values), to each item
    of an array; on a scalar after a definite path, FilterFailure ('can not be applied to
    primitives')."""
    global _FILTER_CLASS
    if _FILTER_CLASS is not None:
        return _FILTER_CLASS
    from jsonpath_ng import DatumInContext

    class JaywayFilter(base):  # type: ignore[misc]
        def __init__(self, expressions: list[Any], after_definite: bool) -> None:
            super().__init__(expressions)
            self.after_definite = after_definite

        def find(self, datum: Any) -> list[Any]:
            datum = DatumInContext.wrap(datum)
            if type(datum.value) is dict:
                return [datum] if all(test.find(datum) for test in self.expressions) else []
            if type(datum.value) is not list and self.after_definite:
                raise FilterFailure(f"a filter cannot be applied to {kind(datum.value)}")
            return list(super().find(datum))

    _FILTER_CLASS = JaywayFilter
    return JaywayFilter


_RELATION_CLASS: Any = None


def _relation_class(expression: type) -> Any:
    """The Relation node, a jsonpath-ng filter Expression (so `$` operands see the whole document)."""
    global _RELATION_CLASS
    if _RELATION_CLASS is not None:
        return _RELATION_CLASS
    from jsonpath_ng import DatumInContext, This

    class Relation(expression):  # type: ignore[misc]
        is_relation = True

        def __init__(self, left: _Operand, operator: str, right: _Operand) -> None:
            # target and value are what jsonpath-ng's filter looks at to see whether `$` is read
            super().__init__(left.query or This(), operator, right.query)
            self.left_operand, self.right_operand = left, right

        def find(self, datum: Any) -> list[Any]:
            wrapped = DatumInContext.wrap(datum)
            left, right = self.left_operand.value(wrapped), self.right_operand.value(wrapped)
            return [wrapped] if EVALUATE[self.op](left, right) else []

        def __str__(self) -> str:
            return f"({self.target} {self.op} {self.value})"

    _RELATION_CLASS = Relation
    return Relation


_REWRITTEN = re.compile(r"(?:\(\?[imsx]+\))?\^\(\?:.*\)\\Z", re.DOTALL)  # what paths makes of /regex/flags


def _pattern(value: Any) -> re.Pattern[str] | None:
    """The compiled `/regex/` of a filter (None for a string, which Jayway never takes for one)."""
    if type(value) is not str or _REWRITTEN.fullmatch(value) is None:
        return None
    try:
        return re.compile(value)
    except re.error as exc:
        raise FilterError(f"the regular expression of a filter does not compile: {exc}") from None
