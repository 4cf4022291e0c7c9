"""How data moves through one state: input, arguments, result, variables and output.

Both query languages are here. JSONPath: InputPath, Parameters, ResultSelector, ResultPath,
OutputPath and `.$` templates. JSONata: Arguments, Output and `{% %}` expressions over
`$states.input`, `$states.result`, `$states.errorOutput` and `$states.context`. In both, Assign
is evaluated against the variables as they were when the state was entered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from lockgate.asl import errors as e
from lockgate.asl import jsonata, limits, paths
from lockgate.asl.entropy import Entropy

JSONATA = "JSONata"
JSONPATH = "JSONPath"
DATA_LIMIT = 256 * 1024  # bytes, the service's limit; [limits] state_data_bytes sets the one in force


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _compact_encoder() -> Callable[[Any], str]:
    """Compact JSON text (`json.dumps(value, separators=(",", ":"), ensure_ascii=False)`), with the
    C encoder built once: `json.dumps` builds one for every call, which costs as much as encoding
    a small value."""
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        slow = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
        return slow.encode
    fast = make({}, _not_json, encoder.encode_basestring, None, ":", ",", False, False, True)

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return encoder.encode_basestring(value)
        return "".join(fast(value, 0))

    return encode


_compact = _compact_encoder()


def json_bytes(value: Any, what: str) -> int:
    """The UTF-8 bytes of `value`'s compact JSON text, as the service counts payloads."""
    try:
        text = _compact(value)
        return len(text) if text.isascii() else len(text.encode())
    except (TypeError, ValueError) as exc:
        raise e.StatesError(e.RUNTIME, f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise e.StatesError(e.RUNTIME, f"{what} nests too deeply ([limits] json_depth)") from None


def check_size(value: Any, what: str) -> None:
    """Raise States.DataLimitExceeded when `value` encodes to more than 256 KiB."""
    size = json_bytes(value, what)
    limit = limits.current().state_data_bytes
    if size > limit:
        raise e.StatesError(e.DATA_LIMIT_EXCEEDED, f"{what} is {size} bytes, over the limit of {limit} bytes")


def check_variables(values: dict[str, Any], visible: Mapping[str, Any]) -> None:
    """Raise States.DataLimitExceeded when an Assign breaks the service's variable limits.

    The limits, as the service documents them: one variable's value (`variable_bytes`, 256 KiB),
    the values one Assign sets added up (`assign_bytes`, 256 KiB), and all the variables stored
    (`variables_bytes`, 10 MiB): here, those `visible` to the state once `values` are set.
    """
    bounds = limits.current()
    assigned = _values_bytes(values.values(), "the variables of this Assign")
    if assigned > bounds.variable_bytes:  # then one of them may be over the limit alone
        for name, value in values.items():
            size = json_bytes(value, f"the variable '{name}'")
            if size > bounds.variable_bytes:
                raise e.StatesError(
                    e.DATA_LIMIT_EXCEEDED,
                    f"the variable '{name}' is {size} bytes, over the limit of {bounds.variable_bytes} bytes "
                    "for one variable ([limits] variable_bytes)",
                )
    if assigned > bounds.assign_bytes:
        raise e.StatesError(
            e.DATA_LIMIT_EXCEEDED,
            f"the variables of this Assign are {assigned} bytes together, over the limit of {bounds.assign_bytes} "
            "bytes for one Assign ([limits] assign_bytes)",
        )
    kept = {name: value for name, value in visible.items() if name not in values}
    if not kept:
        return
    stored = assigned + _values_bytes(kept.values(), "the variables")
    if stored > bounds.variables_bytes:
        raise e.StatesError(
            e.DATA_LIMIT_EXCEEDED,
            f"the variables would be {stored} bytes together once this Assign is applied, over the limit of "
            f"{bounds.variables_bytes} bytes for all variables ([limits] variables_bytes)",
        )


def _values_bytes(values: Any, what: str) -> int:
    """The bytes of each value's JSON text, added up (one encoding of them all, less the list's)."""
    items = list(values)
    return json_bytes(items, what) - 2 - max(len(items) - 1, 0)


class StateData:
    """The data of one entry into a state; the context object `$$` is built only when used."""

    __slots__ = ("_context", "_effective", "_make_context", "entropy", "ql", "raw", "state", "variables")

    def __init__(
        self,
        state: dict[str, Any],
        ql: str,
        raw: Any,
        variables: Mapping[str, Any],
        entropy: Entropy,
        make_context: Callable[[], dict[str, Any]],
    ) -> None:
        self.state = state
        self.ql = ql
        self.raw = raw
        self.variables: Any = variables  # a ChainMap: the language layer reads it as a dict
        self.entropy = entropy
        self._make_context = make_context
        self._context: dict[str, Any] | None = None
        self._effective: Any = _UNSET

    @property
    def jsonata(self) -> bool:
        return self.ql == JSONATA

    def context(self) -> dict[str, Any]:
        if self._context is None:
            self._context = self._make_context()
        return self._context

    def refresh_context(self) -> None:
        """Forget the built context (a retry changes `$$.State.RetryCount`)."""
        self._context = None

    # -- JSONata ------------------------------------------------------------------------

    def evaluate(self, value: Any, context: dict[str, Any] | None = None, **states: Any) -> Any:
        """Evaluate a JSONata template (`{% %}` strings anywhere in `value`)."""
        bindings: dict[str, Any] = dict(self.variables)
        bindings["states"] = {"input": self.raw, "context": context or self.context(), **states}
        return jsonata.evaluate_template(value, bindings, entropy=self.entropy)

    # -- JSONPath -----------------------------------------------------------------------

    def effective(self) -> Any:
        """The input after InputPath (JSONata has no InputPath: the raw input)."""
        if self._effective is _UNSET:
            if self.jsonata or "InputPath" not in self.state:
                self._effective = self.raw
            else:
                self._effective = paths.apply_input_path(
                    self.raw, self.state["InputPath"], self.context(), variables=self.variables
                )
        return self._effective

    def template(self, template: Any, data: Any, context: dict[str, Any] | None = None) -> Any:
        return paths.build_payload(template, data, context or self.context(), self.variables, self.entropy)

    def select(self, path: str, data: Any) -> Any:
        return paths.select(path, data, self.context(), variables=self.variables)

    def field(self, name: str, path_name: str | None = None) -> Any:
        """A value given literally, by a `...Path` into the effective input, or as a JSONata expression."""
        if name in self.state:
            value = self.state[name]
            return (
                self.evaluate(value)
                if self.jsonata and isinstance(value, str) and jsonata.is_expression(value)
                else value
            )
        if path_name and path_name in self.state:
            return self.select(self.state[path_name], self.effective())
        return None

    # -- the steps every state shares ---------------------------------------------------

    def arguments(self, default: Any = None) -> Any:
        """Parameters (JSONPath) or Arguments (JSONata); else the effective input."""
        if self.jsonata:
            if "Arguments" in self.state:
                return self.evaluate(self.state["Arguments"])
            return self.raw if default is None else default
        if "Parameters" in self.state:
            return self.template(self.state["Parameters"], self.effective())
        return self.effective() if default is None else default

    def selected(self, result: Any) -> Any:
        """The result after ResultSelector (JSONPath only)."""
        if not self.jsonata and "ResultSelector" in self.state:
            return self.template(self.state["ResultSelector"], result)
        return result

    def assignments(self, assign: Any, value: Any, **states: Any) -> dict[str, Any]:
        """The variables an Assign block sets; `value` is `$` in JSONPath."""
        if assign is None:
            return {}
        values = self.evaluate(assign, **states) if self.jsonata else self.template(assign, value)
        if not isinstance(values, dict):
            raise e.StatesError(e.RUNTIME, "Assign must give an object of variable names")
        if values:
            check_variables(values, self.variables)
        return values

    def output(self, value: Any, rule: Mapping[str, Any] | None = None, **states: Any) -> Any:
        """The state output from its result: ResultPath then OutputPath, or JSONata Output."""
        source = self.state if rule is None else rule
        if self.jsonata:
            if "Output" in source:
                return self.evaluate(source["Output"], **states)
            return value
        merged = paths.apply_result_path(self.raw, value, source["ResultPath"]) if "ResultPath" in source else value
        if rule is None and "OutputPath" in self.state:
            return paths.apply_output_path(merged, self.state["OutputPath"], self.context(), variables=self.variables)
        return merged

    def plain_output(self, value: Any) -> Any:
        """Output of a state with no result (Choice, Wait, Succeed): OutputPath or Output over the input."""
        if self.jsonata:
            return self.evaluate(self.state["Output"]) if "Output" in self.state else value
        if "OutputPath" in self.state:
            return paths.apply_output_path(value, self.state["OutputPath"], self.context(), variables=self.variables)
        return value


class _Unset:
    pass


_UNSET = _Unset()
