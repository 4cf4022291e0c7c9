"""The bounds every state machine runs within, so hostile or careless input fails clearly.

Each bound is a key of `[limits]` in lockgate.toml (`LOCKGATE_LIMITS__<KEY>`), with the
service's value as default where it has one:

    state_data_bytes       262144    a state's input or output, UTF-8 bytes of its JSON (service)
    history_events         25000     events in one execution's history (service); then it fails
    map_inline_items       10000     items an inline Map iterates over
    definition_bytes       1048576   a definition's JSON text (service: 1 MiB)
    definition_nesting     100       state machines nested in one another (Parallel, Map)
    json_depth             256       nesting of any JSON value: input, output, definition fields
    expression_seconds     1.0       wall time of one JSONata evaluation, or of a non-simple JSONPath
    expression_depth       200       nested calls inside one JSONata evaluation
    variable_bytes         262144    one workflow variable's value, UTF-8 bytes of its JSON (service)
    assign_bytes           262144    all the values one Assign block sets, added up (service)
    variables_bytes        10485760  all the variables a state sees once its Assign is applied
                                     (service: 10 MiB per execution)

The runtime calls `configure(settings)` when it starts; until then the defaults hold.
"""

from __future__ import annotations

import contextvars
import dataclasses
import json
import time
from typing import Any

from lockgate.asl import errors as e
from lockgate.core.errors import UsageError

HISTORY_LIMIT_ERROR = e.RUNTIME


@dataclasses.dataclass(frozen=True)
class Limits:
    state_data_bytes: int = 256 * 1024
    history_events: int = 25_000
    map_inline_items: int = 10_000
    definition_bytes: int = 1024 * 1024
    definition_nesting: int = 100
    json_depth: int = 256
    expression_seconds: float = 1.0
    expression_depth: int = 200
    variable_bytes: int = 256 * 1024
    assign_bytes: int = 256 * 1024
    variables_bytes: int = 10 * 1024 * 1024


DEFAULTS: dict[str, Any] = dataclasses.asdict(Limits())
_current = Limits()


def current() -> Limits:
    """The limits in force in this process."""
    return _current


def configure(settings: Any) -> Limits:
    """Take the limits from `[limits]` of the settings; a bad value is a UsageError naming the key."""
    global _current
    table = settings.table("limits") if settings is not None else {}
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Limits):
        if field.name not in table:
            continue
        raw = table[field.name]
        kind = float if field.name == "expression_seconds" else int
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise UsageError(f"[limits] {field.name} must be a number, not {raw!r}") from None
        if value <= 0:
            raise UsageError(f"[limits] {field.name} must be positive, not {raw!r}")
        values[field.name] = value
    _current = Limits(**values)
    return _current


def set_limits(limits: Limits) -> Limits:
    """Replace the limits in force (tests, embedding); returns the previous ones."""
    global _current
    previous, _current = _current, limits
    return previous


def depth(value: Any, stop: int) -> int:
    """How deeply `value` nests (a scalar is 0), counted without recursion; stops past `stop`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > stop:
                return deepest
        stack.extend((child, level) for child in children if isinstance(child, dict | list))
    return deepest


def check_depth(value: Any, what: str) -> None:
    """Raise ValueError when `value` nests deeper than `json_depth`."""
    limit = _current.json_depth
    if depth(value, limit) > limit:
        raise ValueError(f"{what} nests deeper than {limit} levels (the limit is [limits] json_depth = {limit})")


def parse_json(text: str | bytes, what: str) -> Any:
    """JSON text as a value; ValueError (never RecursionError) for bad or too deeply nested text."""
    try:
        value = json.loads(text)
    except RecursionError:
        limit = _current.json_depth
        raise ValueError(f"{what} nests too deeply (the limit is [limits] json_depth = {limit})") from None
    check_depth(value, what)
    return value


def check_input(value: Any, what: str = "the execution input") -> None:
    """Raise ValueError when an execution's input is too deep or too large to start with."""
    check_depth(value, what)
    limit = _current.state_data_bytes
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        raise ValueError(f"{what} is {size} bytes, over the limit of {limit} bytes ([limits] state_data_bytes)")


def definition_problems(definition: Any, text_bytes: int | None = None) -> list[tuple[str, str]]:
    """(JSON pointer, message) for each bound a definition breaks: size, nesting, depth.

    Walks without recursion, so a definition nested thousands of levels deep is reported, not
    a RecursionError. When this returns problems the definition must not be walked further.
    """
    limits = _current
    found: list[tuple[str, str]] = []
    size = text_bytes
    if size is None:
        try:
            size = len(json.dumps(definition, separators=(",", ":"), ensure_ascii=False).encode())
        except (RecursionError, TypeError, ValueError):
            size = 0
    if size > limits.definition_bytes:
        found.append(("", f"the definition is {size} bytes, over the limit of {limits.definition_bytes} bytes "
                          "([limits] definition_bytes)"))  # fmt: skip
    # (node, pointer, machines nested so far, JSON depth inside the current machine)
    stack: list[tuple[Any, str, int, int]] = [(definition, "", 1, 0)]
    while stack:
        node, at, machines, level = stack.pop()
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        level += 1
        if level > limits.json_depth:
            found.append((at, f"the definition nests deeper than {limits.json_depth} levels here "
                              "([limits] json_depth)"))  # fmt: skip
            continue
        is_machine = isinstance(node, dict) and "States" in node and at != "" and _is_machine_pointer(at)
        if is_machine:
            machines += 1
            level = 1
            if machines > limits.definition_nesting:
                found.append((at, f"state machines are nested more than {limits.definition_nesting} levels deep "
                                  "here ([limits] definition_nesting)"))  # fmt: skip
                continue
        for key, child in items:
            if isinstance(child, dict | list):
                stack.append((child, f"{at}/{_escape(str(key))}", machines, level))
    return found


