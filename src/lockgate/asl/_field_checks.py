"""The field-level checks of the validator: paths, templates, expressions, Assign, Retry/Catch, Choice rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

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


def escape(key: str) -> str:
    """A key as a JSON pointer segment."""
    return key.replace("~", "~0").replace("/", "~1")


def is_int(value: Any) -> TypeGuard[int | float]:
    return type(value) is int or (type(value) is float and value.is_integer())


def is_number(value: Any) -> TypeGuard[int | float]:
    return type(value) is int or type(value) is float


# A Lambda function ARN: name, then an optional version (digits or $LATEST) or alias (not all digits).
_LAMBDA_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-gov)?(-[a-z]+)+-\d{1,2}:\d{12}:function:[a-zA-Z0-9_-]{1,64}"
    r"(:(\$LATEST|\d+|(?!\d+$)[a-zA-Z0-9_-]{1,128}))?"
)
# The parts of a Distributed Map and their fields; a field and its ...Path form exclude each other.
MAP_PARTS = {
    "ItemReader": frozenset({"Resource", "Parameters", "Arguments", "ReaderConfig"}),
    "ItemBatcher": frozenset(
        {"MaxItemsPerBatch", "MaxItemsPerBatchPath", "MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath", "BatchInput"}
    ),
    "ResultWriter": frozenset({"Resource", "Parameters", "Arguments", "WriterConfig"}),
}


_BATCH_BYTES = 262_144  # the service's largest MaxInputBytesPerBatch
_MAX_ITEMS = 100_000_000  # the service's largest ReaderConfig MaxItems
_READER_RESOURCE = re.compile(r"arn:aws[a-z-]*:states:::s3:(getObject|listObjectsV2)")
_WRITER_RESOURCE = re.compile(r"arn:aws[a-z-]*:states:::s3:putObject")
_CONFIG_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "ReaderConfig": {
        "InputType": ("CSV", "JSON", "JSONL", "MANIFEST", "PARQUET"),
        "CSVHeaderLocation": ("FIRST_ROW", "GIVEN"),
        "CSVDelimiter": ("COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB"),
    },
    "WriterConfig": {"OutputType": ("JSON", "JSONL"), "Transformation": ("NONE", "COMPACT", "FLATTEN")},
}


def _looks_like_expression(text: str) -> bool:
    """A string meant as `{% %}` but malformed: a delimiter missing, or text or spaces around them."""
    stripped = text.strip()
    return stripped.startswith("{%") or stripped.endswith("%}")


class FieldChecks:
    """Checks shared by every state type; `validate` adds the machine- and state-level ones."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, pointer: str, state: str | None, message: str) -> None:
        self.problems.append(Problem(pointer, state, message))

    def comment(self, name: str | None, node: dict[str, Any], at: str) -> None:
        """`Comment` is a human-readable string wherever the language allows one."""
        if "Comment" in node and not isinstance(node["Comment"], str):
            self.add(f"{at}/Comment", name, "Comment must be a string")

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
                if not isinstance(state[key], (dict, list)):  # an array is a template too: its objects are
                    self.add(f"{at}/{key}", name, f"{key} must be a JSON object or array (a payload template)")
                else:
                    self.template(name, state[key], f"{at}/{key}")

    def path(self, name: str | None, value: Any, at: str, what: str, *, reference: bool = False) -> None:
        if not isinstance(value, str):
            self.add(at, name, f"{what} must be a path string starting with '$'")
        elif (problem := paths.path_problem(value)) is not None:
            self.add(at, name, f"{what} {value!r} is not a valid JSONPath" + (f": {problem}" if problem else ""))
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
            pointer = f"{at}/{escape(key)}"
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
            call = intrinsics.parse_intrinsic(value)
        except StatesError as exc:
            self.add(at, name, exc.cause)
            return
        for problem in intrinsics.literal_problems(call):
            self.add(at, name, problem)

    def expressions(self, name: str | None, value: Any, at: str, *, error_output: bool = False) -> None:
        """Compile every `{% %}` string inside a JSONata state's fields, and refuse what one reads
        that the service does not offer there (`error_output`: inside a Catch entry)."""
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in ("Comment", "Type", "Resource", "Next", "Default", "Choices", "Branches",
                               "ItemProcessor", "Iterator", "Retry", "Catch"):  # fmt: skip
                    self.expressions(name, item, f"{at}/{escape(key)}", error_output=error_output)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.expressions(name, item, f"{at}/{index}", error_output=error_output)
        elif jsonata.is_expression(value):
            try:
                jsonata.compile_expression(value)
            except StatesError as exc:
                self.add(at, name, exc.cause)
                return
            for problem in jsonata.context_problems(value, error_output=error_output):
                self.add(at, name, problem)
        elif isinstance(value, str) and _looks_like_expression(value):
            self.add(at, name, "a JSONata expression must start with '{%' and end with '%}' with nothing around them")

    def assign(self, name: str, assign: Any, at: str, language: str) -> None:
        if not isinstance(assign, dict):
            self.add(at, name, "Assign must be a JSON object of variable names and values")
            return
        for key, value in assign.items():
            pointer = f"{at}/{escape(key)}"
            variable = key[:-2] if language == "JSONPath" and key.endswith(".$") else key
            if not paths.is_variable_name(variable):
                self.add(pointer, name, f"'{variable}' is not a valid variable name (a letter of any script or _, "
                         "then letters, digits, combining marks or _, at most 80 characters; no '$')")  # fmt: skip
            elif variable == "states":
                self.add(pointer, name, "'states' is reserved and cannot be assigned")
            if language == "JSONPath":
                if key.endswith(".$"):
                    self.dynamic(name, key, value, pointer)
                else:
                    self.template(name, value, pointer)

    # --- resources and Map parts ---------------------------------------------------------------

    def resource(self, name: str, resource: str, at: str) -> None:
        if "${" in resource:
            self.add(at, name, f"Resource {resource!r} holds an unresolved ${{...}} substitution")
        elif resource.startswith("arn:") and resource.split(":")[2:3] == ["lambda"]:
            self.lambda_arn(name, resource, at)

    def lambda_arn(self, name: str, arn: str, at: str) -> None:
        if "${" in arn:
            self.add(at, name, f"{arn!r} holds an unresolved ${{...}} substitution")
        elif not _LAMBDA_ARN.fullmatch(arn):
            self.add(at, name, f"{arn!r} is not a Lambda function ARN (function:NAME, then :VERSION or :ALIAS)")

    def map_part(self, name: str, key: str, part: dict[str, Any], at: str, language: str) -> None:
        for field in part:
            if field not in MAP_PARTS[key]:
                self.add(f"{at}/{escape(field)}", name, f"the field '{field}' is not allowed in {key}")
        for field in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            if field in part and f"{field}Path" in part:
                self.add(f"{at}/{field}Path", name, f"{field} and {field}Path cannot be used together")
            value = part.get(field)
            expression = language == "JSONata" and jsonata.is_expression(value)
            if field in part and not expression and not (is_int(value) and value > 0):
                self.add(f"{at}/{field}", name, f"{field} must be a positive integer")
            if f"{field}Path" in part:
                if language == "JSONata":
                    self.add(f"{at}/{field}Path", name, f"'{field}Path' is a JSONPath field")
                else:
                    self.path(name, part[f"{field}Path"], f"{at}/{field}Path", f"{field}Path", reference=True)
        size = part.get("MaxInputBytesPerBatch") if key == "ItemBatcher" else None
        if is_int(size) and size > _BATCH_BYTES:
            message = f"MaxInputBytesPerBatch must be at most {_BATCH_BYTES} (256 KiB)"
            self.add(f"{at}/MaxInputBytesPerBatch", name, message)
        if key in ("ItemReader", "ResultWriter"):
            self.map_io(name, key, part, at, language)
        if language == "JSONPath":
            for field in ("Parameters", "BatchInput"):
                if isinstance(part.get(field), dict):
                    self.template(name, part[field], f"{at}/{field}")
            if "Arguments" in part:
                self.add(f"{at}/Arguments", name, "'Arguments' is a JSONata field; use Parameters")
        else:
            if "Parameters" in part:
                self.add(f"{at}/Parameters", name, "'Parameters' is a JSONPath field; use Arguments")
            self.expressions(name, {k: v for k, v in part.items() if k != "Resource"}, at)

    def map_io(self, name: str, key: str, part: dict[str, Any], at: str, language: str) -> None:
        """An ItemReader's or ResultWriter's Resource and the values of its config, as the service
        documents them."""
        resource = part.get("Resource")
        pattern = _READER_RESOURCE if key == "ItemReader" else _WRITER_RESOURCE
        if isinstance(resource, str) and not pattern.fullmatch(resource):
            wanted = "s3:getObject or s3:listObjectsV2" if key == "ItemReader" else "s3:putObject"
            self.add(f"{at}/Resource", name, f"the Resource of {key} must be arn:aws:states:::{wanted}")
        config_key = "ReaderConfig" if key == "ItemReader" else "WriterConfig"
        if config_key not in part:
            return
        config = part[config_key]
        if not isinstance(config, dict):
            self.add(f"{at}/{config_key}", name, f"{config_key} must be an object")
            return
        for field, allowed in _CONFIG_VALUES[config_key].items():
            value = config.get(field)
            if (
                field in config
                and not (language == "JSONata" and jsonata.is_expression(value))
                and value not in allowed
            ):
                self.add(
                    f"{at}/{config_key}/{field}", name, f"{field} must be one of {', '.join(allowed)}, not {value!r}"
                )
        if config_key == "WriterConfig":
            return
        headers = config.get("CSVHeaders")
        if config.get("CSVHeaderLocation") == "GIVEN" and not (
            isinstance(headers, list) and headers and all(isinstance(header, str) for header in headers)
        ):
            self.add(
                f"{at}/ReaderConfig/CSVHeaders", name, "CSVHeaderLocation GIVEN needs CSVHeaders, an array of names"
            )
        if "MaxItems" in config and "MaxItemsPath" in config:
            self.add(f"{at}/ReaderConfig/MaxItemsPath", name, "MaxItems and MaxItemsPath cannot be used together")
        items = config.get("MaxItems")
        expression = language == "JSONata" and jsonata.is_expression(items)
        if "MaxItems" in config and not expression and not (is_int(items) and 0 <= items <= _MAX_ITEMS):
            self.add(f"{at}/ReaderConfig/MaxItems", name, f"MaxItems must be an integer from 0 to {_MAX_ITEMS}")
        if "MaxItemsPath" in config:
            self.path(name, config["MaxItemsPath"], f"{at}/ReaderConfig/MaxItemsPath", "MaxItemsPath", reference=True)

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
            self.comment(name, handler, pointer)
            for field in handler:
                if field not in allowed:
                    self.add(f"{pointer}/{escape(field)}", name, f"the field '{field}' is not allowed in a {key} entry")
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
                    self.expressions(name, handler, pointer, error_output=True)
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
        checks: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
            ("IntervalSeconds", lambda v: is_int(v) and 1 <= v <= 99_999_999, "a positive integer (seconds)"),
            ("MaxAttempts", lambda v: is_int(v) and 0 <= v <= 99_999_999, "a non-negative integer"),
            ("BackoffRate", lambda v: is_number(v) and v >= 1.0, "a number of at least 1.0"),
            ("MaxDelaySeconds", lambda v: is_int(v) and 0 < v < 31_622_400, "a positive integer below 31622400"),
        )
        for key, good, wanted in checks:
            if key in retrier and not good(retrier[key]):
                self.add(f"{at}/{key}", name, f"{key}: {retrier[key]!r} must be {wanted}")
        if "JitterStrategy" in retrier and retrier["JitterStrategy"] not in ("FULL", "NONE"):
            self.add(
                f"{at}/JitterStrategy", name, f"JitterStrategy must be FULL or NONE, not {retrier['JitterStrategy']!r}"
            )

    # --- Choice rules ------------------------------------------------------------------------

    def rule(self, name: str, rule: Any, at: str, language: str, names: set[str], *, top: bool) -> None:
        if not isinstance(rule, dict):
            self.add(at, name, "a Choice rule must be an object")
            return
        self.comment(name, rule, at)
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
                    self.add(f"{at}/{escape(key)}", name, f"the field '{key}' is not allowed in a JSONata Choice rule")
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
                self.add(f"{at}/{escape(key)}", name, f"the field '{key}' is not allowed in a Choice rule")
        if len(operators) != 1:
            found = f" (found {', '.join(operators)})" if operators else ""
            self.add(at, name, f"a Choice rule needs exactly one comparison operator{found}")
            return
        operator = operators[0]
        value, pointer = rule[operator], f"{at}/{escape(operator)}"
        if operator in ("And", "Or", "Not") and "Variable" in rule:
            message = f"Variable cannot be used with {operator}: {operator} combines whole rules"
            self.add(f"{at}/Variable", name, message)
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
            if not is_number(value):
                self.add(at, name, f"{operator} must be a number")
        elif operator.startswith("Boolean"):
            if type(value) is not bool:
                self.add(at, name, f"{operator} must be true or false")
        elif operator.startswith("Timestamp"):
            if choice.parse_timestamp(value) is None:
                self.add(at, name, f"{operator} must be an RFC 3339 timestamp like 2016-08-18T17:33:00Z")
        elif not isinstance(value, str):
            self.add(at, name, f"{operator} must be a string")
