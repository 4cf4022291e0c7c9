"""Check a state machine definition against the Amazon States Language, reporting every problem.

Each problem names the state and the JSON pointer of the field at fault, for example
`/States/Transform/Retry/0/BackoffRate`. Nested machines (Parallel branches, Map item
processors) are checked with pointers into them. Loops are allowed; a state that can never
reach an end is not.
"""

from __future__ import annotations

import re
from typing import Any

from lockgate.asl import _fields as f
from lockgate.asl import choice, jsonata, limits
from lockgate.asl._field_checks import FieldChecks, Problem, escape, is_int, is_number
from lockgate.asl.definition import RepeatedKeys

__all__ = ["Problem", "validate"]

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:.")  # a scheme, then something
_WAIT_LIMIT = 99_999_999  # the service's largest Wait Seconds
_DISTRIBUTED_ONLY = ("ItemReader", "ItemBatcher", "ResultWriter", "ToleratedFailurePercentage",
                     "ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath",
                     "Label")  # fmt: skip


def _distributed(processor: Any) -> bool:
    config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
    return isinstance(config, dict) and config.get("Mode") == "DISTRIBUTED"


def validate(definition: Any, *, text_bytes: int | None = None) -> list[Problem]:
    """Every problem in `definition`, in document order; an empty list means it is valid.

    A definition over the size or nesting limits (`lockgate.asl.limits`) gets only those
    problems: it is not walked further. `text_bytes` is the size of its JSON text, if known.
    """
    bounds = limits.definition_problems(definition, text_bytes)
    if bounds:
        return [Problem(at, _state_at(at), message) for at, message in bounds]
    checker = _Checker()
    try:
        for at, key in _repeated_keys(definition, (), []):
            if at.rpartition("/")[0].endswith("/States") or at.rpartition("/")[0] == "/States":
                message = f"the state name '{key}' is given twice in this States object"
            else:
                message = f"the field '{key}' is given twice in this object (keys must be unique)"
            checker.add(at, _state_at(at), message)
    except RecursionError:
        return [Problem("", None, "the definition nests too deeply to check ([limits] json_depth)")]
    if isinstance(definition, dict) and definition.get("QueryLanguage") == "JSONata":
        checker.top_language = "JSONata"
    try:
        checker.machine(definition, "", None, top=True)
    except RecursionError:
        return [Problem("", None, "the definition nests too deeply to check ([limits] json_depth)")]
    return checker.problems


