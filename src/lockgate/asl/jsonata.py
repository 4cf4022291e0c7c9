"""JSONata as Step Functions uses it: `{% expression %}` strings inside a state's JSON fields.

`evaluate_template` walks a JSON value (Arguments, Output, Assign, Condition, Items, ...) and
replaces each `{% ... %}` string with its result. The bindings are `states` (the `$states`
object: input, result, errorOutput, context) and the workflow variables, each bound as `$name`.
Compiled expressions are cached by their text.

Step Functions' own functions are bound too: `$partition`, `$range`, `$hash`, `$random` (with an
optional seed), `$uuid` and `$parse`. Unseeded `$random` and `$uuid` draw from the `entropy`
argument (`random() -> float`, `uuid() -> str`) so an execution can record and replay them.
Any failure, and an undefined result, is States.QueryEvaluationError.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import random
import sys
from typing import Any

from lockgate.asl import limits
from lockgate.asl.errors import QUERY_EVALUATION_ERROR, RUNTIME, StatesError

_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
_RANGE_LIMIT = 1000
_entropy: contextvars.ContextVar[Any] = contextvars.ContextVar("lockgate_asl_entropy", default=None)
_cache: dict[str, Any] = {}


def is_expression(value: Any) -> bool:
    """Whether `value` is a JSONata expression string: `{%` ... `%}` with nothing around them."""
    return type(value) is str and value.startswith("{%") and value.endswith("%}") and len(value) >= 4


def compile_expression(value: str) -> Any:
    """The compiled expression of a `{% ... %}` string; raises StatesError on a syntax error."""
    compiled = _cache.get(value)
    if compiled is not None:
        return compiled
    limit = sys.getrecursionlimit()
    from jsonata import Jsonata  # type: ignore[import-untyped]
    from jsonata.jexception import JException  # type: ignore[import-untyped]

    # The library raises the interpreter's recursion limit to 10,000 on import; that deep, a
    # recursion in a worker thread overflows its C stack and kills the process instead of
    # raising RecursionError. Keep the limit the process had.
    sys.setrecursionlimit(limit)
    body = value[2:-2].strip()
    if not body:
        raise StatesError(QUERY_EVALUATION_ERROR, f"The JSONata expression {value!r} is empty")
    try:
        compiled = Jsonata(body, limits.regex_engine)  # regular expressions bounded in time
    except JException as exc:
        raise StatesError(QUERY_EVALUATION_ERROR, f"Invalid JSONata expression {value!r}: {exc}") from None
    except Exception as exc:  # the library's parser fails on some input with KeyError and the like
        raise StatesError(QUERY_EVALUATION_ERROR, f"Invalid JSONata expression {value!r}: {exc!r}") from None
    compiled.set_output_convert_nulls(False)
    for name, function in _FUNCTIONS.items():
        compiled.register_lambda(name, function)
    if len(_cache) >= 4096:
        _cache.clear()
    _cache[value] = compiled
    return compiled


def context_problems(value: str, *, error_output: bool = False) -> list[str]:
    """What a compiled `{% %}` string reads that the service does not offer, one message each.

    Step Functions evaluates an expression with no context item: the input is `$states.input`
    and variables are `$name`. A name read against the top-level context (`phone`,
    `$sum(phone)`, `{a: 1}`'s key `a`), `$` and `$$` are refused when the definition is created;
    only a path's first step, not its later steps, predicates, sort terms or groupings, reads that
    context, while a function's body reads the context of the expression that holds it.
    `$states.errorOutput` exists only in a Catch entry's Output and Assign (`error_output`).
    """
    found: list[str] = []
    _context_reads(compile_expression(value).ast, found)
    problems: list[str] = []
    for read in dict.fromkeys(found):
        if read == "$states.errorOutput":
            if not error_output:
                problems.append("$states.errorOutput is only available in a Catch entry's Output and Assign")
        elif read in ("$", "$$"):
            problems.append(f"Reference to '{read}' at the top level is not supported (use $states.input)")
        else:
            problems.append(f"Reference to '{read}' at the top level is not supported (use $states.input.{read})")
    return problems


def _context_reads(node: Any, found: list[str]) -> None:
    """Append, in the order written, each top-level context read of a parsed JSONata tree."""
    kind = getattr(node, "type", None)
    if kind == "path":
        steps = getattr(node, "steps", None) or []
        if steps:
            _context_reads(steps[0], found)
        if _reads_error_output(steps):
            found.append("$states.errorOutput")
    elif kind == "name":
        found.append(str(node.value))
    elif kind == "variable":
        if node.value == "":
            found.append("$")
        elif node.value == "$":
            found.append("$$")  # `$$` parses as the variable named "$"
    elif kind == "unary":
        if node.value == "{":
            for pair in getattr(node, "lhs_object", None) or []:
                for part in pair:
                    _context_reads(part, found)
        else:
            for child in [getattr(node, "expression", None), *(getattr(node, "expressions", None) or [])]:
                _context_reads(child, found)
    elif kind in ("binary", "apply", "bind"):
        if kind != "bind":
            _context_reads(getattr(node, "lhs", None), found)
        _context_reads(getattr(node, "rhs", None), found)
    elif kind in ("function", "partial"):
        _context_reads(getattr(node, "procedure", None), found)
        for argument in getattr(node, "arguments", None) or []:
            _context_reads(argument, found)
    elif kind == "lambda":
        _context_reads(getattr(node, "body", None), found)
    elif kind == "condition":
        for part in ("condition", "then", "_else"):
            _context_reads(getattr(node, part, None), found)
    elif kind == "block":
        for expression in getattr(node, "expressions", None) or []:
            _context_reads(expression, found)


def _reads_error_output(steps: list[Any]) -> bool:
    if len(steps) < 2:
        return False
    first, second = steps[0], steps[1]
    return (getattr(first, "type", None), getattr(first, "value", None)) == ("variable", "states") and (
        getattr(second, "type", None),
        getattr(second, "value", None),
    ) == ("name", "errorOutput")


def evaluate_expression(value: str, bindings: dict[str, Any], *, entropy: Any = None) -> Any:
    """The result of one `{% ... %}` string; undefined is an error."""
    from jsonata import Jsonata
    from jsonata.jexception import JException

    compiled = compile_expression(value)
    token = _entropy.set(entropy)
    Jsonata.CURRENT.jsonata = compiled  # the library reads the running expression from here
    bounded, bounds = limits.bounded(bindings)  # time and depth limits of this one evaluation
    try:
        result = compiled.evaluate(None, bounded)
    except StatesError:
        raise
    except limits.ExpressionLimit as exc:
        raise StatesError(RUNTIME, f"The JSONata expression {value!r} was stopped: {exc}") from None
    except JException as exc:
        raise StatesError(QUERY_EVALUATION_ERROR, f"The JSONata expression {value!r} failed: {exc}") from None
    except (RecursionError, ValueError, TypeError, AttributeError, KeyError, IndexError, ZeroDivisionError) as exc:
        raise StatesError(QUERY_EVALUATION_ERROR, f"The JSONata expression {value!r} failed: {exc}") from None
    except Exception as exc:  # any other failure inside the library is this expression's failure too
        raise StatesError(QUERY_EVALUATION_ERROR, f"The JSONata expression {value!r} failed: {exc!r}") from None
    finally:
        limits.end_bounded(bounds)
        _entropy.reset(token)
    if result is None:
        raise StatesError(QUERY_EVALUATION_ERROR, f"The JSONata expression {value!r} returned no value (undefined)")
    return _plain(result)


def evaluate_template(value: Any, bindings: dict[str, Any], *, entropy: Any = None) -> Any:
    """`value` with every `{% ... %}` string inside it (however deep) replaced by its result."""
    if type(value) is str:
        return evaluate_expression(value, bindings, entropy=entropy) if is_expression(value) else value
    if type(value) is dict:
        return {key: evaluate_template(item, bindings, entropy=entropy) for key, item in value.items()}
    if type(value) is list:
        return [evaluate_template(item, bindings, entropy=entropy) for item in value]
    return value


def _plain(value: Any) -> Any:
    """JSON as Python: JSONata's null marker becomes None, its sequence types plain lists."""
    from jsonata.utils import Utils  # type: ignore[import-untyped]

    if value is Utils.NULL_VALUE:
        return None
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if callable(value):
        raise StatesError(QUERY_EVALUATION_ERROR, "A JSONata expression returned a function, which is not JSON")
    return value


# --- the functions Step Functions adds ---------------------------------------------------------


def _fail(message: str) -> StatesError:
    return StatesError(QUERY_EVALUATION_ERROR, message)


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        raise _fail(f"{name}: expected an integer, got {value!r}")
    return int(value)


def _partition(array: Any = None, size: Any = None) -> list[list[Any]]:
    if not isinstance(array, list):
        raise _fail(f"$partition: the first argument must be an array, got {array!r}")
    chunk = _integer("$partition", size)
    if chunk <= 0:
        raise _fail(f"$partition: the chunk size must be a positive integer, got {size!r}")
    items = list(array)
    return [items[start : start + chunk] for start in range(0, len(items), chunk)]


def _range(start: Any = None, end: Any = None, step: Any = None) -> list[int]:
    first, last, by = _integer("$range", start), _integer("$range", end), _integer("$range", step)
    if by == 0:
        raise _fail("$range: the step must not be zero")
    count = max(0, (last - first) // by + 1)
    if count > _RANGE_LIMIT:
        raise _fail(f"$range: the range would have {count} items; the limit is {_RANGE_LIMIT}")
    return list(range(first, last + (1 if by > 0 else -1), by))


def _hash(data: Any = None, algorithm: Any = None) -> str:
    if algorithm not in _HASHES:
        raise _fail(f"$hash: unknown algorithm {algorithm!r} (use one of {', '.join(_HASHES)})")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return hashlib.new(_HASHES[algorithm], text.encode("utf-8")).hexdigest()


def _random(seed: Any = None) -> float:
    if seed is not None:
        return random.Random(_integer("$random", seed)).random()
    entropy = _entropy.get()
    if entropy is None:
        raise _fail("$random: no source of randomness was given to this evaluation")
    return float(entropy.random())


def _uuid() -> str:
    entropy = _entropy.get()
    if entropy is None:
        raise _fail("$uuid: no source of randomness was given to this evaluation")
    return str(entropy.uuid())


def _parse(text: Any = None) -> Any:
    if not isinstance(text, str):
        raise _fail(f"$parse: the argument must be a string, got {text!r}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(f"$parse: the argument is not JSON text ({exc})") from None


_FUNCTIONS = {
    "partition": _partition,
    "range": _range,
    "hash": _hash,
    "random": _random,
    "uuid": _uuid,
    "parse": _parse,
}
