"""A pipeline file loaded by many threads at once: none of them sees it half-imported."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from lockgate.dag import loader
from lockgate.dag.task import Task

_SOURCE = """
import time
from lockgate import task

@task
def first(x: int) -> int:
    return x

time.sleep(0.2)  # a module that takes a while to import: its later tasks appear late

@task
def work(x: int) -> int:
    return x + 1
"""


def test_threads_loading_one_new_file_all_find_its_last_task(tmp_path: Path) -> None:
    file = tmp_path / "race_pipeline_mod.py"
    file.write_text(_SOURCE)
    results: list[object] = []
    start = threading.Barrier(16)

    def load() -> None:
        start.wait()
        try:
            results.append(loader.find_task("race_pipeline_mod:work", f"file:{file}"))
        except Exception as exc:  # recorded and asserted below
            results.append(exc)

    threads = [threading.Thread(target=load) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(result, Task) for result in results), results
    assert len({id(result) for result in results}) == 1
    sys.modules.pop("race_pipeline_mod", None)