def _repeated_keys(value: Any, route: tuple[Any, ...], found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(pointer, key) of every key that an object of the definition's text repeats, in document order."""
    if isinstance(value, dict):
        if type(value) is RepeatedKeys:
            at = "".join(f"/{escape(str(step))}" for step in route)
            found.extend((f"{at}/{escape(key)}", key) for key in value.repeated)
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                _repeated_keys(item, (*route, key), found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (dict, list)):
                _repeated_keys(item, (*route, index), found)
    return found


def _state_at(pointer: str) -> str | None:
    """The innermost state a JSON pointer points into, if any."""
    _, found, rest = pointer.rpartition("/States/")
    return rest.split("/", 1)[0].replace("~1", "/").replace("~0", "~") if found else None


class _Checker(FieldChecks):
    """The machine- and state-level checks, walking nested machines with pointers into them."""

    def __init__(self) -> None:
        super().__init__()
        self.top_language = "JSONPath"
        self.state_names: dict[str, str] = {}  # every state name of the definition, nested ones too

    # --- machines ----------------------------------------------------------------------------

    def machine(self, machine: Any, at: str, language: str | None, *, top: bool, processor: bool = False) -> None:
        if not isinstance(machine, dict):
            self.add(at, None, "a state machine must be a JSON object")
            return
        allowed = f.TOP_FIELDS if top else f.PROCESSOR_FIELDS if processor else f.BRANCH_FIELDS
        for key in machine:
            if key not in allowed:
                self.add(f"{at}/{escape(key)}", None, f"the field '{key}' is not allowed here")
        self.comment(None, machine, at)
        if top and "Version" in machine and not isinstance(machine["Version"], str):
            self.add(f"{at}/Version", None, 'Version must be a string ("1.0")')
        if top:
            language = self.query_language(machine, at, None, None) or "JSONPath"
            timeout = machine.get("TimeoutSeconds")
            if "TimeoutSeconds" in machine and not (is_int(timeout) and timeout > 0):
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
            earlier = self.state_names.setdefault(name, f"{at}/States/{escape(name)}")
            if earlier != f"{at}/States/{escape(name)}":
                self.add(f"{at}/States/{escape(name)}", name,
                         f"the state name '{name}' is used twice (also at {earlier}); names are unique in the "
                         "whole state machine, Parallel branches and Map processors included")  # fmt: skip
            if len(name) > 80:
                self.add(f"{at}/States/{escape(name)}", name, "a state name must be at most 80 characters long")
            elif not name or _CONTROL.search(name):
                self.add(f"{at}/States/{escape(name)}", name,
                         "a state name must be 1 to 80 characters with no control characters")  # fmt: skip
            self.state(name, state, f"{at}/States/{escape(name)}", language or "JSONPath", names)
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
        # States that can reach an end: walk the edges backwards from the terminal states once
        # (linear in states and edges; a fixpoint over all states was quadratic on long chains).
        incoming: dict[str, list[str]] = {}
        for name, targets in edges.items():
            for target in targets:
                incoming.setdefault(target, []).append(name)
        ends = set(terminal)
        stack = list(terminal)
        while stack:
            for source in incoming.get(stack.pop(), ()):
                if source not in ends:
                    ends.add(source)
                    stack.append(source)
        for name in states:
            pointer = f"{at}/States/{escape(name)}"
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
        if self.top_language == "JSONata" and language == "JSONPath":
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
        if config.get("Mode") == "DISTRIBUTED" and "ExecutionType" not in config:
            self.add(at, None, "a DISTRIBUTED ProcessorConfig needs ExecutionType (STANDARD or EXPRESS)")

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
        self.comment(name, state, at)
        allowed = f.FIELDS[kind]
        for key in state:
            pointer = f"{at}/{escape(key)}"
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
        if not (is_int(value) and (value >= 0 if zero else value > 0)):
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
        elif not _URI.match(state["Resource"]):
            self.add(f"{at}/Resource", name, f"Resource {state['Resource']!r} must be a URI: an ARN (arn:...), "
                     "python:module:function, lockgate:task:NAME or http(s):URL")  # fmt: skip
        for key in ("TimeoutSeconds", "HeartbeatSeconds"):
            self.exclusive(name, state, at, key, f"{key}Path")
            self.seconds(name, state, at, key, language, zero=False)
            self.path_field(name, state, at, f"{key}Path")
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if is_int(timeout) and is_int(heartbeat) and 0 < timeout <= heartbeat:
            self.add(f"{at}/HeartbeatSeconds", name, "HeartbeatSeconds must be smaller than TimeoutSeconds")
        if "Credentials" in state:
            if not isinstance(state["Credentials"], dict):
                self.add(f"{at}/Credentials", name, "Credentials must be an object")
            else:
                roles = [key for key in state["Credentials"] if key in ("RoleArn", "RoleArn.$")]
                if len(roles) != 1 or len(state["Credentials"]) != 1:
                    self.add(
                        f"{at}/Credentials", name, "Credentials must hold exactly one field, RoleArn (or RoleArn.$)"
                    )
                if language == "JSONPath":
                    self.template(name, state["Credentials"], f"{at}/Credentials")
        if isinstance(state.get("Resource"), str):
            self.resource(name, state["Resource"], f"{at}/Resource")
        arguments = state.get("Parameters") if language == "JSONPath" else state.get("Arguments")
        if isinstance(arguments, dict) and isinstance(arguments.get("FunctionName"), str):
            function = arguments["FunctionName"]
            if function.startswith("arn:") and ":lambda:" in function:
                self.lambda_arn(name, function, f"{at}/{'Parameters' if language == 'JSONPath' else 'Arguments'}"
                                "/FunctionName")  # fmt: skip

    def state_wait(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        given = [key for key in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if key in state]
        if len(given) != 1:
            self.add(at, name, "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath or TimestampPath"
                     + (f" (it has {', '.join(given)})" if given else ""))  # fmt: skip
        self.seconds(name, state, at, "Seconds", language, zero=True)
        if is_int(state.get("Seconds")) and state["Seconds"] > _WAIT_LIMIT:
            self.add(f"{at}/Seconds", name, f"Seconds must be at most {_WAIT_LIMIT}")
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

    def state_parallel(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        branches = state.get("Branches")
        if "Branches" not in state:
            self.add(at, name, "a Parallel state needs Branches")
        elif not isinstance(branches, list) or not branches:
            self.add(f"{at}/Branches", name, "Branches must be a non-empty array of state machines")
        else:
            for index, branch in enumerate(branches):
                # a state without QueryLanguage takes the top-level one, not its Parallel's
                self.machine(branch, f"{at}/Branches/{index}", self.top_language, top=False)

    def state_map(self, name: str, state: dict[str, Any], at: str, language: str, names: set[str]) -> None:
        given = [key for key in ("ItemProcessor", "Iterator") if key in state]
        if not given:
            self.add(at, name, "a Map state needs ItemProcessor (or the older Iterator)")
        elif len(given) == 2:
            self.add(f"{at}/Iterator", name, "ItemProcessor and Iterator cannot be used together")
        for processor in given:
            self.machine(state[processor], f"{at}/{processor}", self.top_language, top=False, processor=True)
        if given and not _distributed(state[given[0]]):
            for key in _DISTRIBUTED_ONLY:
                if key in state:
                    self.add(f"{at}/{key}", name, f"{key} is a field of a distributed Map (ProcessorConfig Mode "
                             "DISTRIBUTED); an inline Map cannot use it")  # fmt: skip
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
        in_range = is_number(percentage) and 0 <= percentage <= 100
        if "ToleratedFailurePercentage" in state and not expression and not in_range:
            message = "ToleratedFailurePercentage must be a number from 0 to 100"
            self.add(f"{at}/ToleratedFailurePercentage", name, message)
        items = state.get("Items")
        if "Items" in state and not isinstance(items, list) and not jsonata.is_expression(items):
            self.add(f"{at}/Items", name, "Items must be an array or a JSONata expression")
        for key in ("ItemReader", "ItemBatcher", "ResultWriter"):
            if key in state and not isinstance(state[key], dict):
                self.add(f"{at}/{key}", name, f"{key} must be an object")
            elif key in state:
                self.map_part(name, key, state[key], f"{at}/{key}", language)
        reader = state.get("ItemReader")
        if isinstance(reader, dict) and not isinstance(reader.get("Resource"), str):
            self.add(f"{at}/ItemReader", name, "ItemReader needs Resource")
        label = state.get("Label")
        if "Label" in state and not (isinstance(label, str) and 0 < len(label) <= 40):
            self.add(f"{at}/Label", name, "Label must be a string of 1 to 40 characters")
