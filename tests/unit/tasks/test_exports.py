"""The task library's names: lazy to import, and always the tasks, never their modules."""

from __future__ import annotations

import subprocess
import sys

import lockgate.tasks
from lockgate.dag.task import Task

MINE = ("sql_copy", "spark_submit", "spark_submit_start", "spark_status", "shell", "http")


def test_importing_the_package_loads_no_heavy_library() -> None:
    code = (
        "import sys, lockgate.tasks\n"
        "heavy = [m for m in ('pyarrow', 'sqlalchemy', 'httpx', 'pyspark', 'fsspec') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_each_name_is_a_task_even_after_its_module_was_imported() -> None:
    code = (
        "import lockgate.tasks.shell, lockgate.tasks.http, lockgate.tasks.sql_copy\n"
        "from lockgate.tasks import shell, http, sql_copy\n"
        "print(type(shell).__name__, type(http).__name__, type(sql_copy).__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["Task", "Task", "Task"]
    for name in MINE:
        assert isinstance(getattr(lockgate.tasks, name), Task)
        assert name in lockgate.tasks.__all__
