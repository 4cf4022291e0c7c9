"""The task library's names: importable lazily, and each one a task."""

from __future__ import annotations

import subprocess
import sys

from lockgate import Task


def test_importing_the_library_loads_no_heavy_modules() -> None:
    code = (
        "import sys, lockgate.tasks as t; "
        "heavy = [m for m in ('pyarrow', 'duckdb', 'frictionless', 's3fs') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_each_name_is_its_task_even_after_its_module_is_imported() -> None:
    import importlib

    import lockgate.tasks as tasks

    for name, module in (("validate", "validate"), ("to_parquet", "parquet"), ("crawl", "crawl"), ("query", "query")):
        importlib.import_module(f"lockgate.tasks.{module}")
        assert isinstance(getattr(tasks, name), Task), name
    from lockgate.tasks import crawl, query, to_parquet, validate

    assert [t.name for t in (validate, to_parquet, crawl, query)] == ["validate", "to_parquet", "crawl", "query"]
