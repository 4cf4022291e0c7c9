"""Check a state machine definition against the Amazon States Language, reporting every problem.

Each problem names the state and the JSON pointer of the field at fault, for example
`/States/Transform/Retry/0/BackoffRate`. Nested machines (Parallel branches, Map item
processors) are checked with pointers into them. Loops are allowed; a state that can never
reach an end is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lockgate.asl import _fields as f
from lockgate.asl import choice, intrinsics, jsonata, paths
from lockgate.asl.errors import ALL, StatesError


@dataclass(frozen=True, slots=True)
class Problem:
    """One rule a definition breaks: where (a JSON pointer), in which state, and what."""

    pointer: str
    state: str | None
    message: str

    def __str__(self) -> str:
        where = f"state '{self.state}' " if self.state else ""
        return f"{where}{self.pointer or '/'}: {self.message}"


def validate(definition: Any) -> list[Problem]:
    """Every problem in `definition`, in document order; an empty list means it is valid."""
    checker = _Checker()
    checker.machine(definition, "", None, top=True)
    return checker.problems


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _is_int(value: Any) -> bool:
    return type(value) is int or (type(value) is float and value.is_integer())


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


_VARIABLE_NAME = re.compile(r"(?!\d)\w{1,80}")


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, pointer: str, state: str | None, message: str) -> None:
        self.problems.append(Problem(pointer, state, message))

    # --- machines ----------------------------------------------------------------------------

    def machine(self, machine: Any, at: str, language: str | None, *, top: bool, processor: bool = False) -> None:
        if not isinstance(machine, dict):
            self.add(at, None, "a state machine must be a JSON object")
            return
        allowed = f.TOP_FIELDS if top else f.PROCESSOR_FIELDS if processor else f.BRANCH_FIELDS
        for key in machine:
            if key not in allowed:
                self.add(f"{at}/{_escape(key)}", None, f"the field '{key}' is not allowed here")
        if top:
            language = self.query_language(machine, at, None, None) or "JSONPath"
            timeout = machine.get("TimeoutSeconds")
            if "TimeoutSeconds" in machine and not (_is_int(timeout) and timeout > 0):
                self.add(f"{at}/TimeoutSeconds", None, "TimeoutSeconds must be a positive integer")
        if processor and "ProcessorConfig" in machine:
            self.processor_config(machine["ProcessorConfig"], f"{at}/ProcessorConfig")
        states = machine.get("States")
        start = machine.get("StartAt")
        if "StartAt" not in machine:
            self.add(f"{at}/StartAt", None, "StartAt is required")
        elif not isinstance(start, str):
            self.add(f"{at}/StartAt", None, "StartAt must be a state name (a string)")
        if "States" not in machine:
            self.add(f"{at}/States", None, "States is required")
            return
        if not isinstance(states, dict) or not states:
            self.add(f"{at}/States", None, "States must be a non-empty object of named states")
            return
        if isinstance(start, str) and start not in states:
            self.add(f"{at}/StartAt", None, f"StartAt names '{start}', which is not a state in States")
        names = set(states)
        for name, state in states.items():
            if len(name) > 80:
                self.add(f"{at}/States/{_escape(name)}", name, "a state name must be at most 80 characters long")
            self.state(name, state, f"{at}/States/{_escape(name)}", language or "JSONPath", names)
        self.graph(states, start, at)

    def graph(self, states: dict[str, Any], start: Any, at: str) -> None:
        edges: dict[str, list[str]] = {}
        terminal: set[str] = set()
        uncertain = False  # a state whose transitions are unknown: reachability cannot be judged
        for name, state in states.items():
            kind = state.get("Type") if isinstance(state, dict) else None
            if kind not in f.TYPES:
                terminal.add(name)  # already reported; do not pile on
                continue
            choices = state.get("Choices") if kind == "Choice" else None
            catchers = state.get("Catch")
            targets = [state.get("Next"), state.get("Default")]
            for entry in (choices if isinstance(choices, list) else []) + (
                catchers if isinstance(catchers, list) else []
            ):
                if isinstance(entry, dict):
                    targets.append(entry.get("Next"))
            edges[name] = [target for target in targets if isinstance(target, str) and target in states]
            bad_choices = kind == "Choice" and not (isinstance(choices, list) and choices)
            uncertain = uncertain or bad_choices
            if (
                kind in ("Succeed", "Fail")
                or state.get("End") is True
                or (kind != "Choice" and not isinstance(state.get("Next"), str))  # reported as missing Next
                or bad_choices  # reported already; its transitions are unknown
                or any(isinstance(target, str) and target not in states for target in targets)  # reported
            ):
                terminal.add(name)
        reachable: set[str] = set()
        if isinstance(start, str) and start in states:
            stack = [start]
            while stack:
                name = stack.pop()
                if name not in reachable:
                    reachable.add(name)
                    stack.extend(edges.get(name, ()))
        ends = set(terminal)
        changed = True
        while changed:
            changed = False
            for name, targets in edges.items():
                if name not in ends and any(target in ends for target in targets):
                    ends.add(name)
                    changed = True
        for name in states:
            pointer = f"{at}/States/{_escape(name)}"
            if reachable and name not in reachable and not uncertain:
                self.add(pointer, name, f"the state '{name}' cannot be reached from StartAt")
            elif name in reachable and name not in ends:
                self.add(pointer, name, f"the state '{name}' can never reach an end: every path from it loops")

    def query_language(self, node: dict[str, Any], at: str, state: str | None, outer: str | None) -> str | None:
        if "QueryLanguage" not in node:
            return outer
        language = node["QueryLanguage"]
        if language not in ("JSONPath", "JSONata"):
            self.add(f"{at}/QueryLanguage", state, f"QueryLanguage must be 'JSONPath' or 'JSONata', not {language!r}")
            return outer
        if outer == "JSONata" and language == "JSONPath":
            self.add(
                f"{at}/QueryLanguage",
                state,
                "a state cannot use JSONPath when the state machine's QueryLanguage is JSONata",
            )
        return str(language)

    def processor_config(self, config: Any, at: str) -> None:
        if not isinstance(config, dict):
            self.add(at, None, "ProcessorConfig must be an object")
            return
        if config.get("Mode", "INLINE") not in ("INLINE", "DISTRIBUTED"):
            self.add(f"{at}/Mode", None, "Mode must be INLINE or DISTRIBUTED")
        if config.get("ExecutionType", "STANDARD") not in ("STANDARD", "EXPRESS"):
            self.add(f"{at}/ExecutionType", None, "ExecutionType must be STANDARD or EXPRESS")

    # --- states ------------------------------------------------------------------------------

    def state(self, name: str, state: Any, at: str, outer: str, names: set[str]) -> None:
        if not isinstance(state, dict):
            self.add(at, name, "a state must be a JSON object")
            return
        kind = state.get("Type")
        if kind not in f.TYPES:
            message = "Type is required" if "Type" not in state else f"unknown Type {kind!r}"
            self.add(f"{at}/Type", name, f"{message} (one of {', '.join(f.TYPES)})")
            return
        language = self.query_language(state, at, name, outer) or outer
        allowed = f.FIELDS[kind]
        for key in state:
            pointer = f"{at}/{_escape(key)}"
            if key not in allowed:
                self.add(pointer, name, f"the field '{key}' is not allowed in a {kind} state")
            elif language == "JSONata" and key in f.JSONPATH_ONLY:
                self.add(pointer, name, f"'{key}' is a JSONPath field; a JSONata state uses Arguments and Output")
            elif language == "JSONPath" and key in f.JSONATA_ONLY:
                self.add(pointer, name, f"'{key}' is a JSONata field; set QueryLanguage to JSONata to use it")
        self.transition(name, state, at, kind, names)
        if language == "JSONPath":
            self.jsonpath_io(name, state, at)
        else:
            self.expressions(name, state, at)
        if "Assign" in state:
            self.assign(name, state["Assign"], f"{at}/Assign", language)
        for key in ("Retry", "Catch"):
            if key in state and key in allowed:
                self.handlers(name, key, state[key], f"{at}/{key}", language, names)
        getattr(self, f"state_{kind.lower()}")(name, state, at, language, names)

    def transition(self, name: str, state: dict[str, Any], at: str, kind: str, names: set[str]) -> None:
        if kind in ("Choice", "Succeed", "Fail"):
            return
        has_next, end = "Next" in state, state.get("End")
        if "End" in state and type(end) is not bool:
            self.add(f"{at}/End", name, "End must be true or false")
        if has_next and end is True:
            self.add(f"{at}/End", name, "End and Next cannot be used together")
        elif not has_next and end is not True:
            self.add(at, name, f'a {kind} state needs Next or "End": true')
        if has_next:
            self.target(name, state["Next"], f"{at}/Next", names)

    def target(self, name: str | None, target: Any, at: str, names: set[str]) -> None:
        if not isinstance(target, str):
            self.add(at, name, "a transition must name a state (a string)")
        elif target not in names:
            self.add(at, name, f"'{target}' is not a state in this state machine")

    # --- JSONPath input and output -------------------------------------------------------------

    def jsonpath_io(self, name: str, state: dict[str, Any], at: str) -> None:
        for key in ("InputPath", "OutputPath"):
            if key in state and state[key] is not None:
                self.path(name, state[key], f"{at}/{key}", key)
        if "ResultPath" in state and state["ResultPath"] is not None:
            self.result_path(name, state["ResultPath"], f"{at}/ResultPath")
        for key in ("Parameters", "ResultSelector", "ItemSelector"):
            if key in state:
                if not isinstance(state[key], dict):
                    self.add(f"{at}/{key}", name, f"{key} must be a JSON object (a payload template)")
                else:
                    self.template(name, state[key], f"{at}/{key}")

    def path(self, name: str | None, value: Any, at: str, what: str, *, reference: bool = False) -> None:
        if not isinstance(value, str):
            self.add(at, name, f"{what} must be a path string starting with '$'")
        elif not paths.is_valid_path(value):
            self.add(at, name, f"{what} {value!r} is not a valid JSONPath")
        elif reference and not paths.is_reference_path(value):
            self.add(at, name, f"{what} {value!r} must be a reference path (no wildcards, filters or slices)")

    def result_path(self, name: str | None, value: Any, at: str) -> None:
        self.path(name, value, at, "ResultPath", reference=True)
        if paths.is_valid_path(value) and paths.source_of(value) != "input":
            self.add(at, name, f"ResultPath {value!r} must point into the state's input ($.…)")

    def template(self, name: str, template: Any, at: str) -> None:
        if isinstance(template, list):
            for index, item in enumerate(template):
                self.template(name, item, f"{at}/{index}")
            return
        if not isinstance(template, dict):
            return
        seen: set[str] = set()
        for key, value in template.items():
            pointer = f"{at}/{_escape(key)}"
            plain = key[:-2] if key.endswith(".$") else key
            if plain in seen:
                self.add(pointer, name, f"the field '{plain}' appears twice once '.$' is removed")
            seen.add(plain)
            if key.endswith(".$"):
                self.dynamic(name, key, value, pointer)
            else:
                self.template(name, value, pointer)

    def dynamic(self, name: str, key: str, value: Any, at: str) -> None:
        if not isinstance(value, str):
            self.add(at, name, f"the value of '{key}' must be a path or an intrinsic function (a string)")
        elif value.startswith("$"):
            self.path(name, value, at, f"the path of '{key}'")
        else:
            self.intrinsic(name, value, at)

    def intrinsic(self, name: str | None, value: str, at: str) -> None:
        try:
            intrinsics.parse_intrinsic(value)
        except StatesError as exc:
            self.add(at, name, exc.cause)

    def expressions(self, name: str | None, value: Any, at: str) -> None:
        """Compile every `{% %}` string inside a JSONata state's fields."""
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in ("Comment", "Type", "Resource", "Next", "Default", "Choices", "Branches",
                               "ItemProcessor", "Iterator", "Retry", "Catch"):  # fmt: skip
                    self.expressions(name, item, f"{at}/{_escape(key)}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.expressions(name, item, f"{at}/{index}")
        elif jsonata.is_expression(value):
            try:
                jsonata.compile_expression(value)
            except StatesError as exc:
                self.add(at, name, exc.cause)
        elif isinstance(value, str) and "{%" in value and (value.strip().startswith("{%")):
            self.add(at, name, "a JSONata expression must start with '{%' and end with '%}' with nothing around them")

    def assign(self, name: str, assign: Any, at: str, language: str) -> None:
        if not isinstance(assign, dict):
            self.add(at, name, "Assign must be a JSON object of variable names and values")
            return
        for key, value in assign.items():
            pointer = f"{at}/{_escape(key)}"
            variable = key[:-2] if language == "JSONPath" and key.endswith(".$") else key
            if not _VARIABLE_NAME.fullmatch(variable):
                self.add(pointer, name, f"'{variable}' is not a valid variable name (a letter or _, then "
                         "letters, digits or _, at most 80 characters)")  # fmt: skip
            elif variable == "states":
                self.add(pointer, name, "'states' is reserved and cannot be assigned")
            if language == "JSONPath":
                if key.endswith(".$"):
                    self.dynamic(name, key, value, pointer)
                else:
                    self.template(name, value, pointer)

    # --- Retry and Catch ---------------------------------------------------------------------

    def handlers(self, name: str, key: str, handlers: Any, at: str, language: str, names: set[str]) -> None:
        if not isinstance(handlers, list):
            self.add(at, name, f"{key} must be an array")
            return
        allowed = f.RETRIER_FIELDS if key == "Retry" else f.CATCHER_FIELDS
        for index, handler in enumerate(handlers):
            pointer = f"{at}/{index}"
            if not isinstance(handler, dict):
                self.add(pointer, name, f"each {key} entry must be an object")
                continue
            for field in handler:
                if field not in allowed:
                    self.add(
                        f"{pointer}/{_escape(field)}", name, f"the field '{field}' is not allowed in a {key} entry"
                    )
                elif language == "JSONata" and field == "ResultPath":
                    self.add(f"{pointer}/ResultPath", name, "ResultPath is a JSONPath field; in JSONata use Output")
                elif language == "JSONPath" and field == "Output":
                    self.add(f"{pointer}/Output", name, "Output is a JSONata field")
            self.error_equals(name, handler, pointer, last=index == len(handlers) - 1, key=key)
            if key == "Retry":
                self.retrier(name, handler, pointer)
            else:
                if "Next" not in handler:
                    self.add(pointer, name, "a Catch entry needs Next")
                else:
                    self.target(name, handler["Next"], f"{pointer}/Next", names)
                if language == "JSONPath" and handler.get("ResultPath") is not None:
                    self.result_path(name, handler["ResultPath"], f"{pointer}/ResultPath")
                if language == "JSONata":
                    self.expressions(name, {k: v for k, v in handler.items() if k != "Assign"}, pointer)
                if "Assign" in handler:
                    self.assign(name, handler["Assign"], f"{pointer}/Assign", language)

    def error_equals(self, name: str, handler: dict[str, Any], at: str, *, last: bool, key: str) -> None:
        names = handler.get("ErrorEquals")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.add(f"{at}/ErrorEquals", name, "ErrorEquals must be a non-empty array of error names")
            return
        if ALL in names:
            if len(names) > 1:
                self.add(f"{at}/ErrorEquals", name, "States.ALL must appear alone in its ErrorEquals")
            if not last:
                self.add(f"{at}/ErrorEquals", name, f"a {key} entry with States.ALL must be the last one")

    def retrier(self, name: str, retrier: dict[str, Any], at: str) -> None:
        checks = (
            ("IntervalSeconds", lambda v: _is_int(v) and 1 <= v <= 99_999_999, "a positive integer (seconds)"),
            ("MaxAttempts", lambda v: _is_int(v) and 0 <= v <= 99_999_999, "a non-negative integer"),
            ("BackoffRate", lambda v: _is_number(v) and v >= 1.0, "a number of at least 1.0"),
            ("MaxDelaySeconds", lambda v: _is_int(v) and 0 < v < 31_622_400, "a positive integer below 31622400"),
        )
        for key, good, wanted in checks:
            if key in retrier and not good(retrier[key]):
                self.add(f"{at}/{key}", name, f"{key}: {retrier[key]!r} must be {wanted}")
        if "JitterStrategy" in retrier and retrier["JitterStrategy"] not in ("FULL", "NONE"):
            self.add(
                f"{at}/JitterStrategy", name, f"JitterStrategy must be FULL or NONE, not {retrier['JitterStrategy']!r}"
            )

    # --- per type ----------------------------------------------------------------------------

    def exclusive(self, name: str, state: dict[str, Any], at: str, first: str, second: str) -> None:
        if first in state and second in state:
            self.add(f"{at}/{second}", name, f"{first} and {second} cannot be used together")

    def seconds(self, name: str, state: dict[str, Any], at: str, key: str, language: str, *, zero: bool) -> None:
        if key not in state:
            return
        value = state[key]
        if language == "JSONata" and jsonata.is_expression(value):
            return
        if not (_is_int(value) and (value >= 0 if zero else value > 0)):
            wanted = "a non-negative integer" if zero else "a positive integer"
            self.add(
                f"{at}/{key}",
                name,
                f"{key} must be {wanted}" + (" or a JSONata expression" if language == "JSONata" else ""),
            )

    def path_field(self, name: str, state: dict[str, Any], at: str, key: str) -> None:
        if key in state:
            self.path(name, state[key], f"{at}/{key}", key, reference=True)

    def state_pass(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        return

    def state_succeed(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        return

    def state_task(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        if "Resource" not in state:
            self.add(at, name, "a Task state needs Resource")
        elif not isinstance(state["Resource"], str) or not state["Resource"]:
            self.add(f"{at}/Resource", name, "Resource must be a non-empty string")
        for key in ("TimeoutSeconds", "HeartbeatSeconds"):
            self.exclusive(name, state, at, key, f"{key}Path")
            self.seconds(name, state, at, key, language, zero=False)
            self.path_field(name, state, at, f"{key}Path")
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if _is_int(timeout) and _is_int(heartbeat) and 0 < timeout <= heartbeat:
            self.add(f"{at}/HeartbeatSeconds", name, "HeartbeatSeconds must be smaller than TimeoutSeconds")
        if "Credentials" in state and not isinstance(state["Credentials"], dict):
            self.add(f"{at}/Credentials", name, "Credentials must be an object")

    def state_wait(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        given = [key for key in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if key in state]
        if len(given) != 1:
            self.add(at, name, "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath or TimestampPath"
                     + (f" (it has {', '.join(given)})" if given else ""))  # fmt: skip
        self.seconds(name, state, at, "Seconds", language, zero=True)
        if "Timestamp" in state:
            value = state["Timestamp"]
            if not (language == "JSONata" and jsonata.is_expression(value)) and choice.parse_timestamp(value) is None:
                self.add(
                    f"{at}/Timestamp",
                    name,
                    f"Timestamp {value!r} is not an RFC 3339 timestamp like 2016-08-18T17:33:00Z",
                )
        for key in ("SecondsPath", "TimestampPath"):
            self.path_field(name, state, at, key)

    def state_fail(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        for key in ("Error", "Cause"):
            self.exclusive(name, state, at, key, f"{key}Path")
            if key in state and not isinstance(state[key], str):
                self.add(f"{at}/{key}", name, f"{key} must be a string")
            value = state.get(f"{key}Path")
            if f"{key}Path" in state:
                if isinstance(value, str) and not value.startswith("$"):
                    self.intrinsic(name, value, f"{at}/{key}Path")
                else:
                    self.path(name, value, f"{at}/{key}Path", f"{key}Path", reference=True)

    def state_choice(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        choices = state.get("Choices")
        if "Choices" not in state:
            self.add(at, name, "a Choice state needs Choices")
        elif not isinstance(choices, list) or not choices:
            self.add(f"{at}/Choices", name, "Choices must be a non-empty array of Choice rules")
        else:
            for index, rule in enumerate(choices):
                self.rule(name, rule, f"{at}/Choices/{index}", language, names, top=True)
        if "Default" in state:
            self.target(name, state["Default"], f"{at}/Default", names)

    def rule(self, name: str, rule: Any, at: str, language: str, names: set[str], *, top: bool) -> None:
        if not isinstance(rule, dict):
            self.add(at, name, "a Choice rule must be an object")
            return
        if top:
            if "Next" not in rule:
                self.add(at, name, "a top-level Choice rule needs Next")
            else:
                self.target(name, rule["Next"], f"{at}/Next", names)
            if "Assign" in rule:
                self.assign(name, rule["Assign"], f"{at}/Assign", language)
        else:
            for key in ("Next", "Assign", "Output"):
                if key in rule:
                    self.add(f"{at}/{key}", name, f"{key} is allowed only in a top-level Choice rule")
        if language == "JSONata":
            for key in rule:
                if key not in f.JSONATA_RULE_FIELDS:
                    self.add(f"{at}/{_escape(key)}", name, f"the field '{key}' is not allowed in a JSONata Choice rule")
            condition = rule.get("Condition")
            if "Condition" not in rule:
                self.add(at, name, "a JSONata Choice rule needs Condition")
            elif not isinstance(condition, bool) and not jsonata.is_expression(condition):
                self.add(f"{at}/Condition", name, "Condition must be a JSONata expression '{% ... %}' or a boolean")
            self.expressions(name, {k: v for k, v in rule.items() if k != "Next"}, at)
            return
        operators = [key for key in rule if key in choice.OPERATORS]
        for key in rule:
            if key not in choice.OPERATORS and key not in f.JSONPATH_RULE_FIELDS:
                self.add(f"{at}/{_escape(key)}", name, f"the field '{key}' is not allowed in a Choice rule")
        if len(operators) != 1:
            found = f" (found {', '.join(operators)})" if operators else ""
            self.add(at, name, f"a Choice rule needs exactly one comparison operator{found}")
            return
        operator = operators[0]
        value, pointer = rule[operator], f"{at}/{_escape(operator)}"
        if operator in ("And", "Or"):
            if not isinstance(value, list) or not value:
                self.add(pointer, name, f"{operator} must be a non-empty array of Choice rules")
                return
            for index, sub in enumerate(value):
                self.rule(name, sub, f"{pointer}/{index}", language, names, top=False)
            return
        if operator == "Not":
            self.rule(name, value, pointer, language, names, top=False)
            return
        if "Variable" not in rule:
            self.add(at, name, f"a Choice rule with {operator} needs Variable")
        else:
            self.path(name, rule["Variable"], f"{at}/Variable", "Variable")
        self.operand(name, operator, value, pointer)

    def operand(self, name: str, operator: str, value: Any, at: str) -> None:
        if operator.endswith("Path"):
            self.path(name, value, at, operator)
        elif operator in choice.TYPE_TESTS:
            if type(value) is not bool:
                self.add(at, name, f"{operator} must be true or false")
        elif operator.startswith("Numeric"):
            if not _is_number(value):
                self.add(at, name, f"{operator} must be a number")
        elif operator.startswith("Boolean"):
            if type(value) is not bool:
                self.add(at, name, f"{operator} must be true or false")
        elif operator.startswith("Timestamp"):
            if choice.parse_timestamp(value) is None:
                self.add(at, name, f"{operator} must be an RFC 3339 timestamp like 2016-08-18T17:33:00Z")
        elif not isinstance(value, str):
            self.add(at, name, f"{operator} must be a string")

    def state_parallel(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        branches = state.get("Branches")
        if "Branches" not in state:
            self.add(at, name, "a Parallel state needs Branches")
        elif not isinstance(branches, list) or not branches:
            self.add(f"{at}/Branches", name, "Branches must be a non-empty array of state machines")
        else:
            for index, branch in enumerate(branches):
                self.machine(branch, f"{at}/Branches/{index}", language, top=False)

    def state_map(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        given = [key for key in ("ItemProcessor", "Iterator") if key in state]
        if not given:
            self.add(at, name, "a Map state needs ItemProcessor (or the older Iterator)")
        elif len(given) == 2:
            self.add(f"{at}/Iterator", name, "ItemProcessor and Iterator cannot be used together")
        for key in given:
            self.machine(state[key], f"{at}/{key}", language, top=False, processor=key == "ItemProcessor")
        self.exclusive(name, state, at, "ItemSelector", "Parameters")
        self.exclusive(name, state, at, "Items", "ItemsPath")
        self.path_field(name, state, at, "ItemsPath")
        for key in ("MaxConcurrency", "ToleratedFailureCount"):
            self.exclusive(name, state, at, key, f"{key}Path")
            self.seconds(name, state, at, key, language, zero=True)
            self.path_field(name, state, at, f"{key}Path")
        self.exclusive(name, state, at, "ToleratedFailurePercentage", "ToleratedFailurePercentagePath")
        self.path_field(name, state, at, "ToleratedFailurePercentagePath")
        percentage = state.get("ToleratedFailurePercentage")
        expression = language == "JSONata" and jsonata.is_expression(percentage)
        in_range = _is_number(percentage) and 0 <= percentage <= 100
        if "ToleratedFailurePercentage" in state and not expression and not in_range:
            message = "ToleratedFailurePercentage must be a number from 0 to 100"
            self.add(f"{at}/ToleratedFailurePercentage", name, message)
        items = state.get("Items")
        if "Items" in state and not isinstance(items, list) and not jsonata.is_expression(items):
            self.add(f"{at}/Items", name, "Items must be an array or a JSONata expression")
        for key in ("ItemReader", "ItemBatcher", "ResultWriter"):
            if key in state and not isinstance(state[key], dict):
                self.add(f"{at}/{key}", name, f"{key} must be an object")
        reader = state.get("ItemReader")
        if isinstance(reader, dict) and not isinstance(reader.get("Resource"), str):
            self.add(f"{at}/ItemReader", name, "ItemReader needs Resource")
        label = state.get("Label")
        if "Label" in state and not (isinstance(label, str) and 0 < len(label) <= 40):
            self.add(f"{at}/Label", name, "Label must be a string of 1 to 40 characters")
