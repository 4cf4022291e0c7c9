"""Published Step Functions definitions (README.md names each source), run with their mock files.

Each sample in `published/definitions/` must validate, then run every test case of
`published/MockConfigFile.json` (the Step Functions Local format) to the outcome in
`published/cases.json`: the status, and the output or the error, derived from the definition.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FakeTime

from lockgate.asl import definition as definitions
from lockgate.asl.driver import run_execution
from lockgate.asl.durable import context_base
from lockgate.asl.mock import MockConfig
from lockgate.asl.resources import Resources
from lockgate.asl.validate import validate

PUBLISHED = Path(__file__).parent / "published"
CASES: dict[str, Any] = json.loads((PUBLISHED / "cases.json").read_text(encoding="utf-8"))
MOCKS: dict[str, Any] = json.loads((PUBLISHED / "MockConfigFile.json").read_text(encoding="utf-8"))
PARAMS = [(name, case) for name, sample in CASES.items() for case in sample["cases"]]


def test_the_corpus_is_complete() -> None:
    files = {path.name.removesuffix(".asl.json") for path in (PUBLISHED / "definitions").glob("*.asl.json")}
    assert files == set(CASES) == set(MOCKS["StateMachines"]) and len(files) >= 40
    readme = (PUBLISHED / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in files)


@pytest.mark.parametrize(("name", "case"), PARAMS, ids=[f"{n}-{c['test_case']}" for n, c in PARAMS])
def test_published_definition(name: str, case: dict[str, Any]) -> None:
    loaded = definitions.load(PUBLISHED / "definitions" / f"{name}.asl.json")
    assert validate(loaded) == [], name
    execution = f"{name}-{case['test_case']}"
    fake = FakeTime(1_700_000_000.0)
    result = run_execution(loaded, case["input"], resources=Resources(), clock=fake.clock, sleep=fake.sleep,
                           mock=MockConfig(MOCKS, name, case["test_case"]),
                           context_base=context_base(name, execution))  # fmt: skip
    assert result["status"] == case["status"], result
    if "output" in case:
        assert result["output"] == case["output"]
    for key, value in case.get("output_at", {}).items():
        assert result["output"][key] == value
    if "error" in case:
        expected = execution if case["error"] == "$execution_name" else case["error"]
        assert (result.get("error") or "") == expected, result
