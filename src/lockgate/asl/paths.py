"""JSONPath as ASL uses it: paths, payload templates, and InputPath/ResultPath/OutputPath.

A path starting `$` reads the state's data, `$$` the context object, and `$name` the workflow
variable `name`. Simple paths (`$`, `$.a.b`, `$.a[0]`, `$['a b']`) are walked directly; the rest
(`$..x`, `$.a[*]`, `$.a[?(@.b > 1)]`, `$.a[1:3]`, `$.a[0,1]`) go through jsonpath-ng. Every
compiled path is cached by its text: a loop evaluates the same few paths again and again.

Results share structure with their inputs (nothing here ever mutates a value it is given), so
callers must treat every JSON value as immutable.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lockgate.asl import _filters, intrinsics, limits
from lockgate.asl.errors import RUNTIME, StatesError

_MISSING = object()
_CACHE_LIMIT = 4096
_MESSAGE_LIMIT = 2000

VARIABLE_NAME_LIMIT = 80  # characters, the service's limit
# Variable names are Unicode identifiers (Unicode Standard Annex #31), as Step Functions defines
# them: an ID_Start character (a letter of any script, or a letter number) or `_` first, then
# ID_Continue characters (those, combining marks, decimal digits and connector punctuation).
_ID_START = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nl"})
_ID_CONTINUE = _ID_START | {"Mn", "Mc", "Nd", "Pc"}
_ASCII_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STEP = re.compile(
    r"""\.((?:[^.\[\]\\'"*?@(),:\s$]|\\.)+)"""  # .name, with backslash escapes
    r"""|\['((?:[^'\\]|\\.)*)'\]"""  # ['name']
    r"""|\["((?:[^"\\]|\\.)*)"\]"""  # ["name"]
    r"""|\[\s*(-?\d+)\s*\]"""  # [3] or [-1]
)
_UNESCAPE = re.compile(r"\\(.)")
_NAME = r"""(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")"""
_QUOTED = re.compile(_NAME)
_FUNCTION = re.compile(r"\.([A-Za-z]+)\((?:[^()'\"]|'[^']*'|\"[^\"]*\")*\)$")
_MERGE = re.compile(r"\[\s*" + _NAME + r"(?:\s*,\s*" + _NAME + r")+\s*\]$")


@dataclass(frozen=True, slots=True)
class _Path:
    """A compiled path: where it starts, then either plain steps or a jsonpath-ng expression."""

    text: str
    source: str  # "input", "context" or "variable"
    variable: str | None
    steps: tuple[str | int, ...] | None
    expression: Any
    definite: bool
    # A last bracket of two or more names (`$.a['b', 'c']`): as in Jayway JsonPath, the object
    # of those of its fields that it has, one per match of the path before it (`prefix`).
    merge: tuple[str, ...] | None = None
    prefix: str | None = None
    # A Jayway function call at the end (`$.a.length()`): the service takes the definition, but
    # the path finds nothing when the state runs.
    function: str | None = None


_cache: dict[str, _Path] = {}


class InvalidPath(StatesError):
    """A path that cannot be read, with the reason to show in a validation problem."""

    def __init__(self, error: str, cause: str, reason: str) -> None:
        super().__init__(error, cause)
        self.reason = reason


def _compile(path: str) -> _Path:
    if type(path) is not str:
        raise StatesError(RUNTIME, f"Invalid path {path!r}: a path must be a string starting with '$'")
    compiled = _cache.get(path)
    if compiled is None:
        compiled = _parse(path)
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[path] = compiled
    return compiled


def is_variable_name(name: str) -> bool:
    """Whether `name` may name a workflow variable (without the `$` that references it)."""
    return 0 < len(name) <= VARIABLE_NAME_LIMIT and _variable_end(name, 0) == len(name)


def _variable_end(text: str, start: int) -> int:
    """Where the variable name starting at `start` ends (`start` itself when there is none)."""
    match = _ASCII_NAME.match(text, start)
    end = match.end() if match else start
    if end == len(text) or text[end].isascii():
        return end  # the common case: an ASCII name followed by '.', '[' or nothing
    if end == start and not (text[start] == "_" or unicodedata.category(text[start]) in _ID_START):
        return start
    end = max(end, start + 1)
    while end < len(text) and (text[end] == "_" or unicodedata.category(text[end]) in _ID_CONTINUE):
        end += 1
    return end


def _parse(path: str) -> _Path:
    if not path.startswith("$"):
        raise StatesError(RUNTIME, f"Invalid path {path!r}: a path must start with '$'")
    source, variable, rest = "input", None, path
    if path.startswith("$$"):
        source, rest = "context", path[1:]
    else:
        end = _variable_end(path, 1)
        if end > 1:
            source, variable, rest = "variable", path[1:end], "$" + path[end:]
    rest = _jayway(rest)
    called = _FUNCTION.search(rest)
    if called is not None and called.start() > 0:
        head = rest[: called.start()]
        _compile({"input": head, "context": "$" + head, "variable": f"${variable}{head[1:]}"}[source])
        return _Path(path, source, variable, None, None, False, function=called.group(1))
    merged = _MERGE.search(rest)
    if merged is not None and merged.start() > 0 and not rest[: merged.start()].endswith(".."):
        quoted = (m.group(1) if m.group(1) is not None else m.group(2) for m in _QUOTED.finditer(merged.group(0)))
        names = tuple(_UNESCAPE.sub(r"\1", name) for name in quoted)
        head = rest[: merged.start()]
        prefix = {"input": head, "context": "$" + head, "variable": f"${variable}{head[1:]}"}[source]
        _compile(prefix)  # the path before the names must be valid on its own
        return _Path(path, source, variable, None, None, False, names, prefix)
    steps = _simple_steps(rest)
    if steps is not None:
        return _Path(path, source, variable, steps, None, True)
    expression = _expression(path, rest)
    return _Path(path, source, variable, None, expression, _is_definite(expression))


def _expression(path: str, rest: str) -> Any:
    """`rest` (a path from `$` or `@`) as a jsonpath-ng expression, with Jayway's rewrites applied."""
    rest = _regex_filters(rest)
    if not _filters.mentioned(rest):
        return _jsonpath(path, _bracketed(_objects_only(rest)))
    try:
        rest, relations = _filters.extract(rest)
        expression = _jsonpath(path, _bracketed(_objects_only(rest)))
        return _filters.attach(
            expression, relations, lambda text: _operand(path, text), lambda text: _tests(path, text), _is_definite
        )
    except _filters.FilterError as exc:
        raise InvalidPath(RUNTIME, f"Invalid path {path!r}: {exc}", str(exc)) from None


def _tests(path: str, text: str) -> list[Any]:
    """The tests of a filter's text (what `!(...)` holds), parsed as the filter they make."""
    from jsonpath_ng.ext.filter import Filter

    parsed = _expression(path, "$[?(" + text + ")]")
    if not isinstance(getattr(parsed, "right", None), Filter):
        raise _filters.FilterError(f"'!({text})' is not a filter test")
    return list(parsed.right.expressions)


def _operand(path: str, text: str) -> tuple[Any, bool]:
    """A path inside a filter (`@.tags`, `$.wanted`) as a jsonpath-ng expression, and whether it
    names one node."""
    expression = _expression(path, text)
    return expression, _is_definite(expression)


def _simple_steps(rest: str) -> tuple[str | int, ...] | None:
    steps: list[str | int] = []
    position, end = 1, len(rest)
    while position < end:
        match = _STEP.match(rest, position)
        if match is None:
            return None
        dotted, single, double, index = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            name = dotted if dotted is not None else single if single is not None else double
            steps.append(_UNESCAPE.sub(r"\1", name) if "\\" in name else name)
        position = match.end()
    return tuple(steps)


_DOTTED_ESCAPED = re.compile(r"""\.((?:[^.\[\]\\'"*?@(),:\s$]|\\.)*\\.(?:[^.\[\]\\'"*?@(),:\s$]|\\.)*)""")


def _unquoted(rest: str, swap: Callable[[str, int], str | None]) -> str:
    """`rest` with each character outside quoted names replaced by `swap(rest, at)` where that is
    not None (quotes and what they hold are kept as they are)."""
    out: list[str] = []
    quote = ""
    for at, char in enumerate(rest):
        if quote:
            if char == quote and rest[at - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        else:
            swapped = swap(rest, at)
            if swapped is not None:
                out.append(swapped)
                continue
        out.append(char)
    return "".join(out)


def _dot_before_bracket(rest: str, at: int) -> str | None:
    if rest[at] == "." and rest[at + 1 : at + 2] == "[" and rest[at - 1 : at] != ".":
        return ""
    return None


def _jayway(rest: str) -> str:
    """Jayway JsonPath (the service's library) takes a dot before a bracket (`$.[0]`, `$.[?(...)]`)."""
    return rest if ".[" not in rest else _unquoted(rest, _dot_before_bracket)


_REGEX_FILTER = re.compile(r"=~\s*/((?:[^/\\]|\\.)*)/([a-zA-Z]*)")


def _regex_filters(rest: str) -> str:
    """Jayway's `=~ /pattern/flags` (the whole value must match, as Java's `matches`) for jsonpath-ng."""
    if "=~" not in rest:
        return rest

    def quoted(match: re.Match[str]) -> str:
        flags = "".join(sorted({flag for flag in match.group(2).lower() if flag in "imsx"}))
        pattern = (f"(?{flags})" if flags else "") + "^(?:" + match.group(1) + r")\Z"
        return '=~ "' + pattern.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return _REGEX_FILTER.sub(quoted, rest)


_BARE_AT = re.compile(r"@(?![.\[\w])")
_NOTHING = "@['\u2063lockgate: @ matches objects only']"  # a field no object has


def _objects_only(rest: str) -> str:
    """As the service documents, a filter's `@` matches objects only, never a scalar item."""
    if "@" not in rest:
        return rest
    return _unquoted(rest, lambda text, at: _NOTHING if text[at] == "@" and _BARE_AT.match(text, at) else None)


def _bracketed(rest: str) -> str:
    """Dotted names with backslash escapes (`$.a\\.b[*]`) in the bracket form jsonpath-ng reads."""
    if "\\" not in rest:
        return rest

    def quoted(match: re.Match[str]) -> str:
        name = _UNESCAPE.sub(r"\1", match.group(1))
        return "['" + name.replace("\\", "\\\\").replace("'", "\\'") + "']"

    return _DOTTED_ESCAPED.sub(quoted, rest)


def _jsonpath(path: str, rest: str) -> Any:
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError  # type: ignore[import-untyped]
    from jsonpath_ng.ext import parse  # type: ignore[import-untyped]

    try:
        return parse(rest)
    except (JsonPathLexerError, JsonPathParserError, ValueError, TypeError, AttributeError) as exc:
        raise StatesError(RUNTIME, f"Invalid path {path!r}: {exc}") from None


def _is_definite(expression: Any) -> bool:
    """Whether a jsonpath-ng expression names at most one node (no wildcard, filter, slice, union)."""
    from jsonpath_ng import jsonpath  # type: ignore[import-untyped]

    if isinstance(expression, jsonpath.Root | jsonpath.This):
        return True
    if isinstance(expression, jsonpath.Child):
        return _is_definite(expression.left) and _is_definite(expression.right)
    if isinstance(expression, jsonpath.Fields):
        return len(expression.fields) == 1 and expression.fields[0] != "*"
    if isinstance(expression, jsonpath.Index):
        return len(expression.indices) == 1
    return False


def _describe(value: Any) -> str:
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "..."


def _not_found(path: _Path, root: Any, field: str | None) -> StatesError:
    where = {"input": "the input", "context": "the context object", "variable": f"the variable '{path.variable}'"}
    for_field = f" specified for the field '{field}'" if field else ""
    return StatesError(
        RUNTIME,
        f"The JSONPath '{path.text}'{for_field} could not be found in {where[path.source]} '{_describe(root)}'",
    )


def select(
    path: str,
    data: Any,
    context: dict[str, Any],
    *,
    variables: dict[str, Any] | None = None,
    field: str | None = None,
) -> Any:
    """The value a path names in `data` (`$`), `context` (`$$`) or `variables` (`$name`).

    A path with wildcards, filters, slices or unions returns the list of its matches. A path that
    matches nothing raises StatesError("States.Runtime"); `field` names the field in the message.
    """
    compiled = _cache.get(path) if type(path) is str else None
    if compiled is None:
        compiled = _compile(path)
    if compiled.source == "input":
        root = data
    elif compiled.source == "context":
        root = context
    else:
        if variables is None or compiled.variable not in variables:
            raise StatesError(
                RUNTIME,
                f"The JSONPath '{path}'"
                + (f" specified for the field '{field}'" if field else "")
                + f" references the variable '{compiled.variable}', which is not assigned",
            )
        root = variables[compiled.variable]
    steps = compiled.steps
    if steps is not None:
        node = root
        for step in steps:
            if type(step) is str:
                if type(node) is dict:
                    node = node.get(step, _MISSING)
                    if node is _MISSING:
                        raise _not_found(compiled, root, field)
                    continue
                raise _not_found(compiled, root, field)
            if type(node) is list and -len(node) <= step < len(node):  # type: ignore[operator]
                node = node[step]  # type: ignore[index]
                continue
            raise _not_found(compiled, root, field)
        return node
    if compiled.merge is not None:
        return _merged(compiled, root, data, context, variables, field)
    if compiled.function is not None:
        raise _not_found(compiled, root, field)
    try:
        matches = limits.bounded_find(compiled.expression, root, path)
    except limits.ExpressionLimit as exc:
        raise StatesError(RUNTIME, str(exc)) from None
    except _filters.FilterFailure as exc:
        for_field = f" specified for the field '{field}'" if field else ""
        raise StatesError(RUNTIME, f"The JSONPath '{path}'{for_field} cannot be evaluated: {exc}") from None
    if compiled.definite:
        if not matches:
            raise _not_found(compiled, root, field)
        return matches[0]
    return matches


def _merged(
    compiled: _Path, root: Any, data: Any, context: dict[str, Any], variables: dict[str, Any] | None, field: str | None
) -> Any:
    """A path ending in a bracket of names: an object of those fields per match, as Jayway gives."""
    names, prefix = compiled.merge or (), compiled.prefix or "$"
    found = select(prefix, data, context, variables=variables, field=field)
    if _compile(prefix).definite:
        if type(found) is not dict:
            raise _not_found(compiled, root, field)
        return {name: found[name] for name in names if name in found}
    return [{name: item[name] for name in names if name in item} for item in found if type(item) is dict]


def exists(path: str, data: Any, context: dict[str, Any], *, variables: dict[str, Any] | None = None) -> bool:
    """Whether a path names something (an indefinite path: at least one match)."""
    try:
        found = select(path, data, context, variables=variables)
    except StatesError:
        if not is_valid_path(path):
            raise
        return False
    return _compile(path).definite or bool(found)


def apply_input_path(
    data: Any, input_path: str | None, context: dict[str, Any], *, variables: dict[str, Any] | None = None
) -> Any:
    """The state's effective input before Parameters: null discards the input (`{}`)."""
    if input_path is None:
        return {}
    if input_path == "$":
        return data
    return select(input_path, data, context, variables=variables, field="InputPath")


def apply_output_path(
    data: Any, output_path: str | None, context: dict[str, Any], *, variables: dict[str, Any] | None = None
) -> Any:
    """The state's effective output: null discards everything (`{}`)."""
    if output_path is None:
        return {}
    if output_path == "$":
        return data
    return select(output_path, data, context, variables=variables, field="OutputPath")


def apply_result_path(data: Any, result: Any, result_path: str | None) -> Any:
    """Place `result` into a copy of `data` at `result_path` (null keeps `data`, `$` takes `result`).

    Missing objects on the way are created; a non-object on the way, or an array index out of
    range, raises StatesError("States.Runtime"). `data` itself is never modified.
    """
    if result_path is None:
        return data
    if result_path == "$":
        return result
    compiled = _compile(result_path)
    if compiled.source != "input" or compiled.steps is None:
        raise StatesError(
            RUNTIME, f"Invalid ResultPath '{result_path}': it must be a reference path into the state's input"
        )
    return _place(data, compiled.steps, 0, result, result_path)


def _place(node: Any, steps: tuple[str | int, ...], at: int, value: Any, text: str) -> Any:
    step = steps[at]
    last = at + 1 == len(steps)
    if type(step) is str:
        if type(node) is not dict:
            raise StatesError(
                RUNTIME,
                f"Unable to apply ResultPath '{text}': cannot set the field '{step}' on {_kind(node)} "
                f"'{_describe(node)}'",
            )
        copy = dict(node)
        copy[step] = value if last else _place(node.get(step, {}), steps, at + 1, value, text)
        return copy
    if type(node) is not list or not -len(node) <= step < len(node):  # type: ignore[operator]
        raise StatesError(
            RUNTIME, f"Unable to apply ResultPath '{text}': no element [{step}] in {_kind(node)} '{_describe(node)}'"
        )
    items = list(node)
    items[step] = value if last else _place(node[step], steps, at + 1, value, text)  # type: ignore[index]
    return items


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def build_payload(template: Any, data: Any, context: dict[str, Any], variables: dict[str, Any], entropy: Any) -> Any:
    """Process a payload template (Parameters, ResultSelector, ItemSelector, JSONPath Assign).

    A key ending `.$` loses the suffix and takes the value its path (`$.x`, `$$.x`, `$name.x`) or
    intrinsic call names; nested objects and arrays are processed too; other values are copied.
    Raises StatesError: States.Runtime for a path that finds nothing, States.IntrinsicFailure for
    a failed intrinsic.
    """
    if type(template) is dict:
        payload: dict[str, Any] = {}
        for key, value in template.items():
            if key.endswith(".$"):
                payload[key[:-2]] = _dynamic(key, value, data, context, variables, entropy)
            elif type(value) is dict or type(value) is list:
                payload[key] = build_payload(value, data, context, variables, entropy)
            else:
                payload[key] = value
        return payload
    if type(template) is list:
        return [build_payload(item, data, context, variables, entropy) for item in template]
    return template


def _dynamic(key: str, value: Any, data: Any, context: dict[str, Any], variables: dict[str, Any], entropy: Any) -> Any:
    if not isinstance(value, str):
        raise StatesError(RUNTIME, f"The value of the field '{key}' must be a path or an intrinsic function")
    if value.startswith("$"):
        return select(value, data, context, variables=variables, field=key)
    return intrinsics.evaluate_intrinsic(value, data, context, variables, entropy)


def is_valid_path(path: Any) -> bool:
    """Whether `path` is a syntactically valid path (`$...`, `$$...` or `$name...`)."""
    try:
        _compile(path)
    except StatesError:
        return False
    return True


def path_problem(path: Any) -> str | None:
    """Why `path` is not a valid path, where that can be said more precisely than "invalid";
    "" for an invalid path with no more precise reason; None for a valid path."""
    try:
        _compile(path)
    except InvalidPath as exc:
        return exc.reason
    except StatesError:
        return ""
    return None


def source_of(path: str) -> str:
    """What a valid path reads: "input" (`$`), "context" (`$$`) or "variable" (`$name`)."""
    return _compile(path).source


def is_reference_path(path: Any) -> bool:
    """Whether `path` is a valid path naming at most one node (no wildcard, filter, slice or union)."""
    try:
        return _compile(path).definite
    except StatesError:
        return False
