"""A dependency cycle is an import error when the folder loads, whatever the pipeline's parameters."""

from __future__ import annotations

from pathlib import Path

from lockgate.triggers.served import FolderLoader

SOURCE = """
import datetime as dt
import enum
from pathlib import Path
from typing import Literal

from lockgate import pipeline, task

MARK = Path(__file__).with_name("task-ran")


class Mode(enum.Enum):
    FULL = "full"
    QUICK = "quick"


@task
def extract(day: str, limit: int) -> list:
    MARK.write_text("extract ran")
    return []


@task
def load(rows: list, mode: str) -> int:
    MARK.write_text("load ran")
    return 0


@pipeline
def needs_params(day: dt.date, limit: int, mode: Mode, kind: Literal["a", "b"], tags: list, when: dt.datetime | None):
    rows = extract(f"{day:%Y-%m-%d}/{kind}", limit * 2)
    loaded = load(rows, mode)
    loaded >> rows
    return loaded


@pipeline
def fine(day: str, limit: int = 3):
    return load(extract(day, limit), "full")


@pipeline
def refuses_stand_ins(day: str):
    if not day.startswith("20"):
        raise ValueError("a real day is needed to build this one")
    return extract(day, 1)
"""


def test_a_cycle_in_a_pipeline_with_required_parameters_is_an_import_error(tmp_path: Path) -> None:
    (tmp_path / "cycles_at_load.py").write_text(SOURCE)
    loaded = FolderLoader(tmp_path).load()
    assert sorted(p.name for p in loaded.items) == ["fine", "refuses_stand_ins"]
    (problem,) = loaded.errors
    assert Path(problem.file).name == "cycles_at_load.py"
    assert problem.line == SOURCE.splitlines().index("@pipeline") + 1  # the decorated function's first line
    assert "pipeline needs_params" in problem.message and "has a cycle: extract -> load -> extract" in problem.message
    assert not (tmp_path / "task-ran").exists()  # building the graph ran no task body
