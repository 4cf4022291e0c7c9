"""Every pipeline in examples/ runs to SUCCEEDED with its defaults, as `scripts/demo` runs them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


def _pipelines() -> list[str]:
    """`file.py:name` of every @pipeline function in examples/, found without importing them."""
    found = []
    for path in sorted(EXAMPLES.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(
                (isinstance(d, ast.Name) and d.id == "pipeline")
                or (isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "pipeline")
                for d in node.decorator_list
            ):
                found.append(f"{path.name}:{node.name}")
    return found


def test_the_demo_runs_every_example_pipeline() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        from demo_targets import TARGETS  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EXAMPLES))
    assert sorted(t.removeprefix("examples/") for t in TARGETS) == sorted(_pipelines())


@pytest.mark.parametrize("target", _pipelines())
def test_example_runs(target: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lockgate", "run", str(EXAMPLES / target), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert json.loads(result.stdout)["status"] == "SUCCEEDED"
