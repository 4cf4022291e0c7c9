"""Pipelines the web UI tests run (loaded as a file, so worker processes can import it)."""

from __future__ import annotations

import os
from pathlib import Path

from lockgate import pipeline, task


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def left(values: list[int]) -> int:
    return sum(values)


@task
def right(values: list[int]) -> int:
    return max(values)


@task
def square(x: int) -> int:
    return x * x


@task
def join(a: int, b: int, squares: list[int]) -> dict:
    return {"a": a, "b": b, "squares": squares}


@pipeline
def ui_diamond():
    values = numbers()
    return join(left(values), right(values), square.map(values))


@task
def explode(label: str) -> None:
    print(f"about to fail for {label}")
    raise ValueError(f"bad <b>{label}</b>")


@pipeline
def ui_boom(label: str = "<script>alert(1)</script>"):
    return explode(label)


@task
def needs_flag() -> str:
    if not Path(os.environ["UI_FLAG"]).exists():
        raise RuntimeError("the flag file is missing")
    return "flagged"


@pipeline
def ui_flag():
    return needs_flag()


@task
def span(count: int) -> list[int]:
    return list(range(count))


@task
def total(values: list[int]) -> int:
    return sum(values)


@pipeline
def ui_wide(count: int = 3):
    return total(square.map(span(count)))


@task
def gate(folder: str) -> str:
    import time

    (Path(folder) / "started").write_text("yes")
    while not (Path(folder) / "go").exists():
        time.sleep(0.02)
    return "through"


@pipeline
def ui_gate(folder: str):
    return gate(folder)
