"""Whatever the definition and input, a validated machine never raises, and a replay reproduces it."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from machine_harness import DidNotEnd, Raise, drive, replay

from lockgate.asl.validate import validate

NAMES = ["A", "B", "C", "D"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("ab", max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "i"]), inner, max_size=3),
    max_leaves=6,
)
paths = st.sampled_from(["$", "$.a", "$.b", "$.a.b", "$.i", "$[0]", "$$.State.Name", "$.missing"])


def _flow(draw: Any) -> dict[str, Any]:
    return draw(st.sampled_from([{"End": True}, *({"Next": n} for n in NAMES)]))


@st.composite
def states(draw: Any, depth: int = 0) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            ["Pass", "Task", "Choice", "Wait", "Succeed", "Fail"] + (["Map", "Parallel"] if depth == 0 else [])
        )
    )
    state: dict[str, Any] = {"Type": kind}
    if kind in ("Pass", "Task", "Wait", "Map", "Parallel"):
        state.update(_flow(draw))
    if kind in ("Pass", "Task", "Map", "Parallel", "Choice", "Wait", "Succeed") and draw(st.booleans()):
        state["InputPath"] = draw(paths)
    if kind in ("Pass", "Task", "Map", "Parallel") and draw(st.booleans()):
        state["ResultPath"] = draw(st.sampled_from(["$", "$.r", "$.a.r", None]))
    if kind == "Pass" and draw(st.booleans()):
        state["Parameters"] = {
            "x.$": draw(paths),
            "n.$": draw(
                st.sampled_from(["States.MathAdd($.i, 1)", "States.ArrayLength($.a)", "States.Format('{}', $.a)"])
            ),
        }
    if kind == "Task":
        state["Resource"] = "work"
        if draw(st.booleans()):
            state["Retry"] = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": draw(st.integers(0, 2))}]
        if draw(st.booleans()):
            state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": draw(st.sampled_from(NAMES))}]
    if kind == "Choice":
        state["Choices"] = [
            {
                "Variable": draw(paths),
                "NumericGreaterThan": draw(st.integers(-2, 2)),
                "Next": draw(st.sampled_from(NAMES)),
            }
        ]
        if draw(st.booleans()):
            state["Default"] = draw(st.sampled_from(NAMES))
    if kind == "Wait":
        state[draw(st.sampled_from(["Seconds", "SecondsPath"]))] = draw(st.sampled_from([1, "$.i", "$.a"]))
        if "SecondsPath" in state and not isinstance(state["SecondsPath"], str):
            state["Seconds"] = state.pop("SecondsPath")
        if "Seconds" in state and isinstance(state["Seconds"], str):
            state["SecondsPath"] = state.pop("Seconds")
    if kind == "Fail":
        state["Error"] = "E"
    if kind == "Map":
        state["ItemProcessor"] = {"StartAt": "X", "States": {"X": _alone(draw(states(depth + 1)))}}
        if draw(st.booleans()):
            state["ItemsPath"] = draw(paths)
        if draw(st.booleans()):
            state["ToleratedFailureCount"] = draw(st.integers(0, 2))
    if kind == "Parallel":
        state["Branches"] = [{"StartAt": "X", "States": {"X": _alone(draw(states(depth + 1)))}}]
    for terminal in ("Succeed", "Fail", "Choice"):
        if kind == terminal:
            state.pop("End", None)
            state.pop("Next", None)
    return state


def _alone(state: dict[str, Any]) -> dict[str, Any]:
    """A state as the only one of a branch: it ends instead of going anywhere."""
    if "Next" in state:
        del state["Next"]
        state["End"] = True
    for key in ("Default", "Catch"):
        state.pop(key, None)
    if state["Type"] == "Choice":
        return {"Type": "Succeed"}
    return state


def _targets(state: dict[str, Any]) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    found += [rule.get("Next") for rule in state.get("Choices", []) + state.get("Catch", [])]
    return [name for name in found if name]


@st.composite
def machines(draw: Any) -> dict[str, Any]:
    table = {name: draw(states()) for name in NAMES}
    reached, todo = set(), ["A"]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += _targets(table[name])
    return {"StartAt": "A", "States": {name: table[name] for name in NAMES if name in reached}}


def work(payload: Any) -> Any:
    if isinstance(payload, dict) and payload.get("a") is None:
        raise Raise("Work.Failed", "no a")
    return {"echo": payload}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(machines(), json_values)
def test_valid_machines_always_end_cleanly(definition: dict[str, Any], value: Any) -> None:
    if validate(definition):
        return
    try:
        trace = drive(definition, value, {"work": work}, limit=300, max_transitions=2_000)
    except DidNotEnd as endless:  # a loop with no way out (a Catch back to a failing Task) runs on
        assert endless.trace.machine.status == "RUNNING"
        return
    assert trace.machine.status in ("SUCCEEDED", "FAILED", "TIMED_OUT")
    assert trace.machine.history[-1]["type"].startswith("Execution")
    again = replay(definition, value, trace)  # the same reports at the same times: the same run
    assert (again.status, again.output, again.error, again.cause) == (
        trace.machine.status,
        trace.machine.output,
        trace.machine.error,
        trace.machine.cause,
    )
    assert again.history == trace.machine.history


def test_an_unvalidated_broken_definition_fails_instead_of_raising() -> None:
    broken = {
        "StartAt": "A",
        "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": True}], "Default": "Z"}},
    }
    trace = drive(broken, {"x": True})
    assert trace.machine.status == "FAILED" and trace.machine.error == "States.Runtime"