def _is_machine_pointer(at: str) -> bool:
    """Whether a pointer names a nested machine: a Parallel branch or a Map's processor."""
    parent, _, last = at.rpartition("/")
    return parent.endswith("/Branches") or last in ("ItemProcessor", "Iterator")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def history_full(events: int) -> bool:
    """Whether an execution with `events` events may not add more than its closing one."""
    return events >= _current.history_events - 1


def history_cause() -> str:
    limit = _current.history_events
    return (
        f"The execution reached the maximum number of events in its history ({limit}; "
        "[limits] history_events) and was failed"
    )


# --- bounded JSONata evaluation ------------------------------------------------------------------

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("lockgate_asl_deadline", default=None)


class ExpressionLimit(Exception):
    """A JSONata evaluation ran past `expression_seconds` or nested past `expression_depth`."""


def bounded(bindings: dict[str, Any]) -> tuple[dict[str, Any], contextvars.Token[float | None]]:
    """`bindings` plus the library's entry/exit hooks that stop a runaway evaluation.

    The hooks are bindings of this one evaluation (not of the cached, shared expression), so
    evaluations in several threads keep their own clocks and depths. A tail-recursive loop does
    not grow the stack: the clock stops it. Regular expressions get the remaining time too (see
    `regex_engine`). Reset the returned token with `_deadline.reset` when the evaluation ends.
    """
    limits = _current
    deadline = time.monotonic() + limits.expression_seconds
    max_depth = limits.expression_depth
    depth = 0

    def entry(expr: Any, input: Any, env: Any) -> None:
        nonlocal depth
        if env.is_parallel_call:
            return
        depth += 1
        if depth > max_depth:
            raise ExpressionLimit(f"it nests deeper than {max_depth} calls ([limits] expression_depth)")
        if time.monotonic() > deadline:
            raise ExpressionLimit(f"it ran longer than {limits.expression_seconds} s ([limits] expression_seconds)")

    def leave(expr: Any, input: Any, env: Any, result: Any) -> None:
        nonlocal depth
        if not env.is_parallel_call:
            depth -= 1

    token = _deadline.set(deadline)
    return {**bindings, "__evaluate_entry": entry, "__evaluate_exit": leave}, token


def end_bounded(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


def _remaining() -> float:
    deadline = _deadline.get()
    if deadline is None:
        return _current.expression_seconds
    left = deadline - time.monotonic()
    if left <= 0:
        raise ExpressionLimit(f"it ran longer than {_current.expression_seconds} s ([limits] expression_seconds)")
    return left


class _TimedPattern:
    """A compiled `regex` pattern whose every search stops at the evaluation's deadline."""

    __slots__ = ("_pattern",)

    def __init__(self, pattern: Any) -> None:
        self._pattern = pattern

    def _timed(self, call: Any) -> Any:
        try:
            return call(_remaining())
        except TimeoutError:
            raise ExpressionLimit(
                f"a regular expression ran longer than {_current.expression_seconds} s ([limits] expression_seconds)"
            ) from None

    def search(self, string: str) -> Any:
        return self._timed(lambda left: self._pattern.search(string, timeout=left))

    def finditer(self, string: str) -> Any:
        return iter(self._timed(lambda left: list(self._pattern.finditer(string, timeout=left))))

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        return self._timed(lambda left: self._pattern.sub(repl, string, count=count, timeout=left))  # type: ignore[no-any-return]

    def split(self, string: str, maxsplit: int = 0) -> list[str]:
        return self._timed(lambda left: self._pattern.split(string, maxsplit=maxsplit, timeout=left))  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pattern, name)


def regex_engine(pattern: str, flags: Any) -> Any:
    """The JSONata library's regex engine hook: patterns whose matching is bounded in time."""
    import regex  # type: ignore[import-untyped]

    py_flags = 0
    if getattr(flags, "case_insensitive", False):
        py_flags |= regex.IGNORECASE
    if getattr(flags, "multiline", False):
        py_flags |= regex.MULTILINE
    try:
        return _TimedPattern(regex.compile(pattern, py_flags))
    except regex.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


# --- bounded JSONPath evaluation -----------------------------------------------------------------


def bounded_find(expression: Any, root: Any, path: str) -> list[Any]:
    """The values a compiled (non-simple) JSONPath finds in `root`, within `expression_seconds`.

    Recursive descent nests: `$..b..b..b..a` over a deep value makes millions of matches. The
    library has no hook, so a trace function on this thread checks the clock at its calls; only
    paths with wildcards, filters, slices or descent pay for it (simple paths never come here).
    """
    import sys

    seconds = _current.expression_seconds
    deadline = time.monotonic() + seconds
    calls = 0

    def trace(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        calls += 1
        if calls % 256 == 0 and time.monotonic() > deadline:
            raise ExpressionLimit(f"the JSONPath {path!r} ran longer than {seconds} s ([limits] expression_seconds)")

    previous = sys.gettrace()
    sys.settrace(trace)  # type: ignore[arg-type]
    try:
        return [match.value for match in expression.find(root)]
    except RecursionError:
        raise ExpressionLimit(f"the JSONPath {path!r} nests too deeply ([limits] json_depth)") from None
    finally:
        sys.settrace(previous)
