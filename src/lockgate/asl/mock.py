"""Mocked Task responses in the Step Functions Local format (MockConfigFile.json).

    {"StateMachines": {"<machine>": {"TestCases": {"<case>": {"<state>": "<response name>"}}}},
     "MockedResponses": {"<response name>": {"0": {"Return": ...}, "1-2": {"Throw": {"Error": ..., "Cause": ...}}}}}

Invocations of a state are counted from zero across the execution, every attempt (retries
included) counting once. A state with no mocked response in the test case runs for real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.core.errors import UsageError


@dataclass(frozen=True, slots=True)
class Mocked:
    """One mocked invocation: a result to return, or an error to throw."""

    returns: Any = None
    error: str | None = None
    cause: str = ""


def _range(key: str, where: str) -> tuple[int, int]:
    first, sep, last = key.partition("-")
    try:
        low = int(first)
        high = int(last) if sep else low
    except ValueError:
        raise UsageError(f'{where}: invocation key {key!r} is not a number or a range like "1-2"') from None
    if low < 0 or high < low:
        raise UsageError(f"{where}: invocation range {key!r} is empty or negative")
    return low, high


def _response(value: Any, where: str) -> Mocked:
    if not isinstance(value, dict) or len(value.keys() & {"Return", "Throw"}) != 1:
        raise UsageError(f"{where}: a mocked response is an object with exactly one of Return or Throw")
    if "Return" in value:
        return Mocked(returns=value["Return"])
    throw = value["Throw"]
    if not isinstance(throw, dict) or not isinstance(throw.get("Error"), str):
        raise UsageError(f"{where}: Throw must be an object with an Error string")
    return Mocked(error=throw["Error"], cause=str(throw.get("Cause", "")))


class MockConfig:
    """The mocked responses of one test case of one state machine."""

    def __init__(self, data: Any, state_machine: str, test_case: str, source: str = "mock config") -> None:
        if not isinstance(data, dict):
            raise UsageError(f"{source}: must be a JSON object with StateMachines and MockedResponses")
        self.data, self.state_machine, self.test_case = data, state_machine, test_case
        machines = data.get("StateMachines")
        if not isinstance(machines, dict) or state_machine not in machines:
            known = ", ".join(sorted(machines)) if isinstance(machines, dict) else "none"
            raise UsageError(f"{source}: no state machine {state_machine!r} in StateMachines (has: {known})")
        cases = (machines[state_machine] or {}).get("TestCases")
        if not isinstance(cases, dict) or test_case not in cases:
            known = ", ".join(sorted(cases)) if isinstance(cases, dict) else "none"
            raise UsageError(f"{source}: state machine {state_machine!r} has no test case {test_case!r} (has: {known})")
        responses = data.get("MockedResponses") or {}
        self._by_state: dict[str, list[tuple[int, int, Mocked]]] = {}
        for state, name in (cases[test_case] or {}).items():
            where = f"{source}: MockedResponses.{name}"
            if name not in responses or not isinstance(responses[name], dict):
                raise UsageError(
                    f"{source}: test case {test_case!r} names response {name!r} for state {state!r},"
                    " which MockedResponses lacks"
                )
            self._by_state[state] = [
                (*_range(k, where), _response(v, f"{where}.{k}")) for k, v in responses[name].items()
            ]

    @classmethod
    def load(cls, path: str | Path, state_machine: str, test_case: str) -> MockConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{path}: no such mock config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read the mock config: {exc}") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
        return cls(data, state_machine, test_case, str(path))

    def mocks(self, state: str) -> bool:
        return state in self._by_state

    def response(self, state: str, invocation: int) -> Mocked | None:
        """The response for the state's zero-based `invocation`; None when not mocked."""
        for low, high, mocked in self._by_state.get(state, ()):
            if low <= invocation <= high:
                return mocked
        return None
