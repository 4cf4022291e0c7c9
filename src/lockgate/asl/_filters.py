"""Jayway JsonPath's word operators in filters: `in`, `nin`, `subsetof`, `anyof`, `noneof`,
`size` and `empty`, which jsonpath-ng does not read.

Each relation `LEFT OPERATOR RIGHT` in a filter is swapped for a marker field jsonpath-ng parses
as an existence test; once the path is parsed, each marker becomes a `Relation` node that
evaluates the operator over its operands. An operand is a path (`@.x` from the item, `$.x` from
the document the path reads) or a literal (a string, a number, `true`, `false`, `null`, or a list
of those). As in Jayway, a path operand that names one node gives its value, one with wildcards
or filters the list of its matches.

Semantics follow Jayway's evaluators: `size` counts a string's UTF-16 code units (Java's
`length`) or an array's items; `empty` holds for an empty string, array or object; the set
operators need arrays on both sides (anything else does not match). Values are equal as JSON
values are (a number is never equal to a string or a boolean; 1 equals 1.0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

OPERATORS = ("in", "nin", "subsetof", "anyof", "noneof", "size", "empty")
_MENTIONED = re.compile(r"\b(?:" + "|".join(OPERATORS) + r")\b")
_MARK = "\u2063lockgate relation "
_MARKED = re.compile(r"\u2063lockgate relation (\d+)")
_FILTER_OPEN = re.compile(r"\[\s*\?\s*\(")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_]\w*")
_PATH_STOP = frozenset(" \t\r\n)(&|=<>!,~'\"")
_LITERAL = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null""")
_UNESCAPE = re.compile(r"\\(.)")
_UNDEFINED = object()  # what a path operand that names one node gives when that node is missing


class FilterError(ValueError):
    """A word operator used in a way Jayway JsonPath cannot read or evaluate."""


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
    """Whether a path may use a word operator in a filter (a cheap test before `extract`)."""
    return "?" in rest and _MENTIONED.search(rest) is not None


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
    for index, token in enumerate(tokens):
        if token.kind != "word" or token.text not in OPERATORS:
            continue
        left = tokens[index - 1] if index > 0 else None
        right = tokens[index + 1] if index + 1 < len(tokens) else None
        if left is None or index - 1 <= used or not _is_operand(left):
            raise FilterError(f"the filter operator '{token.text}' needs a path or a value on its left")
        if right is None or not _is_operand(right):
            raise FilterError(f"the filter operator '{token.text}' needs a path or a value on its right")
        if right.start == token.end:  # Jayway reads an operator word up to the next space
            raise FilterError(f"the filter operator '{token.text}' must be followed by a space")
        found.append(Spec(_operand(left), token.text, _right_operand(token.text, right)))
        swaps.append((left.start, right.end, f"@['{_MARK}{len(found) - 1}']"))
        used = index + 1
    consumed = {start for start, _, _ in swaps} | {end for _, end, _ in swaps}
    for token in tokens:  # a path that is not an operand may hold a filter of its own
        if token.kind == "path" and "[" in token.text and token.start not in consumed and token.end not in consumed:
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


def _is_operand(token: _Token) -> bool:
    if token.kind == "word":
        return token.text in ("true", "false", "null")
    return token.kind in ("path", "string", "number", "list")


def _operand(token: _Token) -> tuple[str | None, Any]:
    """(path text, None) for a path; (None, value) for a literal."""
    if token.kind == "path":
        return token.text, None
    return None, _literal(token)


def _right_operand(operator: str, token: _Token) -> tuple[str | None, Any]:
    right = _operand(token)
    if right[0] is not None:
        if operator == "empty":
            raise FilterError("the filter operator 'empty' takes true or false on its right")
        return right
    value = right[1]
    if operator == "empty" and type(value) is not bool:
        raise FilterError("the filter operator 'empty' takes true or false on its right")
    if operator == "size" and (type(value) not in (int, float)):
        raise FilterError("the filter operator 'size' takes a number or a path on its right")
    if operator not in ("size", "empty") and type(value) is not list:
        raise FilterError(f"the filter operator '{operator}' takes a list ([...]) or a path on its right")
    return right


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


@dataclass(frozen=True, slots=True)
class _Operand:
    query: Any  # a jsonpath-ng expression, or None for a literal
    definite: bool
    literal: Any

    def value(self, datum: Any) -> Any:
        if self.query is None:
            return self.literal
        found = self.query.find(datum)
        if self.definite:
            return found[0].value if found else _UNDEFINED
        return [match.value for match in found]


