"""Run one state on its own, as the service's TestState does: its output, error and next state."""

from __future__ import annotations

import copy
import json
from typing import Any

from lockgate.asl._recovery import Failure, retrier_for
from lockgate.asl.driver import Invoker, drive
from lockgate.asl.entropy import SeededEntropy
from lockgate.asl.machine import Machine
from lockgate.asl.resources import Resources

_NEXT = "@next:"


def _redirect(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state with every transition pointed at a stand-in end state, and those stand-ins."""
    state = copy.deepcopy(state)
    targets: dict[str, Any] = {}

    def point(holder: dict[str, Any], key: str, caught: bool = False) -> None:
        if isinstance(holder.get(key), str):
            name = f"{_NEXT}{'caught:' if caught else ''}{holder[key]}"
            targets[name] = {"Type": "Succeed"}
            holder[key] = name

    point(state, "Next")
    point(state, "Default")
    for rule in state.get("Choices") or ():
        if isinstance(rule, dict):
            point(rule, "Next")
    for catcher in state.get("Catch") or ():
        if isinstance(catcher, dict):
            point(catcher, "Next", caught=True)
    state.pop("Retry", None)
    return state, targets


def test_state(
    state: dict[str, Any], value: Any, resources: Resources, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """TestState's answer: status (SUCCEEDED, FAILED, RETRIABLE, CAUGHT_ERROR), output or error/cause, nextState."""
    original = state
    state, targets = _redirect(state)
    seed = {"Type": "Pass", "Assign": variables or {}, "Next": "TestState"}
    definition = {"StartAt": "@variables", "States": {"@variables": seed, "TestState": state, **targets}}
    if state.get("QueryLanguage"):
        definition["QueryLanguage"] = state["QueryLanguage"]
    machine = Machine(definition, value, None, entropy=SeededEntropy())
    drive(machine, Invoker(resources))
    entered = [e["stateEnteredEventDetails"]["name"] for e in machine.history if e["type"].endswith("StateEntered")]
    last = entered[-1] if entered else ""
    answer: dict[str, Any] = {}
    if machine.status == "SUCCEEDED":
        if last.startswith(f"{_NEXT}caught:"):
            answer["status"] = "CAUGHT_ERROR"
            answer["nextState"] = last[len(f"{_NEXT}caught:") :]
            failed = [e for e in machine.history if e["type"] in ("TaskFailed", "TaskTimedOut")]
            if failed:
                details = next(v for k, v in failed[-1].items() if k.endswith("EventDetails"))
                answer["error"], answer["cause"] = details.get("error", ""), details.get("cause", "")
        else:
            answer["status"] = "SUCCEEDED"
            if last.startswith(_NEXT):
                answer["nextState"] = last[len(_NEXT) :]
        answer["output"] = json.dumps(machine.output)
        return answer
    failure = Failure(machine.error or "", machine.cause or "")
    answer["status"] = "RETRIABLE" if retrier_for(original, failure) is not None else "FAILED"
    answer["error"], answer["cause"] = failure.error, failure.cause
    return answer
