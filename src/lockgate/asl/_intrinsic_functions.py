"""The intrinsic functions themselves: argument checks and results (parsing is in `intrinsics`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
from collections.abc import Callable
from typing import Any

from lockgate.asl.errors import INTRINSIC_FAILURE, StatesError

_TEXT_LIMIT = 10_000
_RANGE_LIMIT = 1000
MANY = 1_000_000
_INT32 = (-(2**31), 2**31 - 1)
_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def fail(cause: str) -> StatesError:
    return StatesError(INTRINSIC_FAILURE, cause)


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
    return fail(f"{name}: the {_ORDINALS[position]} argument must be {wanted}, but it is the {_type(value)} {shown}")


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
        raise fail(f"{name}: the {_ORDINALS[position]} argument is {len(value)} characters long; the limit is {limit}")
    return value


def _object(name: str, position: int, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(name, position, "an object", value)
    return value


def _json_key(value: Any) -> str:
    """A key equal for equal JSON values (unlike Python, true is not 1)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# --- the functions -------------------------------------------------------------------------


def java_text(value: Any) -> str:
    """`value` as the service's Java runtime prints it: `{a=1, b=[x, true]}`, strings unquoted."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ", ".join(java_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={java_text(item)}" for key, item in value.items()) + "}"
    return json.dumps(value)


def format_values(values: list[Any], pieces: tuple[str, ...] | None) -> str:
    template = _string("States.Format", 0, values[0])
    if pieces is None:
        pieces = tuple(template.split("{}"))
    arguments = values[1:]
    if len(pieces) - 1 != len(arguments):
        raise fail(
            f"States.Format: the template has {len(pieces) - 1} placeholder(s) {{}} "
            f"but {len(arguments)} value(s) were given"
        )
    out = [pieces[0]]
    for value, piece in zip(arguments, pieces[1:], strict=True):
        out.append(java_text(value))
        out.append(piece)
    return "".join(out)


def _string_to_json(values: list[Any], entropy: Any) -> Any:
    text = _string("States.StringToJson", 0, values[0])
    if not text.strip():
        return None  # the service parses empty text as null
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"States.StringToJson: the argument is not JSON text ({exc})") from None


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
        raise fail(f"States.ArrayRange: the range would have {count} items; the limit is {_RANGE_LIMIT}")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(values: list[Any], entropy: Any) -> Any:
    items = _array("States.ArrayGetItem", 0, values[0])
    index = _integer("States.ArrayGetItem", 1, values[1])
    if not 0 <= index < len(items):
        raise fail(f"States.ArrayGetItem: the index {index} is out of bounds for an array of {len(items)} items")
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
        raise fail(f"States.Base64Decode: the argument is not Base64-encoded UTF-8 text ({exc})") from None


def _hash(values: list[Any], entropy: Any) -> str:
    data = values[0] if isinstance(values[0], str) else json.dumps(values[0], separators=(",", ":"))
    if len(data) > _TEXT_LIMIT:
        raise fail(f"States.Hash: the data is {len(data)} characters long; the limit is {_TEXT_LIMIT}")
    algorithm = _string("States.Hash", 1, values[1])
    if algorithm not in _HASHES:
        raise fail(f"States.Hash: unknown algorithm '{algorithm}' (use one of {', '.join(_HASHES)})")
    return hashlib.new(_HASHES[algorithm], data.encode("utf-8")).hexdigest()


def _json_merge(values: list[Any], entropy: Any) -> dict[str, Any]:
    left = _object("States.JsonMerge", 0, values[0])
    right = _object("States.JsonMerge", 1, values[1])
    if values[2] is not False:
        raise fail("States.JsonMerge: the third argument must be false (only the shallow merge is supported)")
    return {**left, **right}


def _math_random(values: list[Any], entropy: Any) -> int:
    start = _integer("States.MathRandom", 0, values[0])
    end = _integer("States.MathRandom", 1, values[1])
    if end <= start:
        raise fail(f"States.MathRandom: the end ({end}) must be greater than the start ({start})")
    if len(values) == 3:
        draw = random.Random(_integer("States.MathRandom", 2, values[2])).random()
    else:
        draw = _entropy(entropy, "States.MathRandom").random()
    return min(end - 1, start + int(draw * (end - start)))


def java_round(value: float) -> int:
    """Java's Math.round: the nearest integer, halves upward (1.5 -> 2, -1.5 -> -1)."""
    return math.floor(value + 0.5)


def _math_add(values: list[Any], entropy: Any) -> int:
    total = 0
    for position, value in enumerate(values):
        if type(value) is int:
            number = value
        elif type(value) is float and math.isfinite(value):
            number = java_round(value)
        else:
            raise _bad("States.MathAdd", position, "a number", value)
        if not _INT32[0] <= number <= _INT32[1]:
            raise fail(f"States.MathAdd: {number} is outside the range {_INT32[0]} to {_INT32[1]}")
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
        raise fail(f"{name}: no source of randomness was given to this evaluation")
    return entropy


_Function = Callable[[list[Any], Any], Any]
FUNCTIONS: dict[str, tuple[int, int, _Function]] = {
    "States.Format": (1, MANY, lambda values, entropy: format_values(values, None)),
    "States.StringToJson": (1, 1, _string_to_json),
    "States.JsonToString": (1, 1, _json_to_string),
    "States.Array": (0, MANY, _array_of),
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