def attach(tree: Any, specs: list[Spec], query: Query) -> Any:
    """The parsed `tree` with each marker of `extract` replaced by its relation.

    Raises FilterError when a relation stands where jsonpath-ng took it as a value to compare
    (`@.a size 2 == true`): a relation is a test of its own.
    """
    from jsonpath_ng.ext.filter import Expression

    def operand(side: tuple[str | None, Any]) -> _Operand:
        text, literal = side
        if text is None:
            return _Operand(None, True, literal)
        expression, definite = query(text)
        return _Operand(expression, definite, None)

    relations = [_relation_class(Expression)(operand(s.left), s.operator, operand(s.right)) for s in specs]
    placed: set[int] = set()

    def swap(node: Any) -> Any:
        if isinstance(node, Expression) and not getattr(node, "is_relation", False):
            index = _marker(node.target)
            if index is not None:
                if node.op not in (None, "!"):
                    operator = specs[index].operator
                    raise FilterError(f"the filter operator '{operator}' makes a test; it cannot be compared")
                placed.add(index)
                relation = relations[index]
                return relation.negated() if node.op == "!" else relation
            node.target = swap(node.target)
            if _is_query(node.value):
                node.value = swap(node.value)
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


_RELATION_CLASS: Any = None


def _relation_class(expression: type) -> Any:
    """The Relation node, a jsonpath-ng filter Expression (so `$` operands see the whole document)."""
    global _RELATION_CLASS
    if _RELATION_CLASS is not None:
        return _RELATION_CLASS
    from jsonpath_ng import DatumInContext, This

    class Relation(expression):  # type: ignore[misc]
        is_relation = True

        def __init__(self, left: _Operand, operator: str, right: _Operand, negate: bool = False) -> None:
            # target and value are what jsonpath-ng's filter looks at to see whether `$` is read
            super().__init__(left.query or This(), operator, right.query)
            self.left_operand, self.right_operand, self.negate = left, right, negate

        def negated(self) -> Any:
            return Relation(self.left_operand, self.op, self.right_operand, not self.negate)

        def find(self, datum: Any) -> list[Any]:
            wrapped = DatumInContext.wrap(datum)
            left, right = self.left_operand.value(wrapped), self.right_operand.value(wrapped)
            return [wrapped] if _EVALUATE[self.op](left, right) != self.negate else []

        def __str__(self) -> str:
            return f"{'!' if self.negate else ''}({self.target} {self.op} {self.value})"

    _RELATION_CLASS = Relation
    return Relation


def _equal(left: Any, right: Any) -> bool:
    """JSON equality: a boolean equals only itself, numbers compare by value, containers deeply."""
    if type(left) is bool or type(right) is bool:
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if type(left) is list and type(right) is list:
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right, strict=True))
    if type(left) is dict and type(right) is dict:
        return left.keys() == right.keys() and all(_equal(value, right[key]) for key, value in left.items())
    if type(left) is not type(right) or left is _UNDEFINED or right is _UNDEFINED:
        return False
    return bool(left == right)


def _member(value: Any, items: list[Any]) -> bool:
    return value is not _UNDEFINED and any(_equal(value, item) for item in items)


def _in(left: Any, right: Any) -> bool:
    return type(right) is list and _member(left, right)


def _subsetof(left: Any, right: Any) -> bool:
    return type(left) is list and type(right) is list and all(_member(item, right) for item in left)


def _anyof(left: Any, right: Any) -> bool:
    return type(left) is list and type(right) is list and any(_member(item, right) for item in left)


def _noneof(left: Any, right: Any) -> bool:
    return type(left) is list and type(right) is list and not any(_member(item, right) for item in left)


def _size(left: Any, right: Any) -> bool:
    if type(right) not in (int, float):
        return False
    expected = int(right)  # Java's intValue: toward zero
    if type(left) is str:
        return len(left.encode("utf-16-le")) // 2 == expected  # Java counts UTF-16 code units
    return type(left) is list and len(left) == expected


def _empty(left: Any, right: Any) -> bool:
    if type(right) is not bool or type(left) not in (str, list, dict):
        return False
    return (len(left) == 0) is right


_EVALUATE: dict[str, Callable[[Any, Any], bool]] = {
    "in": _in,
    "nin": lambda left, right: not _in(left, right),
    "subsetof": _subsetof,
    "anyof": _anyof,
    "noneof": _noneof,
    "size": _size,
    "empty": _empty,
}
